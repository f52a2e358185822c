"""Keras 3's global settings (``keras.config`` and the matching ``keras.backend`` names):
floatx, epsilon, image data format, interactive logging, traceback filtering, unsafe
deserialization and the debugging caps on epochs and steps.

Ember computes in float32 with Keras's epsilon (1e-7) and channels-last images; the
setters accept those values (so scripts that set them explicitly run) and raise
``NotImplementedError`` for the others rather than ignoring them.

Example:
    >>> import ember as em
    >>> em.config.floatx(), em.config.epsilon(), em.config.image_data_format()
    ('float32', 1e-07, 'channels_last')
"""

from __future__ import annotations

from ._validation import brief, check_number, is_int
from .errors import InvalidArgumentError

__all__ = [
    "backend", "floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format", "set_image_data_format",
    "enable_interactive_logging", "disable_interactive_logging", "is_interactive_logging_enabled",
    "enable_traceback_filtering", "disable_traceback_filtering", "is_traceback_filtering_enabled",
    "enable_unsafe_deserialization", "max_epochs", "set_max_epochs", "max_steps_per_epoch",
    "set_max_steps_per_epoch",
]

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"


class _State:
    interactive_logging = True  # process-wide, as Keras's global setting


_state = _State()
_caps = {"max_epochs": None, "max_steps_per_epoch": None}


def backend() -> str:
    """The name of the backend: ``"ember"`` (Keras answers "jax", "tensorflow", "torch"...).

    Example:
        >>> import ember as em
        >>> em.config.backend()
        'ember'
    """
    return "ember"


def floatx() -> str:
    """The default float dtype, ``"float32"``."""
    return _FLOATX


def set_floatx(value) -> None:
    """Sets the default float dtype: only ``"float32"`` (Ember's compute dtype).

    Raises:
        NotImplementedError: for Keras's other float dtypes (float16, bfloat16, float64).
        InvalidArgumentError: for anything else.

    Example:
        >>> import ember as em
        >>> em.config.set_floatx("float32")
    """
    if not isinstance(value, str):
        raise InvalidArgumentError(f"set_floatx: expected a dtype name ('float16', 'bfloat16', 'float32', 'float64'), "
                                   f"got {brief(value)}")
    if value == _FLOATX:
        return
    if value in ("float16", "bfloat16", "float64"):
        raise NotImplementedError(f"set_floatx: Ember computes in float32 only; {value!r} is not supported")
    raise InvalidArgumentError(f"set_floatx: unknown floatx {value!r}; expected one of 'float16', 'bfloat16', "
                               "'float32', 'float64'")


def epsilon() -> float:
    """The fuzz factor of numeric expressions, 1e-7 (Keras's default)."""
    return _EPSILON


def set_epsilon(value) -> None:
    """Sets the fuzz factor: only 1e-7, the value Ember's losses and metrics use.

    Raises:
        NotImplementedError: for another positive value (Ember's kernels have it built in).
        InvalidArgumentError: for a non-number, or one not finite and positive.
    """
    value = check_number(value, "value", "set_epsilon")
    if value <= 0:
        raise InvalidArgumentError(f"set_epsilon: epsilon must be positive, got {value!r}")
    if value != _EPSILON:
        raise NotImplementedError(f"set_epsilon: Ember's losses and metrics use epsilon = 1e-7; {value!r} is not supported")


def image_data_format() -> str:
    """The default image layout, ``"channels_last"`` (``(batch, height, width, channels)``)."""
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format) -> None:
    """Sets the default image layout: only ``"channels_last"``.

    Raises:
        NotImplementedError: for ``"channels_first"`` (give ``data_format="channels_first"``
            to each layer instead).
        InvalidArgumentError: for anything else.
    """
    if not isinstance(data_format, str):
        raise InvalidArgumentError(f"set_image_data_format: data_format must be 'channels_first' or 'channels_last', "
                                   f"got {brief(data_format)}")
    if data_format == _IMAGE_DATA_FORMAT:
        return
    if data_format == "channels_first":
        raise NotImplementedError("set_image_data_format: the global default stays 'channels_last' in Ember; pass "
                                  "data_format='channels_first' to each layer instead")
    raise InvalidArgumentError(f"set_image_data_format: data_format must be 'channels_first' or 'channels_last', "
                               f"got {data_format!r}")


def enable_interactive_logging() -> None:
    """Progress bars and messages go to stdout (the default)."""
    _state.interactive_logging = True


def disable_interactive_logging() -> None:
    """Progress bars and messages go to the ``logging`` logger ``"ember"`` instead of stdout
    (Keras sends them to absl logging), one record per line."""
    _state.interactive_logging = False


def is_interactive_logging_enabled() -> bool:
    """Whether progress output goes to stdout (see `disable_interactive_logging`).

    Example:
        >>> import ember as em
        >>> em.config.is_interactive_logging_enabled()
        True
    """
    return _state.interactive_logging


def enable_traceback_filtering() -> None:
    """Keras hides its own frames from tracebacks; Ember never filters them.

    Raises:
        NotImplementedError: always (tracebacks stay complete).
    """
    raise NotImplementedError("enable_traceback_filtering: Ember does not filter tracebacks")


def disable_traceback_filtering() -> None:
    """Tracebacks are complete: Ember's state already (nothing to do)."""


def is_traceback_filtering_enabled() -> bool:
    """False: Ember's tracebacks are never filtered."""
    return False


def enable_unsafe_deserialization() -> None:
    """Lets ``load_model``/``deserialize`` run code from files (``Lambda`` layers), as
    ``safe_mode=False`` does, for the whole process."""
    from .saving import serialization_lib

    serialization_lib.enable_unsafe_deserialization()


def _cap(name: str, value):
    if value is not None and (not is_int(value) or value < 1):
        raise InvalidArgumentError(f"set_{name}: expected a positive integer or None, got {brief(value)}")
    _caps[name] = None if value is None else int(value)


def max_epochs():
    """The cap on ``fit``'s epochs set by `set_max_epochs` (None: no cap)."""
    return _caps["max_epochs"]


def set_max_epochs(max_epochs) -> None:
    """Caps the number of epochs of every ``fit`` (a debugging aid; None removes the cap).

    Example:
        >>> import ember as em
        >>> em.config.set_max_epochs(2); em.config.max_epochs()
        2
        >>> em.config.set_max_epochs(None)
    """
    _cap("max_epochs", max_epochs)


def max_steps_per_epoch():
    """The cap on the steps of each epoch set by `set_max_steps_per_epoch` (None: no cap)."""
    return _caps["max_steps_per_epoch"]


def set_max_steps_per_epoch(max_steps_per_epoch) -> None:
    """Caps the steps of every ``fit`` epoch (a debugging aid; None removes the cap)."""
    _cap("max_steps_per_epoch", max_steps_per_epoch)
