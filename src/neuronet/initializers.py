"""Weight initialisers.

The scale of the initial weights decides whether signals and gradients keep their size
through many layers. Glorot (Xavier) keeps the variance of a sigmoid or tanh layer's
input and output equal; He doubles it for ReLU, which zeroes half of its inputs.
"""

from __future__ import annotations

import numpy as np

INITIALIZERS = ("glorot_uniform", "he_normal", "zeros")


def initialize(name, shape, fan_in, fan_out, rng, dtype):
    """Draw an array of ``shape`` by the named rule.

    glorot_uniform:  W ~ U(-a, a),  a = √(6 / (fan_in + fan_out))
    he_normal:       W ~ N(0, 2 / fan_in)
    zeros:           W = 0

    Without a generator (``rng=None``) nothing is drawn: zeros hold the place of weights
    that are about to be loaded.
    """
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initializer {name!r}; choose one of {INITIALIZERS}")
    if rng is None:
        return np.zeros(shape, dtype=dtype)
    if name == "glorot_uniform":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        values = rng.uniform(-limit, limit, size=shape)
    elif name == "he_normal":
        values = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    else:
        values = np.zeros(shape)
    return values.astype(dtype)

