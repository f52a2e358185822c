"""Models: `Model` (functional or subclassed), `Sequential`, and Rosenblatt's `Perceptron`."""

from .functional import Functional
from .model import Model
from .perceptron import NotLinearlySeparableWarning, Perceptron
from .sequential import Sequential
from ..saving.saving_lib import load_model, save_model
from ..saving.weights import model_from_json
from .cloning import clone_model

__all__ = ["Model", "Functional", "Sequential", "Perceptron", "NotLinearlySeparableWarning", "model_from_json", "load_model",
           "save_model", "clone_model"]
