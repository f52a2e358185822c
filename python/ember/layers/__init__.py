"""Layers with Keras 3 names and arguments."""

from ..keras_tensor import KerasTensor
from .activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .convolutional import (
    Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose, DepthwiseConv1D, DepthwiseConv2D,
    SeparableConv1D, SeparableConv2D,
)
from .convolutional import (
    Convolution1D, Convolution1DTranspose, Convolution2D, Convolution2DTranspose, Convolution3D,
    Convolution3DTranspose, SeparableConvolution1D, SeparableConvolution2D,
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
from .pooling import (
    AvgPool1D, AvgPool2D, AvgPool3D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D, GlobalMaxPool1D,
    GlobalMaxPool2D, GlobalMaxPool3D, MaxPool1D, MaxPool2D, MaxPool3D,
)
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
from .einsum_dense import EinsumDense
from .wrapper import Wrapper
from .normalization_more import GroupNormalization, RMSNormalization, SpectralNormalization, UnitNormalization
from .encoding import CategoryEncoding, Discretization
from .reshaping import Permute, UpSampling3D
from .pooling import (
    AdaptiveAveragePooling1D, AdaptiveAveragePooling2D, AdaptiveAveragePooling3D, AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D, AdaptiveMaxPooling3D,
)
from .attention import AdditiveAttention, Attention, GroupQueryAttention, MultiHeadAttention
from .image_augmentation import (
    AutoContrast, CutMix, Equalization, MixUp, Pipeline, RandomBrightness, RandomColorDegeneration, RandomColorJitter,
    RandomErasing, RandomGaussianBlur, RandomGrayscale, RandomHue, RandomInvert, RandomPosterization, RandomSaturation,
    RandomSharpness, RandomShear, Solarization,
)
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
    # Keras's alternative names (the same classes)
    "Convolution1D", "Convolution2D", "Convolution3D", "Convolution1DTranspose", "Convolution2DTranspose",
    "Convolution3DTranspose", "SeparableConvolution1D", "SeparableConvolution2D", "MaxPool1D", "MaxPool2D",
    "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
    "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
    "Conv3DTranspose", "EinsumDense", "Attention", "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention",
    "Wrapper", "GroupNormalization", "RMSNormalization", "UnitNormalization", "SpectralNormalization",
    "CategoryEncoding", "Discretization", "Permute", "UpSampling3D", "AdaptiveAveragePooling1D",
    "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D",
    "AdaptiveMaxPooling3D", "serialize", "deserialize",
    "RandomBrightness", "RandomGrayscale", "RandomInvert", "Solarization", "RandomPosterization", "AutoContrast",
    "Equalization", "RandomColorDegeneration", "RandomSaturation", "RandomHue", "RandomSharpness",
    "RandomGaussianBlur", "RandomColorJitter", "RandomShear", "RandomErasing", "MixUp", "CutMix", "Pipeline",
]


def serialize(layer) -> dict:
    """Keras's serialized form of ``layer`` (``keras.layers.serialize``:
    `ember.saving.serialize_keras_object`): ``{"module", "class_name", "config",
    "registered_name"}``.

    Example:
        >>> import ember as em
        >>> em.layers.serialize(em.layers.Dense(3))["class_name"]
        'Dense'
    """
    from ..errors import InvalidArgumentError
    from ..saving import serialize_keras_object

    if not isinstance(layer, Layer):
        raise InvalidArgumentError(f"serialize: expected an ember Layer, got {type(layer).__name__}")
    return serialize_keras_object(layer)


def deserialize(config, custom_objects=None):
    """The layer a `serialize` config describes (``keras.layers.deserialize``);
    ``custom_objects`` maps the names of user classes.

    Raises:
        InvalidConfigError: for an unknown class or a malformed config.

    Example:
        >>> import ember as em
        >>> em.layers.deserialize(em.layers.serialize(em.layers.Dense(3, name="d"))).name
        'd'
    """
    from ..errors import InvalidConfigError
    from ..saving import deserialize_keras_object

    if not isinstance(config, dict):
        raise InvalidConfigError(f"deserialize: expected a layer config dict, got {type(config).__name__}")
    obj = deserialize_keras_object(config, custom_objects=custom_objects)
    if not isinstance(obj, Layer):
        raise InvalidConfigError(f"deserialize: the config describes a {type(obj).__name__}, not a layer")
    return obj
