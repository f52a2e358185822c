"""A residual MLP on the real MNIST files through the functional API: each block adds
its input back (``layers.add``), as Keras's functional-API guide builds a toy ResNet.

    python examples/mnist_residual.py            # 10 epochs
    python examples/mnist_residual.py --epochs 1 # quick run

Prints the test accuracy. Only the import differs from the Keras script.
"""

import argparse
import time

import ember as keras
from ember import layers

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--verbose", type=int, default=2)
parser.add_argument("--seed", type=int, default=1)
args = parser.parse_args()

keras.utils.set_random_seed(args.seed)
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(60000, 784).astype("float32") / 255
x_test = x_test.reshape(10000, 784).astype("float32") / 255

inputs = keras.Input(shape=(784,), name="digits")
x = layers.Dense(256, activation="relu")(inputs)
for _ in range(2):
    h = layers.Dense(256, activation="relu")(x)
    h = layers.Dropout(0.1)(h)
    h = layers.Dense(256)(h)
    x = layers.Activation("relu")(layers.add([x, h]))
outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
model = keras.Model(inputs, outputs, name="residual_mlp")
model.summary()
model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(), metrics=["accuracy"])
t0 = time.perf_counter()
model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose, validation_split=0.1)
train_s = time.perf_counter() - t0
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"train time: {train_s:.1f}s ({args.epochs} epochs)")
print(f"test loss: {loss:.4f}")
print(f"test accuracy: {accuracy:.4f}")
