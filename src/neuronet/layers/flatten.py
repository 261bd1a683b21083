"""Flatten: an image batch becomes a batch of feature vectors."""

from __future__ import annotations

import numpy as np

from .base import Layer


class Flatten(Layer):
    """Reshape each sample to one row; no parameters.

    Forward:   a = reshape(x, (m, C·H·W))
    Backward:  ∂L/∂x = reshape(∂L/∂a, x.shape)
    """

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_a):
        return grad_a.reshape(self._shape)
