"""Flatten: an image batch becomes a batch of feature vectors."""

from __future__ import annotations

import numpy as np

from .base import Layer


class Flatten(Layer):
    """Reshape each sample to one row; no parameters.

    Forward:   a = reshape(x, (m, C·H·W))
    Backward:  ∂L/∂x = reshape(∂L/∂a, x.shape)
    """

    cache = ("_input",)

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training=False):
        self._input = x
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_a):
        grad_x = np.empty_like(self._input)  # in the input's memory layout, for the layers below
        grad_x[...] = grad_a.reshape(self._input.shape)
        return grad_x
