"""The fully connected layer: every output unit is a neuron over all inputs."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy import sparse

from ..initializers import check_initializer, initialize, initializer_name
from ..validation import Interval, check_parameter
from .base import Layer


class Dense(Layer):
    """Fully connected layer: each of ``units`` outputs is a weighted sum of all inputs.

    With a batch X of m rows and n features, weights W (n × k) and bias b (k):

    Forward:   Z = X · W + b
    Backward:  ∂L/∂W = Xᵀ · ∂L/∂Z      ∂L/∂b = Σ_rows ∂L/∂Z      ∂L/∂X = ∂L/∂Z · Wᵀ

    A unit followed by a sigmoid is exactly a logistic regression over the layer's
    inputs; the layer has n·k weights and k biases (n·k weights alone with
    ``bias=False``: Z = X · W, for a layer whose output is shifted by the next layer
    anyway, or a residual block's projection).

    An input that is zero in every row of a training batch (a border pixel of MNIST, a
    word no document of the batch uses) adds nothing to Z, and its row of ∂L/∂W is
    zero: when a layer's first training batch has many such inputs (a quarter or
    more), it leaves them out of both products for the rest of the run, batch by batch.

    Parameters
    ----------
    units : int
        Number of output units k.
    initializer : str, callable or None
        The weights' initialiser: a name from :mod:`neuronet.initializers`
        ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
        "lecun_normal", "orthogonal", "zeros") or a function
        ``(shape, fan_in, fan_out, rng, dtype) -> array``, recorded by its name; None
        lets ``Sequential`` choose (He before a rectifier, Glorot otherwise). The bias
        starts at zero.
    bias : bool, default True
        Whether the layer has the bias b.
    """

    cache = ("_x", "_present")

    regularized = ("weights",)

    bias = True  # a layer pickled before layers could go without a bias has one

    def __init__(self, units, initializer=None, bias=True):
        super().__init__()
        check_parameter("units", units, [Interval(Integral, 1, None, closed="left")], "Dense")
        self.units = int(units)
        self.initializer = check_initializer(initializer, "Dense")
        if not isinstance(bias, (bool, np.bool_)):
            raise ValueError(f"Dense's bias is True or False, not {bias!r}")
        self.bias = bool(bias)

    def build(self, input_shape, rng, dtype):
        if len(input_shape) != 1:
            raise ValueError(
                f"Dense expects flat samples, got sample shape {tuple(input_shape)}; "
                "put a Flatten() layer before it"
            )
        super().build(input_shape, rng, dtype)
        n_inputs = self.input_shape[0]
        self.params["weights"] = initialize(
            self.initializer or "glorot_uniform", (n_inputs, self.units),
            n_inputs, self.units, rng, dtype,
        )
        if self.bias:
            self.params["bias"] = initialize("zeros", (self.units,), n_inputs, self.units, rng, dtype)

    def output_shape(self, input_shape):
        return (self.units,)

    def get_config(self):
        config = {"units": self.units, "initializer": initializer_name(self.initializer)}
        return config if self.bias else {**config, "bias": False}  # files of layers with a bias stay as they were

    def forward(self, x, training=False):
        weights, self._present = self.params["weights"], None
        present = self._inputs_present(x) if training else None
        if present is not None:
            self._present = present
            x, weights = x[:, present], np.take(weights, present, axis=0)  # x[:, …] beats take on axis 1
        self._x = x
        z = x @ weights
        if self.bias:
            z += self.params["bias"]
        return z

    @staticmethod
    def _inputs_present(x):
        """The inputs not zero in the whole batch, where leaving out the others pays (a
        quarter of the inputs or more are zero); else None. Decided batch by batch, so
        that a batch is computed the same way whatever batches came before it: a run
        resumed from a checkpoint takes the same steps as the run that wrote it."""
        if not (isinstance(x, np.ndarray) and x.ndim == 2):
            return None
        any_nonzero = x.any(axis=0)
        if np.count_nonzero(any_nonzero) > x.shape[1] * 3 / 4:
            return None
        return np.flatnonzero(any_nonzero)

    def backward(self, grad_z, input_grad=True):
        grad_weights = self._grad("weights")
        if sparse.issparse(self._x):  # a sparse input batch: scipy multiplies it
            grad_weights[...] = self._x.T @ grad_z
        elif self._present is not None:  # the rows of the inputs left out are zero
            grad_weights.fill(0)
            grad_weights[self._present] = self._x.T @ grad_z
        else:
            np.matmul(self._x.T, grad_z, out=grad_weights)
        if self.bias:
            np.sum(grad_z, axis=0, out=self._grad("bias"))
        return grad_z @ self.params["weights"].T if input_grad else None
