"""Layers, one concept a module; all keep the contract of :class:`Layer`."""

from .activations import Exp, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .base import Layer
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .flatten import Flatten
from .pooling import AvgPool2D, MaxPool2D
from .registry import LAYERS, layer_description, register_layer, registered_name, registered_types
from .pooling import GlobalAveragePooling2D  # issue 26: residual connections and their companions
from .residual import Residual

BUILT_IN = (Dense, Identity, Exp, Sigmoid, Tanh, ReLU, LeakyReLU, Softmax, Dropout, Flatten, Conv2D, MaxPool2D, AvgPool2D)
BUILT_IN += (Residual, GlobalAveragePooling2D)  # issue 26: residual connections and their companions
for _cls in BUILT_IN:
    register_layer(_cls)

__all__ = ["Layer", *(cls.__name__ for cls in BUILT_IN), "LAYERS", "register_layer", "registered_name",
           "registered_types", "layer_description"]

# Normalisation (batch and layer), registered as the built-in layers are
from .normalization import BatchNorm, LayerNorm  # noqa: E402

NORMALIZATION = (BatchNorm, LayerNorm)
for _cls in NORMALIZATION:
    register_layer(_cls)
__all__ += [cls.__name__ for cls in NORMALIZATION]

# Attention and the transformer's encoder block, with the layers over sequences they need
from .attention import MultiHeadSelfAttention, PositionalEncoding  # noqa: E402
from .steps import GlobalAveragePooling1D, TimeDistributed  # noqa: E402
from .transformer import TransformerEncoderBlock  # noqa: E402

ATTENTION = (MultiHeadSelfAttention, PositionalEncoding, TimeDistributed, GlobalAveragePooling1D,
             TransformerEncoderBlock)
for _cls in ATTENTION:
    register_layer(_cls)
__all__ += [cls.__name__ for cls in ATTENTION]
