"""Layers with Keras 3 names and arguments."""

from ..keras_tensor import KerasTensor
from .activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .convolutional import Conv1D, Conv2D
from .core import Activation, Dense, Identity, Input, InputLayer, Lambda
from .input_spec import InputSpec
from .layer import Layer
from .merging import (
    Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average, concatenate, dot, maximum,
    minimum, multiply, subtract,
)
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (
    AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
    GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D,
)
from .regularization import (
    ActivityRegularization, Dropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D,
    SpatialDropout3D,
)
from .reshaping import Flatten, Reshape
from .embedding import Embedding
from .rnn import GRU, LSTM, Bidirectional, SimpleRNN

__all__ = [
    "Layer", "Input", "InputLayer", "InputSpec", "KerasTensor", "Dense", "Activation", "Identity", "Lambda",
    "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
    "ActivityRegularization", "BatchNormalization", "LayerNormalization", "Flatten", "Reshape",
    "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
    "Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
]
