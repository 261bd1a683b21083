"""Everything for building and training networks layer by layer.

>>> from neuronet import nn
>>> net = nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(3), nn.Softmax()], input_shape=(4,))
>>> history = net.fit(X, y, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=5)  # doctest: +SKIP
"""

from .layers import (GRU, LSTM, RNN, AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Embedding, Flatten,
                     GlobalAveragePooling1D, GlobalAveragePooling2D, Layer, LayerNorm, LeakyReLU, MaxPool2D,
                     MultiHeadSelfAttention, PositionalEncoding, ReLU, Residual, Sigmoid, Softmax, Tanh,
                     TimeDistributed, TransformerEncoderBlock, register_layer, registered_types)
from .augment import Augmentation
from .callbacks import Callback, EarlyStopping, History, LearningRateScheduler, LiveCurves, ReduceLROnPlateau
from .checkpoint import Checkpoint
from .losses import BinaryCrossEntropy, CrossEntropy, Loss, MeanSquaredError, PolicyGradient
from .network import Sequential
from .optimizers import (SGD, Adam, AdamW, CosineDecay, ExponentialDecay, Newton, OneCycle, Optimizer, RMSprop,
                         StepDecay, WarmUp)
from .regularizers import L2
from .training import TrainingDiverged, TrainingInterrupted, fit

__all__ = [
    # layers: the lecture's, then normalisation, residual blocks, sequences and attention
    "Layer", "register_layer", "registered_types", "Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax",
    "Dropout", "Flatten", "Conv2D", "MaxPool2D", "AvgPool2D",
    "BatchNorm", "LayerNorm", "Residual", "GlobalAveragePooling2D",
    "Embedding", "RNN", "LSTM", "GRU",
    "MultiHeadSelfAttention", "PositionalEncoding", "TransformerEncoderBlock", "TimeDistributed",
    "GlobalAveragePooling1D",
    # networks, losses, training
    "Sequential", "Loss", "BinaryCrossEntropy", "CrossEntropy", "MeanSquaredError", "PolicyGradient", "L2",
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Newton",
    "CosineDecay", "StepDecay", "ExponentialDecay", "WarmUp", "OneCycle",
    "Callback", "EarlyStopping", "LearningRateScheduler", "ReduceLROnPlateau", "LiveCurves", "Checkpoint",
    "History", "TrainingDiverged", "TrainingInterrupted", "fit", "Augmentation",
]
