"""Recurrent ops over a whole sequence: `simple_rnn`, `lstm` and `gru`.

Each is the seam the recurrent layers call, so a backend can later take the whole
sequence in one fused forward and backward kernel. Their default body is a composite of
differentiable ops, so autograd differentiates it and every device gets gradients:

* one fused ``dense`` of the whole input sequence ``(batch, time, features)`` with the
  kernel (and the input bias) up front,
* the result split into its time steps (`_unstack`), then per step one matmul of the
  previous state with the recurrent kernel and the gate activations (Keras 3's equations,
  gate order i, f, c, o for the LSTM and z, r, h for the GRU),
* the step outputs joined with ``ops.stack`` when the whole sequence is returned.

When the activations are ones the backends fuse (`FUSED_ACTIVATIONS`: tanh, sigmoid,
relu, hard_sigmoid, linear, by name or as the `ember.activations` functions), the
recurrence after the input projection is ONE autograd node instead: the backend's
`rnn_sequence` runs every step in one call (one fused kernel per step on the GPU, one
Rust call on the CPU) and saves the gate activations, and `rnn_sequence_backward` runs
the whole backward through time. Callables fall back to the composite.

``mask`` (batch, time), nonzero = keep, follows Keras 3: at a masked step every state
keeps its previous value and the step's output is the previous output (the previous
state), or zeros with ``zero_output_for_mask``.

The time length comes from the data at call time, so the layers work on inputs whose
time axis is unknown (None) when the model is built.

Shapes: ``inputs`` (batch, time, features); ``kernel`` (features, gates * units);
``recurrent_kernel`` (units, gates * units); ``bias`` (gates * units,), or (2, 3 * units)
for a GRU with ``reset_after=True`` (row 0 the input bias, row 1 the recurrent bias).
"""

from __future__ import annotations

from typing import Callable

from ..autograd import _state
from ..backend.base import contiguous_strides
from ..errors import DeviceError, InvalidArgumentError, ShapeError
from ..tensor import Tensor, as_tensor, zeros
from .array_ops import stack as _stack
from .array_ops import where as _where
from .core import _float, _record, _scalar, _wrap, add, multiply, reshape, subtract, take
from .nn import dense, matmul

__all__ = ["simple_rnn", "lstm", "gru", "FUSED_ACTIVATIONS"]

#: activations the fused recurrent kernels implement (``Backend.rnn_sequence``).
FUSED_ACTIVATIONS = ("tanh", "sigmoid", "relu", "hard_sigmoid", "linear")


# -- splitting a tensor along an axis, and joining it back ------------------------------------

def _unstack(x: Tensor, axis: int) -> list[Tensor]:
    """The slices of ``x`` along ``axis`` (numpy ``[x[..., i, ...] for i]``), differentiable.

    The tape records one node per output, but the gradient of ``x`` is assembled once: each
    slice's backward writes its gradient into its slab of one shared buffer (O(size of x)
    in all, where a gradient per slice of x's full size would cost O(steps * size)). The
    slices' nodes lead to one "hub" node (a view of ``x``), which autograd reaches only
    after every slice (it is their common input); the slices hand it a zero scalar in
    place of their gradient, and the hub returns the assembled buffer as ``x``'s gradient.
    """
    be = x._backend
    shape = x.shape
    axis = axis % len(shape)
    st = contiguous_strides(shape)
    view_shape = shape[:axis] + shape[axis + 1:]
    view_strides = st[:axis] + st[axis + 1:]
    outs = [_wrap(be.strided_copy(x._buf, view_shape, view_strides, i * st[axis]), view_shape, x.dtype, be)
            for i in range(shape[axis])]
    if not (_state.enabled and x.requires_grad) or not outs:
        return outs
    n = x.size
    slot: list = [None]  # the gradient being assembled in this backward pass

    def hub_backward(_token):
        buf = slot[0] if slot[0] is not None else be.full(n, 0.0, "float32")
        slot[0] = None
        return (_wrap(buf, shape, "float32", be),)

    hub = _record(_wrap(x._buf, shape, x.dtype, be), (x,), hub_backward)
    token = _scalar(0.0, x)
    for i, out in enumerate(outs):
        def backward(g, offset=i * st[axis]):
            if slot[0] is None:
                slot[0] = be.full(n, 0.0, "float32")
            be.strided_write(slot[0], g._buf, view_shape, view_strides, offset)
            return (token,)

        _record(out, (hub,), backward)
    return outs


