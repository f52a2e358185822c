"""Recurrent layers: SimpleRNN, LSTM and GRU (Keras 3 names, arguments, defaults,
weight layouts and equations).

Each layer holds its weights as Keras lays them out (``kernel`` (features, gates * units),
``recurrent_kernel`` (units, gates * units), ``bias``; gates i, f, c, o for the LSTM and
z, r, h for the GRU), so parameter counts and weight files match Keras, and runs the
whole sequence through one op of `ember.ops.rnn` (the seam a fused kernel can take over).
The time axis may be unknown (None) when the model is built: its length comes from the
data at each call.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import activations, initializers, regularizers
from .. import random as _random
from .._validation import brief, check_int
from ..errors import InvalidArgumentError, ShapeError
from .. import tree
from ..ops import rnn as rnn_ops
from ..ops.core import add, cast, multiply, reshape
from ..tensor import Tensor, as_tensor, zeros
from .input_spec import InputSpec
from .layer import Layer


def _positive_int(value, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise InvalidArgumentError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _rate(value, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise InvalidArgumentError(f"{owner}: {name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _no_constraint(value, name: str, owner: str) -> None:
    if value is not None:
        raise InvalidArgumentError(f"{owner}: {name} is not supported yet; it must be None")


def _mask_tensor(mask, batch: int, steps: int, owner: str, device: str):
    """A (batch, time) mask as a float32 tensor on ``device``, checked against the inputs."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        a = np.asarray(mask)
        if a.dtype.kind not in "biuf":
            raise InvalidArgumentError(f"{owner}: the mask must hold booleans or 0/1 numbers, got dtype {a.dtype}")
        mask = as_tensor(a.astype(np.float32), device=device)
    if mask.shape != (batch, steps):
        raise ShapeError(f"{owner}: mask has shape {mask.shape}, expected (batch, time) = {(batch, steps)} "
                         f"for inputs of shape {(batch, steps)} + (features,)")
    if mask.dtype != "float32":
        mask = cast(mask, "float32")
    return mask


