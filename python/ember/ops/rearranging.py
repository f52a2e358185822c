"""Layout ops with Keras 3's names and semantics: ``depth_to_space`` / ``space_to_depth``
(pixel shuffle), ``unfold`` / ``fold`` (im2col / col2im, PyTorch's layout), einops-style
``rearrange``, and ``array``. All are reshapes, transposes, gathers and pads of
`ember.ops`, so they run and differentiate on every device."""

from __future__ import annotations

import numbers
import re

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..tensor import Tensor, as_tensor
from . import core
from .array_ops import pad, take
from .conv import normalize_data_format

__all__ = ["depth_to_space", "space_to_depth", "unfold", "fold", "rearrange", "array"]


def _block(block_size, op: str) -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral) or block_size < 1:
        raise InvalidArgumentError(f"{op}: block_size must be a positive integer, got {block_size!r}")
    return int(block_size)


def _image(x, op: str) -> Tensor:
    t = x if isinstance(x, Tensor) else as_tensor(x)
    if t.ndim != 4:
        raise ShapeError(f"{op}: expected a 4-D input (batch, height, width, channels), got shape {t.shape}")
    return t


def depth_to_space(x, block_size, data_format="channels_last") -> Tensor:
    """Moves channels into blocks of pixels (``keras.ops.depth_to_space``, a pixel
    shuffle): (N, H, W, C) becomes (N, H b, W b, C / b^2), the channel ``(i b + j) C' + c``
    landing at pixel offset (i, j) (Keras's order).

    Args:
        x: (N, H, W, C), or (N, C, H, W) for channels_first.
        block_size: the block size b (C must be divisible by b^2).
        data_format: "channels_last" (default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.depth_to_space(em.ones((1, 2, 3, 8)), 2).shape
        (1, 4, 6, 2)
    """
    op = "depth_to_space"
    b = _block(block_size, op)
    fmt = normalize_data_format(data_format, op)
    t = _image(x, op)
    if fmt == "channels_last":
        n, h, w, c = t.shape
        if c % (b * b):
            raise ShapeError(f"{op}: the channels ({c}) must be divisible by block_size^2 ({b * b})")
        y = core.reshape(t, (n, h, w, b, b, c // (b * b)))
        y = core.transpose(y, (0, 1, 3, 2, 4, 5))
        return core.reshape(y, (n, h * b, w * b, c // (b * b)))
    n, c, h, w = t.shape
    if c % (b * b):
        raise ShapeError(f"{op}: the channels ({c}) must be divisible by block_size^2 ({b * b})")
    y = core.reshape(t, (n, c // (b * b), b, b, h, w))
    y = core.transpose(y, (0, 1, 4, 2, 5, 3))
    return core.reshape(y, (n, c // (b * b), h * b, w * b))


def space_to_depth(x, block_size, data_format="channels_last") -> Tensor:
    """Moves blocks of pixels into channels (``keras.ops.space_to_depth``, the inverse of
    `depth_to_space`): (N, H, W, C) becomes (N, H / b, W / b, C b^2).

    Args:
        x: (N, H, W, C), or (N, C, H, W) for channels_first.
        block_size: the block size b (H and W must be divisible by b).
        data_format: "channels_last" (default) or "channels_first".

    Example:
        >>> import ember as em
        >>> em.ops.space_to_depth(em.ones((1, 4, 6, 2)), 2).shape
        (1, 2, 3, 8)
    """
    op = "space_to_depth"
    b = _block(block_size, op)
    fmt = normalize_data_format(data_format, op)
    t = _image(x, op)
    if fmt == "channels_last":
        n, h, w, c = t.shape
    else:
        n, c, h, w = t.shape
    if h % b or w % b:
        raise ShapeError(f"{op}: the height and width ({h}, {w}) must be divisible by block_size ({b})")
    if fmt == "channels_last":
        y = core.reshape(t, (n, h // b, b, w // b, b, c))
        y = core.transpose(y, (0, 1, 3, 2, 4, 5))
        return core.reshape(y, (n, h // b, w // b, c * b * b))
    y = core.reshape(t, (n, c, h // b, b, w // b, b))
    y = core.transpose(y, (0, 1, 3, 5, 2, 4))
    return core.reshape(y, (n, c * b * b, h // b, w // b))


def _pair(value, name: str, op: str, lowest: int) -> tuple[int, int]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None
    if len(out) != 2 or any(isinstance(v, bool) for v in value) or any(v < lowest for v in out):
        raise InvalidArgumentError(f"{op}: {name} must be an int or a pair of ints >= {lowest}, got {value!r}")
    return out


def _blocks(size: int, k: int, d: int, s: int) -> int:
    return (size - d * (k - 1) - 1) // s + 1


def unfold(x, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Extracts the sliding blocks of a (N, C, H, W) batch as columns
    (``keras.ops.unfold``, PyTorch's ``nn.Unfold``, im2col): the output (N, C kH kW, L)
    has one column per block position (L of them, row-major), and row ``c kH kW + i kW +
    j`` holds channel c at kernel offset (i, j). A gather of the zero-padded input.

    Args:
        x: (N, C, H, W) (channels first).
        kernel_size: an int or (kH, kW).
        dilation: an int or a pair (default 1).
        padding: zeros on each side, an int or a pair (default 0).
        stride: an int or a pair (default 1).

    Example:
        >>> import ember as em
        >>> em.ops.unfold(em.ones((2, 3, 5, 5)), 3).shape
        (2, 27, 9)
    """
    op = "unfold"
    t = x if isinstance(x, Tensor) else as_tensor(x)
    t = core._float(t)
    if t.ndim != 4:
        raise ShapeError(f"{op}: expected a 4-D input (N, C, H, W), got shape {t.shape}")
    k = _pair(kernel_size, "kernel_size", op, 1)
    d = _pair(dilation, "dilation", op, 1)
    p = _pair(padding, "padding", op, 0)
    s = _pair(stride, "stride", op, 1)
    n, c, h, w = t.shape
    hp, wp = h + 2 * p[0], w + 2 * p[1]
    oh, ow = _blocks(hp, k[0], d[0], s[0]), _blocks(wp, k[1], d[1], s[1])
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"{op}: the kernel {k} (dilation {d}) does not fit the input of shape {t.shape} with padding "
                         f"{p}")
    if any(p):
        t = pad(t, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])
    ki, kj = np.meshgrid(np.arange(k[0]), np.arange(k[1]), indexing="ij")
    bi, bj = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    rows = ki.reshape(-1, 1) * d[0] + bi.reshape(1, -1) * s[0]
    cols = kj.reshape(-1, 1) * d[1] + bj.reshape(1, -1) * s[1]
    idx = (rows * wp + cols).astype(np.int32)  # (kH kW, L) into the flattened padded image
    flat = core.reshape(t, (n, c, hp * wp))
    g = take(flat, Tensor(idx, dtype="int32", device=t.device), axis=2)  # (N, C, kH kW, L)
    return core.reshape(g, (n, c * k[0] * k[1], oh * ow))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sums sliding blocks back into a (N, C, H, W) batch (``keras.ops.fold``, PyTorch's
    ``nn.Fold``, col2im; the adjoint of `unfold`: overlapping blocks add up). Composed of
    strided placements (pads) of each kernel offset's block values.

    Args:
        x: (N, C kH kW, L) with L the number of block positions.
        output_size: (H, W) of the result, an int or a pair.
        kernel_size: an int or (kH, kW).
        dilation: an int or a pair (default 1).
        padding: an int or a pair (default 0), cropped off the result.
        stride: an int or a pair (default 1).

    Example:
        >>> import ember as em
        >>> em.ops.fold(em.ones((1, 4, 4)), (3, 3), 2)[0, 0].numpy().tolist()
        [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    op = "fold"
    t = x if isinstance(x, Tensor) else as_tensor(x)
    t = core._float(t)
    if t.ndim != 3:
        raise ShapeError(f"{op}: expected a 3-D input (N, C kH kW, L), got shape {t.shape}")
    o = _pair(output_size, "output_size", op, 1)
    k = _pair(kernel_size, "kernel_size", op, 1)
    d = _pair(dilation, "dilation", op, 1)
    p = _pair(padding, "padding", op, 0)
    s = _pair(stride, "stride", op, 1)
    n, ckk, length = t.shape
    if ckk % (k[0] * k[1]):
        raise ShapeError(f"{op}: the input's {ckk} rows are not a multiple of kH kW = {k[0] * k[1]}")
    c = ckk // (k[0] * k[1])
    hp, wp = o[0] + 2 * p[0], o[1] + 2 * p[1]
    nh, nw = _blocks(hp, k[0], d[0], s[0]), _blocks(wp, k[1], d[1], s[1])
    if nh <= 0 or nw <= 0 or nh * nw != length:
        raise ShapeError(f"{op}: {length} blocks do not tile an output of {o} with kernel {k}, dilation {d}, "
                         f"padding {p} and stride {s} (expected {max(nh, 0) * max(nw, 0)})")
    blocks = core.reshape(t, (n, c, k[0], k[1], nh, nw))
    ext_h, ext_w = (nh - 1) * s[0] + 1, (nw - 1) * s[1] + 1
    acc = None
    for i in range(k[0]):
        for j in range(k[1]):
            piece = core.getitem(blocks, (slice(None), slice(None), i, j))  # (N, C, nH, nW)
            if s[0] > 1 or s[1] > 1:  # block (a, b) lands at (a s, b s): zeros between
                piece = core.reshape(piece, (n, c, nh, 1, nw, 1))
                piece = pad(piece, [(0, 0), (0, 0), (0, 0), (0, s[0] - 1), (0, 0), (0, s[1] - 1)])
                piece = core.reshape(piece, (n, c, nh * s[0], nw * s[1]))
                piece = core.getitem(piece, (slice(None), slice(None), slice(0, ext_h), slice(0, ext_w)))
            top, left = i * d[0], j * d[1]
            piece = pad(piece, [(0, 0), (0, 0), (top, hp - top - ext_h), (left, wp - left - ext_w)])
            acc = piece if acc is None else core.add(acc, piece)
    if any(p):
        acc = core.getitem(acc, (slice(None), slice(None), slice(p[0], p[0] + o[0]), slice(p[1], p[1] + o[1])))
    return acc


_GROUP = re.compile(r"\(([\w\s]+)\)")


def rearrange(tensor, pattern, **axes_lengths) -> Tensor:
    """Rearranges axes with an einops pattern (``keras.ops.rearrange``): names on each
    side of ``->`` are axes, ``(a b)`` groups axes into one (merging, or with the
    ``axes_lengths`` of all but one, splitting one input axis).

    Args:
        tensor: the input.
        pattern: e.g. ``"b h w c -> b c h w"``, ``"b (h1 h) w c -> (b h1) h w c"``.
        **axes_lengths: the sizes of split axes (``h1=2``).

    Example:
        >>> import ember as em
        >>> em.ops.rearrange(em.ones((2, 4, 6, 3)), "b (h1 h) w c -> (b h1) h w c", h1=2).shape
        (4, 2, 6, 3)
    """
    op = "rearrange"
    t = tensor if isinstance(tensor, Tensor) else as_tensor(tensor)
    if not isinstance(pattern, str) or pattern.count("->") != 1:
        raise InvalidArgumentError(f"{op}: pattern must be a string 'input axes -> output axes', got {pattern!r}")
    for name, v in axes_lengths.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise InvalidArgumentError(f"{op}: the length of axis {name!r} must be a positive integer, got {v!r}")
    left, right = re.split(r"\s*->\s*", pattern.strip())
    token = r"\w+|\([\w\s]*\)"
    in_axes = re.findall(token, left)
    out_axes = re.findall(token, right)
    if re.sub(token, "", left).strip() or re.sub(token, "", right).strip():
        raise InvalidArgumentError(f"{op}: pattern {pattern!r} holds characters other than axis names and groups")
    if len(in_axes) != t.ndim:
        raise ShapeError(f"{op}: the pattern's input {left!r} names {len(in_axes)} axes but the tensor has shape "
                         f"{t.shape}")
    lengths = dict(axes_lengths)
    sizes: dict = {}
    decomposed: list = []
    for axis, dim in zip(in_axes, t.shape):
        m = _GROUP.fullmatch(axis)
        if m:
            inner = m.group(1).split()
            unknown = [a for a in inner if a not in lengths]
            if len(unknown) > 1:
                raise InvalidArgumentError(f"{op}: group {axis!r} needs the lengths of all but one axis, missing "
                                           f"{unknown}")
            known = int(np.prod([lengths[a] for a in inner if a in lengths]))
            if unknown:
                if dim % known:
                    raise ShapeError(f"{op}: axis of size {dim} cannot be split into {axis!r} with {lengths}")
                lengths[unknown[0]] = dim // known
            if int(np.prod([lengths[a] for a in inner])) != dim:
                raise ShapeError(f"{op}: group {axis!r} of sizes {[lengths[a] for a in inner]} does not make the axis "
                                 f"of size {dim}")
            for a in inner:
                sizes[a] = lengths[a]
                decomposed.append(a)
        else:
            sizes[axis] = dim
            decomposed.append(axis)
    if len(set(decomposed)) != len(decomposed):
        raise InvalidArgumentError(f"{op}: an axis name repeats in {left!r}")
    groups = [(_GROUP.fullmatch(a).group(1).split() if _GROUP.fullmatch(a) else [a]) for a in out_axes]
    flat_out = [a for g in groups for a in g]
    if sorted(flat_out) != sorted(decomposed):
        raise InvalidArgumentError(f"{op}: the output axes {flat_out} must be the input axes {decomposed} in some order")
    y = t
    shape = tuple(sizes[a] for a in decomposed)
    if shape != t.shape:
        y = core.reshape(y, shape)
    perm = [decomposed.index(a) for a in flat_out]
    if perm != list(range(len(perm))):
        y = core.transpose(y, tuple(perm))
    out_shape = tuple(int(np.prod([sizes[a] for a in g])) for g in groups)
    if out_shape != y.shape:
        y = core.reshape(y, out_shape)
    return y


def array(x, dtype=None) -> Tensor:
    """A tensor of ``x`` (``keras.ops.array``, like ``convert_to_tensor``): float data
    becomes float32, integers int32 (Ember's dtypes); ``dtype`` picks one.

    Example:
        >>> import ember as em
        >>> em.ops.array([1, 2]).dtype, em.ops.array([1.5]).dtype
        ('int32', 'float32')
    """
    return as_tensor(x, dtype=dtype)
