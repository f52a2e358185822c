"""Writes the golden ``.keras`` file that every later Ember must keep reading.

``tests/test_saving_golden.py`` loads ``tests/data/golden_v0_1.keras`` and checks that it
predicts ``tests/data/golden_v0_1_io.npz``'s ``y`` from its ``x_image`` and ``x_seq``,
and that its optimizer state resumes. Never regenerate the committed file to make that
test pass: a failing golden test means a change broke old files. Run this only to add a
golden file for a new ``format_version`` (give it a new name)::

    python scripts/make_golden_keras.py tests/data/golden_v0_1
"""

from __future__ import annotations

import os
import sys

import numpy as np

import ember as em


def build() -> em.Model:
    """A functional model with two inputs and two outputs covering the saved layer kinds:
    convolution, pooling, Flatten, LSTM (Keras's cell path), BatchNormalization
    (non-trainable variables), Dropout, Concatenate, Dense, with Adam's slots."""
    L = em.layers
    image = em.Input((6, 6, 2), name="image")
    seq = em.Input((4, 3), name="seq")
    a = L.Flatten()(L.MaxPooling2D()(L.Conv2D(3, 3, padding="same", activation="relu")(image)))
    b = L.LSTM(3)(seq)
    h = L.Dropout(0.25, seed=3)(L.BatchNormalization()(L.Dense(5, activation="tanh")(L.Concatenate()([a, b]))))
    model = em.Model([image, seq], [L.Dense(2, name="regression")(h), L.Dense(3, activation="softmax",
                                                                              name="classes")(h)])
    model.compile(em.optimizers.Adam(0.01), ["mse", "sparse_categorical_crossentropy"])
    return model


def main(stem: str) -> None:
    em.utils.set_random_seed(2026)
    rng = np.random.default_rng(2026)
    x_image = rng.normal(size=(8, 6, 6, 2)).astype(np.float32)
    x_seq = rng.normal(size=(8, 4, 3)).astype(np.float32)
    t_reg = rng.normal(size=(8, 2)).astype(np.float32)
    t_cls = rng.integers(0, 3, size=(8,)).astype(np.int32)
    model = build()
    model.fit([x_image, x_seq], [t_reg, t_cls], epochs=2, batch_size=4, verbose=0)
    y_reg, y_cls = model.predict([x_image, x_seq], verbose=0)
    model.save(stem + ".keras", weights_format="npz")  # npz: readable without h5py
    np.savez(stem + "_io.npz", x_image=x_image, x_seq=x_seq, t_reg=t_reg, t_cls=t_cls, y_reg=y_reg, y_cls=y_cls)
    print(f"wrote {stem}.keras ({os.path.getsize(stem + '.keras')} bytes) and {stem}_io.npz")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                             "golden_v0_1"))
