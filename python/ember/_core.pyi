"""Type stubs of Ember's private native module (checked by `python -m mypy.stubtest ember._core`)."""

from collections.abc import Sequence
from typing import final

__all__ = ["BINARY_OPS", "CpuBuffer", "Plan", "REDUCE_OPS", "RNN_ACTIVATIONS", "UNARY_OPS", "__version__", "_after_fork", "_force_gemm_kernel", "_max_num_threads", "_plan_len", "_plan_record", "_plan_scalars", "adadelta_update", "adagrad_update", "adam_update", "adamax_update", "all_finite", "argsort", "average_pool2d", "average_pool2d_backward", "batch_norm", "batch_norm_backward", "binary_backward", "binary_op", "broadcast_to", "cast", "clear_pool", "conv2d", "conv2d_backward", "cpu_features", "cumprod", "cumsum", "dense", "dense_backward", "gather", "gemm_kernel", "get_num_threads", "matmul", "max_pool2d", "max_pool2d_backward", "nadam_update", "one_hot", "philox_bits", "pooled_bytes", "random", "random_blocks", "reduce_op", "rmsprop_update", "rnn_sequence", "rnn_sequence_backward", "scatter_add", "scatter_add_rows", "set_num_threads", "sgd_update", "shader_names", "shader_source", "sigmoid_bce", "sigmoid_bce_backward", "softmax", "softmax_backward", "softmax_cross_entropy", "softmax_cross_entropy_backward", "strided_copy", "strided_write", "sum_to_shape", "take_rows", "transpose", "unary_backward", "unary_op", "where", "workers_flush_denormals"]
__version__: str
UNARY_OPS: list[str]
BINARY_OPS: list[str]
REDUCE_OPS: list[str]
RNN_ACTIVATIONS: list[str]

@final
class CpuBuffer:
    @staticmethod
    def from_array(obj: object, dtype: str) -> CpuBuffer: ...
    @staticmethod
    def full(n: int, value: float, dtype: str) -> CpuBuffer: ...
    @property
    def dtype(self) -> str: ...
    def __len__(self) -> int: ...
    def copy(self) -> CpuBuffer: ...
    def assign(self, src: CpuBuffer) -> None: ...

@final
class Plan:
    def __len__(self) -> int: ...
    def bind(self, params: Sequence[CpuBuffer], consts: Sequence[CpuBuffer], outputs: Sequence[CpuBuffer]) -> None: ...
    def run(self, params: Sequence[CpuBuffer], scalars: Sequence[float | int]) -> list[CpuBuffer] | None: ...

