"""Data augmentation: a different version of each training photo in every epoch.

A convolutional network with tens of thousands of weights, trained on a few thousand
photos, soon learns the photos themselves: training accuracy climbs towards 100 % while
the accuracy on photos it has not seen stops rising — it overfits. More photos would
help, and small changes that do not change what a photo shows make them: a cat shifted
by a few pixels, seen in a mirror, or in a slightly brighter room is still a cat. So in
every epoch the network is shown each training photo changed at random — cropped at
another place, flipped or not, brighter or darker — and never quite the same image
twice; to fit the training set it must learn what the changes leave alone.

Only training batches are changed; the validation and test images, and every
prediction, are the photos as they are.

The changes of a photo depend on the seed, the epoch and the photo's row in the data
set alone: not on the batch it lands in, its place in the batch, or the process that
trains on it. A run resumed from a checkpoint, or trained over several MPI processes
(each augmenting its share of a batch), sees exactly the images of a single
uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from numbers import Integral, Real

import numpy as np

from .validation import Interval, validate_params

# The changes by name, as --augment and CNNClassifier(augment=...) take them, each on at
# its default strength when named alone
OPERATIONS = {"crop": 4, "flip": True, "color": 0.1}

# The random numbers one image needs in one epoch: crop offsets (rows, columns), flip,
# brightness and contrast
_DRAWS = 5
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's step: 2⁶⁴ / φ, odd


def _mixed(z):
    """SplitMix64's output function on uint64 values: each bit of the result depends on
    every bit of z (arithmetic wraps modulo 2⁶⁴)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class Augmentation:
    """Random changes of training images (n, channels, height, width), new in every epoch.

    Parameters
    ----------
    crop : int, default 4
        Pad each image with ``crop`` pixels of zeros on every side, then cut out a window
        of the original size at a random place: the photo shifted by up to ``crop`` pixels
        in each direction (0: no crop).
    flip : bool, default True
        Mirror each image left to right with probability ½.
    color : float, default 0.1
        Change brightness and contrast by at most this much: x ← (x − m)·c + m + b, with
        m the image's mean, c drawn from [1 − color, 1 + color] and b from
        [−color, color] times the width of ``value_range`` (1 for images in [0, 1]),
        then clipped to ``value_range`` (0: no change).
    seed : int, optional
        The seed of the changes. None leaves it to the training loop, which gives the
        run's own seed (:meth:`with_seed`), so that a seeded run is augmented alike each
        time it is run.
    value_range : (float, float) or None, default (0.0, 1.0)
        The range pixel values are clipped to after the colour change (the range of
        images scaled to [0, 1]); None: not clipped. ``CNNClassifier`` gives images
        outside [0, 1] (raw 0–255 pixels, standardised ones) the range of its training
        images instead.

    Calling it, ``augmentation(x, indices, epoch)``, gives an augmented copy of the batch
    ``x`` (its dtype kept), whose rows are the samples ``indices`` of the data set.

    Examples
    --------
    >>> augmentation = Augmentation.parse("crop,flip,color").with_seed(0)
    >>> augmentation.describe()
    'random crop after 4-pixel padding, horizontal flip, brightness and contrast ±0.1'
    >>> images = np.random.default_rng(0).random((8, 3, 32, 32), dtype=np.float32)
    >>> augmented = augmentation(images, np.arange(8), epoch=0)
    >>> augmented.shape, augmented.dtype
    ((8, 3, 32, 32), dtype('float32'))
    >>> np.array_equal(augmented[5:], augmentation(images[5:], np.arange(5, 8), epoch=0))
    True
    """

    crop: int = 4
    flip: bool = True
    color: float = 0.1
    seed: int | None = None
    value_range: tuple | None = (0.0, 1.0)

    def __post_init__(self):
        validate_params({"crop": [Interval(Integral, 0, None, closed="left")], "flip": ["boolean"],
                         "color": [Interval(Real, 0, 1, closed="left")],
                         "seed": [Interval(Integral, 0, None, closed="left"), None],
                         "value_range": [tuple, list, None]},
                        {"crop": self.crop, "flip": self.flip, "color": self.color, "seed": self.seed,
                         "value_range": self.value_range}, "Augmentation")
        if self.value_range is not None:
            low, high = self.value_range
            if not (isinstance(low, Real) and isinstance(high, Real) and low < high):
                raise ValueError(f"value_range must be (low, high) with low < high, got {self.value_range}")
            object.__setattr__(self, "value_range", (float(low), float(high)))
        object.__setattr__(self, "crop", int(self.crop))
        object.__setattr__(self, "flip", bool(self.flip))
        object.__setattr__(self, "color", float(self.color))
        object.__setattr__(self, "seed", None if self.seed is None else int(self.seed))

    # --- making one ----------------------------------------------------------------
    @classmethod
    def parse(cls, names, seed=None):
        """The changes named, each at its default strength, the others off:
        ``"crop,flip,color"``, ``["crop", "flip"]``; a name may set its strength,
        ``"crop=8,color=0.2"``. ValueError, in one line, for a name not known."""
        if isinstance(names, str):
            names = [name for name in names.split(",") if name.strip()]
        settings = dict.fromkeys(OPERATIONS, 0)
        settings["flip"] = False
        if not names:
            raise ValueError(f"no augmentation named; choose among {', '.join(OPERATIONS)} (e.g. crop,flip,color)")
        for entry in names:
            if not isinstance(entry, str):
                raise ValueError(f"augmentations are named by strings ({', '.join(OPERATIONS)}), got {entry!r}")
            name, _, value = (part.strip() for part in entry.partition("="))
            if name not in OPERATIONS:
                raise ValueError(f"unknown augmentation {name!r}; choose among {', '.join(OPERATIONS)}")
            settings[name] = OPERATIONS[name] if not value else _strength(name, value)
        return cls(**settings, seed=seed)

    def with_seed(self, seed):
        """A copy seeded with ``seed`` (the training loop gives an unseeded one the run's)."""
        return replace(self, seed=None if seed is None else int(seed))

    def get_config(self):
        """The settings as JSON holds them (what model files and checkpoints record)."""
        return {"crop": self.crop, "flip": self.flip, "color": self.color, "seed": self.seed,
                "value_range": None if self.value_range is None else list(self.value_range)}

    def describe(self):
        """In words, for the report: "random crop after 4-pixel padding, horizontal flip,
        brightness and contrast ±0.1"."""
        parts = ([f"random crop after {self.crop}-pixel padding"] if self.crop else []) + \
                (["horizontal flip"] if self.flip else []) + \
                ([f"brightness and contrast ±{self.color:g}"] if self.color else [])
        return ", ".join(parts) or "none"

    # --- applying it -------------------------------------------------------------------
    def __call__(self, x, indices, epoch):
        """An augmented copy of the images ``x`` (n, channels, height, width), whose rows are
        the samples ``indices`` (n ints) of the data set, for epoch ``epoch``."""
        x = np.asarray(x)
        indices = np.asarray(indices)
        if x.ndim != 4:
            raise ValueError(f"augmentation changes images (n, channels, height, width); got an array of shape "
                             f"{x.shape}")
        if indices.shape != (len(x),) or (len(indices) and indices.dtype.kind not in "iu"):
            raise ValueError(f"give the {len(x)} images' row numbers in the data set, got indices of shape "
                             f"{indices.shape} and dtype {indices.dtype}")
        if self.seed is None:
            raise ValueError("this Augmentation has no seed: give it one with with_seed(seed)")
        draws = self.uniforms(indices, epoch)
        images = self._shifted_and_mirrored(x, draws)
        return self._recoloured(images, draws) if self.color else images

    def uniforms(self, indices, epoch):
        """The random numbers of samples ``indices`` in ``epoch``: (n, 5) floats in [0, 1),
        one row a sample. Row i is drawn from (seed, epoch, i) alone: the (5i + k)-th
        number of a SplitMix64 stream whose start is hashed from (seed, epoch) by NumPy's
        SeedSequence, read at its place without the numbers before it."""
        start = np.random.SeedSequence([self.seed, int(epoch)]).generate_state(1, np.uint64)[0]
        counters = np.asarray(indices, dtype=np.uint64)[:, None] * np.uint64(_DRAWS) + \
            np.arange(1, _DRAWS + 1, dtype=np.uint64)
        bits = _mixed(start + counters * _GOLDEN)
        return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def _shifted_and_mirrored(self, x, draws):
        """Each image cut out of its zero-padded copy at a random place and mirrored at
        random, in one gather: output column j of a mirrored image is the window's
        column w − 1 − j."""
        n, channels, height, width = x.shape
        pad = self.crop
        padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
        top = (draws[:, 0] * (2 * pad + 1)).astype(np.intp)  # 0 … 2·pad: a shift of −pad … +pad
        left = (draws[:, 1] * (2 * pad + 1)).astype(np.intp)
        mirrored = draws[:, 2] < 0.5 if self.flip else np.zeros(n, dtype=bool)
        columns = np.arange(width)
        rows = top[:, None] + np.arange(height)
        columns = left[:, None] + np.where(mirrored[:, None], width - 1 - columns, columns)
        return padded[np.arange(n)[:, None, None, None], np.arange(channels)[None, :, None, None],
                      rows[:, None, :, None], columns[:, None, None, :]]

    def _recoloured(self, images, draws):
        """x ← (x − m)·c + m + b per image (m its mean), clipped to ``value_range``."""
        n, dtype = len(images), images.dtype
        shape = (n, 1, 1, 1)
        width = 1.0 if self.value_range is None else self.value_range[1] - self.value_range[0]
        brightness = ((2 * draws[:, 3] - 1) * self.color * width).astype(dtype).reshape(shape)
        contrast = (1 + (2 * draws[:, 4] - 1) * self.color).astype(dtype).reshape(shape)
        mean = images.reshape(n, -1).mean(axis=1, dtype=dtype).reshape(shape)
        images -= mean
        images *= contrast
        images += mean + brightness
        if self.value_range is not None:
            np.clip(images, *self.value_range, out=images)
        return images


