"""Convolution: one small set of weights shared by every position of an image."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..initializers import check_initializer, initialize, initializer_name
from ..validation import Interval, check_parameter
from .base import Layer
from .geometry import batch_last, check_images, in_memory_order, output_size, pad, pair, window_slices


POSITIONS_PER_BLOCK = 8192
# The most bytes of im2col columns made and multiplied at once: a large batch's columns
# leave the cache, so a layer cuts them into runs of output rows of at most this size
CHUNK_BYTES = 1 << 22
# Channels-last (see Conv2D): the most bytes of im2col rows made and multiplied at once,
# in runs of whole images; and the fewest channels in and filters out for which a layer
# works so (one channel in counts as many: its im2col is then made offset by offset)
IMAGE_CHUNK_BYTES = 1 << 21
MANY_CHANNELS = 16


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

    Between many channels (``MANY_CHANNELS`` filters or more, from as many channels or
    from one) at stride 1, the layer works channels-last instead, the images stored
    N × H × W × C, and its output is channels-last too:

    - from one channel, every window is one *row* of kh·kw numbers, and Z = cols · Wᵀ,
      whose many rows BLAS multiplies faster than W · cols' few. Its ∂L/∂X is itself a
      convolution, of ∂L/∂Z padded by k − 1 − p, with each kernel flipped and F and C
      swapped,

               ∂L/∂X[n, ch, y, x] = Σ_{f, i, j} ∂L/∂Z[n, f, y + p − i, x + p − j] · W[f, ch, i, j]

      (the pixel collects the gradient of every window that read it), made by im2col and
      one product as the forward pass, with no col2im;
    - from many channels, there is no im2col at all: Z is the sum of kh·kw *shifted
      products*, one per kernel offset, each of every image's pixels with that offset's
      C × F weights (see :meth:`_forward_shifted`), and backward sends each offset's
      gradient back along the same shift.

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

    cache = ("_xp", "_chunks", "_way")

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
        one run's column gradients (at most ``CHUNK_BYTES``, at least one output row's).
        Shifted products keep only the padded input, and make a sum and a product of
        positions × channels forward, counted here. Backward makes about as much again
        (the padded input's gradient, a zero-padded ∂L/∂Z, a product), left to the
        count of a layer's input and output gradients and the other margins of
        ``Sequential.memory_estimate``, which errs high."""
        channels, height, width = input_shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        _, ho, wo = self.output_shape(input_shape)
        if self._way_for(channels) == "shifted":  # in every pass: no im2col
            run = channels * (height + 2 * ph + 1) * (width + 2 * pw) * rows * itemsize
            wide = max(channels, self.filters) * ho * (width + 2 * pw) * rows * itemsize  # a sum or a product
            return run + 2 * wide
        padded = channels * (height + 2 * ph) * (width + 2 * pw) * rows * itemsize
        row = channels * kh * kw * wo * rows * itemsize  # the columns of one output row, for the batch
        if not training:
            return padded + row * ho
        return 2 * padded + row * ho + row * min(ho, max(1, CHUNK_BYTES // row))

    def works_channels_last(self, channels):
        """Whether the layer, given images of ``channels`` channels, works channels-last."""
        many = self.filters >= MANY_CHANNELS and (channels == 1 or channels >= MANY_CHANNELS)
        return many and self.stride == (1, 1) and all(p < k for p, k in zip(self.padding, self.kernel_size))

    def _way_for(self, channels):
        """How the layer computes on images of ``channels`` channels: by "shifted" products
        (channels-last, between many channels), by channels-last im2col "rows" (from one
        channel), or by batch-last im2col "columns"."""
        if not self.works_channels_last(channels):
            return "columns"
        return "rows" if channels == 1 else "shifted"

    def forward(self, x, training=False):
        n, channels = x.shape[:2]
        _, ho, wo = self.output_shape(x.shape[1:])
        self._way = self._way_for(channels)
        if self._way == "shifted":
            return self._forward_shifted(x, ho, wo)
        if self._way == "rows":
            return self._forward_rows(x, ho, wo)
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
        prediction); nothing is kept for backward. Between many channels, each image's
        shifted products are likewise of one shape whatever the batch."""
        n, channels, height, width = x.shape
        _, ho, wo = self.output_shape(x.shape[1:])
        if self._way_for(channels) == "shifted":
            return self._shifted(padded_run(x, self.padding), ho, wo)
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
        if self._way == "shifted":
            return self._backward_shifted(grad_z, input_grad)
        if self._way == "rows":
            return self._backward_rows(grad_z, input_grad)
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

    # --- channels-last im2col rows, from one channel --------------------------------
    def _kernel_rows(self):
        """W as an F × (kh·kw·C) matrix, its columns in the order of a channels-last im2col row."""
        return self.params["weights"].transpose(0, 2, 3, 1).reshape(self.filters, -1)

    def _forward_rows(self, x, ho, wo):
        n = x.shape[0]
        self._xp = in_memory_order(pad(x, self.padding, channels_last=True), channels_last=True)  # N × H × W × C
        weights = self._kernel_rows()
        z = np.empty((n, ho, wo, self.filters), dtype=x.dtype)  # channels-last, as the product gives it
        windows = self._windows(self._xp, (ho, wo))
        self._chunks = []  # (images, their im2col rows): what backward needs
        for images in image_chunks(n, ho * wo * weights.shape[1] * x.dtype.itemsize):
            cols = rows_of(windows, images)
            np.matmul(cols, weights.T, out=z[images].reshape(cols.shape[0], -1))  # while its rows are in the cache
            self._chunks.append((images, cols))
        if self.bias:  # b along each image row of W·F numbers (a longer run than F alone)
            rows = z.reshape(n * ho, wo * self.filters)
            rows += np.tile(self.params["bias"], wo)
        return z.transpose(0, 3, 1, 2)

    def _windows(self, xp, out_hw):
        """The windows of the padded images ``xp`` (N × H × W × C) at stride 1, a view with
        one im2col row per output position: cols[n, r, c, i, j, ch] = X[n, ch, r + i, c + j],
        in the order of ``_kernel_rows``' columns (the images themselves for a 1 × 1 kernel)."""
        (kh, kw), (ho, wo) = self.kernel_size, out_hw
        if (kh, kw) == (1, 1):
            return xp[:, :ho, :wo]
        return sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, :ho, :wo].transpose(0, 1, 2, 4, 5, 3)

    def _backward_rows(self, grad_z, input_grad):
        grad = np.ascontiguousarray(in_memory_order(grad_z, channels_last=True))  # N × ho × wo × F
        filters = grad.shape[-1]
        if self.bias:  # Σ over positions: one product with ones, as BLAS sums it fastest
            np.matmul(np.ones(grad.size // filters, dtype=grad.dtype), grad.reshape(-1, filters), out=self._grad("bias"))
        grad_rows = None
        for images, cols in self._chunks:  # ∂L/∂W = ∂L/∂Zᵀ · cols, summed run by run
            product = grad[images].reshape(cols.shape[0], filters).T @ cols
            grad_rows = product if grad_rows is None else np.add(grad_rows, product, out=grad_rows)
        kh, kw = self.kernel_size
        self._grad("weights")[...] = grad_rows.reshape(filters, kh, kw, -1).transpose(0, 3, 1, 2)
        if not input_grad:
            return None
        # ∂L/∂X: ∂L/∂Z padded by k − 1 − p, convolved with the flipped kernels, F and C swapped
        (ph, pw), (n, height, width, channels) = self.padding, self._xp.shape
        flipped = self.params["weights"][:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(-1, channels)  # (i, j, f) × ch
        grad_padded = in_memory_order(pad(grad.transpose(0, 3, 1, 2), (kh - 1 - ph, kw - 1 - pw), channels_last=True),
                                      channels_last=True)
        height, width = height - 2 * ph, width - 2 * pw
        windows = self._windows(grad_padded, (height, width))
        grad_x = batch_last(n, channels, height, width, grad.dtype, fill=None, channels_last=True)
        grad_x_rows = in_memory_order(grad_x, channels_last=True)
        for images in image_chunks(n, height * width * flipped.shape[0] * grad.dtype.itemsize):
            cols = rows_of(windows, images)
            np.matmul(cols, flipped, out=grad_x_rows[images].reshape(cols.shape[0], channels))
        return grad_x

    # --- shifted products, between many channels -------------------------------------
    def _kernels(self):
        """W as kh × kw matrices of C × F: kernels[i, j] multiplies the pixels at offset (i, j)."""
        return np.ascontiguousarray(self.params["weights"].transpose(2, 3, 1, 0))

    def _forward_shifted(self, x, ho, wo):
        """Z as kh·kw products, one per kernel offset, of the images shifted by that offset.

        With the padded images stored channels-last, row after row, a pixel's C numbers
        sit at one place p = y·Wp + x of a long run per image, and the window at output
        position (r, c) reads, at offset (i, j), the pixel at p + i·Wp + j. Every
        position's offset-(i, j) pixels are therefore one contiguous stretch of the run,
        starting at i·Wp + j, and

               Z_wide[n, p] = Σ_{i, j} X_run[n, p + i·Wp + j] · W[:, :, i, j]ᵀ

        is kh·kw products of that stretch (positions × C) with the kernel's C × F matrix,
        with no im2col copy. Rows of Z_wide are Wp positions long: the last Wp − wo of each
        wrap around into the next row and are dropped.
        """
        self._xp = padded_run(x, self.padding)  # N × (Hp + 1) × Wp × C
        return self._shifted(self._xp, ho, wo)

    def _shifted(self, run, ho, wo):
        """Z (channels-last) of the padded images ``run``, by :func:`shifted_products`."""
        wide = shifted_products(run, self._kernels(), ho)  # N × ho × Wp × F
        z = np.empty((run.shape[0], ho, wo, self.filters), dtype=run.dtype)
        if self.bias:
            np.add(wide[:, :, :wo], self.params["bias"], out=z)
        else:
            np.copyto(z, wide[:, :, :wo])
        return z.transpose(0, 3, 1, 2)

    def _backward_shifted(self, grad_z, input_grad):
        """The gradients of :meth:`_forward_shifted`, offset by offset: the weights of
        offset (i, j) collect Σ_p X_run[p + i·Wp + j]ᵀ · ∂L/∂Z_wide[p], and ∂L/∂Z_wide[p] ·
        W[:, :, i, j] goes back to the pixel at p + i·Wp + j that the product read. The
        dropped wrap-around positions get a zero gradient, so they add nothing."""
        n, height_run, width, channels = self._xp.shape
        _, filters, ho, wo = grad_z.shape
        wide = np.zeros((n, ho, width, filters), dtype=grad_z.dtype)
        wide[:, :, :wo] = in_memory_order(grad_z, channels_last=True)
        wide_rows = wide.reshape(n, -1, filters)
        if self.bias:
            np.matmul(np.ones(n * ho * width, dtype=wide.dtype), wide_rows.reshape(-1, filters), out=self._grad("bias"))
        run = self._xp.reshape(n, -1, channels)
        kernels_back = np.ascontiguousarray(self._kernels().transpose(0, 1, 3, 2))  # F × C each
        grad_kernels = np.empty(kernels_back.shape[:2] + (channels, filters), dtype=grad_z.dtype)
        grad_run = np.zeros_like(run) if input_grad else None
        product = np.empty((n, ho * width, channels), dtype=grad_z.dtype) if input_grad else None
        for (i, j), stretch in offset_stretches(self.kernel_size, width, ho * width):
            grad_kernels[i, j] = np.matmul(run[:, stretch].transpose(0, 2, 1), wide_rows).sum(axis=0)
            if input_grad:
                grad_run[:, stretch] += np.matmul(wide_rows, kernels_back[i, j], out=product)
        self._grad("weights")[...] = grad_kernels.transpose(3, 2, 0, 1)
        if not input_grad:
            return None
        (ph, pw), height = self.padding, height_run - 1 - 2 * self.padding[0]
        grad_x = batch_last(n, channels, height, width - 2 * pw, grad_z.dtype, fill=None, channels_last=True)
        in_memory_order(grad_x, channels_last=True)[...] = grad_run.reshape(self._xp.shape)[:, ph : ph + height, pw : width - pw]
        return grad_x


def padded_run(x, padding):
    """The images x (N × C × H × W) padded, channels-last, with one spare row of zeros
    below: N × (H + 2p_h + 1) × (W + 2p_w) × C, so that the last offset's stretch of
    :func:`shifted_products` stays inside each image's run."""
    (ph, pw), (n, channels, height, width) = padding, x.shape
    padded = np.zeros((n, height + 2 * ph + 1, width + 2 * pw, channels), dtype=x.dtype)
    padded[:, ph : ph + height, pw : pw + width] = in_memory_order(x, channels_last=True)
    return padded


def offset_stretches(kernel_size, width, length):
    """For each kernel offset (i, j), the stretch of an image's run it reads: ``length``
    places from i·width + j."""
    kh, kw = kernel_size
    for i in range(kh):
        for j in range(kw):
            yield (i, j), slice(i * width + j, i * width + j + length)


def shifted_products(padded, kernels, ho):
    """Σ over offsets (i, j) of the stretch at i·Wp + j of each image's run times
    kernels[i, j]: N × ho × Wp × F (see ``Conv2D._forward_shifted``). Each product goes
    into one buffer and is added to the sum, so the batch is multiplied kh·kw times in
    all, with no copy of the images."""
    n, _, width, channels = padded.shape
    run = padded.reshape(n, -1, channels)
    wide = np.empty((n, ho * width, kernels.shape[-1]), dtype=padded.dtype)
    product = np.empty_like(wide)
    stretches = offset_stretches(kernels.shape[:2], width, ho * width)
    (i, j), stretch = next(stretches)
    np.matmul(run[:, stretch], kernels[i, j], out=wide)
    for (i, j), stretch in stretches:
        np.matmul(run[:, stretch], kernels[i, j], out=product)
        wide += product
    return wide.reshape(n, ho, width, -1)


def image_chunks(n, bytes_per_image):
    """The batch of ``n`` images in runs whose im2col rows take at most
    ``IMAGE_CHUNK_BYTES`` (at least one image a run)."""
    per_chunk = max(1, IMAGE_CHUNK_BYTES // bytes_per_image)
    return [slice(start, min(start + per_chunk, n)) for start in range(0, n, per_chunk)]


def rows_of(windows, images):
    """The channels-last im2col rows of the images ``images`` (a slice of the windows'
    view) as a matrix of one row per output position: a copy, or the pixels themselves
    for a 1 × 1 kernel. From one channel, a window's row of pixels is kw numbers, too
    short a run to copy at once: the copy is then made offset by offset, kh·kw rows of
    one number per position (each a run of a whole image row), and the matrix is its
    transposed view."""
    part = windows[images]
    if part.ndim == 4:  # a 1 × 1 kernel: each pixel's channels
        return part.reshape(-1, part.shape[-1])
    size = math.prod(part.shape[3:])
    if part.shape[-1] == 1:  # offset-major: kh·kw × positions, read transposed
        rows = np.empty(part.shape[3:] + part.shape[:3], dtype=part.dtype)
        np.copyto(rows, part.transpose(3, 4, 5, 0, 1, 2))
        return rows.reshape(size, -1).T
    rows = np.empty(part.shape, dtype=part.dtype)
    np.copyto(rows, part)
    return rows.reshape(-1, size)
