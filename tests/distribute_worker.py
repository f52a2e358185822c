"""A training script for tests/test_distribute.py, run under mpiexec (or alone).

    python tests/distribute_worker.py OUT.npz [--n N] [--fail-rank R --fail-step S] [--die-rank R]

Trains a 784-512-256-10 MLP (Adam, batch 128, no dropout, so one process and N ranks
compute the same global gradients) for one epoch on the first N MNIST training images,
then writes the weights, the per-step losses and the run's facts to OUT.npz (rank 0).
"""

import argparse
import os
import sys

import numpy as np

import ember as em

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--n", type=int, default=49 * 128 + 37)  # 50 steps, the last one partial
p.add_argument("--fail-rank", type=int, default=-1)
p.add_argument("--fail-step", type=int, default=10)
p.add_argument("--die-rank", type=int, default=-1)
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--sync-bn", action="store_true", help="a BatchNormalization(synchronized=True) model")
p.add_argument("--dropout", action="store_true", help="a Dropout(0.2) after the first layer")
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--backup", default=None, help="a BackupAndRestore folder (save_freq=3)")
p.add_argument("--interrupt-at", default=None, help="EPOCH:STEP at which every rank raises (a preempted job)")
args = p.parse_args()

strategy = em.distribute.DataParallel()
em.utils.set_random_seed(7)
(x, y), _ = em.datasets.mnist.load_data()
x = x[:args.n].reshape(-1, 784).astype("float32") / 255
y = y[:args.n].astype("int32")


class Probe(em.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if args.interrupt_at and f"{self.epoch}:{batch}" == args.interrupt_at:
            raise KeyboardInterrupt(f"preempted at epoch {self.epoch} step {batch}")
        if strategy.rank == args.fail_rank and batch == args.fail_step:
            raise ValueError(f"deliberate failure on rank {strategy.rank} at step {batch}")
        if strategy.rank == args.die_rank and batch == args.fail_step:
            os._exit(3)

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])


probe = Probe()
with strategy.scope():
    if args.sync_bn:
        model = em.Sequential([em.Input((784,)), em.layers.Dense(128), em.layers.BatchNormalization(synchronized=True),
                               em.layers.Activation("relu"), em.layers.Dense(10)])
    else:
        model = em.Sequential([em.Input((784,)), em.layers.Dense(512, activation="relu")]
                              + ([em.layers.Dropout(0.2)] if args.dropout else [])
                              + [em.layers.Dense(256, activation="relu"), em.layers.Dense(10)])
    model.compile(em.optimizers.Adam(1e-3), em.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    callbacks = [probe]
    if args.backup:
        callbacks.insert(0, em.callbacks.BackupAndRestore(args.backup, save_freq=3))
    try:
        history = model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, shuffle=True, verbose=0,
                            callbacks=callbacks)
    except KeyboardInterrupt as e:
        print(f"rank {strategy.rank}: {e}", flush=True)
        sys.exit(5)
if strategy.is_chief:
    np.savez(args.out, *model.get_weights(), losses=np.array(probe.losses), size=strategy.size,
             threads=em.get_num_threads(), accuracy=history.history["accuracy"][-1],
             comm_seconds=strategy.world.comm_seconds, steps=strategy.steps)
sys.stdout.flush()
