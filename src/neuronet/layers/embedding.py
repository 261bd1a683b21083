"""Embedding: a learned vector for each word (or any id) of a vocabulary."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from ..initializers import initialize
from ..validation import Interval, check_parameter
from .base import Layer


class Embedding(Layer):
    """A lookup table of ``vocabulary`` rows of ``dimensions`` numbers, one row per id.

    A batch of ids (N × T integers in 0 … V − 1, e.g. the words of N sentences of T
    words) becomes N × T × D vectors. With the table E (V × D):

    Forward:   out[n, t] = E[ids[n, t]]
    Backward:  ∂L/∂E[v] = Σ_{n, t : ids[n, t] = v} ∂L/∂out[n, t]

    The lookup is a Dense layer without bias on one-hot inputs (onehot(ids) · E), done
    without making the one-hot rows: a row of E gets the gradient of every place its
    id was used, and rows of ids that the batch does not use get zero.

    The ids are integers, so there is no gradient with respect to them: an Embedding is
    the first layer of a network, which never asks its first layer for ∂L/∂x
    (``backward(grad, input_grad=False)``, what training calls, returns None). Asked for
    it all the same (``input_grad=True``, as a trace of every layer does), it returns
    zeros shaped as the ids: moving an id by less than one changes nothing.

    The ids may come as floats holding whole numbers (``fit`` and ``predict`` convert
    the input to the network's dtype); anything else is refused. The table starts
    Glorot-uniform (fan-in V, fan-out D). V·D parameters.

    Parameters
    ----------
    vocabulary : int
        The number V of ids.
    dimensions : int
        The length D of each id's vector.
    """

    cache = ("_ids",)
    regularized = ("weights",)

    def __init__(self, vocabulary, dimensions):
        super().__init__()
        check_parameter("vocabulary", vocabulary, [Interval(Integral, 1, None, closed="left")], "Embedding")
        check_parameter("dimensions", dimensions, [Interval(Integral, 1, None, closed="left")], "Embedding")
        self.vocabulary, self.dimensions = int(vocabulary), int(dimensions)

    def get_config(self):
        return {"vocabulary": self.vocabulary, "dimensions": self.dimensions}

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        shape = (self.vocabulary, self.dimensions)
        self.params["weights"] = initialize("glorot_uniform", shape, *shape, rng, dtype)

    def output_shape(self, input_shape):
        return (*tuple(input_shape), self.dimensions)

    def _as_ids(self, x):
        x = np.asarray(x)
        if x.dtype.kind not in "iub":
            if x.dtype.kind != "f" or not np.all(np.isfinite(x)) or np.any(x != np.round(x)):
                raise ValueError("Embedding takes integer ids (whole numbers, in any numeric dtype), got values "
                                 "that are not whole numbers")
        ids = x.astype(np.intp)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocabulary):
            raise ValueError(f"Embedding ids must lie in 0 … {self.vocabulary - 1} (vocabulary={self.vocabulary}), "
                             f"got {ids.min()} … {ids.max()}: raise vocabulary or map rare ids to one id")
        return ids

    def forward(self, x, training=False):
        self._ids = self._as_ids(x)
        return np.take(self.params["weights"], self._ids, axis=0)

    def backward(self, grad_out, input_grad=True):
        grad_weights = self._grad("weights")
        grad_weights.fill(0)
        np.add.at(grad_weights, self._ids.reshape(-1), grad_out.reshape(-1, self.dimensions))
        return np.zeros(self._ids.shape, dtype=grad_out.dtype) if input_grad else None
