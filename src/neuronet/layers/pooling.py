"""Pooling: summarise each neighbourhood of an image by one number."""

from __future__ import annotations

import math

import numpy as np

from .base import Layer
from .geometry import batch_last, check_images, is_channels_last, output_size, pad, pair, window_slices


class _Pool2D(Layer):
    """Shared geometry of the poolings: a pool_size window moved by stride (default:
    the window size, so windows tile the image), per channel, with no parameters. The
    output and the input's gradient keep the layout of the input: channels-last after a
    convolution that works so, batch-last otherwise."""

    cache = ("_padded_shape", "_out_hw", "_channels_last")

    pad_value = 0.0

    def __init__(self, pool_size=2, stride=None, padding=0):
        super().__init__()
        self.pool_size = pair(pool_size, "pool_size")
        self.stride = self.pool_size if stride is None else pair(stride, "stride")
        self.padding = pair(padding, "padding")

    def get_config(self):
        return {"pool_size": list(self.pool_size), "stride": list(self.stride),
                "padding": list(self.padding)}

    def build(self, input_shape, rng, dtype):
        self.output_shape(input_shape)
        super().build(input_shape, rng, dtype)

    def output_shape(self, input_shape):
        name = type(self).__name__
        check_images(input_shape, name)
        channels, height, width = input_shape
        return (channels,) + tuple(
            output_size(size, k, s, p, name)
            for size, k, s, p in zip((height, width), self.pool_size, self.stride, self.padding)
        )

    def _windows(self, x):
        """Pad x, remember the geometry, and yield (offset index, window slice of x)."""
        self._channels_last = is_channels_last(x)
        xp = pad(x, self.padding, self.pad_value, self._channels_last)
        self._padded_shape = xp.shape
        self._out_hw = self.output_shape(x.shape[1:])[1:]
        for i, j, (rows, cols) in window_slices(self.pool_size, self.stride, self._out_hw):
            yield i * self.pool_size[1] + j, xp[:, :, rows, cols]

    def _scatter(self, grad_per_offset, dtype):
        """col2im for pooling: put each offset's gradient back where it was read
        (added up where windows overlap, written straight in where they tile)."""
        tiles = self.stride == self.pool_size
        (_, _, height, width), (ho, wo) = self._padded_shape, self._out_hw
        covered = tiles and (height, width) == (ho * self.stride[0], wo * self.stride[1])
        # windows that tile the whole image write every pixel once: nothing to clear first
        grad_padded = batch_last(*self._padded_shape, dtype, None if covered else 0.0, self._channels_last)
        for i, j, (rows, cols) in window_slices(self.pool_size, self.stride, self._out_hw):
            k = i * self.pool_size[1] + j
            if tiles:
                grad_per_offset(k, out=grad_padded[:, :, rows, cols])
            else:
                grad_padded[:, :, rows, cols] += grad_per_offset(k)
        ph, pw = self.padding
        return grad_padded[:, :, ph : grad_padded.shape[2] - ph, pw : grad_padded.shape[3] - pw]


class MaxPool2D(_Pool2D):
    """Max pooling: each window is summarised by its largest value.

    Forward:   A[n, c, r, q] = max_{i, j} X[n, c, r·s + i, q·s + j]
    Backward:  the gradient flows only to the (first) position that held the max:
               ∂L/∂X[n, c, r·s + i*, q·s + j*] += ∂L/∂A[n, c, r, q]
    Padding, if any, is −∞ so it never wins.
    """

    cache = _Pool2D.cache + ("_best_offset",)

    pad_value = -np.inf

    def kept_bytes(self, input_shape, rows, itemsize, training=True):
        """The offset of each window's largest value, kept for backward, and the test of
        each window against the best so far: a byte an output value each."""
        return 3 * math.prod(self.output_shape(input_shape)) * rows

    def forward(self, x, training=False):
        best = best_offset = None
        positions = self.pool_size[0] * self.pool_size[1]
        index = np.int8 if positions <= 127 else np.int16 if positions <= 32767 else np.int32  # fits the window
        for offset, window in self._windows(x):
            if best is None:
                best = window.copy(order="K")  # keeps the layout
                best_offset = np.zeros_like(best, dtype=index)
            else:
                better = window > best  # strictly: the first of equal values keeps the gradient
                np.maximum(best, window, out=best)
                # offsets only grow, so the maximum keeps the latest strict winner
                winners = better.view(np.int8).astype(index, copy=False)
                np.maximum(best_offset, winners * index(offset), out=best_offset)
        self._best_offset = best_offset
        return best

    def backward(self, grad_a):
        return self._scatter(lambda k, out=None: np.multiply(grad_a, self._best_offset == k, out=out),
                             grad_a.dtype)


class AvgPool2D(_Pool2D):
    """Average pooling: each window is summarised by its mean.

    Forward:   A[n, c, r, q] = (1 / kh·kw) Σ_{i, j} X[n, c, r·s + i, q·s + j]
    Backward:  ∂L/∂X[n, c, r·s + i, q·s + j] += ∂L/∂A[n, c, r, q] / (kh·kw)
    Padding counts as zeros in the mean.
    """

    def forward(self, x, training=False):
        total = None
        for _, window in self._windows(x):
            total = window.copy(order="K") if total is None else total + window
        return total / x.dtype.type(self.pool_size[0] * self.pool_size[1])

    def backward(self, grad_a):
        share = grad_a / grad_a.dtype.type(self.pool_size[0] * self.pool_size[1])
        return self._scatter(lambda k, out=None: share if out is None else np.copyto(out, share), grad_a.dtype)


class GlobalAveragePooling2D(Layer):
    """Global average pooling: each channel's whole map summarised by its mean, an
    N × C × H × W batch becoming N × C (no parameters; a classifier's head after the
    last convolution, in place of Flatten and a large Dense layer).

    Forward:   A[n, c] = (1 / H·W) Σ_{r, q} X[n, c, r, q]
    Backward:  ∂L/∂X[n, c, r, q] = ∂L/∂A[n, c] / (H·W)   (every pixel had the same share)
    """

    cache = ("_input_shape",)

    def build(self, input_shape, rng, dtype):
        self.output_shape(input_shape)
        super().build(input_shape, rng, dtype)

    def output_shape(self, input_shape):
        check_images(input_shape, "GlobalAveragePooling2D")
        return (int(input_shape[0]),)

    def forward(self, x, training=False):
        if x.ndim != 4:
            raise ValueError(f"GlobalAveragePooling2D takes image batches N × C × H × W, got shape {x.shape}")
        self._input_shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, grad_a):
        n, channels, height, width = self._input_shape
        grad_x = batch_last(n, channels, height, width, grad_a.dtype, fill=None)  # the layout convolutions make
        grad_x[...] = (grad_a / grad_a.dtype.type(height * width))[:, :, None, None]
        return grad_x
