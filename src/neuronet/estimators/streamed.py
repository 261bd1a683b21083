"""Fitting an estimator on a dataset object (:mod:`neuronet.data`) rather than on arrays.

``fit(dataset)`` reads the dataset twice over before the first step, a chunk at a time:
once here, to check every value is finite and to learn each input's range (what
``validate_data`` and the saved input range learn from arrays), and then a minibatch
at a time while training. Nothing but one chunk and the targets is held in memory.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import check_classification_targets

from ..data import check_dataset, chunks, is_dataset, read
from ..validation import first_few


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


def scan(estimator, dataset, dtype, classifier=True):
    """Check ``dataset`` for ``estimator.fit`` a chunk at a time and return what it
    learned (:class:`Scanned`); its samples' values must be finite, its targets labels
    (for a classifier). Sets ``n_features_in_``, as arrays would."""
    targets = check_dataset(dataset)
    if classifier:
        check_classification_targets(targets)
    low = high = first = None
    not_finite = []
    for chunk in chunks(len(dataset)):
        x = read(dataset, np.arange(chunk.start, chunk.stop), dtype)[0]
        flat = x.reshape(len(x), -1)
        not_finite.extend(np.flatnonzero(~np.isfinite(flat).all(axis=1)) + chunk.start)
        if not_finite:
            continue  # on to the other samples to name
        if first is None:
            first, low, high = x[:1], flat.min(axis=0), flat.max(axis=0)
        else:
            low, high = np.minimum(low, flat.min(axis=0)), np.maximum(high, flat.max(axis=0))
    if not_finite:
        raise ValueError(f"sample{'s' * (len(not_finite) > 1)} {first_few(not_finite)} of the dataset hold"
                         f"{'s' * (len(not_finite) == 1)} NaN or infinity: {type(estimator).__name__} needs finite "
                         "values (fix or drop those samples)")
    estimator.n_features_in_ = int(first.shape[1])  # as validate_data counts: the second axis
    estimator.__dict__.pop("feature_names_in_", None)
    return Scanned(first, targets, np.vstack([low, high]).astype(np.float64))


def outputs_in_chunks(forward, dataset):
    """``forward`` of each chunk of ``dataset``'s samples, concatenated."""
    return np.concatenate([forward(dataset[np.arange(chunk.start, chunk.stop)][0]) for chunk in chunks(len(dataset))])
