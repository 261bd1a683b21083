"""Convolution: one small set of weights shared by every position of an image."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from ..initializers import initialize
from ..validation import Interval, check_parameter
from .base import Layer
from .geometry import check_images, in_memory_order, output_size, pad, pair, window_slices


POSITIONS_PER_BLOCK = 8192


def sum_over_positions(grad_rows, cols):
    """∂L/∂W = grad_rows · colsᵀ: for each weight, the sum over every position of every
    image of (gradient at the output) × (input it saw there).

    The rows are as long as the batch has positions (50,176 for 64 MNIST images) while
    the result is tiny (F × C·kh·kw), and BLAS computes such a product several times
    faster as a sum of products over blocks of positions than in one call. Each block is
    computed as (cols · grad_rowsᵀ)ᵀ, the faster way round.
    """
    total = cols[:, :POSITIONS_PER_BLOCK] @ grad_rows[:, :POSITIONS_PER_BLOCK].T
    for start in range(POSITIONS_PER_BLOCK, cols.shape[1], POSITIONS_PER_BLOCK):
        block = slice(start, start + POSITIONS_PER_BLOCK)
        total += cols[:, block] @ grad_rows[:, block].T
    return total.T


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every deep-learning library).

    Images are N × C × H × W. F filters of C × kh × kw weights each, bias b (F):

    Forward:   Z[n, f, r, c] = b_f + Σ_{ch, i, j} W[f, ch, i, j] · X[n, ch, r·s + i, c·s + j]

    The same kernel W[f] is applied at every position (r, c): that sharing is why a
    convolution has F·C·kh·kw + F parameters whatever the image size, where a Dense
    layer on the same image would have one weight per pixel per unit.

    Backward (chain rule; a shared weight collects the gradient of every position):
               ∂L/∂W[f, ch, i, j] = Σ_{n, r, c} ∂L/∂Z[n, f, r, c] · X[n, ch, r·s + i, c·s + j]
               ∂L/∂b_f            = Σ_{n, r, c} ∂L/∂Z[n, f, r, c]
               ∂L/∂X[n, ch, r·s + i, c·s + j] += Σ_f ∂L/∂Z[n, f, r, c] · W[f, ch, i, j]

    Computed by im2col: every window becomes one column of a matrix, so the forward
    pass is one matrix product ``W · cols`` and the backward pass two more; im2col and
    col2im each loop over the kh × kw kernel offsets only, copying whole slices.

    Parameters
    ----------
    filters : int
        Number of output channels F (the number of kernels).
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : int or (int, int), default 0
        Zeros added on each side of the height and width.
    initializer : str or None
        As for ``Dense``; the fan-in is C·kh·kw.
    """

    regularized = ("weights",)

    def __init__(self, filters, kernel_size, stride=1, padding=0, initializer=None):
        super().__init__()
        check_parameter("filters", filters, [Interval(Integral, 1, None, closed="left")], "Conv2D")
        self.filters = int(filters)
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.padding = pair(padding, "padding")
        self.initializer = initializer

    def get_config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "stride": list(self.stride), "padding": list(self.padding),
                "initializer": self.initializer}

    def build(self, input_shape, rng, dtype):
        check_images(input_shape, "Conv2D")
        self.output_shape(input_shape)
        super().build(input_shape, rng, dtype)
        channels, (kh, kw) = self.input_shape[0], self.kernel_size
        fan_in, fan_out = channels * kh * kw, self.filters * kh * kw
        self.params["weights"] = initialize(
            self.initializer or "glorot_uniform", (self.filters, channels, kh, kw),
            fan_in, fan_out, rng, dtype,
        )
        self.params["bias"] = initialize("zeros", (self.filters,), fan_in, fan_out, rng, dtype)

    def output_shape(self, input_shape):
        check_images(input_shape, "Conv2D")
        _, height, width = input_shape
        return (self.filters,) + tuple(
            output_size(size, k, s, p, "Conv2D")
            for size, k, s, p in zip((height, width), self.kernel_size, self.stride, self.padding)
        )

    def forward(self, x, training=False):
        n, channels = x.shape[:2]
        _, ho, wo = self.output_shape(x.shape[1:])
        (kh, kw) = self.kernel_size
        xp = in_memory_order(pad(x, self.padding))  # C × H × W × N
        # cols[ch, i, j, r, c, n] = X[n, ch, r·s + i, c·s + j]: one column per position,
        # copied offset by offset (im2col); batch-last, each copy moves runs of wo·n numbers
        # (n at strides above 1) instead of single image rows
        cols = np.empty((channels, kh, kw, ho, wo, n), dtype=x.dtype)
        for i, j, (rows, columns) in window_slices(self.kernel_size, self.stride, (ho, wo)):
            cols[:, i, j] = xp[:, rows, columns]
        self._cols = cols.reshape(channels * kh * kw, ho * wo * n)
        self._padded_shape, self._out_hw = xp.shape, (ho, wo)
        z = self.params["weights"].reshape(self.filters, -1) @ self._cols  # (F, ho·wo·n): one product
        z += self.params["bias"][:, None]
        return z.reshape(self.filters, ho, wo, n).transpose(3, 0, 1, 2)

    def backward(self, grad_z, input_grad=True):
        weights = self.params["weights"]
        grad_rows = in_memory_order(grad_z).reshape(self.filters, -1)  # (F, ho·wo·n)
        self._grad("weights").reshape(self.filters, -1)[...] = sum_over_positions(grad_rows, self._cols)
        np.sum(grad_rows, axis=1, out=self._grad("bias"))
        if not input_grad:
            return None
        (ho, wo), (_, height, width, n) = self._out_hw, self._padded_shape
        grad_cols = (weights.reshape(self.filters, -1).T @ grad_rows).reshape(*weights.shape[1:], ho, wo, n)
        grad_padded = np.zeros(self._padded_shape, dtype=grad_z.dtype)  # batch-last
        for i, j, (rows, columns) in window_slices(self.kernel_size, self.stride, self._out_hw):  # col2im
            grad_padded[:, rows, columns] += grad_cols[:, i, j]
        ph, pw = self.padding
        return grad_padded[:, ph : height - ph, pw : width - pw].transpose(3, 0, 1, 2)
