"""Layers with Keras 3 names and arguments."""

from .core import Activation, Dense, Input, InputLayer, KerasTensor
from .layer import Layer
from .regularization import Dropout
from .reshaping import Flatten, Reshape

__all__ = ["Layer", "Input", "InputLayer", "Dense", "Activation", "Dropout", "Flatten", "Reshape", "KerasTensor"]
