"""Layers, one concept a module; all keep the contract of :class:`Layer`."""

from .activations import Exp, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .base import Layer
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .flatten import Flatten
from .pooling import AvgPool2D, MaxPool2D

LAYERS = {cls.__name__: cls for cls in (
    Dense, Identity, Exp, Sigmoid, Tanh, ReLU, LeakyReLU, Softmax, Dropout, Flatten, Conv2D, MaxPool2D, AvgPool2D,
)}

__all__ = ["Layer", *LAYERS]
