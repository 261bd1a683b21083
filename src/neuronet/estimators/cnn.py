"""A convolutional classifier with the MLP's scikit-learn interface."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..augment import Augmentation, as_augmentation
from ..data import is_lazy
from ..layers import BatchNorm, Conv2D, Flatten, GlobalAveragePooling2D, MaxPool2D, Residual
from ..validation import Sizes
from .base import ACTIVATIONS, POSITIVE_INT, by_chunks, validated
from .mlp import MLPClassifier


def convolution_blocks(conv_filters, kernel_size, pool_size, activation, image_shape, batch_norm=False,
                       residual=False):
    """One block per entry of ``conv_filters`` (its number of filters), for images of
    ``image_shape`` (C, H, W): "same"-padded convolutions, each block halving the image
    (a pooling window is clipped to a smaller image).

    ======================  ======================================================
    options                 one block
    ======================  ======================================================
    (none)                  Conv2D → MaxPool2D → activation
    batch_norm              Conv2D(bias=False) → BatchNorm → MaxPool2D → activation
    residual                Residual([Conv2D → activation → Conv2D]) → MaxPool2D → activation
    batch_norm, residual    Residual([Conv2D(bias=False) → BatchNorm → activation →
                            Conv2D(bias=False) → BatchNorm]) → MaxPool2D → activation
    ======================  ======================================================

    The pooling comes before the activation. Every activation offered is non-decreasing,
    so the largest of the activated values is the activation of the largest value: the
    outputs and gradients are those of activation → pooling, and the activation works on
    a quarter of the values. A BatchNorm normalises the convolution's outputs at full
    resolution, before the pooling (the usual Conv → BN → activation → pooling): its
    statistics are those of every value the convolution gives. A convolution followed by
    a BatchNorm has no bias: the batch's mean takes it away, and β is the shift.

    A residual block adds its input to what its two convolutions give, y = x + F(x); where
    its input has C channels and F(x) another number f, the shortcut is a 1 × 1
    convolution without a bias, y = P·x + F(x) (C·f weights, :class:`~neuronet.nn.Residual`'s
    projection). The convolutions keep the image's size so that the two can be added; the
    pooling comes after the addition.
    """
    _, height, width = image_shape
    layers = []
    for filters in conv_filters:
        pool = (min(pool_size, height), min(pool_size, width))

        def convolution():
            return [Conv2D(filters, kernel_size, padding=kernel_size // 2, bias=not batch_norm),
                    *([BatchNorm()] if batch_norm else [])]

        if residual:
            body = [Residual([*convolution(), ACTIVATIONS[activation](), *convolution()])]
        else:
            body = convolution()
        layers += [*body, MaxPool2D(pool), ACTIVATIONS[activation]()]
        height, width = height // pool[0], width // pool[1]
    return layers


class CNNClassifier(MLPClassifier):
    """A convolutional network: (Conv2D → MaxPool2D → activation) per entry of
    ``conv_filters`` (see :func:`convolution_blocks`; ``batch_norm`` and ``residual``
    change the blocks), then Flatten (with ``residual``, a global average pooling),
    optional hidden Dense layers, and a sigmoid or softmax output.

    Each convolution applies one small kernel at every position of the image (weights
    shared across positions), so it has far fewer parameters than a Dense layer on
    the same image. Convolutions are "same"-padded; a pooling window is clipped to the
    image where the image is smaller than the window. The parameters not listed below
    are :class:`MLPClassifier`'s (here batch_size 32 and float32 by default).

    Parameters
    ----------
    image_shape : tuple, optional
        (channels, height, width) or (height, width) of one image, for flat X. Without
        it, X may be given as images (n, C, H, W) or (n, H, W); flat X with a square
        number of features is read as one-channel square images, any other as 1 × n rows.
    conv_filters : tuple of int, default (16, 32, 64)
        Number of filters of each convolution block; each block halves the image
        (28×28 → 14 → 7 → 3, 8×8 → 4 → 2 → 1).
    kernel_size : int, default 3
    pool_size : int, default 2
    hidden_layer_sizes : tuple of int, default ()
        Dense layers between the convolutions and the output.
    max_iter : int, default 35
        Most epochs. Training stops earlier, as the MLP's does, once the training
        loss has not improved by ``tol`` (1e-4) for more than ``n_iter_no_change``
        (10) epochs in a row, so the data set sets the length of training and
        max_iter bounds it. The step size follows the "cosine" schedule, from
        learning_rate_init (0.005) down to 0 at epoch max_iter.
    batch_norm : bool, default False
        A :class:`~neuronet.nn.BatchNorm` after each convolution, which then has no bias:
        Conv2D(bias=False) → BatchNorm → MaxPool2D → activation. In training it
        normalises each channel with the minibatch's mean and variance; ``predict`` uses
        the running averages kept while training (the network is left in evaluation
        mode), so a prediction does not depend on the other samples.
    residual : bool, default False
        Each block a :class:`~neuronet.nn.Residual` block of two convolutions, y = P·x +
        F(x), followed by the pooling and the activation (below); the last block's maps
        go to the output through a :class:`~neuronet.nn.GlobalAveragePooling2D` (each
        channel's mean), ResNet's head, instead of Flatten.
    augment : str, list, Augmentation or None, default None
        Random changes of the training images, new in every epoch (see
        :mod:`neuronet.augment`): the names of changes, ``"crop,flip,color"`` (or a list of
        them), each at its default strength, or an :class:`~neuronet.augment.Augmentation`
        to choose the strengths. None trains on the images as they are. Only training
        batches are changed, never the validation data or predictions; an Augmentation
        without a seed takes ``random_state``'s.
    steps_per_epoch : int or None, default None
        End each epoch (one of ``max_iter``) after this many minibatches, drawn from a
        new shuffle of every training image, as Keras's ``steps_per_epoch``: on a folder
        of 100,000 photos an epoch need not be a pass over all of them. None: every
        epoch is a pass over the whole training set.

    Notes
    -----
    With ``batch_norm=True, residual=True`` a block of f filters on an input of C
    channels (k × k kernels, "same"-padded; the convolutions have no bias) is::

              x
              ├────────────────────────────────┐
              ↓                                ↓
        Conv2D(f, k) → BatchNorm → act    P: a 1 × 1 Conv2D(f)
        Conv2D(f, k) → BatchNorm          (the identity if C = f)
              ↓                                ↓
              └────────────── (+) ─────────────┘
                               ↓
                       MaxPool2D → act

    with C·f·k² + 2f + f·f·k² + 2f + C·f parameters (the projection's C·f only where
    C ≠ f). The head is ResNet's: a global average pooling gives each of the last
    block's channels its mean over the image, and a Dense layer the outputs. Flatten
    would hand that layer every position of every map (64·3·3 = 576 values on MNIST, nine
    times the weights); the mean keeps what a channel found, not where, and on MNIST-5k
    it generalises better (``benchmarks/cnn_batchnorm_residual.py``). For MNIST
    (1 × 28 × 28, ten classes) and the default filters (16, 32, 64):

    =============================  ==========================================  =======
    block                          parameters                                  count
    =============================  ==========================================  =======
    1 (1 → 16, 28 × 28)            1·16·9 + 32 + 16·16·9 + 32 + 1·16            2,528
    2 (16 → 32, 14 × 14)           16·32·9 + 64 + 32·32·9 + 64 + 16·32         14,464
    3 (32 → 64, 7 × 7)             32·64·9 + 128 + 64·64·9 + 128 + 32·64       57,600
    Dense (64 channel means → 10)  64·10 + 10                                     650
    total                                                                      75,242
    =============================  ==========================================  =======

    against 29,066 for the plain network (16·9 + 16, 32·16·9 + 32, 64·32·9 + 64 and a
    Dense of 576·10 + 10 = 5,770 after Flatten). ``batch_norm`` alone gives 29,178: each
    convolution loses its f biases and its BatchNorm adds 2f (γ and β; the running mean
    and variance are buffers, not trained). ``residual`` alone gives 75,018: the
    convolutions keep their biases (16 + 16, 32 + 32, 64 + 64) and there is no BatchNorm.
    The addition needs F(x) of x's size, so the convolutions inside a block are
    "same"-padded and the pooling comes after it.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier(image_shape=(1, 8, 8), max_iter=2, random_state=0).fit(X / 16, y)
    >>> clf.network_.layers[0]
    Conv2D(filters=16, kernel_size=[3, 3], stride=[1, 1], padding=[1, 1], initializer='he_normal')
    """

    _as_scikit_learn = False  # no scikit-learn twin: He initialization and the Adam paper's algorithm

    _parameter_constraints = {
        **MLPClassifier._parameter_constraints,
        "image_shape": [tuple, list, None],
        "conv_filters": [Sizes(allow_empty=False)],
        "kernel_size": [POSITIVE_INT],
        "pool_size": [POSITIVE_INT],
        "batch_norm": ["boolean"],
        "residual": ["boolean"],
        "augment": [str, list, tuple, dict, Augmentation, None],
        "steps_per_epoch": [POSITIVE_INT, None],
    }

    def __init__(self, image_shape=None, conv_filters=(16, 32, 64), kernel_size=3, pool_size=2,
                 hidden_layer_sizes=(), activation="relu", *, batch_norm=False, residual=False, augment=None,
                 steps_per_epoch=None, solver="adam",
                 alpha=0.0001, batch_size=32, learning_rate="cosine", learning_rate_init=0.005, power_t=0.5,
                 max_iter=35, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, dtype="float32"):
        self.image_shape = image_shape
        self.conv_filters = conv_filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.batch_norm = batch_norm
        self.residual = residual
        self.augment = augment
        self.steps_per_epoch = steps_per_epoch
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
                         warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
                         early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
                         dropout=dropout, dtype=dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    def _check_parameters(self):
        super()._check_parameters()
        self._augmentation()  # an unknown change is refused before training starts

    def _augmentation(self):
        """The Augmentation of ``augment``, its values kept within the training images'
        range where that is not [0, 1] (raw pixels, standardised images)."""
        augmentation = as_augmentation(self.augment)
        seen = getattr(self, "_input_range", None)
        if augmentation is None or seen is None or augmentation.value_range != (0.0, 1.0):
            return augmentation
        low, high = float(seen[0].min()), float(seen[1].max())
        if 0 <= low and high <= 1:
            return augmentation
        return replace(augmentation, value_range=(low, high) if low < high else None)

    def _validated_X(self, X, y, reset, **options):
        """Images (n, C, H, W) or (n, H, W), or flat rows; no sparse input."""
        dtype = self.network_.dtype if not reset and hasattr(self, "network_") else np.dtype(self.dtype or "float64")
        return validated(self, X, y, multi_output=True, reset=reset, dtype=dtype, allow_nd=True, **options)

    def _forward(self, X, check_input=True):
        check_is_fitted(self)
        if is_lazy(X):  # an image cache: read, checked and predicted a chunk at a time
            return by_chunks(lambda chunk: self._forward(chunk, check_input), X, self.network_)
        if check_input:
            X = self._prediction_input(X)
        self._check_sample_size(X)
        return self._in_dtype_of(X, self._network_outputs(self._as_network_input(X)))

    def _as_network_input(self, X):
        return X.reshape((X.shape[0], *self.network_.input_shape))

    def _sample_shape(self, X):
        if self.image_shape is not None:
            shape = tuple(int(d) for d in self.image_shape)
            shape = (1, *shape) if len(shape) == 2 else shape
            if len(shape) != 3 or np.prod(shape) != np.prod(X.shape[1:]):
                raise ValueError(f"image_shape {self.image_shape} does not fit samples of "
                                 f"{int(np.prod(X.shape[1:]))} values; give (channels, height, width)")
            return shape
        if X.ndim == 4:
            return X.shape[1:]
        if X.ndim == 3:
            return (1, *X.shape[1:])
        side = int(round(np.sqrt(X.shape[1])))
        return (1, side, side) if side * side == X.shape[1] else (1, 1, X.shape[1])

    def _build_layers(self, n_outputs, sample_shape):
        blocks = convolution_blocks(self.conv_filters, self.kernel_size, self.pool_size, self.activation, sample_shape,
                                    batch_norm=self.batch_norm, residual=self.residual)
        head = GlobalAveragePooling2D() if self.residual else Flatten()  # ResNet's head (see Notes)
        return [*blocks, head, *super()._build_layers(n_outputs, sample_shape)]
