"""Convolution: one small set of weights shared by every position of an image."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..initializers import check_initializer, initialize, initializer_name
from ..validation import Interval, check_parameter
from .base import Layer
from .geometry import check_images, in_memory_order, output_size, pad, pair, window_slices


# The most bytes of im2col rows made and multiplied at once: a large batch's rows would
# leave the cache between being made and being multiplied, so a layer cuts the batch
# into runs of images whose rows take at most this size
CHUNK_BYTES = 1 << 21


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

    Computed by im2col: every window becomes one row of a matrix, so the forward pass
    is one matrix product ``cols · Wᵀ`` and the backward pass two more. The images are
    stored channels-last (N × H × W × C in memory, seen as N × C × H × W), so a window's
    kw neighbouring pixels are one run of kw·C numbers in memory, and the product gives
    Z channels-last too. A large batch's rows would leave the cache between being made
    and being multiplied: they are made and multiplied in runs of images of at most
    ``CHUNK_BYTES``, one product per run. At stride 1, ∂L/∂X is itself a convolution:
    of ∂L/∂Z, padded by k − 1 − p, with the kernels flipped and their F and C swapped
    (each input pixel collects Σ_f ∂L/∂Z · W from every window that read it), so it
    too is one im2col and one product, and no sum has to be scattered back (col2im
    does that at other strides).

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

    cache = ("_xp", "_cols", "_chunks")

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

    def _kernel_rows(self):
        """W as an F × (kh·kw·C) matrix, its columns in the order of an im2col row."""
        return self.params["weights"].transpose(0, 2, 3, 1).reshape(self.filters, -1)

    def forward(self, x, training=False):
        n = x.shape[0]
        _, ho, wo = self.output_shape(x.shape[1:])
        self._xp = in_memory_order(pad(x, self.padding))  # N × H × W × C
        weights = self._kernel_rows()
        z = np.empty((n, ho, wo, self.filters), dtype=x.dtype)  # channels-last, as the product gives it
        windows = self._im2col(self._xp, (ho, wo))
        self._chunks = []  # (images, their im2col rows): what backward needs
        for images in image_chunks(n, ho * wo * weights.shape[1] * x.dtype.itemsize):
            cols = rows_of(windows, images)
            np.matmul(cols, weights.T, out=z[images].reshape(cols.shape[0], -1))  # while its rows are in the cache
            self._chunks.append((images, cols))
        if self.bias:
            z += self.params["bias"]
        return z.transpose(0, 3, 1, 2)

    def _im2col(self, xp, out_hw, stride=None):
        """The windows of the padded images ``xp`` (N × H × W × C), a view with one
        im2col row per output position: cols[n, r, c, i, j, ch] = X[n, ch, r·s + i, c·s + j],
        kh·kw·C numbers in the order of ``_kernel_rows``' columns (the images themselves
        for a 1 × 1 kernel at stride 1). ``rows_of`` copies it, run by run of images, into
        the matrix the product reads, each copy moving runs of kw·C numbers."""
        (kh, kw), (sh, sw), (ho, wo) = self.kernel_size, stride or self.stride, out_hw
        if (kh, kw, sh, sw) == (1, 1, 1, 1):
            return xp
        windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, : sh * (ho - 1) + 1 : sh, : sw * (wo - 1) + 1 : sw]
        return windows.transpose(0, 1, 2, 4, 5, 3)  # N × ho × wo × kh × kw × C

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
        grad = np.ascontiguousarray(in_memory_order(grad_z))  # N × ho × wo × F (no copy when channels-last)
        n, ho, wo, filters = grad.shape
        if self.bias:
            np.sum(grad.reshape(-1, filters), axis=0, out=self._grad("bias"))
        grad_rows = None
        for images, cols in self._chunks:  # ∂L/∂W = ∂L/∂Zᵀ · cols, summed run by run
            product = grad[images].reshape(cols.shape[0], filters).T @ cols
            grad_rows = product if grad_rows is None else np.add(grad_rows, product, out=grad_rows)
        kh, kw = self.kernel_size
        self._grad("weights")[...] = grad_rows.reshape(filters, kh, kw, -1).transpose(0, 3, 1, 2)
        if not input_grad:
            return None
        if self.stride == (1, 1) and all(p < k for p, k in zip(self.padding, self.kernel_size)):
            grad_x = self._input_gradient_by_convolution(grad)
        else:
            grad_x = self._col2im(grad)
        return grad_x.transpose(0, 3, 1, 2)

    def _input_gradient_by_convolution(self, grad):
        """∂L/∂X at stride 1 as a convolution of ∂L/∂Z (padded by k − 1 − p) with the
        kernels flipped and F and C swapped: ∂L/∂X[n, ch, y, x] = Σ_{f, i, j}
        ∂L/∂Z[n, f, y + p − i, x + p − j] · W[f, ch, i, j], read by im2col as the forward
        pass reads X."""
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        n, _, _, channels = self._xp.shape
        height, width = self.input_shape[1:]
        flipped = self.params["weights"][:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(-1, channels)  # (i, j, f) × ch
        grad_padded = in_memory_order(pad(grad.transpose(0, 3, 1, 2), (kh - 1 - ph, kw - 1 - pw)))
        windows = self._im2col(grad_padded, (height, width), stride=(1, 1))
        grad_x = np.empty((n, height, width, channels), dtype=grad.dtype)
        for images in image_chunks(n, height * width * flipped.shape[0] * grad.dtype.itemsize):
            cols = rows_of(windows, images)
            np.matmul(cols, flipped, out=grad_x[images].reshape(cols.shape[0], channels))
        return grad_x

    def _col2im(self, grad):
        """∂L/∂X at any stride: each im2col row's gradient, ∂L/∂Z · W, added back to the
        pixels its window read (col2im), one strided slice per kernel offset."""
        (ph, pw), (kh, kw) = self.padding, self.kernel_size
        n, ho, wo, filters = grad.shape
        grad_cols = (grad.reshape(-1, filters) @ self._kernel_rows()).reshape(n, ho, wo, kh, kw, -1)
        grad_padded = np.zeros(self._xp.shape, dtype=grad.dtype)
        for i, j, (image_rows, columns) in window_slices(self.kernel_size, self.stride, (ho, wo)):
            grad_padded[:, image_rows, columns] += grad_cols[:, :, :, i, j]
        height, width = grad_padded.shape[1:3]
        return grad_padded[:, ph : height - ph, pw : width - pw]


def image_chunks(n, bytes_per_image):
    """The batch of ``n`` images in runs whose im2col rows take at most ``CHUNK_BYTES``
    (at least one image a run)."""
    per_chunk = max(1, CHUNK_BYTES // bytes_per_image)
    return [slice(start, min(start + per_chunk, n)) for start in range(0, n, per_chunk)]


def rows_of(windows, images):
    """The im2col rows of the images ``images`` (a slice of the windows' view) as a
    matrix of one row per output position: a copy, or the pixels themselves."""
    part = windows[images]
    if part.ndim == 4:  # a 1 × 1 kernel at stride 1: each pixel's channels
        return part.reshape(-1, part.shape[-1])
    rows = np.empty(part.shape, dtype=part.dtype)
    np.copyto(rows, part)
    return rows.reshape(-1, int(np.prod(part.shape[3:])))
