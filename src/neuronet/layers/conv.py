"""Convolution: one small set of weights shared by every position of an image."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from ..initializers import check_initializer, initialize, initializer_name
from ..validation import Interval, check_parameter
from .base import Layer
from .geometry import check_images, in_memory_order, output_size, pad, pair, window_slices


POSITIONS_PER_BLOCK = 8192
# The most bytes of im2col columns made and multiplied at once: a large batch's columns
# leave the cache, so a layer cuts them into runs of output rows of at most this size
CHUNK_BYTES = 1 << 22


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
    col2im each loop over the kh × kw kernel offsets only, copying whole slices. A large
    batch's columns would leave the cache between being made and being multiplied: they
    are made, multiplied and (in backward) sent back in runs of output rows of at most
    ``CHUNK_BYTES``, each run one product per pass.

    Parameters
    ----------
    filters : int
        Number of output channels F (the number of kernels).
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : int or (int, int), default 0
        Zeros added on each side of the height and width.
    initializer : str, callable or None
        As for ``Dense``; the fan-in is C·kh·kw and the fan-out F·kh·kw.
    bias : bool, default True
        Whether the layer has the biases b (F·C·kh·kw parameters alone without them).
    """

    cache = ("_xp", "_chunks")

    regularized = ("weights",)

    bias = True  # a layer pickled before layers could go without a bias has one

    def __init__(self, filters, kernel_size, stride=1, padding=0, initializer=None, bias=True):
        super().__init__()
        check_parameter("filters", filters, [Interval(Integral, 1, None, closed="left")], "Conv2D")
        self.filters = int(filters)
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.padding = pair(padding, "padding")
        self.initializer = check_initializer(initializer, "Conv2D")
        if not isinstance(bias, (bool, np.bool_)):
            raise ValueError(f"Conv2D's bias is True or False, not {bias!r}")
        self.bias = bool(bias)

    def get_config(self):
        config = {"filters": self.filters, "kernel_size": list(self.kernel_size),
                  "stride": list(self.stride), "padding": list(self.padding),
                  "initializer": initializer_name(self.initializer)}
        return config if self.bias else {**config, "bias": False}  # files of layers with a bias stay as they were

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
        if self.bias:
            self.params["bias"] = initialize("zeros", (self.filters,), fan_in, fan_out, rng, dtype)

    def output_shape(self, input_shape):
        check_images(input_shape, "Conv2D")
        _, height, width = input_shape
        return (self.filters,) + tuple(
            output_size(size, k, s, p, "Conv2D")
            for size, k, s, p in zip((height, width), self.kernel_size, self.stride, self.padding)
        )

    def kept_bytes(self, input_shape, rows, itemsize, training=True):
        """The padded input and the im2col columns of all ``rows`` images: ``forward``
        keeps every run's columns for backward (and :meth:`forward_image_by_image` makes a
        whole batch's at once). In training, backward's gradient of the padded input and
        one run's column gradients (at most ``CHUNK_BYTES``, at least one output row's)."""
        channels, height, width = input_shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        _, ho, wo = self.output_shape(input_shape)
        padded = channels * (height + 2 * ph) * (width + 2 * pw) * rows * itemsize
        row = channels * kh * kw * wo * rows * itemsize  # the columns of one output row, for the batch
        if not training:
            return padded + row * ho
        return 2 * padded + row * ho + row * min(ho, max(1, CHUNK_BYTES // row))

    def forward(self, x, training=False):
        n, channels = x.shape[:2]
        _, ho, wo = self.output_shape(x.shape[1:])
        self._xp = in_memory_order(pad(x, self.padding))  # C × H × W × N
        weights = self.params["weights"].reshape(self.filters, -1)
        z = np.empty((self.filters, ho, wo, n), dtype=x.dtype)  # batch-last, as the product gives it
        self._chunks = []  # (output rows, their columns): what backward needs
        for rows in self._row_chunks(ho, wo, n, x.dtype.itemsize):
            cols = self._im2col(rows, wo)
            z_rows = z[:, rows].reshape(self.filters, -1)  # a view: (F, positions of these rows × n)
            np.matmul(weights, cols, out=z_rows)  # one product per chunk, while its columns are in the cache
            if self.bias:
                z_rows += self.params["bias"][:, None]
            self._chunks.append((rows, cols))
        return z.transpose(3, 0, 1, 2)

    def _row_chunks(self, ho, wo, n, itemsize):
        """The output rows in runs whose im2col columns (for the whole batch) take at most
        ``CHUNK_BYTES``, at least one row a run. In the batch-last order every run's columns,
        and its part of Z, are one contiguous stretch."""
        (kh, kw), channels = self.kernel_size, self._xp.shape[0]
        rows_per_chunk = max(1, CHUNK_BYTES // (channels * kh * kw * wo * n * itemsize))
        return [slice(start, min(start + rows_per_chunk, ho)) for start in range(0, ho, rows_per_chunk)]

    def _im2col(self, rows, wo):
        """The columns of the output rows ``rows`` (a slice), one column per position and
        image: cols[ch, i, j, r, c, n] = X[n, ch, r·s + i, c·s + j], copied offset by offset;
        batch-last, each copy moves runs of wo·n numbers (n at strides above 1)."""
        (kh, kw), sh = self.kernel_size, self.stride[0]
        channels, n = self._xp.shape[0], self._xp.shape[-1]
        above = self._xp[:, rows.start * sh :]  # the padded rows from the chunk's first window on
        cols = np.empty((channels, kh, kw, rows.stop - rows.start, wo, n), dtype=self._xp.dtype)
        for i, j, (image_rows, columns) in window_slices(self.kernel_size, self.stride, cols.shape[3:5]):
            cols[:, i, j] = above[:, image_rows, columns]
        return cols.reshape(channels * kh * kw, -1)

    def forward_image_by_image(self, x):
        """Z as ``forward`` computes it, one product per image (each of one shape), so an
        image's numbers do not depend on the other images of the batch (batch-invariant
        prediction); nothing is kept for backward."""
        n, channels, height, width = x.shape
        _, ho, wo = self.output_shape(x.shape[1:])
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        xp = np.zeros((n, channels, height + 2 * ph, width + 2 * pw), dtype=x.dtype)
        xp[:, :, ph : ph + height, pw : pw + width] = x
        # cols[n, ch, i, j, r, c] = X[n, ch, r·s + i, c·s + j]: each image's columns apart
        cols = np.empty((n, channels, kh, kw, ho, wo), dtype=x.dtype)
        for i, j, (rows, columns) in window_slices(self.kernel_size, self.stride, (ho, wo)):
            cols[:, :, i, j] = xp[:, :, rows, columns]
        z = np.matmul(self.params["weights"].reshape(self.filters, -1), cols.reshape(n, channels * kh * kw, ho * wo))
        if self.bias:
            z += self.params["bias"][:, None]
        return z.reshape(n, self.filters, ho, wo)

    def backward(self, grad_z, input_grad=True):
        weights = self.params["weights"].reshape(self.filters, -1)
        grad = in_memory_order(grad_z)  # F × ho × wo × N
        wo = grad.shape[2]
        if self.bias:
            np.sum(grad.reshape(self.filters, -1), axis=1, out=self._grad("bias"))
        grad_weights = self._grad("weights").reshape(self.filters, -1)
        grad_weights.fill(0)
        grad_padded = np.zeros(self._xp.shape, dtype=grad_z.dtype) if input_grad else None  # batch-last
        for rows, cols in self._chunks:
            grad_rows = grad[:, rows].reshape(self.filters, -1)
            grad_weights += sum_over_positions(grad_rows, cols)
            if input_grad:  # the chunk's column gradients go back to their pixels while in the cache
                self._col2im(weights.T @ grad_rows, rows, wo, grad_padded)
        if not input_grad:
            return None
        (ph, pw), (_, height, width, _) = self.padding, self._xp.shape
        return grad_padded[:, ph : height - ph, pw : width - pw].transpose(3, 0, 1, 2)

    def _col2im(self, grad_cols, rows, wo, grad_padded):
        """Add each column's gradient back to the pixels its window read (col2im, for the
        output rows ``rows``)."""
        (kh, kw), sh = self.kernel_size, self.stride[0]
        channels, n = grad_padded.shape[0], grad_padded.shape[-1]
        grad_cols = grad_cols.reshape(channels, kh, kw, rows.stop - rows.start, wo, n)
        above = grad_padded[:, rows.start * sh :]
        for i, j, (image_rows, columns) in window_slices(self.kernel_size, self.stride, grad_cols.shape[3:5]):
            above[:, image_rows, columns] += grad_cols[:, i, j]
