"""Normalisation: rescale what a layer receives to mean 0 and variance 1, then let the
network learn the scale γ and shift β it wants instead.

Batch normalisation takes its statistics over the batch (one mean and one variance per
channel), so that in training a sample's output depends on the other samples of its
minibatch; in evaluation it uses running averages kept while training, and each sample
is on its own again. Layer normalisation takes them over the features of each sample
alone, the same in training and evaluation.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from ..validation import Interval, check_parameter
from .base import Layer


class BatchNorm(Layer):
    """Batch normalisation, per channel: PyTorch's BatchNorm1d and BatchNorm2d in one layer.

    Samples are feature vectors (C) — batch N × C, PyTorch's BatchNorm1d — or images
    (C × H × W) — batch N × C × H × W, BatchNorm2d (or C × L, also BatchNorm1d's). The
    channel is the first axis of a sample; each channel c has its statistics over the m
    values it takes in the batch (m = N for vectors, N·H·W for images):

    Forward:   μ_c = (1/m) Σ x        σ²_c = (1/m) Σ (x − μ_c)²
               x̂ = (x − μ_c) / √(σ²_c + ε)        y = γ_c x̂ + β_c
    Backward:  ∂L/∂β_c = Σ g        ∂L/∂γ_c = Σ g ⊙ x̂
               ∂L/∂x = (γ_c / σ_c) (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂))

    with g = ∂L/∂y, σ_c = √(σ²_c + ε), and the sums and means over the m values of the
    channel. The input gradient, by hand: x̂_j depends on x_i directly and through μ and
    σ. Since ∂μ/∂x_i = 1/m and ∂σ/∂x_i = (x_i − μ)/(m σ) = x̂_i / m (the part through μ
    vanishes, as Σ_j (x_j − μ) = 0),

    Backward:  ∂x̂_j/∂x_i = (δ_ij − 1/m) / σ − x̂_j x̂_i / (m σ)
               ∂L/∂x_i = Σ_j γ g_j ∂x̂_j/∂x_i
                       = (γ/σ) (g_i − Σ_j g_j / m − x̂_i Σ_j g_j x̂_j / m)

    Training and evaluation (``forward(x, training)``; a network passes its mode, see
    :meth:`Sequential.train <neuronet.network.Sequential.train>`): in training the batch's
    μ and σ² normalise it, and the running statistics (buffers, not trained) move towards
    them, as PyTorch's do:

    Forward (training):    μ_run ← (1 − momentum) μ_run + momentum μ
                           σ²_run ← (1 − momentum) σ²_run
                                    + momentum · m/(m − 1) · σ²
    Forward (evaluation):  y = γ (x − μ_run) / √(σ²_run + ε) + β
    Backward (evaluation): ∂L/∂x = γ g / √(σ²_run + ε)

    the running variance taking the unbiased batch variance, the normalisation the biased
    one. In evaluation the layer is an affine map of each value, the same for every
    sample of the batch: a prediction does not depend on the other samples (float32
    predictions stay bitwise batch-invariant).

    γ starts at 1 and β at 0 (the layer starts as a plain standardisation); they are
    named ``gamma`` and ``beta`` (PyTorch's ``weight`` and ``bias``), 2C parameters. No L2
    penalty applies to γ (nor to β: ``regularized`` is empty), as is usual: the scale
    that follows a normalisation is not what a weight penalty means to keep small. A
    bias added just before the layer (a Dense or Conv2D's) is taken away with the
    batch's mean: in training its gradient is 0, and β does its work. The running mean
    and variance, ``running_mean`` and ``running_var`` (starting at 0 and 1), are buffers:
    saved, checkpointed and loaded with the weights, never updated by an optimizer.

    Under MPI (data-parallel training, :mod:`neuronet.distributed`) the training loop
    gives the layer its ``communicator``: the sums behind μ, σ², mean(g) and mean(g ⊙ x̂)
    are summed over the ranks, so the statistics are those of the whole minibatch and a
    distributed run trains as one process does.

    Parameters
    ----------
    momentum : float, default 0.1
        How far the running statistics move towards each training batch's.
    epsilon : float, default 1e-5
        Added to the variance before its square root (PyTorch's ``eps``).
    """

    cache = ("_x_hat", "_scale", "_count", "_trained", "_shape", "_pixels")

    def __init__(self, momentum=0.1, epsilon=1e-5):
        super().__init__()
        check_parameter("momentum", momentum, [Interval(Real, 0, 1, closed="both")], "BatchNorm")
        check_parameter("epsilon", epsilon, [Interval(Real, 0, None, closed="neither")], "BatchNorm")
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.communicator = None  # set by the training loop under MPI: sums over the ranks

    def build(self, input_shape, rng, dtype):
        if not 1 <= len(input_shape) <= 3:
            raise ValueError(f"BatchNorm expects samples shaped (C,), (C, L) or (C, H, W), got sample shape "
                             f"{tuple(input_shape)}; put a Flatten() layer before it")
        super().build(input_shape, rng, dtype)
        channels = self.input_shape[0]
        self.params["gamma"] = np.ones(channels, dtype=dtype)
        self.params["beta"] = np.zeros(channels, dtype=dtype)
        self.buffers["running_mean"] = np.zeros(channels, dtype=dtype)
        self.buffers["running_var"] = np.ones(channels, dtype=dtype)

    def get_config(self):
        return {"momentum": self.momentum, "epsilon": self.epsilon}

    def __getstate__(self):
        state = super().__getstate__()
        state["communicator"] = None  # an MPI job's, never pickled
        return state

    def _per_channel(self, values):
        """A per-channel vector laid out along a row of ``_rows`` (C → W·C, the channel
        fastest), to broadcast against it."""
        return np.tile(values, self._pixels)

    @property
    def needs_two_samples(self):
        """Whether one sample gives each channel a single value, too few to normalise: a
        minibatch of one sample cannot train it (features; images give H·W values each)."""
        return math.prod(self.input_shape[1:]) == 1

    def _rows(self, x):
        """x with its channel axis last, as a matrix whose rows are whole runs of values
        (one image row, W·C numbers, for images): a view where x is stored channels-last,
        as convolutions store it, a copy otherwise. Keeps the shape to give it back."""
        moved = np.ascontiguousarray(np.moveaxis(x, 1, -1))
        self._shape, self._pixels = moved.shape, moved.shape[-2] if moved.ndim > 2 else 1
        return moved.reshape(-1, self._pixels * moved.shape[-1])

    def _batch_shaped(self, rows):
        """Rows of ``_rows`` as a batch shaped as x was (stored channels-last)."""
        return np.moveaxis(rows.reshape(self._shape), -1, 1)

    def _channel_sums(self, rows):
        """Σ over the batch (and pixels) of each channel: the sums of blocks of 64 rows, by
        products with a vector of ones (BLAS), added up in float64 (as precise as NumPy's
        pairwise sums, several times faster over a channels-last batch)."""
        whole = rows.shape[0] - rows.shape[0] % 64
        blocks = np.matmul(np.ones((1, 64), dtype=rows.dtype), rows[:whole].reshape(-1, 64, rows.shape[1]))
        total = blocks.sum(axis=(0, 1), dtype=np.float64) + rows[whole:].sum(axis=0, dtype=np.float64)
        return total.reshape(self._pixels, -1).sum(axis=0).astype(rows.dtype)

    def _sum(self, *arrays):
        """The arrays summed over the ranks under MPI (as they are in one process)."""
        if self.communicator is None:
            return arrays
        sizes = np.cumsum([np.size(array) for array in arrays])[:-1]
        totals = self.communicator.sum(np.concatenate([np.ravel(array) for array in arrays]))
        return tuple(total.astype(array.dtype).reshape(array.shape) for total, array in zip(np.split(totals, sizes), arrays))

    def kept_bytes(self, input_shape, rows, itemsize, training=True):
        """x̂, kept for backward, and the centred input it is made of."""
        return 2 * itemsize * math.prod(input_shape) * rows

    def forward(self, x, training=False):
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"BatchNorm was built for samples shaped {self.input_shape}, got {tuple(x.shape[1:])}")
        self._trained = bool(training)
        gamma, beta = self.params["gamma"], self.params["beta"]
        rows = self._rows(x)  # the channel fastest: per-channel sums are one product
        if not training:  # an affine map of each value: the running statistics
            self._scale = 1 / np.sqrt(self.buffers["running_var"] + x.dtype.type(self.epsilon))
            self._x_hat = (rows - self._per_channel(self.buffers["running_mean"])) * self._per_channel(self._scale)
            return self._batch_shaped(self._x_hat * self._per_channel(gamma) + self._per_channel(beta))
        total, count = self._sum(self._channel_sums(rows), np.array(x.size // x.shape[1], dtype=np.float64))
        count = float(count)
        if count < 2:
            raise ValueError(f"BatchNorm needs more than one value per channel to train, got a batch of {x.shape[0]} "
                             "sample(s): use minibatches of 2 or more")
        mean = (total / count).astype(x.dtype)
        centred = rows - self._per_channel(mean)
        (squares,) = self._sum(self._channel_sums(np.square(centred)))
        variance = (squares / count).astype(x.dtype)
        self._scale = 1 / np.sqrt(variance + x.dtype.type(self.epsilon))
        self._x_hat = np.multiply(centred, self._per_channel(self._scale), out=centred)
        self._count = count
        momentum = self.momentum
        for name, statistic in (("running_mean", mean), ("running_var", variance * (count / (count - 1)))):
            running = self.buffers[name]
            running *= 1 - momentum
            running += momentum * statistic.astype(running.dtype)
        y = self._x_hat * self._per_channel(gamma)
        y += self._per_channel(beta)
        return self._batch_shaped(y)

    def backward(self, grad_y, input_grad=True):
        g, x_hat = self._rows(grad_y), self._x_hat
        grad_beta, grad_gamma = self._grad("beta"), self._grad("gamma")
        grad_beta[...] = self._channel_sums(g)
        grad_gamma[...] = self._channel_sums(g * x_hat)
        if not input_grad:
            return None
        scale = self._per_channel(self.params["gamma"] * self._scale)  # γ / σ
        if not self._trained:
            return self._batch_shaped(g * scale)
        # the whole batch's sums (over the ranks under MPI); this rank's stay in grads, which the loop sums
        sum_g, sum_g_x_hat = self._sum(grad_beta.copy(), grad_gamma.copy())
        mean_g, mean_g_x_hat = (self._per_channel(total / self._count) for total in (sum_g, sum_g_x_hat))
        return self._batch_shaped(scale * (g - mean_g - x_hat * mean_g_x_hat))


class LayerNorm(Layer):
    """Layer normalisation: each sample normalised over its own last ``dims`` dimensions.

    For one sample, over its D values x_1 … x_D (its features; with ``dims=3``, a whole
    C × H × W image), and a γ and a β per value (shaped as those dimensions):

    Forward:   μ = (1/D) Σ_j x_j        σ² = (1/D) Σ_j (x_j − μ)²
               x̂ = (x − μ) / √(σ² + ε)        y = γ ⊙ x̂ + β
    Backward:  ∂L/∂β = Σ_samples g        ∂L/∂γ = Σ_samples g ⊙ x̂
               ∂L/∂x = (1/σ) (h − mean(h) − x̂ ⊙ mean(h ⊙ x̂))

    with g = ∂L/∂y, h = γ ⊙ g, σ = √(σ² + ε) and the means over the sample's D values: batch
    normalisation's derivation with the roles of samples and features swapped, γ
    inside the sums since it differs from value to value. No statistic crosses samples,
    so training and evaluation compute the same thing, and a prediction does not depend
    on the rest of its batch. γ starts at 1 and β at 0; no L2 penalty applies to γ.
    PyTorch's ``LayerNorm(normalized_shape)`` with ``normalized_shape`` the last ``dims``
    dimensions of a sample.

    Parameters
    ----------
    dims : int, default 1
        How many of a sample's last dimensions are normalised together (1: a feature
        vector, or each row of an image; 3: each whole C × H × W image).
    epsilon : float, default 1e-5
        Added to the variance before its square root (PyTorch's ``eps``).
    """

    cache = ("_x_hat", "_scale")

    def __init__(self, dims=1, epsilon=1e-5):
        super().__init__()
        check_parameter("dims", dims, [Interval(Integral, 1, 3, closed="both")], "LayerNorm")
        check_parameter("epsilon", epsilon, [Interval(Real, 0, None, closed="neither")], "LayerNorm")
        self.dims = int(dims)
        self.epsilon = float(epsilon)

    def build(self, input_shape, rng, dtype):
        if len(input_shape) < self.dims:
            raise ValueError(f"LayerNorm(dims={self.dims}) normalises the last {self.dims} dimensions of a sample, "
                             f"but samples are shaped {tuple(input_shape)}; give dims={len(input_shape)} at most")
        super().build(input_shape, rng, dtype)
        normalized = self.input_shape[len(self.input_shape) - self.dims:]
        self.params["gamma"] = np.ones(normalized, dtype=dtype)
        self.params["beta"] = np.zeros(normalized, dtype=dtype)

    def get_config(self):
        return {"dims": self.dims, "epsilon": self.epsilon}

    def forward(self, x, training=False):
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"LayerNorm was built for samples shaped {self.input_shape}, got {tuple(x.shape[1:])}")
        gamma = self.params["gamma"]
        rows = np.ascontiguousarray(x).reshape(-1, gamma.size)  # one row of D values each: row by row, alone
        mean = rows.mean(axis=1, keepdims=True)
        centred = rows - mean
        self._scale = 1 / np.sqrt(np.square(centred).mean(axis=1, keepdims=True) + x.dtype.type(self.epsilon))
        self._x_hat = centred * self._scale
        return (self._x_hat * gamma.reshape(-1) + self.params["beta"].reshape(-1)).reshape(x.shape)

    def backward(self, grad_y, input_grad=True):
        gamma, x_hat = self.params["gamma"], self._x_hat
        g = np.ascontiguousarray(grad_y).reshape(x_hat.shape)
        self._grad("beta")[...] = g.sum(axis=0).reshape(gamma.shape)
        self._grad("gamma")[...] = (g * x_hat).sum(axis=0).reshape(gamma.shape)
        if not input_grad:
            return None
        h = g * gamma.reshape(-1)
        grad_x = self._scale * (h - h.mean(axis=1, keepdims=True) - x_hat * (h * x_hat).mean(axis=1, keepdims=True))
        return grad_x.reshape(grad_y.shape)
