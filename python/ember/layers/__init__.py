"""Layers with Keras 3 names and arguments."""

from ..keras_tensor import KerasTensor
from .activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .convolutional import (
    Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
    SeparableConv2D,
)
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
from .pooling import AveragePooling3D, GlobalAveragePooling3D, GlobalMaxPooling3D, MaxPooling3D
from .regularization import (
    ActivityRegularization, AlphaDropout, Dropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D,
    SpatialDropout3D,
)
from .reshaping import Flatten, Reshape
from .reshaping import (
    Cropping1D, Cropping2D, Cropping3D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D,
)
from .image_preprocessing import (
    CenterCrop, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom, Rescaling,
    Resizing,
)
from .normalization_preprocessing import Normalization
from .embedding import Embedding
from .sequence import Masking, RepeatVector, TimeDistributed
from .lookup import IntegerLookup, StringLookup
from .text_vectorization import TextVectorization
from .rnn import GRU, GRUCell, LSTM, LSTMCell, RNN, Bidirectional, SimpleRNN, SimpleRNNCell, StackedRNNCells

__all__ = [
    "Layer", "Input", "InputLayer", "InputSpec", "KerasTensor", "Dense", "Activation", "Identity", "Lambda",
    "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization", "BatchNormalization", "LayerNormalization", "Flatten", "Reshape",
    "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional",
    "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "Masking", "RepeatVector", "TimeDistributed",
    "TextVectorization", "StringLookup", "IntegerLookup",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
    "Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
    "SeparableConv2D", "MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D", "GlobalMaxPooling3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D",
    "UpSampling2D", "Rescaling", "Resizing", "CenterCrop", "RandomFlip", "RandomCrop", "RandomTranslation",
    "RandomRotation", "RandomZoom", "RandomContrast", "Normalization",
]
