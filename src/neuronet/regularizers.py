"""Penalties on the weights: the cost of a large weight, with its gradient beside it.

An L2 penalty adds (α/2)‖W‖² to the cost, pulling every weight towards zero with
the gradient α W; the biases are not penalised. Which arrays are weights is said by
the layers themselves (``Layer.regularized``): the network gives the penalty a 0/1
mask over its flat parameter vector (``Sequential.flat_parameters``).

Two scalings exist, and the penalty carries its own:

* the lecture's: J = (1/m) Σ cost + (α/2)‖w‖², so the gradient adds α w whatever
  the batch (neuronet's estimators use it);
* scikit-learn's MLP: each minibatch of m samples adds (α/2)‖W‖² / m, so the
  gradient adds α W / m (``per_batch=True``).
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from .validation import Interval, check_parameter


class L2:
    """The L2 penalty (weight decay) on the weights.

    Penalty:   P = (α / 2) · ‖W‖² · s          s = 1, or 1/m with ``per_batch=True``
    Gradient:  ∂P/∂W = α · W · s               ∂P/∂b = 0
    Curvature: ∂²P/∂W² = α · s  on the diagonal (Newton's method uses it)
    """

    def __init__(self, alpha, per_batch=False):
        check_parameter("alpha", alpha, [Interval(Real, 0, None, closed="left")], "L2")
        self.alpha = float(alpha)
        self.per_batch = bool(per_batch)
        self._mask, self._runs = None, []

    def _scale(self, batch_size):
        return self.alpha / batch_size if self.per_batch else self.alpha

    def _weights(self, mask):
        """The runs [start, end) of the flat vector that the mask marks: each layer's
        weights are contiguous, so P and its gradient need no masked copies."""
        if mask is not self._mask:
            edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask) != 0, [0]]).astype(np.int8)))
            self._mask, self._runs = mask, list(zip(edges[::2], edges[1::2]))
        return self._runs

    def value(self, parameters, mask, batch_size):
        """P for the flat ``parameters`` (``mask`` marks the weights)."""
        if not self.alpha:
            return 0.0
        squares = sum(float(np.dot(parameters[a:b], parameters[a:b])) for a, b in self._weights(mask))
        return 0.5 * self._scale(batch_size) * squares

    def add_gradient(self, parameters, gradients, mask, batch_size):
        """gradients += ∂P/∂parameters, in place, run of weights by run. (NumPy, not
        SciPy's BLAS axpy: SciPy's own OpenBLAS would keep a second pool of threads
        spinning against NumPy's, which made a 2-thread fit 20 times slower.)"""
        if self.alpha:
            scale = float(self._scale(batch_size))  # a Python float keeps float32 passes in float32
            for a, b in self._weights(mask):
                gradients[a:b] += scale * parameters[a:b]

    def curvature(self, mask, batch_size):
        """The diagonal of the penalty's Hessian."""
        return self._scale(batch_size) * np.asarray(mask, dtype=np.float64)

    def get_config(self):
        return {"alpha": self.alpha, "per_batch": self.per_batch}

    def __repr__(self):
        return f"L2(alpha={self.alpha:g}, per_batch={self.per_batch})"
