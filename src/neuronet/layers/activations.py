"""Activations: the nonlinearity a neuron applies to its weighted sum z.

Each is element-wise except softmax, so the backward pass multiplies ∂L/∂a by the
derivative a'(z); softmax's Jacobian is full and is applied as a vector product.
All forms are numerically stable for any finite z (no overflow for |z| in the 1e4s).
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from ..validation import Interval, check_parameter
from .base import Layer


def sigmoid(z):
    """σ(z) = 1 / (1 + e^(−z)), computed from e^(−|z|) so that nothing overflows."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def log_sigmoid(z):
    """log σ(z) = −softplus(−z) = min(z, 0) − log(1 + e^(−|z|))."""
    return np.minimum(z, 0) - np.log1p(np.exp(-np.abs(z)))


def softmax(z):
    """softmax(z)_k = e^(z_k) / Σ_j e^(z_j), shifted by max z (same value, no overflow)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z):
    """log softmax(z)_k = z_k − logsumexp(z), with the max subtracted first."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class Identity(Layer):
    """No nonlinearity: a = z (scikit-learn's ``activation="identity"``; a network of
    identity layers is a linear model, however deep).

    Forward:   a = z
    Backward:  ∂L/∂z = ∂L/∂a
    """


class Exp(Layer):
    """The exponential: a = e^z, a positive output from any score (the link of a
    Poisson regression, whose network predicts log-means).

    Forward:   a = exp(z)
    Backward:  ∂L/∂z = ∂L/∂a · a
    """

    cache = ("_a",)

    def forward(self, x, training=False):
        self._a = np.exp(x)
        return self._a

    def backward(self, grad_a):
        return grad_a * self._a


class Sigmoid(Layer):
    """Logistic sigmoid: squashes z to a probability.

    Forward:   a = σ(z) = 1 / (1 + e^(−z))
    Backward:  ∂L/∂z = ∂L/∂a · a (1 − a)
    """

    cache = ("_a",)

    def forward(self, x, training=False):
        self._a = sigmoid(x)
        return self._a

    def backward(self, grad_a):
        return grad_a * self._a * (1 - self._a)


class Tanh(Layer):
    """Hyperbolic tangent, a zero-centred sigmoid: tanh(z) = 2σ(2z) − 1.

    Forward:   a = tanh(z)
    Backward:  ∂L/∂z = ∂L/∂a · (1 − a²)
    """

    cache = ("_a",)

    def forward(self, x, training=False):
        self._a = np.tanh(x)
        return self._a

    def backward(self, grad_a):
        return grad_a * (1 - self._a * self._a)


class ReLU(Layer):
    """Rectified linear unit.

    Forward:   a = max(0, z)
    Backward:  ∂L/∂z = ∂L/∂a · [z > 0]
    """

    cache = ("_positive",)

    def forward(self, x, training=False):
        self._positive = x > 0
        return np.clip(x, 0.0, np.inf)  # max(0, z); clip is several times faster than maximum with a scalar

    def backward(self, grad_a):
        return grad_a * self._positive


class LeakyReLU(Layer):
    """ReLU with a small slope α for negative inputs, so no unit is ever fully off.

    Forward:   a = z if z > 0 else α z
    Backward:  ∂L/∂z = ∂L/∂a · (1 if z > 0 else α)
    """

    cache = ("_slope",)

    def __init__(self, alpha=0.01):
        super().__init__()
        check_parameter("alpha", alpha, [Interval(Real, 0, 1, closed="left")], "LeakyReLU")
        self.alpha = float(alpha)

    def get_config(self):
        return {"alpha": self.alpha}

    def forward(self, x, training=False):
        self._slope = np.where(x > 0, 1, self.alpha).astype(x.dtype)
        return x * self._slope

    def backward(self, grad_a):
        return grad_a * self._slope


class Softmax(Layer):
    """Softmax over the last axis: K scores become K probabilities that sum to 1.

    Forward:   s_k = e^(z_k) / Σ_j e^(z_j)
    Backward:  ∂s_k/∂z_j = s_k (δ_kj − s_j), a full Jacobian, so
               ∂L/∂z = s ⊙ (∂L/∂s − Σ_k s_k ∂L/∂s_k)

    Training with ``CrossEntropy`` skips this layer and uses the fused, simpler
    gradient of the loss with respect to the logits, s − onehot(y).
    """

    cache = ("_s",)

    def forward(self, x, training=False):
        self._s = softmax(x)
        return self._s

    def backward(self, grad_s):
        s = self._s
        return s * (grad_s - (grad_s * s).sum(axis=-1, keepdims=True))
