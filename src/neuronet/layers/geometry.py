"""Window geometry shared by convolution and pooling (layout N × C × H × W).

Image batches are indexed N × C × H × W everywhere. The arrays these layers create
are stored batch-last in memory (as C × H × W × N, seen through a transposed view):
a convolution's matrix product produces that order directly, and the copies between
layers (im2col, col2im, pooling windows) then move runs of W·N or N numbers at a
time instead of single image rows. A convolution between many channels works
channels-last instead (N × H × W × C in memory): a pixel's C numbers are then one run,
and its products have many rows (see ``Conv2D``); pooling keeps the layout it is given.
"""

from __future__ import annotations

import numpy as np


def pair(value, name):
    """An int or a pair of ints, as a pair of positive (or, for padding, ≥ 0) ints."""
    items = (value, value) if np.isscalar(value) else tuple(value)
    if len(items) != 2 or any(int(v) != v for v in items):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    items = tuple(int(v) for v in items)
    lowest = 0 if name == "padding" else 1
    if min(items) < lowest:
        raise ValueError(f"{name} must be >= {lowest}, got {value!r}")
    return items


def output_size(size, kernel, stride, padding, layer):
    """Positions a window of ``kernel`` takes along an axis: ⌊(size + 2p − k) / s⌋ + 1."""
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ValueError(
            f"{layer}: a window of {kernel} (padding {padding}) does not fit in an image "
            f"side of {size}; use a smaller kernel, more padding, or larger images"
        )
    return out


def check_images(input_shape, layer):
    if len(input_shape) != 3:
        raise ValueError(
            f"{layer} expects images shaped (channels, height, width), got sample shape "
            f"{tuple(input_shape)}; reshape flat pixels with image_shape=(C, H, W)"
        )


def batch_last(n, channels, height, width, dtype, fill=0.0, channels_last=False):
    """An N × C × H × W array filled with ``fill`` (left unset with None), stored
    batch-last (C × H × W × N), or channels-last (N × H × W × C) if asked."""
    shape = (n, height, width, channels) if channels_last else (channels, height, width, n)
    if fill is None:
        array = np.empty(shape, dtype=dtype)
    else:
        array = np.zeros(shape, dtype=dtype) if fill == 0 else np.full(shape, fill, dtype=dtype)
    return array.transpose(0, 3, 1, 2) if channels_last else array.transpose(3, 0, 1, 2)


def in_memory_order(x, channels_last=False):
    """The C × H × W × N view of an N × C × H × W batch (contiguous when batch-last), or
    its N × H × W × C view (contiguous when channels-last)."""
    return x.transpose(0, 2, 3, 1) if channels_last else x.transpose(1, 2, 3, 0)


def is_channels_last(x):
    """Whether the batch is stored channels-last (N × H × W × C, contiguous)."""
    return in_memory_order(x, channels_last=True).flags.c_contiguous


def pad(x, padding, value=0.0, channels_last=False):
    """x with ``value`` added around each image, stored batch-last, or channels-last if
    asked (x itself when it already is and there is no padding)."""
    ph, pw = padding
    if ph == 0 and pw == 0 and in_memory_order(x, channels_last).flags.c_contiguous:
        return x
    n, channels, height, width = x.shape
    padded = batch_last(n, channels, height + 2 * ph, width + 2 * pw, x.dtype, value, channels_last)
    padded[:, :, ph : ph + height, pw : pw + width] = x
    return padded


def window_slices(kernel, stride, out_hw):
    """For each kernel offset (i, j): the strided slices of the padded image it touches.

    Offset (i, j) of the window at output position (r, c) reads pixel
    (r·s_h + i, c·s_w + j), so one slice per offset covers every position at once.
    """
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    for i in range(kh):
        for j in range(kw):
            yield i, j, (slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw))