# -- shared plumbing ----------------------------------------------------------------------------

def _activation(fn) -> Callable:
    from .. import activations

    return activations.get(fn) if isinstance(fn, str) or fn is None else fn


def _check(op: str, inputs, kernel, recurrent_kernel, gates: int) -> tuple[Tensor, int, int, int]:
    x = _float(as_tensor(inputs))
    if x.ndim != 3:
        raise ShapeError(f"{op}: inputs must be (batch, time, features), got shape {x.shape}")
    b, t, f = x.shape
    if kernel.ndim != 2 or kernel.shape[0] != f or kernel.shape[1] % gates:
        raise ShapeError(f"{op}: kernel of shape {kernel.shape} does not match inputs of shape {x.shape} "
                         f"(expected ({f}, {gates} * units))")
    units = kernel.shape[1] // gates
    if recurrent_kernel.shape != (units, gates * units):
        raise ShapeError(f"{op}: recurrent_kernel has shape {recurrent_kernel.shape}, expected {(units, gates * units)}")
    return x, b, t, units


def _states(op: str, initial_state, n: int, b: int, units: int, device: str) -> list[Tensor]:
    if initial_state is None:
        return [zeros((b, units), device=device) for _ in range(n)]
    states = [initial_state] if isinstance(initial_state, Tensor) else list(initial_state)
    if len(states) != n:
        raise InvalidArgumentError(f"{op}: expected {n} initial state tensor(s), got {len(states)}")
    out = []
    for s in states:
        s = _float(as_tensor(s, device=device))
        if s.shape != (b, units):
            raise ShapeError(f"{op}: an initial state has shape {s.shape}, expected {(b, units)}")
        out.append(s)
    return out


def _fused_name(fn) -> str | None:
    """The fused kernels' name of activation ``fn`` (a name, None, or one of the
    `ember.activations` functions), or None where only the composite can run it."""
    if fn is None:
        return "linear"
    if isinstance(fn, str):
        return fn if fn in FUSED_ACTIVATIONS else None
    from .. import activations

    for name in FUSED_ACTIVATIONS:
        if fn is getattr(activations, name):
            return name
    return None


def _mask(op: str, mask, b: int, t: int, device: str) -> Tensor | None:
    """The (batch, time) mask as float32 1.0 (keep) / 0.0 (masked), or None."""
    if mask is None:
        return None
    if isinstance(mask, Tensor):
        if mask.device != device:
            raise DeviceError(f"{op}: the inputs are on {device!r} but the mask is on {mask.device!r}; move one with .to()")
        m = _float(mask)
    else:
        import numpy as np

        arr = np.asarray(mask)
        m = as_tensor((arr != 0).astype(np.float32) if arr.dtype == bool else arr.astype(np.float32), device=device)
    if m.shape != (b, t):
        raise ShapeError(f"{op}: mask has shape {m.shape}, expected (batch, time) = {(b, t)}")
    return m


def _dropout(op: str, m, b: int, width: int, what: str, device: str) -> Tensor | None:
    if m is None:
        return None
    m = _float(as_tensor(m, device=device))
    if m.shape != (b, width):
        raise ShapeError(f"{op}: {what} has shape {m.shape}, expected {(b, width)}")
    return m


def _mask_steps(m: Tensor | None, go_backwards: bool) -> list:
    """Per processing step the (batch, 1) keep mask, or Nones."""
    if m is None:
        return []
    b, t = m.shape
    steps = _unstack(reshape(m, (b, t, 1)), 1)
    return steps[::-1] if go_backwards else steps