def _plan_record(on: bool) -> tuple[Plan | None, str | None]: ...
def _plan_len() -> int: ...
def _plan_scalars(names: dict[str, tuple[int, float | int]]) -> None: ...
def unary_op(op: str, x: CpuBuffer, alpha: float | None = None) -> CpuBuffer: ...
def unary_backward(op: str, x: CpuBuffer, y: CpuBuffer, gy: CpuBuffer, alpha: float | None = None) -> CpuBuffer: ...
def binary_op(op: str, a: CpuBuffer, a_shape: Sequence[int], b: CpuBuffer, b_shape: Sequence[int]) -> tuple[CpuBuffer, list[int]]: ...
def binary_backward(
    op: str, a: CpuBuffer, a_shape: Sequence[int], b: CpuBuffer, b_shape: Sequence[int], gy: CpuBuffer, need_a: bool, need_b: bool
) -> tuple[CpuBuffer | None, CpuBuffer | None]: ...
def reduce_op(op: str, x: CpuBuffer, shape: Sequence[int], axes: Sequence[int] | None, keepdims: bool) -> tuple[CpuBuffer, list[int]]: ...
def sum_to_shape(x: CpuBuffer, shape: Sequence[int], target: Sequence[int]) -> CpuBuffer: ...
def broadcast_to(x: CpuBuffer, shape: Sequence[int], out_shape: Sequence[int]) -> CpuBuffer: ...
def transpose(x: CpuBuffer, shape: Sequence[int], perm: Sequence[int]) -> CpuBuffer: ...
def take_rows(x: CpuBuffer, row_len: int, indices: Sequence[int]) -> CpuBuffer: ...
def scatter_add_rows(g: CpuBuffer, row_len: int, indices: Sequence[int], n_rows: int) -> CpuBuffer: ...
def cast(x: CpuBuffer, dtype: str) -> CpuBuffer: ...
def one_hot(labels: CpuBuffer, depth: int) -> CpuBuffer: ...
def all_finite(x: CpuBuffer) -> bool: ...
def strided_copy(x: CpuBuffer, shape: Sequence[int], strides: Sequence[int], offset: int) -> CpuBuffer: ...
def strided_write(dst: CpuBuffer, src: CpuBuffer, shape: Sequence[int], strides: Sequence[int], offset: int) -> None: ...
def gather(
    x: CpuBuffer,
    shape: Sequence[int],
    strides: Sequence[int],
    offset: int,
    indices: CpuBuffer,
    index_strides: Sequence[int],
    index_dims: Sequence[tuple[int, int]],
    op: str = "gather",
) -> CpuBuffer: ...
def scatter_add(
    g: CpuBuffer,
    n: int,
    shape: Sequence[int],
    strides: Sequence[int],
    offset: int,
    indices: CpuBuffer | None = None,
    index_strides: Sequence[int] = ...,
    index_dims: Sequence[tuple[int, int]] = ...,
    op: str = "scatter_add",
) -> CpuBuffer: ...
def where(
    cond: CpuBuffer, c_shape: Sequence[int], x: CpuBuffer, x_shape: Sequence[int], y: CpuBuffer, y_shape: Sequence[int]
) -> tuple[CpuBuffer, list[int]]: ...
def cumsum(x: CpuBuffer, shape: Sequence[int], axis: int, reverse: bool = False) -> CpuBuffer: ...
def cumprod(x: CpuBuffer, shape: Sequence[int], axis: int, reverse: bool = False) -> CpuBuffer: ...
def argsort(x: CpuBuffer, shape: Sequence[int], axis: int, descending: bool = False) -> CpuBuffer: ...
def matmul(a: CpuBuffer, a_shape: Sequence[int], b: CpuBuffer, b_shape: Sequence[int], trans_a: bool, trans_b: bool) -> tuple[CpuBuffer, list[int]]: ...
def softmax(x: CpuBuffer, shape: Sequence[int], axis: int, log: bool) -> CpuBuffer: ...
def softmax_backward(y: CpuBuffer, gy: CpuBuffer, shape: Sequence[int], axis: int, log: bool) -> CpuBuffer: ...
def batch_norm(x: CpuBuffer, gamma: CpuBuffer | None, beta: CpuBuffer | None, rows: int, channels: int, epsilon: float) -> tuple[CpuBuffer, CpuBuffer, CpuBuffer]: ...
def batch_norm_backward(x: CpuBuffer, gamma: CpuBuffer | None, mean: CpuBuffer, var: CpuBuffer, gy: CpuBuffer, rows: int, channels: int, epsilon: float, need_gx: bool) -> tuple[CpuBuffer | None, CpuBuffer, CpuBuffer]: ...
def softmax_cross_entropy(logits: CpuBuffer, labels: CpuBuffer, rows: int, classes: int) -> tuple[CpuBuffer, CpuBuffer]: ...
def softmax_cross_entropy_backward(probs: CpuBuffer, labels: CpuBuffer, gloss: CpuBuffer, rows: int, classes: int) -> CpuBuffer: ...
def sigmoid_bce(z: CpuBuffer, y: CpuBuffer) -> CpuBuffer: ...
def sigmoid_bce_backward(z: CpuBuffer, y: CpuBuffer, g: CpuBuffer) -> CpuBuffer: ...
def dense(x: CpuBuffer, w: CpuBuffer, b: CpuBuffer | None, rows: int, fin: int, fout: int, activation: str) -> CpuBuffer: ...
def dense_backward(
    x: CpuBuffer, w: CpuBuffer, y: CpuBuffer, gy: CpuBuffer, rows: int, fin: int, fout: int, activation: str, need_gx: bool,
    need_gb: bool = True,
) -> tuple[CpuBuffer | None, CpuBuffer, CpuBuffer | None]: ...
def conv2d(
    x: CpuBuffer,
    x_shape: Sequence[int],
    w: CpuBuffer,
    w_shape: Sequence[int],
    b: CpuBuffer | None,
    strides: Sequence[int],
    pads: Sequence[Sequence[int]],
    dilation: Sequence[int],
    groups: int,
    activation: str,
) -> tuple[CpuBuffer, list[int]]: ...
def conv2d_backward(
    x: CpuBuffer,
    x_shape: Sequence[int],
    w: CpuBuffer,
    w_shape: Sequence[int],
    y: CpuBuffer,
    gy: CpuBuffer,
    strides: Sequence[int],
    pads: Sequence[Sequence[int]],
    dilation: Sequence[int],
    groups: int,
    activation: str,
    need_gx: bool,
) -> tuple[CpuBuffer | None, CpuBuffer, CpuBuffer]: ...
def max_pool2d(
    x: CpuBuffer, x_shape: Sequence[int], pool_size: Sequence[int], strides: Sequence[int], pads: Sequence[Sequence[int]],
    need_argmax: bool = False,
) -> tuple[CpuBuffer, list[int], CpuBuffer | None]: ...
def max_pool2d_backward(
    argmax: CpuBuffer, gy: CpuBuffer, x_shape: Sequence[int], pool_size: Sequence[int], strides: Sequence[int],
    pads: Sequence[Sequence[int]],
) -> CpuBuffer: ...
def average_pool2d(
    x: CpuBuffer, x_shape: Sequence[int], pool_size: Sequence[int], strides: Sequence[int], pads: Sequence[Sequence[int]]
) -> tuple[CpuBuffer, list[int]]: ...
def average_pool2d_backward(
    gy: CpuBuffer, x_shape: Sequence[int], pool_size: Sequence[int], strides: Sequence[int], pads: Sequence[Sequence[int]]
) -> CpuBuffer: ...
def random(kind: str, n: int, seed: int, offset: int, a: float, b: float) -> CpuBuffer: ...
def philox_bits(n: int, seed: int, offset: int) -> list[int]: ...
def random_blocks(n: int) -> int: ...
def sgd_update(
    param: CpuBuffer, grad: CpuBuffer, velocity: CpuBuffer | None, lr: float, momentum: float, nesterov: bool, decay: float = 0.0
) -> None: ...
def adam_update(
    param: CpuBuffer,
    grad: CpuBuffer,
    m: CpuBuffer,
    v: CpuBuffer,
    lr: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    step: int,
    vhat: CpuBuffer | None = None,
    decay: float = 0.0,
) -> None: ...
def rmsprop_update(
    param: CpuBuffer,
    grad: CpuBuffer,
    velocity: CpuBuffer,
    average_gradient: CpuBuffer | None,
    momentum_slot: CpuBuffer | None,
    lr: float,
    rho: float,
    momentum: float,
    epsilon: float,
    decay: float = 0.0,
) -> None: ...
def adagrad_update(param: CpuBuffer, grad: CpuBuffer, accumulator: CpuBuffer, lr: float, epsilon: float, decay: float = 0.0) -> None: ...
def adadelta_update(
    param: CpuBuffer,
    grad: CpuBuffer,
    accumulated_grad: CpuBuffer,
    accumulated_delta: CpuBuffer,
    lr: float,
    rho: float,
    epsilon: float,
    decay: float = 0.0,
) -> None: ...
def adamax_update(
    param: CpuBuffer,
    grad: CpuBuffer,
    m: CpuBuffer,
    u: CpuBuffer,
    lr: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    step: int,
    decay: float = 0.0,
) -> None: ...
def nadam_update(
    param: CpuBuffer,
    grad: CpuBuffer,
    m: CpuBuffer,
    v: CpuBuffer,
    lr: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    step: int,
    u_product: float,
    decay: float = 0.0,
) -> None: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def _max_num_threads() -> int: ...
def _after_fork() -> None: ...
def cpu_features() -> list[str]: ...
def gemm_kernel() -> str: ...
def _force_gemm_kernel(name: str | None = None) -> None: ...
def workers_flush_denormals() -> bool: ...
def clear_pool() -> None: ...
def pooled_bytes() -> int: ...
def shader_source(name: str) -> str: ...
def shader_names() -> list[str]: ...

