"""Differentiable collectives for layers that compute across the ranks' shards
(BatchNormalization(synchronized=True)).

The global objective of a distributed step is ``L = sum_r w_r L_r`` (rank r's loss
weighted by its share of the global batch; see `DataParallel.reduce_gradients`). For
``y = sum_r x_r`` (the same on every rank), ``dL/dx_r = sum_s w_s dL_s/dy``. Rank r's
backward sees only its own ``dL_r/dy``, so the backward of `all_sum` all-reduces
``w_s g_s`` and divides by ``w_r``: the parameter gradients are multiplied by ``w_r``
again when they are reduced, which then gives exactly ``dL/dx_r``.
"""

from __future__ import annotations

import numpy as np

from ..ops.core import _record
from ..tensor import Tensor

__all__ = ["all_sum"]


def all_sum(x: Tensor, dist) -> Tensor:
    """``x`` summed over the ranks of ``dist`` (float32; every rank gets the sum)."""
    w = dist.world
    buf = np.array(x.numpy(), dtype=np.float64).reshape(-1)
    w.check("synchronized all-reduce")
    w.wait(w.allreduce_(buf, "synchronized all-reduce"), "synchronized all-reduce")
    out = Tensor(buf.reshape(x.shape).astype(np.float32), device=x.device)
    weight = float(dist._weight)

    def backward(g):
        gb = np.array(g.numpy(), dtype=np.float64).reshape(-1) * weight
        w.check("synchronized all-reduce (backward)")
        w.wait(w.allreduce_(gb, "synchronized all-reduce (backward)"), "synchronized all-reduce (backward)")
        return (Tensor((gb / weight).reshape(x.shape).astype(np.float32), device=x.device),)

    return _record(out, (x,), backward)
