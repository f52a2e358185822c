"""Models: `Model` (subclassing) and `Sequential`."""

from .model import Model
from .perceptron import NotLinearlySeparableWarning, Perceptron
from .sequential import Sequential

__all__ = ["Model", "Sequential", "Perceptron", "NotLinearlySeparableWarning"]
