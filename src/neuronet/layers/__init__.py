"""Layers, one concept a module; all keep the contract of :class:`Layer`."""

from .activations import Exp, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .attention import MultiHeadSelfAttention, PositionalEncoding
from .base import Layer
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten
from .normalization import BatchNorm, LayerNorm
from .pooling import AvgPool2D, GlobalAveragePooling2D, MaxPool2D
from .recurrent import GRU, LSTM, RNN
from .registry import LAYERS, layer_description, register_layer, registered_name, registered_types
from .residual import Residual
from .steps import GlobalAveragePooling1D, TimeDistributed
from .transformer import TransformerEncoderBlock

BUILT_IN = (
    # the lecture's layers
    Dense, Identity, Exp, Sigmoid, Tanh, ReLU, LeakyReLU, Softmax, Dropout, Flatten, Conv2D, MaxPool2D, AvgPool2D,
    # normalisation and residual blocks
    BatchNorm, LayerNorm, Residual, GlobalAveragePooling2D,
    # sequences: embeddings, recurrent layers, attention and the transformer's encoder block
    Embedding, RNN, LSTM, GRU, MultiHeadSelfAttention, PositionalEncoding, TimeDistributed, GlobalAveragePooling1D,
    TransformerEncoderBlock,
)
for _cls in BUILT_IN:
    register_layer(_cls)

__all__ = ["Layer", *(cls.__name__ for cls in BUILT_IN), "LAYERS", "register_layer", "registered_name",
           "registered_types", "layer_description"]
