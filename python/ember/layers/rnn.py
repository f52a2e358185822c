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
from ..errors import InvalidArgumentError, ShapeError
from ..ops import rnn as rnn_ops
from ..ops.core import add, multiply
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


class _RNN(Layer):
    """The shared machinery of the recurrent layers (Keras's ``RNN`` over one cell)."""

    integer_inputs = "cast"
    _gates = 1
    _n_states = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        owner = type(self).__name__
        self.units = _positive_int(units, "units", owner)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        for value, name in ((kernel_constraint, "kernel_constraint"), (recurrent_constraint, "recurrent_constraint"),
                            (bias_constraint, "bias_constraint")):
            _no_constraint(value, name, owner)
        # Keras clips the rates to [0, 1]; a rate of 1 would drop everything, so as in
        # Keras's Dropout only [0, 1) takes effect in training.
        self.dropout = min(1.0, max(0.0, _rate(dropout, "dropout", owner)))
        self.recurrent_dropout = min(1.0, max(0.0, _rate(recurrent_dropout, "recurrent_dropout", owner)))
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise InvalidArgumentError(f"{owner}: seed must be None or an integer, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._gen = _random.SeedGenerator(self.seed) if self.seed is not None else None
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        if stateful:
            raise InvalidArgumentError(f"{owner}: stateful=True is not supported yet")
        self.stateful = False
        self.unroll = bool(unroll)  # the composite loops over the steps in Python either way
        self.kernel = self.recurrent_kernel = self.bias = None
        self.input_spec = InputSpec(ndim=3)

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
        features = int(input_shape[-1])
        self.input_spec = InputSpec(ndim=3, axes={-1: features})
        width = self._gates * self.units
        self.kernel = self.add_weight((features, width), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight((self.units, width), self.recurrent_initializer,
                                                name="recurrent_kernel", regularizer=self.recurrent_regularizer)
        if self.use_bias:
            self.bias = self.add_weight(self._bias_shape(), self._bias_initializer(), name="bias",
                                        regularizer=self.bias_regularizer)

    # -- calling -----------------------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self._n_states
        return out

    def _masks(self, inputs, training):
        if not training:
            return None, None
        batch, _, features = inputs.shape
        dp = rdp = None
        if 0.0 < self.dropout < 1.0:
            dp = _random.dropout_mask((batch, features), self.dropout, seed=self._gen, device=inputs.device)
        if 0.0 < self.recurrent_dropout < 1.0:
            rdp = _random.dropout_mask((batch, self.units), self.recurrent_dropout, seed=self._gen, device=inputs.device)
        return dp, rdp

    def _run(self, inputs, initial_state, dp, rdp):
        raise NotImplementedError  # each layer calls its op of ember.ops.rnn

    def call(self, inputs, initial_state=None, training=False):
        dp, rdp = self._masks(inputs, training)
        outputs, states = self._run(inputs, initial_state, dp, rdp)
        if self.return_state:
            return [outputs] + list(states)
        return outputs

    # -- config ------------------------------------------------------------------------------
    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": None,
            "recurrent_constraint": None,
            "bias_constraint": None,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
        }


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
        stateful: not supported yet; must be False.
        unroll: accepted for compatibility (the steps always run as a Python loop).
        **kwargs: the base `Layer` arguments (name, trainable, ...).

    Call arguments:
        inputs: (batch, time, features); the time axis may vary between calls.
        initial_state: the initial h (batch, units), or None for zeros.
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
                 seed=None, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
                         seed=seed, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll, **kwargs)

    def _run(self, inputs, initial_state, dp, rdp):
        return rnn_ops.simple_rnn(inputs, self.kernel, self.recurrent_kernel, self.bias, initial_state=initial_state,
                                  activation=self.activation, go_backwards=self.go_backwards,
                                  return_sequences=self.return_sequences, dropout_mask=dp, recurrent_dropout_mask=rdp)

    def get_config(self):
        cfg = super().get_config()
        del cfg["recurrent_activation"]
        return cfg


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
            unroll: as in `SimpleRNN`.
        return_state: also return the final states: ``[output, h, c]``.
        use_cudnn: Keras's cuDNN switch; accepted and ignored (Ember has one kernel per device).
        **kwargs: the base `Layer` arguments (name, trainable, ...).

    Call arguments:
        inputs: (batch, time, features); the time axis may vary between calls.
        initial_state: ``[h, c]``, each (batch, units), or None for zeros.
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
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto", **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
                         recurrent_dropout=recurrent_dropout, seed=seed, return_sequences=return_sequences,
                         return_state=return_state, go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.use_cudnn = use_cudnn

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, units = self.bias_initializer, self.units

        def forget_bias_ones(shape, dtype=None):
            parts = [np.asarray(init((units,)), np.float32), np.ones((units,), np.float32),
                     np.asarray(init((2 * units,)), np.float32)]
            return np.concatenate(parts)

        return forget_bias_ones

    def _run(self, inputs, initial_state, dp, rdp):
        return rnn_ops.lstm(inputs, self.kernel, self.recurrent_kernel, self.bias, initial_state=initial_state,
                            activation=self.activation, recurrent_activation=self.recurrent_activation,
                            go_backwards=self.go_backwards, return_sequences=self.return_sequences, dropout_mask=dp,
                            recurrent_dropout_mask=rdp)

    def get_config(self):
        cfg = super().get_config()
        cfg["unit_forget_bias"] = self.unit_forget_bias
        return cfg


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
            unroll: as in `SimpleRNN`.
        return_state: also return the final state: ``[output, h]``.
        reset_after: apply the reset gate after the recurrent matmul (see above).
        use_cudnn: Keras's cuDNN switch; accepted and ignored (Ember has one kernel per device).
        **kwargs: the base `Layer` arguments (name, trainable, ...).

    Call arguments:
        inputs: (batch, time, features); the time axis may vary between calls.
        initial_state: the initial h (batch, units), or None for zeros.
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
                 stateful=False, unroll=False, reset_after=True, use_cudnn="auto", **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
                         recurrent_dropout=recurrent_dropout, seed=seed, return_sequences=return_sequences,
                         return_state=return_state, go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         **kwargs)
        self.reset_after = bool(reset_after)
        self.use_cudnn = use_cudnn

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _run(self, inputs, initial_state, dp, rdp):
        return rnn_ops.gru(inputs, self.kernel, self.recurrent_kernel, self.bias, initial_state=initial_state,
                           activation=self.activation, recurrent_activation=self.recurrent_activation,
                           go_backwards=self.go_backwards, return_sequences=self.return_sequences,
                           reset_after=self.reset_after, dropout_mask=dp, recurrent_dropout_mask=rdp)

    def get_config(self):
        cfg = super().get_config()
        cfg["reset_after"] = self.reset_after
        return cfg


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards over the sequence and
    merges the two outputs (Keras 3's ``keras.layers.Bidirectional``). The backward
    layer's output sequence is flipped back to the input's time order before merging.

    Args:
        layer: a `SimpleRNN`, `LSTM` or `GRU` instance; it is cloned (from its config)
            into ``forward_layer`` and, with ``go_backwards`` toggled, ``backward_layer``.
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

        if not isinstance(layer, _RNN):
            raise InvalidArgumentError(
                f"Bidirectional: layer must be a recurrent layer (SimpleRNN, LSTM, GRU), got {layer!r}"
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
            if not isinstance(backward_layer, _RNN):
                raise InvalidArgumentError(f"Bidirectional: backward_layer must be a recurrent layer, got {backward_layer!r}")
            for attr in ("return_sequences", "return_state"):
                if getattr(backward_layer, attr) != getattr(layer, attr):
                    raise InvalidArgumentError(f"Bidirectional: forward and backward layers differ in {attr}")
            if backward_layer.go_backwards == layer.go_backwards:
                raise InvalidArgumentError("Bidirectional: backward_layer must have the opposite go_backwards")
            self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
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
        from ..ops import array

        if self.merge_mode == "concat":
            return array.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return add(y, y_rev)
        if self.merge_mode == "mul":
            return multiply(y, y_rev)
        if self.merge_mode == "ave":
            return multiply(add(y, y_rev), 0.5)
        return [y, y_rev]

    def call(self, inputs, initial_state=None, training=False):
        from ..ops import array

        fw_state = bw_state = None
        if initial_state is not None:
            states = list(initial_state)
            half = len(states) // 2
            fw_state, bw_state = states[:half], states[half:]
        y = self.forward_layer(inputs, initial_state=fw_state, training=training)
        y_rev = self.backward_layer(inputs, initial_state=bw_state, training=training)
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


__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional"]