def _strength(name, value):
    """A strength given as "crop=8" or "color=0.2" (flip takes none)."""
    try:
        return {"crop": int, "color": float}[name](value)
    except (KeyError, ValueError):
        raise ValueError(f"{name}={value} is not a strength: give crop=PIXELS, color=AMOUNT or flip alone") from None


def as_augmentation(augment):
    """CNNClassifier's ``augment`` as an :class:`Augmentation`, or None (off): None, an
    Augmentation, the names of changes (``"crop,flip,color"`` or a list of them), or a
    dict of :meth:`Augmentation.get_config` (what a model file holds)."""
    if augment is None or isinstance(augment, Augmentation):
        return augment
    if isinstance(augment, dict):
        unknown = sorted(set(augment) - {"crop", "flip", "color", "seed", "value_range"})
        if unknown:
            raise ValueError(f"unknown augmentation setting {unknown[0]!r}; the settings are crop, flip, color, "
                             "seed and value_range")
        value_range = augment.get("value_range", (0.0, 1.0))
        return Augmentation(**{**augment, "value_range": None if value_range is None else tuple(value_range)})
    if isinstance(augment, (str, list, tuple)):
        return Augmentation.parse(augment)
    raise ValueError(f"augment must be None, names of changes such as 'crop,flip,color', a list of them or an "
                     f"Augmentation; got {type(augment).__name__}")
