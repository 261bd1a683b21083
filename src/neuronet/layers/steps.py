"""Layers over the steps of sequences (N × T × …): one layer applied to every step alike,
and the steps pooled into one vector for a classifier."""

from __future__ import annotations

import numpy as np

from .base import Layer
from .registry import as_layer, registered_name


class TimeDistributed(Layer):
    """One layer applied to every step of a sequence, with the same parameters at each step.

    For a batch N × T × F (F: the features of a step, or any shape), the layer f sees the
    N·T steps as one batch of samples:

    Forward:   Y[n, t] = f(X[n, t])
               (N × T × F  →  N·T × F  →  f  →  N × T × F')
    Backward:  ∂L/∂X[n, t] = f's backward of ∂L/∂Y[n, t]
               ∂L/∂θ = Σ_n Σ_t (f's ∂L/∂θ for step t of sample n)

    ``TimeDistributed(Dense(64))`` projects each step's F features to 64 with one weight
    matrix (F·64 weights + 64 biases, however long the sequence): the per-step linear map of
    a transformer's feed-forward layers. Its parameters are the layer's, under the layer's
    names ("weights", "bias").

    Parameters
    ----------
    layer : Layer
        f, built for one step's shape (the sample shape without its first axis).
    """

    cache = ()

    def __init__(self, layer):
        super().__init__()
        self.layer = as_layer(layer, "TimeDistributed's layer")
        self._rng = None

    # the layer's own arrays (a network packs them where they are)
    params = property(lambda self: self.layer.params, lambda self, value: None)
    grads = property(lambda self: self.layer.grads, lambda self, value: None)
    buffers = property(lambda self: self.layer.buffers, lambda self, value: None)

    @property
    def regularized(self):
        """The layer's penalised parameters (a Dense's "weights")."""
        return self.layer.regularized

    @property
    def initializer(self):
        """The layer's initialiser: ``Sequential`` (or a block) chooses it when None."""
        return getattr(self.layer, "initializer", "")

    @initializer.setter
    def initializer(self, value):
        if hasattr(self.layer, "initializer"):
            self.layer.initializer = value

    @property
    def rng(self):
        return self._rng

    @rng.setter
    def rng(self, rng):
        """The network's generator, handed on to a layer that draws (Dropout)."""
        self._rng = rng
        if hasattr(self.layer, "rng"):
            self.layer.rng = rng

    def build(self, input_shape, rng, dtype):
        if len(input_shape) < 2:
            raise ValueError(f"TimeDistributed expects sequences shaped (steps, …), got sample shape "
                             f"{tuple(input_shape)}")
        super().build(input_shape, rng, dtype)
        self.layer.build(self.input_shape[1:], rng, dtype)

    def output_shape(self, input_shape):
        return (input_shape[0], *self.layer.output_shape(tuple(input_shape[1:])))

    def get_config(self):
        return {"layer": {"class": registered_name(type(self.layer)) or type(self.layer).__name__,
                          "config": self.layer.get_config()}}

    def forward(self, x, training=False):
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"TimeDistributed was built for sequences shaped {self.input_shape}, "
                             f"got a batch shaped {x.shape}")
        n, steps = x.shape[:2]
        y = self.layer.forward(x.reshape(n * steps, *x.shape[2:]), training=training)
        return y.reshape(n, steps, *y.shape[1:])

    def backward(self, grad_y, input_grad=True):
        n, steps = grad_y.shape[:2]
        grad = grad_y.reshape(n * steps, *grad_y.shape[2:])
        if not input_grad:
            if self.layer.params:
                self.layer.backward(grad, input_grad=False)
            return None
        grad_x = self.layer.backward(grad)
        return grad_x.reshape(n, steps, *grad_x.shape[1:])

    def clear_cache(self):
        self.layer.clear_cache()

    def count_params(self) -> int:
        return self.layer.count_params()

    def __getstate__(self):
        return dict(self.__dict__)  # the layer pickles itself (no cache, no gradients)

    def __repr__(self):
        return f"TimeDistributed({self.layer!r})"


class GlobalAveragePooling1D(Layer):
    """The mean of each feature over the steps of a sequence: one vector a sample, for a
    classifier after attention or a recurrent layer.

    Forward:   y_n = (1/T) Σ_t X[n, t]        (N × T × D  →  N × D)
    Backward:  ∂L/∂X[n, t] = ∂L/∂y_n / T     (each step a 1/T share)

    No parameters. PyTorch: ``x.mean(dim=1)``.
    """

    cache = ()

    def build(self, input_shape, rng, dtype):
        if len(input_shape) != 2:
            raise ValueError(f"GlobalAveragePooling1D expects sequences shaped (steps, features), got sample shape "
                             f"{tuple(input_shape)}")
        super().build(input_shape, rng, dtype)

    def output_shape(self, input_shape):
        return (input_shape[1],)

    def forward(self, x, training=False):
        if x.ndim != 3:
            raise ValueError(f"GlobalAveragePooling1D takes sequence batches N × T × D, got shape {x.shape}")
        return x.mean(axis=1)

    def backward(self, grad_y, input_grad=True):
        steps = self.input_shape[0]
        return np.broadcast_to((grad_y / grad_y.dtype.type(steps))[:, None, :],
                               (grad_y.shape[0], steps, grad_y.shape[1])).copy()