class _Sequence:
    """What every recurrent layer shares (Keras's ``RNN`` layer): output structure,
    masks, and the state carried across batches when ``stateful``."""

    def _init_sequence(self, return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask):
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted: the steps run as one op (or a Python loop) either way
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.states = None  # the carried states of a stateful layer (detached tensors)
        self._expected_batch_size = None

    def _n_returned_states(self) -> int:
        return len(self._flat_state_sizes())

    def compute_mask(self, inputs, mask=None):
        """The input mask for a returned sequence, None for a last output or a state."""
        if tree.is_nested(mask):
            mask = tree.flatten(mask)[0]
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * self._n_returned_states()
        return out

    # -- stateful ---------------------------------------------------------------------------
    def _note_batch_size(self, input_shape) -> None:
        if self.stateful and input_shape and input_shape[0] is not None:
            self._expected_batch_size = int(input_shape[0])

    def _stateful_initial(self, batch: int, device: str):
        """The carried states (zeros the first time); the batch size is fixed by
        ``Input(batch_size=...)`` / ``batch_input_shape`` or else by the first batch."""
        if self._expected_batch_size is None:
            self._expected_batch_size = batch
        if batch != self._expected_batch_size:
            raise ShapeError(
                f"{type(self).__name__} {self.name!r}: the layer is stateful, so the batch size of the input "
                f"sequences must stay {self._expected_batch_size} (the batch size of its states); got {batch}"
            )
        if self.states is None or self.states[0].device != device:
            self.states = [zeros((batch, n), device=device) for n in self._flat_state_sizes()]
        return list(self.states)

    def _keep_states(self, states) -> None:
        # Gradients stop at the batch boundary (truncated backpropagation through time).
        self.states = [s.detach() for s in tree.flatten(states)]

    def reset_state(self) -> None:
        """Resets the carried states of a stateful layer to zeros (Keras 3)."""
        if self.states is not None:
            self.states = [zeros(s.shape, device=s.device) for s in self.states]

    def reset_states(self, states=None) -> None:
        """Keras's alias of `reset_state`; ``states`` (arrays of the states' shapes) sets
        them instead of zeros."""
        if states is None:
            self.reset_state()
            return
        states = [states] if not isinstance(states, (list, tuple)) else list(states)
        sizes = self._flat_state_sizes()
        if len(states) != len(sizes):
            raise InvalidArgumentError(f"{type(self).__name__} {self.name!r}: reset_states expects {len(sizes)} "
                                       f"state array(s), got {len(states)}")
        batch = self._expected_batch_size
        out = []
        for s, n in zip(states, sizes):
            if not isinstance(s, Tensor):
                try:
                    s = np.asarray(s, np.float32)
                except (TypeError, ValueError):
                    raise InvalidArgumentError(f"{type(self).__name__} {self.name!r}: reset_states: a state must be an "
                                               f"array of numbers, got {brief(s)}") from None
            t = s if isinstance(s, Tensor) else as_tensor(s, device=self._input_device())
            if t.ndim != 2 or t.shape[1] != n or (batch is not None and t.shape[0] != batch):
                raise ShapeError(f"{type(self).__name__} {self.name!r}: a state has shape {t.shape}, "
                                 f"expected {(batch, n)}")
            out.append(t)
        self._expected_batch_size = out[0].shape[0]
        self.states = out

    def _sequence_config(self) -> dict:
        return {"return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask}

    def _prepare(self, inputs, initial_state, mask):
        """(initial states or None, the float mask or None), checked."""
        owner = f"{type(self).__name__} {self.name!r}"
        if inputs.ndim != 3:
            raise ShapeError(f"{owner}: expected inputs (batch, time, features), got shape {inputs.shape}")
        batch, steps = inputs.shape[0], inputs.shape[1]
        m = _mask_tensor(mask, batch, steps, owner, inputs.device)
        if initial_state is None and self.stateful:
            initial_state = self._stateful_initial(batch, inputs.device)
        return initial_state, m


class _RNN(_Sequence, Layer):
    """The shared machinery of SimpleRNN, LSTM and GRU: the weights live on the layer
    (saving gives them the cell's path, ``lstm/cell/...``, as Keras stores them) and the
    whole sequence runs through one op of `ember.ops.rnn`."""

    integer_inputs = "cast"
    _gates = 1
    _n_states = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        _init_cell_config(self, units, activation, recurrent_activation, use_bias, kernel_initializer,
                          recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                          bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                          recurrent_dropout, seed)
        self._init_sequence(return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask)
        self.input_spec = InputSpec(ndim=3)

    def _flat_state_sizes(self) -> list:
        return [self.units] * self._n_states

    @property
    def state_size(self):
        return self.units if self._n_states == 1 else [self.units] * self._n_states

    @property
    def cell(self):
        """A cell (`SimpleRNNCell`, `LSTMCell`, `GRUCell`) sharing this layer's weights, as
        Keras's ``layer.cell`` (made on each access; the weights are the layer's own)."""
        cell = _CELL_OF[type(self).__name__].from_config(_cell_config(self))
        if self.built:
            cell.kernel, cell.recurrent_kernel, cell.bias = self.kernel, self.recurrent_kernel, self.bias
            cell._weights = list(self._weights)
            cell.built = True
        return cell

    # -- weights ---------------------------------------------------------------------------
    def _bias_shape(self) -> tuple:
        return (self._gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ShapeError(
                f"{type(self).__name__}: expected inputs (batch, time, features) with a known feature size, "
                f"got shape {tuple(input_shape)}"
            )
        _build_weights(self, int(input_shape[-1]))
        self._note_batch_size(self._batch_input_shape or input_shape)

    # -- calling -----------------------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self._n_states
        return out

    def _masks(self, inputs, training):
        return _dropout_masks(self, inputs, training)

    def _run(self, inputs, initial_state, dp, rdp, mask=None):
        raise NotImplementedError  # each layer calls its op of ember.ops.rnn

    def call(self, inputs, initial_state=None, mask=None, training=False):
        initial_state, m = self._prepare(inputs, initial_state, mask)
        dp, rdp = self._masks(inputs, training)
        outputs, states = self._run(inputs, initial_state, dp, rdp, m)
        if self.stateful:
            self._keep_states(states)
        if self.return_state:
            return [outputs] + list(states)
        return outputs

    # -- config ------------------------------------------------------------------------------
    def get_config(self):
        return {**super().get_config(), **_cell_config(self), "activity_regularizer":
                regularizers.serialize(self.activity_regularizer), **self._sequence_config()}


# -- the cell configuration, shared by the layers and the cells ---------------------------------

def _init_cell_config(obj, units, activation, recurrent_activation, use_bias, kernel_initializer,
                      recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                      bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                      recurrent_dropout, seed) -> None:
    owner = type(obj).__name__
    obj.units = _positive_int(units, "units", owner)
    obj.activation = activations.get(activation)
    obj.recurrent_activation = activations.get(recurrent_activation)
    obj.use_bias = bool(use_bias)
    obj.kernel_initializer = initializers.get(kernel_initializer)
    obj.recurrent_initializer = initializers.get(recurrent_initializer)
    obj.bias_initializer = initializers.get(bias_initializer)
    obj.kernel_regularizer = regularizers.get(kernel_regularizer)
    obj.recurrent_regularizer = regularizers.get(recurrent_regularizer)
    obj.bias_regularizer = regularizers.get(bias_regularizer)
    for value, name in ((kernel_constraint, "kernel_constraint"), (recurrent_constraint, "recurrent_constraint"),
                        (bias_constraint, "bias_constraint")):
        _no_constraint(value, name, owner)
    # Keras clips the rates to [0, 1]; a rate of 1 would drop everything, so as in
    # Keras's Dropout only [0, 1) takes effect in training.
    obj.dropout = min(1.0, max(0.0, _rate(dropout, "dropout", owner)))
    obj.recurrent_dropout = min(1.0, max(0.0, _rate(recurrent_dropout, "recurrent_dropout", owner)))
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise InvalidArgumentError(f"{owner}: seed must be None or an integer, got {seed!r}")
    obj.seed = None if seed is None else int(seed)
    obj._gen = _random.SeedGenerator(obj.seed) if obj.seed is not None else None
    obj.kernel = obj.recurrent_kernel = obj.bias = None


def _build_weights(obj, features: int) -> None:
    if obj.kernel is not None:
        return
    width = obj._gates * obj.units
    obj.input_spec = InputSpec(ndim=obj.input_spec.ndim if obj.input_spec is not None else None, axes={-1: features})
    obj.kernel = obj.add_weight((features, width), obj.kernel_initializer, name="kernel",
                                regularizer=obj.kernel_regularizer)
    obj.recurrent_kernel = obj.add_weight((obj.units, width), obj.recurrent_initializer, name="recurrent_kernel",
                                          regularizer=obj.recurrent_regularizer)
    if obj.use_bias:
        obj.bias = obj.add_weight(obj._bias_shape(), obj._bias_initializer(), name="bias",
                                  regularizer=obj.bias_regularizer)


def _dropout_masks(obj, inputs, training):
    """One input mask (batch, features) and one state mask (batch, units) per sequence."""
    if not training:
        return None, None
    batch, features = inputs.shape[0], inputs.shape[-1]
    dp = rdp = None
    if 0.0 < obj.dropout < 1.0:
        dp = _random.dropout_mask((batch, features), obj.dropout, seed=obj._gen, device=inputs.device)
    if 0.0 < obj.recurrent_dropout < 1.0:
        rdp = _random.dropout_mask((batch, obj.units), obj.recurrent_dropout, seed=obj._gen, device=inputs.device)
    return dp, rdp


def _cell_config(obj) -> dict:
    cfg = {
        "units": obj.units,
        "activation": activations.serialize(obj.activation),
        "recurrent_activation": activations.serialize(obj.recurrent_activation),
        "use_bias": obj.use_bias,
        "kernel_initializer": initializers.serialize(obj.kernel_initializer),
        "recurrent_initializer": initializers.serialize(obj.recurrent_initializer),
        "bias_initializer": initializers.serialize(obj.bias_initializer),
        "kernel_regularizer": regularizers.serialize(obj.kernel_regularizer),
        "recurrent_regularizer": regularizers.serialize(obj.recurrent_regularizer),
        "bias_regularizer": regularizers.serialize(obj.bias_regularizer),
        "kernel_constraint": None,
        "recurrent_constraint": None,
        "bias_constraint": None,
        "dropout": obj.dropout,
        "recurrent_dropout": obj.recurrent_dropout,
        "seed": obj.seed,
    }
    if obj._gates == 1:
        del cfg["recurrent_activation"]
    if obj._gates == 4:
        cfg["unit_forget_bias"] = obj.unit_forget_bias
    if obj._gates == 3:
        cfg["reset_after"] = obj.reset_after
    return cfg


class SimpleRNN(_RNN):
    """Fully-connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel
    + bias)`` (Keras 3's ``keras.layers.SimpleRNN``).

    Args:
        units: a positive int, the size of the output and state.
        activation: the activation (default tanh).
        use_bias: whether to add a bias (units,).
        kernel_initializer: for the kernel (features, units); default glorot_uniform.
        recurrent_initializer: for the recurrent kernel (units, units); default orthogonal.
        bias_initializer: for the bias; default zeros.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer:
            optional regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: not supported yet;
            must be None.
        dropout: the fraction of the inputs dropped in training (one mask per sequence).
        recurrent_dropout: the fraction of the state dropped before the recurrent matmul
            in training (one mask per sequence).
        seed: an integer for reproducible dropout masks.
        return_sequences: return the output of every step (batch, time, units), else the
            last (batch, units).
        return_state: also return the final state: ``[output, h]``.
        go_backwards: process the sequence backwards (and return the reversed sequence).
        stateful: carry the last states of each batch over as the initial states of the
            next (sample i of a batch continues sample i of the previous one);
            `reset_states` sets them back to zeros. The batch size is fixed by
            ``Input(batch_size=...)`` / ``batch_input_shape``, or else by the first batch.
        unroll: accepted for compatibility (the steps run as one op either way).
        zero_output_for_mask: with a mask, output zeros at masked steps (else the
            previous output is repeated, as in Keras).
        **kwargs: the base `Layer` arguments (name, trainable, ...).

    Call arguments:
        inputs: (batch, time, features); the time axis may vary between calls.
        initial_state: the initial h (batch, units), or None for zeros.
        mask: (batch, time) booleans or 0/1 (or the mask an `Embedding(mask_zero=True)`
            or `Masking` layer attaches): masked steps leave the state unchanged.
        training: whether dropout applies.

    Example:
        >>> import ember as em
        >>> layer = em.layers.SimpleRNN(4, return_sequences=True)
        >>> layer(em.ones((2, 7, 3))).shape
        (2, 7, 4)
    """

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False, unroll=False,
                 seed=None, zero_output_for_mask=False, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
                         seed=seed, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, **kwargs)

    def _run(self, inputs, initial_state, dp, rdp, mask=None):
        return _simple_rnn_run(self, inputs, initial_state, dp, rdp, mask, self.go_backwards, self.return_sequences,
                               self.zero_output_for_mask)


class LSTM(_RNN):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), Keras 3's
    ``keras.layers.LSTM``. With ``z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias``
    split into the gates (i, f, c, o): ``c_t = ra(z_f) * c_{t-1} + ra(z_i) * a(z_c)`` and
    ``h_t = ra(z_o) * a(c_t)`` (``a`` the activation, ``ra`` the recurrent activation).

    Args:
        units: a positive int, the size of the output and of each state.
        activation: default tanh.
        recurrent_activation: the gates' activation, default sigmoid.
        use_bias: whether to add a bias (4 * units,).
        kernel_initializer: for the kernel (features, 4 * units); default glorot_uniform.
        recurrent_initializer: for the recurrent kernel (units, 4 * units); default
            orthogonal.
        bias_initializer: default zeros.
        unit_forget_bias: start the forget gate's bias at 1 (Jozefowicz et al., 2015), as
            Keras does by default; the other gates' biases come from ``bias_initializer``.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer:
            optional regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: not supported yet;
            must be None.
        dropout, recurrent_dropout, seed, return_sequences, go_backwards, stateful,
            unroll, zero_output_for_mask: as in `SimpleRNN`.
        return_state: also return the final states: ``[output, h, c]``.
        use_cudnn: Keras's cuDNN switch; accepted and ignored (Ember has one kernel per device).
        **kwargs: the base `Layer` arguments (name, trainable, ...).

    Call arguments:
        inputs: (batch, time, features); the time axis may vary between calls.
        initial_state: ``[h, c]``, each (batch, units), or None for zeros.
        mask: (batch, time), as in `SimpleRNN`.
        training: whether dropout applies.

    Example:
        >>> import ember as em
        >>> layer = em.layers.LSTM(128)
        >>> layer(em.ones((2, 5, 64))).shape
        (2, 128)
        >>> layer.count_params()
        98816
    """

    _gates = 4
    _n_states = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto", zero_output_for_mask=False,
                 **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
                         recurrent_dropout=recurrent_dropout, seed=seed, return_sequences=return_sequences,
                         return_state=return_state, go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.use_cudnn = use_cudnn

    def _bias_initializer(self):
        return _lstm_bias_initializer(self)

    def _run(self, inputs, initial_state, dp, rdp, mask=None):
        return _lstm_run(self, inputs, initial_state, dp, rdp, mask, self.go_backwards, self.return_sequences,
                         self.zero_output_for_mask)


class GRU(_RNN):
    """Gated recurrent unit (Cho et al., 2014), Keras 3's ``keras.layers.GRU``, gates
    (z, r, h): ``z = ra(x_z + r_z)``, ``r = ra(x_r + r_r)``, ``h_t = z * h_{t-1} + (1 - z)
    * hh``. With ``reset_after=True`` (the default) ``x_* = x_t @ kernel + bias[0]``,
    ``r_* = h_{t-1} @ recurrent_kernel + bias[1]`` and ``hh = a(x_h + r * r_h)``; with
    ``reset_after=False`` ``hh = a(x_h + (r * h_{t-1}) @ recurrent_kernel_h)``, the bias
    (3 * units,) added to the input part only.

    Args:
        units: a positive int, the size of the output and state.
        activation: default tanh.
        recurrent_activation: the gates' activation, default sigmoid.
        use_bias: whether to add the bias: (2, 3 * units) with ``reset_after``, else
            (3 * units,), as in Keras.
        kernel_initializer: for the kernel (features, 3 * units); default glorot_uniform.
        recurrent_initializer: for the recurrent kernel (units, 3 * units); default
            orthogonal.
        bias_initializer: default zeros.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer:
            optional regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: not supported yet;
            must be None.
        dropout, recurrent_dropout, seed, return_sequences, go_backwards, stateful,
            unroll, zero_output_for_mask: as in `SimpleRNN`.
        return_state: also return the final state: ``[output, h]``.
        reset_after: apply the reset gate after the recurrent matmul (see above).
        use_cudnn: Keras's cuDNN switch; accepted and ignored (Ember has one kernel per device).
        **kwargs: the base `Layer` arguments (name, trainable, ...).

    Call arguments:
        inputs: (batch, time, features); the time axis may vary between calls.
        initial_state: the initial h (batch, units), or None for zeros.
        mask: (batch, time), as in `SimpleRNN`.
        training: whether dropout applies.

    Example:
        >>> import ember as em
        >>> layer = em.layers.GRU(8, return_state=True)
        >>> out, h = layer(em.ones((2, 5, 3)))
        >>> out.shape, layer.bias.shape
        ((2, 8), (2, 24))
    """

    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, reset_after=True, use_cudnn="auto", zero_output_for_mask=False,
                 **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
                         recurrent_dropout=recurrent_dropout, seed=seed, return_sequences=return_sequences,
                         return_state=return_state, go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, **kwargs)
        self.reset_after = bool(reset_after)
        self.use_cudnn = use_cudnn

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _run(self, inputs, initial_state, dp, rdp, mask=None):
        return _gru_run(self, inputs, initial_state, dp, rdp, mask, self.go_backwards, self.return_sequences,
                        self.zero_output_for_mask)


# -- the three recurrences through their ops (shared by the layers and the cells) ----------------

def _simple_rnn_run(obj, inputs, initial_state, dp, rdp, mask, go_backwards, return_sequences, zero_output):
    return rnn_ops.simple_rnn(inputs, obj.kernel, obj.recurrent_kernel, obj.bias, initial_state=initial_state,
                              activation=obj.activation, go_backwards=go_backwards,
                              return_sequences=return_sequences, dropout_mask=dp, recurrent_dropout_mask=rdp,
                              **_mask_kwargs(mask, zero_output))


def _lstm_run(obj, inputs, initial_state, dp, rdp, mask, go_backwards, return_sequences, zero_output):
    return rnn_ops.lstm(inputs, obj.kernel, obj.recurrent_kernel, obj.bias, initial_state=initial_state,
                        activation=obj.activation, recurrent_activation=obj.recurrent_activation,
                        go_backwards=go_backwards, return_sequences=return_sequences, dropout_mask=dp,
                        recurrent_dropout_mask=rdp, **_mask_kwargs(mask, zero_output))


def _gru_run(obj, inputs, initial_state, dp, rdp, mask, go_backwards, return_sequences, zero_output):
    return rnn_ops.gru(inputs, obj.kernel, obj.recurrent_kernel, obj.bias, initial_state=initial_state,
                       activation=obj.activation, recurrent_activation=obj.recurrent_activation,
                       go_backwards=go_backwards, return_sequences=return_sequences, reset_after=obj.reset_after,
                       dropout_mask=dp, recurrent_dropout_mask=rdp, **_mask_kwargs(mask, zero_output))


def _mask_kwargs(mask, zero_output) -> dict:
    # Only a masked call passes the mask arguments, so the ops' unmasked path stays as is.
    return {} if mask is None else {"mask": mask, "zero_output_for_mask": bool(zero_output)}


def _lstm_bias_initializer(obj):
    if not obj.unit_forget_bias:
        return obj.bias_initializer
    init, units = obj.bias_initializer, obj.units

    def forget_bias_ones(shape, dtype=None):
        # Keras: the forget gate's block starts at 1 (Jozefowicz et al., 2015).
        parts = [np.asarray(init((units,)), np.float32), np.ones((units,), np.float32),
                 np.asarray(init((2 * units,)), np.float32)]
        return np.concatenate(parts)

    return forget_bias_ones


# -- cells: one step of a recurrence --------------------------------------------------------------

class _Cell(Layer):
    """The shared machinery of the built-in cells: Keras's weights, `state_size`,
    `output_size`, and one step ``call(inputs, states)`` computed by the layer's op on a
    sequence of length 1. Inside `RNN` a built-in cell runs the whole sequence through
    that op in one call instead of a Python loop over the steps."""

    integer_inputs = "cast"
    _gates = 1
    _n_states = 1
    _run_fn = None

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        _init_cell_config(self, units, activation, recurrent_activation, use_bias, kernel_initializer,
                          recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
                          bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                          recurrent_dropout, seed)
        self.input_spec = InputSpec(ndim=2)
        self._sequence_masks = None  # dropout masks fixed for one sequence by the RNN layer

    @property
    def state_size(self):
        return self.units if self._n_states == 1 else [self.units] * self._n_states

    @property
    def output_size(self) -> int:
        return self.units

    def _bias_shape(self) -> tuple:
        return (self._gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ShapeError(f"{type(self).__name__}: the feature size of the inputs must be known, got {tuple(input_shape)}")
        _build_weights(self, int(input_shape[-1]))

    def get_initial_state(self, batch_size=None):
        """Zero states, one (batch_size, units) tensor per state."""
        batch_size = check_int(batch_size, "batch_size", f"{type(self).__name__}.get_initial_state", minimum=0)
        return [zeros((batch_size, self.units), device=self._input_device()) for _ in range(self._n_states)]

    def _run(self, inputs, initial_state, dp, rdp, mask, go_backwards, return_sequences, zero_output):
        return type(self)._run_fn(self, inputs, initial_state, dp, rdp, mask, go_backwards, return_sequences,
                                  zero_output)

    def call(self, inputs, states, training=False):
        if inputs.ndim != 2:
            raise ShapeError(f"{type(self).__name__} {self.name!r}: expected inputs (batch, features), got {inputs.shape}")
        nested = isinstance(states, (list, tuple))
        states = list(states) if nested else [states]
        if len(states) != self._n_states:
            raise InvalidArgumentError(f"{type(self).__name__} {self.name!r}: expected {self._n_states} state "
                                       f"tensor(s), got {len(states)}")
        b, f = inputs.shape
        dp, rdp = self._sequence_masks or _dropout_masks(self, inputs, training)
        out, new = self._run(reshape(inputs, (b, 1, f)), states, dp, rdp, None, False, False, False)
        if self._n_states == 1 and not nested:
            return out, new[0]
        return out, list(new)

    def compute_output_shape(self, input_shape, states_shape=None):
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), **_cell_config(self)}


class SimpleRNNCell(_Cell):
    """One step of `SimpleRNN` (Keras 3's ``keras.layers.SimpleRNNCell``):
    ``h = activation(x @ kernel + h_prev @ recurrent_kernel + bias)``.

    Args:
        units, activation, use_bias, kernel_initializer, recurrent_initializer,
            bias_initializer, kernel_regularizer, recurrent_regularizer,
            bias_regularizer, dropout, recurrent_dropout, seed: as in `SimpleRNN`.
        kernel_constraint, recurrent_constraint, bias_constraint: not supported yet;
            must be None.
        **kwargs: the base `Layer` arguments.

    Call arguments:
        inputs: (batch, features); states: ``[h]`` (or h); training: dropout.
        Returns ``(h, [h])``.

    Example:
        >>> import ember as em
        >>> cell = em.layers.SimpleRNNCell(4)
        >>> h, (state,) = cell(em.ones((2, 3)), [em.zeros((2, 4))])
        >>> h.shape
        (2, 4)
        >>> em.layers.RNN(cell, return_sequences=True)(em.ones((2, 5, 3))).shape
        (2, 5, 4)
    """

    _run_fn = _simple_rnn_run

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
                         recurrent_dropout=recurrent_dropout, seed=seed, **kwargs)


class LSTMCell(_Cell):
    """One step of `LSTM` (Keras 3's ``keras.layers.LSTMCell``), gates (i, f, c, o).

    Args:
        units, activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, unit_forget_bias,
            kernel_regularizer, recurrent_regularizer, bias_regularizer, dropout,
            recurrent_dropout, seed: as in `LSTM`.
        kernel_constraint, recurrent_constraint, bias_constraint: not supported yet;
            must be None.
        **kwargs: the base `Layer` arguments.

    Call arguments:
        inputs: (batch, features); states: ``[h, c]``; training: dropout.
        Returns ``(h, [h, c])``.

    Example:
        >>> import ember as em
        >>> cell = em.layers.LSTMCell(4)
        >>> h, (h2, c) = cell(em.ones((2, 3)), [em.zeros((2, 4)), em.zeros((2, 4))])
        >>> c.shape, cell.state_size
        ((2, 4), [4, 4])
    """

    _gates = 4
    _n_states = 2
    _run_fn = _lstm_run

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                         kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
                         seed=seed, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self):
        return _lstm_bias_initializer(self)


class GRUCell(_Cell):
    """One step of `GRU` (Keras 3's ``keras.layers.GRUCell``), gates (z, r, h).

    Args:
        units, activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, kernel_regularizer,
            recurrent_regularizer, bias_regularizer, dropout, recurrent_dropout, seed,
            reset_after: as in `GRU`.
        kernel_constraint, recurrent_constraint, bias_constraint: not supported yet;
            must be None.
        **kwargs: the base `Layer` arguments.

    Call arguments:
        inputs: (batch, features); states: ``[h]`` (or h); training: dropout.
        Returns ``(h, [h])``.

    Example:
        >>> import ember as em
        >>> cell = em.layers.GRUCell(4)
        >>> h, (state,) = cell(em.ones((2, 3)), [em.zeros((2, 4))])
        >>> cell.bias.shape
        (2, 12)
    """

    _gates = 3
    _run_fn = _gru_run

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 reset_after=True, seed=None, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                         kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
                         seed=seed, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)


_CELL_OF = {"SimpleRNN": SimpleRNNCell, "LSTM": LSTMCell, "GRU": GRUCell}
_FUSED_CELLS = (SimpleRNNCell, LSTMCell, GRUCell)


class StackedRNNCells(Layer):
    """Cells stacked into one: at each step the first cell's output is the second's
    input, and so on (Keras 3's ``keras.layers.StackedRNNCells``). ``RNN`` given a list
    of cells wraps them in one.

    Args:
        cells: a list of cells (layers with ``state_size`` and ``call(inputs, states)``).
        **kwargs: the base `Layer` arguments.

    Example:
        >>> import ember as em
        >>> cells = [em.layers.LSTMCell(8), em.layers.GRUCell(4)]
        >>> em.layers.RNN(cells)(em.ones((2, 5, 3))).shape
        (2, 4)
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        for c in cells:
            if not callable(getattr(c, "call", None)) or getattr(c, "state_size", None) is None:
                raise InvalidArgumentError(f"StackedRNNCells: every cell needs a call method and a state_size, got {c!r}")
        self.cells = cells

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        last = self.cells[-1]
        size = getattr(last, "output_size", None)
        return size if size is not None else tree.flatten(last.state_size)[0]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for c in self.cells:
            if isinstance(c, Layer):
                c._device = self._device
                c._maybe_build(shape)
            size = getattr(c, "output_size", None)
            size = size if size is not None else tree.flatten(c.state_size)[0]
            shape = (shape[0], size)

    def get_initial_state(self, batch_size=None):
        batch_size = check_int(batch_size, "batch_size", f"{type(self).__name__}.get_initial_state", minimum=0)
        return [_zero_states(c, batch_size, self._input_device()) for c in self.cells]

    def call(self, inputs, states, training=False):
        new_states = []
        for c, s in zip(self.cells, states):
            nested = isinstance(s, (list, tuple))
            s = list(s) if nested else [s]
            inputs, ns = _call_cell(c, inputs, s, training)
            new_states.append(ns if nested or len(ns) != 1 else ns[0])
        return inputs, new_states

    def get_config(self):
        from .. import saving

        return {**super().get_config(), "cells": [saving.serialize(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config: dict):
        from .. import saving

        config = dict(config)
        config["cells"] = [saving.deserialize(c) for c in config["cells"]]
        return super().from_config(config)


def _zero_states(cell, batch: int, device):
    """A cell's initial states: its ``get_initial_state`` where defined, else zeros
    following ``state_size`` (a list for a list of sizes, nested for stacked cells)."""
    fn = getattr(cell, "get_initial_state", None)
    if callable(fn):
        return fn(batch_size=batch)
    size = cell.state_size
    if isinstance(size, (list, tuple)):
        return [zeros((batch, int(n)), device=device) if not isinstance(n, (list, tuple)) else
                [zeros((batch, int(k)), device=device) for k in n] for n in size]
    return [zeros((batch, int(size)), device=device)]


def _call_cell(cell, inputs, states: list, training):
    """``(output, new_states as a list)`` of one step of any cell."""
    kwargs = {"training": training} if getattr(cell, "_call_has_training", False) else {}
    out, new = cell(inputs, states, **kwargs) if isinstance(cell, Layer) else cell.call(inputs, states)
    return out, (list(new) if isinstance(new, (list, tuple)) else [new])


def _blend(m, new, old):
    """``new`` where the step's (batch, 1) mask is 1, ``old`` where it is 0."""
    from ..ops.core import subtract

    return add(old, multiply(m, subtract(new, old)))


class RNN(_Sequence, Layer):
    """A recurrent layer over any cell (Keras 3's ``keras.layers.RNN``): the cell's
    ``call(inputs, states) -> (output, new_states)`` is applied step by step. A built-in
    cell (`SimpleRNNCell`, `LSTMCell`, `GRUCell`) runs the whole sequence through its
    op of `ember.ops.rnn` in one call; any other cell (a custom `Layer` with
    ``state_size`` and ``call``, or `StackedRNNCells`) runs as a Python loop over the
    steps, differentiable through autograd as usual.

    Args:
        cell: a cell, or a list of cells (stacked with `StackedRNNCells`).
        return_sequences: return the output of every step, else the last.
        return_state: also return the final states: ``[output, *states]``.
        go_backwards: process the sequence backwards (returning the reversed sequence).
        stateful: carry the final states over to the next batch (see `SimpleRNN`).
        unroll: accepted for compatibility.
        zero_output_for_mask: with a mask, output zeros at masked steps.
        **kwargs: the base `Layer` arguments.

    Call arguments:
        sequences: (batch, time, features); initial_state: a list of states (the
        structure of ``cell.state_size``) or None; mask: (batch, time); training.

    Example:
        >>> import ember as em
        >>> class MinimalRNNCell(em.layers.Layer):
        ...     def __init__(self, units, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.units = units
        ...         self.state_size = units
        ...     def build(self, input_shape):
        ...         self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        ...         self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel")
        ...     def call(self, inputs, states):
        ...         h = em.ops.matmul(inputs, self.kernel) + em.ops.matmul(states[0], self.recurrent_kernel)
        ...         return h, [h]
        >>> em.layers.RNN(MinimalRNNCell(4))(em.ones((2, 5, 3))).shape
        (2, 4)
    """

    integer_inputs = "cast"

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not callable(getattr(cell, "call", None)):
            raise InvalidArgumentError(f"RNN: argument cell should have a call method, got cell={cell!r}")
        state_size = getattr(cell, "state_size", None)
        if state_size is None or not isinstance(state_size, (list, tuple, numbers.Integral)):
            raise InvalidArgumentError(
                "RNN: the cell must have a state_size attribute (an integer, or a list of integers, one per state), "
                f"got cell={cell!r}"
            )
        super().__init__(**kwargs)
        self.cell = cell
        self._init_sequence(return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask)
        self.input_spec = InputSpec(ndim=3)

    @property
    def state_size(self) -> list:
        size = self.cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    def _flat_state_sizes(self) -> list:
        return [int(n) for n in tree.flatten(self.state_size)]

    def _n_returned_states(self) -> int:
        return len(self.state_size)

    def _output_size(self) -> int:
        size = getattr(self.cell, "output_size", None)
        return int(size) if size is not None else self._flat_state_sizes()[0]

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ShapeError(f"RNN: expected inputs (batch, time, features), got shape {tuple(input_shape)}")
        if isinstance(self.cell, Layer):
            self.cell._device = self._device
            self.cell._maybe_build((input_shape[0],) + tuple(input_shape[2:]))
        self._note_batch_size(self._batch_input_shape or input_shape)

    def compute_output_shape(self, input_shape, initial_state_shape=None):
        batch, steps = input_shape[0], input_shape[1]
        size = self._output_size()
        out = (batch, steps, size) if self.return_sequences else (batch, size)
        if not self.return_state:
            return out
        states = [(batch, n) if not isinstance(n, (list, tuple)) else [(batch, k) for k in n] for n in self.state_size]
        return [out] + states

    def compute_mask(self, inputs, mask=None):
        if tree.is_nested(mask):
            mask = tree.flatten(mask)[0]
        out = mask if self.return_sequences else None
        return [out] + [None] * len(self.state_size) if self.return_state else out

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if self.stateful and initial_state is None:
            flat, m = self._prepare(sequences, None, mask)
            initial_state = tree.pack_sequence_as(self._state_structure(sequences.shape[0], sequences.device), flat)
        else:
            _, m = self._prepare(sequences, initial_state, mask)
        if type(self.cell) in _FUSED_CELLS:
            cell = self.cell
            dp, rdp = _dropout_masks(cell, sequences, training)
            outputs, states = cell._run(sequences, initial_state, dp, rdp, m, self.go_backwards, self.return_sequences,
                                        self.zero_output_for_mask)
            states = list(states)
            if cell._n_states == 1:
                states = [states[0]]
        else:
            outputs, states = self._loop(sequences, initial_state, m, training)
        if self.stateful:
            self._keep_states(states)
        if self.return_state:
            return [outputs] + list(states)
        return outputs

    def _state_structure(self, batch: int, device):
        return _zero_states(self.cell, batch, device) if not isinstance(self.cell, _Cell) else \
            [zeros((batch, self.cell.units), device=device) for _ in range(self.cell._n_states)]

    def _loop(self, sequences, initial_state, m, training):
        """The steps as a Python loop over the cell (Keras's ``backend.rnn`` semantics)."""
        from ..ops import array_ops as array

        b, steps = sequences.shape[0], sequences.shape[1]
        rest = tuple(sequences.shape[2:])
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else (
            [initial_state] if initial_state is not None else _zero_states(self.cell, b, sequences.device))
        xs = [reshape(x, (b,) + rest) for x in array.split(sequences, steps, axis=1)] if steps else []
        cols = [reshape(c, (b, 1)) for c in array.split(m, steps, axis=1)] if m is not None and steps else None
        order = list(range(steps))[::-1] if self.go_backwards else list(range(steps))
        cells = self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell]
        for c in cells:  # one dropout mask per sequence, as Keras fixes them
            if isinstance(c, _Cell) and steps:
                c._sequence_masks = _dropout_masks(c, xs[0], training)
        outputs = []
        prev = None
        try:
            for t in order:
                out, new = _call_cell(self.cell, xs[t], states, training)
                if cols is not None:
                    mt = cols[t]
                    new = tree.map_structure(lambda n, o: _blend(mt, n, o), new, states) if tree.is_nested(new) \
                        else new
                    if self.zero_output_for_mask:
                        out = multiply(out, mt)
                    else:
                        # Keras: the previous output is the first state (zeros before the first step).
                        if prev is None:
                            first = tree.flatten(states)[0]
                            prev = first if first.shape == out.shape else zeros(out.shape, device=out.device)
                        out = _blend(mt, out, prev)
                prev = out
                states = new
                outputs.append(out)
        finally:
            for c in cells:
                if isinstance(c, _Cell):
                    c._sequence_masks = None
        if self.return_sequences:
            seq = array.stack(outputs, axis=1) if outputs else zeros((b, 0, self._output_size()), device=sequences.device)
            return seq, states
        last = outputs[-1] if outputs else zeros((b, self._output_size()), device=sequences.device)
        return last, states

    def get_config(self):
        from .. import saving

        return {**super().get_config(), "cell": saving.serialize(self.cell), **self._sequence_config()}

    @classmethod
    def from_config(cls, config: dict):
        from .. import saving

        config = dict(config)
        config["cell"] = saving.deserialize(config["cell"])
        return super().from_config(config)


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards over the sequence and
    merges the two outputs (Keras 3's ``keras.layers.Bidirectional``). The backward
    layer's output sequence is flipped back to the input's time order before merging.

    Args:
        layer: a `SimpleRNN`, `LSTM`, `GRU` or `RNN` instance; it is cloned (from its
            config) into ``forward_layer`` and, with ``go_backwards`` toggled,
            ``backward_layer``. With a mask, both run with ``zero_output_for_mask`` set
            to ``return_sequences`` (as Keras forces it), so padded steps output zeros.
        merge_mode: "concat" (default), "sum", "mul", "ave", or None (a list of both).
        weights: an optional list of initial weights (the forward layer's, then the
            backward layer's), set when the layer is built.
        backward_layer: an optional recurrent layer to use backwards instead of a clone;
            it must have the opposite ``go_backwards`` and the same
            ``return_sequences`` / ``return_state``.
        **kwargs: the base `Layer` arguments (name, trainable, ...).

    Example:
        >>> import ember as em
        >>> layer = em.layers.Bidirectional(em.layers.LSTM(4, return_sequences=True))
        >>> layer(em.ones((2, 5, 3))).shape
        (2, 5, 8)
    """

    integer_inputs = "cast"

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        from .. import saving

        if not isinstance(layer, (_RNN, RNN)):
            raise InvalidArgumentError(
                f"Bidirectional: layer must be a recurrent layer (SimpleRNN, LSTM, GRU, RNN), got {layer!r}"
            )
        if merge_mode not in _MERGE_MODES:
            raise InvalidArgumentError(f"Bidirectional: invalid merge_mode {merge_mode!r}; valid: {_MERGE_MODES}")
        super().__init__(**kwargs)

        def clone(source, prefix: str, go_backwards: bool):
            cfg = saving.serialize(source)
            base = source.name[len(prefix):] if source.name.startswith(prefix) else source.name
            cfg["config"]["name"] = prefix + base
            cfg["config"]["go_backwards"] = go_backwards
            return saving.deserialize(cfg)

        self.forward_layer = clone(layer, "forward_", layer.go_backwards)
        if backward_layer is None:
            self.backward_layer = clone(layer, "backward_", not layer.go_backwards)
        else:
            if not isinstance(backward_layer, (_RNN, RNN)):
                raise InvalidArgumentError(f"Bidirectional: backward_layer must be a recurrent layer, got {backward_layer!r}")
            for attr in ("return_sequences", "return_state"):
                if getattr(backward_layer, attr) != getattr(layer, attr):
                    raise InvalidArgumentError(f"Bidirectional: forward and backward layers differ in {attr}")
            if backward_layer.go_backwards == layer.go_backwards:
                raise InvalidArgumentError("Bidirectional: backward_layer must have the opposite go_backwards")
            self.backward_layer = backward_layer
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        self.supports_masking = True
        self._initial_weights = weights
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        self.forward_layer._device = self.backward_layer._device = self._device
        self.forward_layer._maybe_build(tuple(input_shape))
        self.backward_layer._maybe_build(tuple(input_shape))
        if self._initial_weights is not None:
            self.built = True
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _merge(self, y, y_rev):
        from ..ops import array_ops as array

        if self.merge_mode == "concat":
            return array.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return add(y, y_rev)
        if self.merge_mode == "mul":
            return multiply(y, y_rev)
        if self.merge_mode == "ave":
            return multiply(add(y, y_rev), 0.5)
        return [y, y_rev]

    def call(self, inputs, initial_state=None, mask=None, training=False):
        from ..ops import array_ops as array

        fw_state = bw_state = None
        if initial_state is not None:
            states = list(initial_state)
            half = len(states) // 2
            fw_state, bw_state = states[:half], states[half:]
        y = self.forward_layer(inputs, initial_state=fw_state, mask=mask, training=training)
        y_rev = self.backward_layer(inputs, initial_state=bw_state, mask=mask, training=training)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = array.flip(y_rev, axis=1)
        out = self._merge(y, y_rev)
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    def compute_mask(self, inputs, mask=None):
        """The input mask for returned sequences (one per output with merge_mode None),
        None for the states."""
        if tree.is_nested(mask):
            mask = tree.flatten(mask)[0]
        out = mask if self.return_sequences else None
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            outs = outs + [None] * (2 * self.forward_layer._n_returned_states())
        return outs[0] if len(outs) == 1 else outs

    def reset_state(self) -> None:
        """Resets both directions' carried states (stateful layers)."""
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self) -> None:
        self.reset_state()

    def compute_output_shape(self, input_shape):
        fw = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            fw, states = fw[0], list(fw[1:]) * 2
        fw = tuple(fw)
        if self.merge_mode == "concat":
            out = [fw[:-1] + (fw[-1] * 2,)]
        elif self.merge_mode is None:
            out = [fw, fw]
        else:
            out = [fw]
        out = out + states
        return out[0] if len(out) == 1 else out

    def get_config(self):
        from .. import saving

        return {**super().get_config(), "merge_mode": self.merge_mode, "layer": saving.serialize(self.forward_layer),
                "backward_layer": saving.serialize(self.backward_layer)}

    @classmethod
    def from_config(cls, config: dict):
        from .. import saving

        config = dict(config)
        config["layer"] = saving.deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = saving.deserialize(config["backward_layer"])
        return super().from_config(config)


__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional", "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell",
           "StackedRNNCells"]