def _masked(keep, new: list[Tensor], old: list[Tensor], zero_output: bool) -> tuple[Tensor, list[Tensor]]:
    """Keras 3's masked step: (output, states) from the new and the previous states."""
    if keep is None:
        return new[0], new
    states = [_where(keep, n, o) for n, o in zip(new, old)]
    out = _where(keep, new[0], 0.0) if zero_output else states[0]
    return out, states


def _fused(cell: str, x: Tensor, kernel, recurrent_kernel, input_bias, recurrent_bias, states: list[Tensor],
           activation: str, recurrent_activation: str, go_backwards: bool, return_sequences: bool, reset_after: bool,
           dropout_mask, recurrent_dropout_mask, mask: Tensor | None, zero_output_for_mask: bool):
    """The recurrence as one autograd node over ``Backend.rnn_sequence``.

    The outputs (sequence or last output) and the final states are each a small node
    whose backward parks its gradient; they all lead to one hub node (autograd reaches it
    after all of them), whose backward runs `rnn_sequence_backward` once with every
    gradient that arrived (None for an output the loss does not use)."""
    b, t, f = x.shape
    units = recurrent_kernel.shape[0]
    rk = _float(as_tensor(recurrent_kernel))
    if rk.device != x.device:
        raise DeviceError(f"{cell}: the inputs are on {x.device!r} but the recurrent_kernel is on {rk.device!r}; "
                          "move one with .to()")
    if dropout_mask is not None:
        x = multiply(x, reshape(_dropout(cell, dropout_mask, b, f, "dropout_mask", x.device), (b, 1, f)))
    rdm = _dropout(cell, recurrent_dropout_mask, b, units, "recurrent_dropout_mask", x.device)
    # An LSTM's or SimpleRNN's bias is added inside the recurrence, as the kernel's per-step
    # bias, rather than by the input projection: the same sum, but its gradient is then
    # summed from each step's gate gradients while they are in cache, instead of by one more
    # pass over all (batch x time, k units) of them. (A GRU's two biases are not
    # interchangeable: its recurrent bias sits inside the reset gate's product.)
    if cell != "gru" and recurrent_bias is None and input_bias is not None:
        input_bias, recurrent_bias = None, input_bias
    xw = dense(x, kernel, input_bias, "linear")
    rb = None if recurrent_bias is None else _float(as_tensor(recurrent_bias, device=x.device))
    h0 = states[0]
    c0 = states[1] if cell == "lstm" else None
    be = xw._backend
    mbuf = None if mask is None else mask._buf
    rbuf = None if rdm is None else rdm._buf
    spec = (b, t, units, bool(go_backwards), activation, recurrent_activation, bool(reset_after),
            bool(zero_output_for_mask), bool(return_sequences))
    y, h, c, gates, hs, cs = be.rnn_sequence(cell, xw._buf, rk._buf, None if rb is None else rb._buf, h0._buf,
                                             None if c0 is None else c0._buf, mbuf, rbuf, *spec)
    y_shape = (b, t, units) if return_sequences else (b, units)
    outs = [_wrap(y, y_shape, "float32", be), _wrap(h, (b, units), "float32", be)]
    if c is not None:
        outs.append(_wrap(c, (b, units), "float32", be))
    inputs = (xw, rk, rb, h0, c0)
    if not (_state.enabled and any(i is not None and i.requires_grad for i in inputs)):
        return outs[0], outs[1:]
    slot: dict = {}

    def hub_backward(_token):
        g = [slot.pop(k, None) for k in range(3)]
        gxw, grk, grb, gh0, gc0 = be.rnn_sequence_backward(
            cell, rk._buf, rb is not None, mbuf, rbuf, gates, hs, cs, *(None if gi is None else gi._buf for gi in g),
            *spec)
        return (_wrap(gxw, xw.shape, "float32", be), _wrap(grk, rk.shape, "float32", be),
                None if rb is None else _wrap(grb, rb.shape, "float32", be), _wrap(gh0, h0.shape, "float32", be),
                None if c0 is None else _wrap(gc0, c0.shape, "float32", be))

    hub = _record(_wrap(y, y_shape, "float32", be), inputs, hub_backward)
    token = _scalar(0.0, hub)
    for k, out in enumerate(outs):
        def park(g, k=k):
            slot[k] = g
            return (token,)

        _record(out, (hub,), park)
    return outs[0], outs[1:]


