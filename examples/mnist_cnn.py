"""Keras's "Simple MNIST convnet" (keras.io/examples/vision/mnist_convnet) with only the
import changed: two Conv2D + MaxPooling2D blocks, Dropout, a softmax Dense layer, Adam;
trained on the real MNIST files and scored on the test set.

    python examples/mnist_cnn.py                          # full run: 15 epochs (keras.io: ~99.2% test accuracy)
    python examples/mnist_cnn.py --epochs 1 --subset 6000 --test-subset 2000  # quick run
    python examples/mnist_cnn.py --device gpu             # on the GPU

The script body below the argument handling is the keras.io example unchanged (its
``import keras`` / ``from keras import layers`` became ``import ember as keras`` /
``from ember import layers``); ``--subset N`` trains on the first N training images and
``--test-subset N`` scores on the first N test images.
"""

import argparse
import time

import numpy as np

import ember as keras
from ember import layers

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--subset", type=int, default=None, help="train on the first N training images only")
parser.add_argument("--test-subset", type=int, default=None, help="score on the first N test images only")
parser.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--verbose", type=int, default=2)
args = parser.parse_args()
keras.utils.set_random_seed(args.seed)
keras.set_default_device(args.device)

# -- the keras.io example -------------------------------------------------------------------------

# Model / data parameters
num_classes = 10
input_shape = (28, 28, 1)

# Load the data and split it between train and test sets
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
if args.subset:
    x_train, y_train = x_train[: args.subset], y_train[: args.subset]
if args.test_subset:
    x_test, y_test = x_test[: args.test_subset], y_test[: args.test_subset]

# Scale images to the [0, 1] range
x_train = x_train.astype("float32") / 255
x_test = x_test.astype("float32") / 255
# Make sure images have shape (28, 28, 1)
x_train = np.expand_dims(x_train, -1)
x_test = np.expand_dims(x_test, -1)
print("x_train shape:", x_train.shape)
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")


# convert class vectors to binary class matrices
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)

model.summary()

batch_size = 128
epochs = args.epochs

model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

t0 = time.perf_counter()
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1, verbose=args.verbose)
train_s = time.perf_counter() - t0

score = model.evaluate(x_test, y_test, verbose=0)
print(f"train time: {train_s:.1f}s ({epochs} epochs)")
print("Test loss:", score[0])
print("Test accuracy:", score[1])
