"""Everything for building and training networks layer by layer.

>>> from neuronet import nn
>>> net = nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(3), nn.Softmax()], input_shape=(4,))
>>> history = net.fit(X, y, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=5)  # doctest: +SKIP
"""

from .layers import (AvgPool2D, Conv2D, Dense, Dropout, Flatten, Layer, LeakyReLU, MaxPool2D, ReLU, Sigmoid,
                     Softmax, Tanh, register_layer, registered_types)
from .layers import GlobalAveragePooling2D, Residual  # issue 26: residual connections and their companions
from .callbacks import Callback, EarlyStopping, History, LearningRateScheduler, LiveCurves
from .checkpoint import Checkpoint
from .losses import BinaryCrossEntropy, CrossEntropy, Loss, MeanSquaredError, PolicyGradient
from .network import Sequential
from .optimizers import SGD, Adam, CosineDecay, Newton, Optimizer
from .regularizers import L2
from .training import TrainingDiverged, TrainingInterrupted, fit

__all__ = [
    "Layer", "register_layer", "registered_types", "Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax", "Dropout", "Flatten",
    "Conv2D", "MaxPool2D", "AvgPool2D", "Sequential", "Loss", "BinaryCrossEntropy", "CrossEntropy",
    "MeanSquaredError", "PolicyGradient", "L2", "Optimizer", "SGD", "Adam", "Newton", "CosineDecay", "Callback",
    "EarlyStopping", "LearningRateScheduler", "LiveCurves", "Checkpoint", "History", "TrainingDiverged", "TrainingInterrupted", "fit",
]
__all__ += ["Residual", "GlobalAveragePooling2D"]  # residual connections and their companions

# Normalisation: batch normalisation (per channel, over the batch) and layer normalisation (per sample)
from .layers import BatchNorm, LayerNorm  # noqa: E402

__all__ += ["BatchNorm", "LayerNorm"]

# Attention: multi-head self-attention, positions, the transformer's encoder block, layers over sequences
from .layers import (GlobalAveragePooling1D, MultiHeadSelfAttention, PositionalEncoding,  # noqa: E402
                     TimeDistributed, TransformerEncoderBlock)

__all__ += ["MultiHeadSelfAttention", "PositionalEncoding", "TransformerEncoderBlock", "TimeDistributed",
            "GlobalAveragePooling1D"]
