"""When does data-parallel training become communication-bound? A worked model.

    python benches/distributed_model.py [--mlp-rate 33000] [--cnn-rate 4500]

The all-reduce of G gradient bytes over n ranks costs, for the bandwidth-optimal ring
(what MPI uses for large messages),

    T_ring(n) = 2 (n - 1) / n * G / BW  +  2 (n - 1) * alpha

and for Rabenseifner's schedule (reduce-scatter by recursive halving, all-gather by
recursive doubling; MPICH's and Open MPI's choice for mid-sized messages on power-of-two
rank counts) the same bandwidth term with a logarithmic latency term:

    T_rab(n) = 2 (n - 1) / n * G / BW  +  2 * log2(n) * alpha.

The table prints both; the batch bound uses the ring (the pessimistic one). A step of global batch B computes
for B / (n * R) seconds on each rank, R the samples/s of one rank (measured on these
2-core machines by benches/distributed.py and benches/fit_step.py). Without overlap the
step takes compute + T; it is communication-bound when T exceeds the compute, i.e. when
B < n * R * T. The table prints T and that smallest global batch for 8, 64 and 256 ranks.
"""

from __future__ import annotations

import argparse
import math

NETWORKS = {
    # name: (bytes/s achieved by a large all-reduce, per-message latency alpha in s)
    "25 GbE (TCP)": (2.9e9, 15e-6),
    "InfiniBand HDR 200 Gb/s": (23e9, 1.5e-6),
}


def allreduce_seconds(nbytes: float, n: int, bw: float, alpha: float) -> tuple[float, float]:
    """(ring, Rabenseifner) all-reduce seconds for ``nbytes`` over ``n`` ranks."""
    bandwidth = 2 * (n - 1) / n * nbytes / bw
    return bandwidth + 2 * (n - 1) * alpha, bandwidth + 2 * math.log2(n) * alpha


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mlp-rate", type=float, default=33000.0, help="one rank's MLP samples/s (batch 128)")
    p.add_argument("--cnn-rate", type=float, default=4500.0, help="one rank's mnist_convnet samples/s (batch 128)")
    args = p.parse_args()
    models = {
        "MLP 784-512-256-10 (535,818 weights)": (535_818 * 4, args.mlp_rate),
        "mnist_convnet (34,826 weights)": (34_826 * 4, args.cnn_rate),
    }
    print("| model | network | ranks | ring all-reduce | Rabenseifner | smallest global batch not communication-bound (ring) |")
    print("|---|---|---|---|---|---|")
    for mname, (g, rate) in models.items():
        for net, (bw, alpha) in NETWORKS.items():
            for n in (8, 64, 256):
                ring, rab = allreduce_seconds(g, n, bw, alpha)
                print(f"| {mname} | {net} | {n} | {ring * 1e3:.3f} ms | {rab * 1e3:.3f} ms | {math.ceil(n * rate * ring):,} |")


if __name__ == "__main__":
    main()
