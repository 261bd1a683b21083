"""Dropout: randomly silence units while training, so none can rely on another."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from ..validation import Interval, check_parameter
from .base import Layer


class Dropout(Layer):
    """Inverted dropout with drop probability p.

    Training:  a = x ⊙ M / (1 − p),  M_ij ~ Bernoulli(1 − p)
    Inference: a = x (the 1/(1 − p) scale already keeps the expected value)
    Backward:  ∂L/∂x = ∂L/∂a ⊙ M / (1 − p)

    The masks are drawn from ``self.rng``, the network's generator, so a seeded run
    repeats exactly.
    """

    cache = ("_scale",)

    def __init__(self, rate=0.5):
        super().__init__()
        check_parameter("rate", rate, [Interval(Real, 0, 1, closed="left")], "Dropout")
        self.rate = float(rate)
        self.rng = np.random.default_rng()

    def get_config(self):
        return {"rate": self.rate}

    def kept_bytes(self, input_shape, rows, itemsize, training=True):
        """In training, the mask kept for backward and the float64 draws it is made of."""
        return (itemsize + 8) * math.prod(input_shape) * rows if training else 0

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._scale = None
            return x
        keep = 1.0 - self.rate
        self._scale = (self.rng.random(x.shape, dtype=np.float64) < keep).astype(x.dtype) / x.dtype.type(keep)
        return x * self._scale

    def backward(self, grad_a):
        return grad_a if self._scale is None else grad_a * self._scale
