"""Ember: Keras's simplicity with a fast native core.

``import ember as keras`` runs a typical Keras Sequential script unchanged.

Example:
    >>> import ember as em
    >>> model = em.Sequential([em.layers.Dense(1, input_shape=(2,))])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> model.predict(em.ops.ones((1, 2)).numpy(), verbose=0).shape
    (1, 1)
"""

from __future__ import annotations

import contextlib as _contextlib

from . import _core
from . import config as _config
from . import (
    activations, autograd, callbacks, datasets, distribute, errors, initializers, layers, losses, metrics, models, ops,
    optimizers, random, regularizers, saving, utils,
)
from . import distribute as distribution  # Keras 3's name for the namespace (keras.distribution)
from .autograd import GradientTape, no_grad
from .compiled import function
from .backend import get_backend as _get_backend
from .config import get_num_threads, set_num_threads
from .layers import Input, InputSpec, KerasTensor, Layer
from .losses import Loss
from .metrics import Metric
from .optimizers import Optimizer
from .initializers import Initializer
from .regularizers import Regularizer
from .models import Model, Sequential
from .tensor import Tensor, Variable, full, ones, tensor, zeros
from .tensor import _default_device
from ._doctor import devices, doctor

#: The one version number is Cargo.toml's; the Rust core carries it, and maturin writes it
#: into the wheel's metadata.
__version__ = _core.__version__

__all__ = [
    "Sequential", "Model", "Input", "Variable", "GradientTape", "function", "Tensor", "tensor", "zeros", "ones", "full", "device",
    "set_default_device",
    "get_default_device", "no_grad", "set_num_threads", "get_num_threads", "errors", "layers", "models", "losses",
    "metrics", "optimizers", "activations", "initializers", "regularizers", "constraints", "callbacks", "ops", "utils", "datasets", "random", "saving",
    "distribute", "distribution",
    "autograd", "devices", "doctor", "__version__", "constraints", "version",
    # the base classes at the top level, as Keras 3 exports them (keras.Layer, keras.Loss...)
    "Layer", "Loss", "Metric", "Optimizer", "Initializer", "Regularizer", "InputSpec", "KerasTensor",
]


def version() -> str:
    """Ember's version (``keras.version()``)."""
    return __version__


def set_default_device(device: str) -> None:
    """Sets the device new tensors and models use ("cpu" or "gpu"). Raises
    `BackendUnavailableError` when the device has no backend here (never falls back)."""
    _get_backend(device)
    _default_device[0] = device


def get_default_device() -> str:
    return _default_device[0]


@_contextlib.contextmanager
def device(device_name: str):
    """``with ember.device("gpu"):`` creates tensors on that device inside the block
    (``keras.device``; Keras's ``"gpu:0"``-style names are accepted for device 0)."""
    name = device_name
    if isinstance(name, str) and ":" in name:
        kind, _, index = name.partition(":")
        if index.strip() not in ("0", ""):
            from .errors import InvalidArgumentError

            raise InvalidArgumentError(f"device: Ember drives one device of each kind; got {device_name!r} "
                                       "(use 'cpu' or 'gpu')")
        name = kind.strip().lower()
    _get_backend(name)
    prev = _default_device[0]
    _default_device[0] = name
    try:
        yield
    finally:
        _default_device[0] = prev


def _api_only_dir(module) -> None:
    """``dir(module)`` lists its ``__all__`` only (PEP 562 ``__dir__``): helpers a module
    imports for itself (``np``, ``math``, its submodules) stay out of tab completion and
    `help`, as in Keras's generated API modules."""
    names = sorted(set(module.__all__))
    module.__dir__ = lambda: list(names)


for _module in (activations, autograd, callbacks, constraints, datasets, errors, initializers, layers, losses, metrics, models, ops,
                optimizers, optimizers.schedules, random, regularizers, saving, utils):
    if hasattr(_module, "__all__"):
        _api_only_dir(_module)
del _module


def __dir__() -> list[str]:
    return sorted(__all__)


# EMBER_DEVICE=gpu sets the default without touching the GPU: `import ember` always
# works, and a missing wgpu, driver or adapter raises BackendUnavailableError (saying what
# to install) at the first tensor or model created on the default device.
_default_device[0] = _config.default_device_from_env()
