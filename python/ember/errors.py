"""Ember's exception hierarchy.

Every error Ember raises on purpose is an :class:`EmberError`. Subclasses also derive
from the builtin a Keras or numpy user would catch: a shape mismatch is a ``ValueError``,
a wrong dtype a ``TypeError``. The Rust core raises these same classes (looked up by
name), so there is one hierarchy for both sides.

Example:
    >>> import ember as em
    >>> try:
    ...     em.ops.matmul(em.ones((2, 3)), em.ones((4, 5)))
    ... except em.errors.ShapeError as e:
    ...     print(e)
    matmul: shapes (2, 3) and (4, 5) are not aligned (3 != 4)
"""

from __future__ import annotations

__all__ = [
    "EmberError",
    "ShapeError",
    "DTypeError",
    "InvalidArgumentError",
    "DeviceError",
    "GpuError",
    "OutOfMemoryError",
    "BackendUnavailableError",
    "SoftwareRendererWarning",
    "SerializationError",
    "InvalidConfigError",
    "NotBuiltError",
    "NonFiniteLossError",
]


class EmberError(Exception):
    """Base class of every error Ember raises deliberately."""


class ShapeError(EmberError, ValueError):
    """Operand shapes do not fit an op, a layer or the data given to ``fit``."""


class DTypeError(EmberError, TypeError):
    """An operand has an element type the op does not accept."""


class InvalidArgumentError(EmberError, ValueError):
    """An argument's value is out of range: an unknown name, a negative rate, a label
    outside the classes, a non-finite input."""


class DeviceError(EmberError, RuntimeError):
    """Tensors on different devices were mixed in one op."""


class GpuError(DeviceError):
    """The GPU API reported an error (a WebGPU validation or internal error), named
    with the op that caused it."""


class OutOfMemoryError(EmberError, MemoryError):
    """A device could not hold a tensor: its memory is exhausted, or the tensor is larger
    than the largest buffer the device allows. Also a ``MemoryError``."""


class BackendUnavailableError(EmberError, RuntimeError):
    """The requested device has no usable backend on this machine."""


class SoftwareRendererWarning(UserWarning):
    """The "gpu" device runs on a software renderer (Mesa's lavapipe/llvmpipe,
    SwiftShader, WARP): it works, but runs on the CPU, usually far slower than the "cpu"
    device. Warned once per adapter per process."""


class SerializationError(EmberError, ValueError):
    """A saved model or weights file is malformed or does not match the model."""


class InvalidConfigError(SerializationError, InvalidArgumentError):
    """A serialized config (``get_config``/``ember.saving.serialize`` output, or a name)
    that describes no object Ember can build: an unknown or unregistered class, a missing
    or wrongly typed field, arguments the class rejects. Both a `SerializationError` and
    an `InvalidArgumentError` (the families' ``get``/``deserialize`` raise it)."""


class NotBuiltError(EmberError, ValueError):
    """A layer or model was asked for weights before it knows its input shape."""


class NonFiniteLossError(EmberError, RuntimeError):
    """Training met a NaN or infinite loss and was told to stop at once
    (``callbacks.TerminateOnNaN(raise_error=True)``; Keras raises a RuntimeError)."""