def _input_steps(x: Tensor, kernel: Tensor, bias, dropout_mask, go_backwards: bool) -> list[Tensor]:
    """``x @ kernel + bias`` for the whole sequence in one fused kernel, split into steps."""
    if dropout_mask is not None:
        b, _, f = x.shape
        x = multiply(x, reshape(dropout_mask, (b, 1, f)))  # one mask for every step (Keras)
    xw = dense(x, kernel, bias, "linear")
    steps = _unstack(xw, 1)
    return steps[::-1] if go_backwards else steps


def _finish(op: str, outputs: list[Tensor], states: list[Tensor], return_sequences: bool, b: int, units: int,
            device: str):
    if return_sequences:
        seq = _stack(outputs, 1) if outputs else zeros((b, 0, units), device=device)
        return seq, states
    return (outputs[-1] if outputs else states[0]), states


def _gates(z: Tensor, n: int) -> list[Tensor]:
    b, width = z.shape
    return _unstack(reshape(z, (b, n, width // n)), 1)


# -- the recurrent ops -------------------------------------------------------------------------

def simple_rnn(inputs, kernel, recurrent_kernel, bias=None, initial_state=None, activation="tanh",
               go_backwards: bool = False, return_sequences: bool = False, dropout_mask=None,
               recurrent_dropout_mask=None, mask=None, zero_output_for_mask: bool = False):
    """Keras's SimpleRNN over a whole sequence: ``h_t = activation(x_t @ kernel + bias +
    h_{t-1} @ recurrent_kernel)``.

    Args:
        inputs: (batch, time, features).
        kernel: (features, units); recurrent_kernel: (units, units); bias: (units,) or None.
        initial_state: the initial h (batch, units) (a tensor or a one-element list), or
            None for zeros.
        activation: a name or a callable of tensors.
        go_backwards: process the sequence from its last step (the returned sequence is
            then in processing order, reversed, as in Keras).
        return_sequences: return every step's output (batch, time, units), else the last.
        dropout_mask: (batch, features), multiplied into every step's input.
        recurrent_dropout_mask: (batch, units), multiplied into h_{t-1} before the matmul.
        mask: (batch, time) booleans or 0/1, or None: at a masked step the state keeps
            its value and the output is the previous state (Keras 3).
        zero_output_for_mask: a masked step outputs zeros instead.

    Returns:
        ``(outputs, [h])``.

    Example:
        >>> import ember as em
        >>> x = em.ones((2, 5, 3))
        >>> y, (h,) = em.ops.rnn.simple_rnn(x, em.ones((3, 4)) * 0.1, em.ones((4, 4)) * 0.1)
        >>> y.shape, h.shape
        ((2, 4), (2, 4))
    """
    x, b, t, units = _check("simple_rnn", inputs, kernel, recurrent_kernel, 1)
    (h,) = _states("simple_rnn", initial_state, 1, b, units, x.device)
    m = _mask("simple_rnn", mask, b, t, x.device)
    name = _fused_name(activation)
    if name is not None:
        return _fused("simple_rnn", x, kernel, recurrent_kernel, bias, None, [h], name, "sigmoid", go_backwards,
                      return_sequences, False, dropout_mask, recurrent_dropout_mask, m, zero_output_for_mask)
    act = _activation(activation)
    outputs = []
    keeps = _mask_steps(m, go_backwards)
    for s, xw in enumerate(_input_steps(x, kernel, bias, dropout_mask, go_backwards)):
        h_in = h if recurrent_dropout_mask is None else multiply(h, recurrent_dropout_mask)
        out, (h,) = _masked(keeps[s] if keeps else None, [act(add(xw, matmul(h_in, recurrent_kernel)))], [h],
                            zero_output_for_mask)
        outputs.append(out)
    return _finish("simple_rnn", outputs, [h], return_sequences, b, units, x.device)


def lstm(inputs, kernel, recurrent_kernel, bias=None, initial_state=None, activation="tanh",
         recurrent_activation="sigmoid", go_backwards: bool = False, return_sequences: bool = False,
         dropout_mask=None, recurrent_dropout_mask=None, mask=None, zero_output_for_mask: bool = False):
    """Keras's LSTM over a whole sequence. With ``z = x_t @ kernel + h_{t-1} @
    recurrent_kernel + bias`` split into (i, f, c, o) blocks of ``units`` columns:
    ``i = ra(z_i)``, ``f = ra(z_f)``, ``c_t = f * c_{t-1} + i * a(z_c)``, ``o = ra(z_o)``,
    ``h_t = o * a(c_t)`` (``a`` the activation, ``ra`` the recurrent activation).

    Args:
        inputs: (batch, time, features).
        kernel: (features, 4 * units); recurrent_kernel: (units, 4 * units);
            bias: (4 * units,) or None.
        initial_state: ``[h, c]``, each (batch, units), or None for zeros.
        activation, recurrent_activation: names or callables of tensors.
        go_backwards, return_sequences, dropout_mask, recurrent_dropout_mask, mask,
            zero_output_for_mask: as in `simple_rnn` (a masked step keeps h and c).

    Returns:
        ``(outputs, [h, c])``.

    Example:
        >>> import ember as em
        >>> x = em.ones((2, 5, 3))
        >>> y, (h, c) = em.ops.rnn.lstm(x, em.ones((3, 16)) * 0.1, em.ones((4, 16)) * 0.1,
        ...                             return_sequences=True)
        >>> y.shape, c.shape
        ((2, 5, 4), (2, 4))
    """
    x, b, t, units = _check("lstm", inputs, kernel, recurrent_kernel, 4)
    h, c = _states("lstm", initial_state, 2, b, units, x.device)
    m = _mask("lstm", mask, b, t, x.device)
    names = (_fused_name(activation), _fused_name(recurrent_activation))
    if None not in names:
        return _fused("lstm", x, kernel, recurrent_kernel, bias, None, [h, c], names[0], names[1], go_backwards,
                      return_sequences, False, dropout_mask, recurrent_dropout_mask, m, zero_output_for_mask)
    act = _activation(activation)
    ract = _activation(recurrent_activation)
    outputs = []
    keeps = _mask_steps(m, go_backwards)
    for s, xw in enumerate(_input_steps(x, kernel, bias, dropout_mask, go_backwards)):
        h_in = h if recurrent_dropout_mask is None else multiply(h, recurrent_dropout_mask)
        zi, zf, zc, zo = _gates(add(xw, matmul(h_in, recurrent_kernel)), 4)
        c_new = add(multiply(ract(zf), c), multiply(ract(zi), act(zc)))
        h_new = multiply(ract(zo), act(c_new))
        out, (h, c) = _masked(keeps[s] if keeps else None, [h_new, c_new], [h, c], zero_output_for_mask)
        outputs.append(out)
    return _finish("lstm", outputs, [h, c], return_sequences, b, units, x.device)


def gru(inputs, kernel, recurrent_kernel, bias=None, initial_state=None, activation="tanh",
        recurrent_activation="sigmoid", go_backwards: bool = False, return_sequences: bool = False,
        reset_after: bool = True, dropout_mask=None, recurrent_dropout_mask=None, mask=None,
        zero_output_for_mask: bool = False):
    """Keras's GRU over a whole sequence, gates (z, r, h) in that column order:
    ``z = ra(x_z + r_z)``, ``r = ra(x_r + r_r)``, ``h_t = z * h_{t-1} + (1 - z) * hh``.

    With ``reset_after=True`` (Keras's default, cuDNN's form) ``x_* = x_t @ kernel +
    bias[0]``, ``r_* = h_{t-1} @ recurrent_kernel + bias[1]`` and ``hh = a(x_h + r * r_h)``;
    with ``reset_after=False`` the bias (3 * units,) goes with the input and
    ``hh = a(x_h + (r * h_{t-1}) @ recurrent_kernel[:, 2 units:])``.

    Args:
        inputs: (batch, time, features).
        kernel: (features, 3 * units); recurrent_kernel: (units, 3 * units);
            bias: (2, 3 * units) with ``reset_after``, else (3 * units,); or None.
        initial_state: the initial h (batch, units), or None for zeros.
        reset_after: where the reset gate applies (see above).
        activation, recurrent_activation, go_backwards, return_sequences, dropout_mask,
            recurrent_dropout_mask, mask, zero_output_for_mask: as in `lstm`.

    Returns:
        ``(outputs, [h])``.

    Example:
        >>> import ember as em
        >>> x = em.ones((2, 5, 3))
        >>> y, (h,) = em.ops.rnn.gru(x, em.ones((3, 12)) * 0.1, em.ones((4, 12)) * 0.1,
        ...                          em.zeros((2, 12)))
        >>> y.shape
        (2, 4)
    """
    x, b, t, units = _check("gru", inputs, kernel, recurrent_kernel, 3)
    (h,) = _states("gru", initial_state, 1, b, units, x.device)
    m = _mask("gru", mask, b, t, x.device)
    input_bias = recurrent_bias = None
    if bias is not None:
        expected = (2, 3 * units) if reset_after else (3 * units,)
        if bias.shape != expected:
            raise ShapeError(f"gru: bias has shape {bias.shape}, expected {expected} (reset_after={reset_after})")
        if reset_after:
            input_bias = reshape(take(bias, [0]), (3 * units,))
            recurrent_bias = reshape(take(bias, [1]), (3 * units,))
        else:
            input_bias = bias
    names = (_fused_name(activation), _fused_name(recurrent_activation))
    if None not in names:
        return _fused("gru", x, kernel, recurrent_kernel, input_bias, recurrent_bias, [h], names[0], names[1],
                      go_backwards, return_sequences, reset_after, dropout_mask, recurrent_dropout_mask, m,
                      zero_output_for_mask)
    act = _activation(activation)
    ract = _activation(recurrent_activation)
    keeps = _mask_steps(m, go_backwards)
    if not reset_after:
        rk_zr, rk_h = _split_columns(recurrent_kernel, units)
    outputs = []
    for s, xw in enumerate(_input_steps(x, kernel, input_bias, dropout_mask, go_backwards)):
        h_in = h if recurrent_dropout_mask is None else multiply(h, recurrent_dropout_mask)
        x_z, x_r, x_h = _gates(xw, 3)
        if reset_after:
            inner = matmul(h_in, recurrent_kernel)
            if recurrent_bias is not None:
                inner = add(inner, recurrent_bias)
            r_z, r_r, r_h = _gates(inner, 3)
            z = ract(add(x_z, r_z))
            r = ract(add(x_r, r_r))
            hh = act(add(x_h, multiply(r, r_h)))
        else:
            r_z, r_r = _gates(matmul(h_in, rk_zr), 2)
            z = ract(add(x_z, r_z))
            r = ract(add(x_r, r_r))
            hh = act(add(x_h, matmul(multiply(r, h_in), rk_h)))
        # z * h + (1 - z) * hh, as hh + z * (h - hh): one op fewer.
        out, (h,) = _masked(keeps[s] if keeps else None, [add(hh, multiply(z, subtract(h, hh)))], [h],
                            zero_output_for_mask)
        outputs.append(out)
    return _finish("gru", outputs, [h], return_sequences, b, units, x.device)


def _split_columns(w: Tensor, units: int) -> tuple[Tensor, Tensor]:
    """``w[:, :2 units]`` and ``w[:, 2 units:]`` of a (units, 3 units) matrix, differentiable."""
    rows = w.shape[0]
    parts = _unstack(reshape(w, (rows, 3, units)), 1)
    zr = reshape(_stack(parts[:2], 1), (rows, 2 * units))
    return zr, parts[2]
