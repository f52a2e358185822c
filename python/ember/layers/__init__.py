"""Layers with Keras 3 names and arguments."""

from .activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .core import Activation, Dense, Input, InputLayer, KerasTensor
from .layer import Layer
from .normalization import BatchNormalization, LayerNormalization
from .regularization import (
    ActivityRegularization, Dropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D,
    SpatialDropout3D,
)
from .reshaping import Flatten, Reshape

__all__ = ["Layer", "Input", "InputLayer", "Dense", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
           "GaussianDropout", "ActivityRegularization", "BatchNormalization", "LayerNormalization", "Flatten", "Reshape", "KerasTensor"]
