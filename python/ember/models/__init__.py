"""Models: `Model` (functional or subclassed), `Sequential`, and Rosenblatt's `Perceptron`."""

from .functional import Functional
from .model import Model
from .perceptron import NotLinearlySeparableWarning, Perceptron
from .sequential import Sequential

__all__ = ["Model", "Functional", "Sequential", "Perceptron", "NotLinearlySeparableWarning"]
