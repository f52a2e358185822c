"""The MNIST MLP of examples/mnist_mlp.py trained data-parallel over MPI ranks.

    mpiexec -n 2 python examples/mnist_mlp_distributed.py --epochs 1
    python examples/mnist_mlp_distributed.py --epochs 1     # the same script, one process

Every rank runs this script. ``batch_size`` is the global batch: each rank trains on its
share of every batch, the gradients are averaged over the ranks by MPI all-reduce, and
rank 0 prints the progress and the result (needs ``pip install 'ember[mpi]'``: mpi4py and
an MPI library; see docs/distributed.md).
"""

import argparse
import time

import ember as keras

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--verbose", type=int, default=2)
parser.add_argument("--seed", type=int, default=1)
args = parser.parse_args()

strategy = keras.distribution.DataParallel()
keras.utils.set_random_seed(args.seed)
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.reshape(60000, 784).astype("float32") / 255
x_test = x_test.reshape(10000, 784).astype("float32") / 255
y_train = keras.utils.to_categorical(y_train, 10)
y_test = keras.utils.to_categorical(y_test, 10)

with strategy.scope():
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adam(), metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose,
              validation_split=0.1)
    train_s = time.perf_counter() - t0
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
if strategy.is_chief:
    print(f"ranks: {strategy.size}, threads per rank: {keras.get_num_threads()}")
    print(f"train time: {train_s:.1f}s ({args.epochs} epochs)")
    print(f"test loss: {loss:.4f}")
    print(f"test accuracy: {accuracy:.4f}")