# Fused whole-sequence recurrences (rust/src/kernels/rnn.rs, rust/src/py/rnn.rs).
def rnn_sequence(
    cell: str,
    xw: CpuBuffer,
    recurrent_kernel: CpuBuffer,
    recurrent_bias: CpuBuffer | None,
    h0: CpuBuffer,
    c0: CpuBuffer | None,
    mask: CpuBuffer | None,
    recurrent_dropout_mask: CpuBuffer | None,
    batch: int,
    time: int,
    units: int,
    go_backwards: bool,
    activation: str,
    recurrent_activation: str,
    reset_after: bool,
    zero_output_for_mask: bool,
    return_sequences: bool,
) -> tuple[CpuBuffer, CpuBuffer, CpuBuffer | None, CpuBuffer, CpuBuffer, CpuBuffer | None]: ...
def rnn_sequence_backward(
    cell: str,
    recurrent_kernel: CpuBuffer,
    need_bias: bool,
    mask: CpuBuffer | None,
    recurrent_dropout_mask: CpuBuffer | None,
    gates: CpuBuffer,
    hs: CpuBuffer,
    cs: CpuBuffer | None,
    gy: CpuBuffer | None,
    gh: CpuBuffer | None,
    gc: CpuBuffer | None,
    batch: int,
    time: int,
    units: int,
    go_backwards: bool,
    activation: str,
    recurrent_activation: str,
    reset_after: bool,
    zero_output_for_mask: bool,
    return_sequences: bool,
) -> tuple[CpuBuffer, CpuBuffer, CpuBuffer | None, CpuBuffer, CpuBuffer | None]: ...
