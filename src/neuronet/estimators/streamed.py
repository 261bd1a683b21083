"""Fitting an estimator on a dataset object (:mod:`neuronet.data`) rather than on arrays.

``fit(dataset)`` reads the dataset twice over before the first step, a chunk at a time:
once here, to check every value is finite and to learn each input's range (what
``validate_data`` and the saved input range learn from arrays), and then a minibatch
at a time while training. Nothing but one chunk and the targets is held in memory.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import check_classification_targets

from ..data import CHUNK_ROWS, check_dataset, chunks, is_dataset, read
from ..validation import first_few


# The most bytes of samples the check of a dataset reads at once (fewer than CHUNK_ROWS large images)
SCAN_BYTES = 64 << 20


class Scanned:
    """What a pass over a dataset learned: one sample as read (``first``, shape
    (1, *sample shape)), the targets, and each input value's range (2, n_features)."""

    def __init__(self, first, targets, input_range):
        self.first, self.targets, self.input_range = first, targets, input_range


def refuse_dataset(X, method):
    """Refuse a dataset object where one minibatch's arrays are taken (``partial_fit``)."""
    if is_dataset(X):
        raise ValueError(f"{method} takes one minibatch's arrays X and y; give the dataset to fit, or read a "
                         "minibatch from it: X, y = dataset[indices]")


def training_dtype(dataset, dtype):
    """``dtype`` when given; else the dataset's own float dtype (float64 for other values)."""
    if dtype is not None:
        return np.dtype(dtype)
    kind = np.asarray(dataset[np.arange(1)][0]).dtype
    return kind if kind in (np.float32, np.float64) else np.dtype(np.float64)


def scan(estimator, dataset, dtype, classifier=True, world=None):
    """Check ``dataset`` for ``estimator.fit`` a chunk at a time and return what it
    learned (:class:`Scanned`); its samples' values must be finite, its targets labels
    (for a classifier). Sets ``n_features_in_``, as arrays would. Under MPI (``world``)
    each rank reads its share of the samples, and they put together what they found."""
    targets = check_dataset(dataset)
    if classifier:
        check_classification_targets(targets)
    n = len(dataset)
    part = slice(0, n) if world is None else world.share(slice(0, n), n)
    first = read(dataset, np.arange(1), dtype)[0]
    rows = int(np.clip(SCAN_BYTES // max(1, first.nbytes), 8, CHUNK_ROWS))  # large images: fewer at a time
    low, high, not_finite = _extremes(dataset, range(part.start, part.stop), dtype, rows)
    if world is not None:
        pieces = world.everyone((low, high, not_finite))
        not_finite = [row for piece in pieces for row in piece[2]]
        found = [piece for piece in pieces if piece[0] is not None]
        if found:
            low, high = np.min([piece[0] for piece in found], axis=0), np.max([piece[1] for piece in found], axis=0)
    if not_finite:
        raise ValueError(f"sample{'s' * (len(not_finite) > 1)} {first_few(not_finite)} of the dataset hold"
                         f"{'s' * (len(not_finite) == 1)} NaN or infinity: {type(estimator).__name__} needs finite "
                         "values (fix or drop those samples)")
    estimator.n_features_in_ = int(first.shape[1])  # as validate_data counts: the second axis
    estimator.__dict__.pop("feature_names_in_", None)
    return Scanned(first, targets, np.vstack([low, high]).astype(np.float64))


def _extremes(dataset, rows, dtype, at_once):
    """(smallest, largest) of each input value over the samples ``rows`` of ``dataset``,
    read a chunk at a time, and the samples among them that are not finite."""
    low = high = None
    not_finite = []
    for chunk in chunks(len(rows), at_once):
        x = read(dataset, np.asarray(rows[chunk]), dtype)[0]
        flat = x.reshape(len(x), -1)
        not_finite.extend(int(row) for row in np.flatnonzero(~np.isfinite(flat).all(axis=1)) + rows[chunk].start)
        if not_finite:
            continue  # on to the other samples to name
        low = flat.min(axis=0) if low is None else np.minimum(low, flat.min(axis=0))
        high = flat.max(axis=0) if high is None else np.maximum(high, flat.max(axis=0))
    return low, high, not_finite

