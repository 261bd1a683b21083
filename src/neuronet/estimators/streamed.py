"""Fitting an estimator on a dataset object (:mod:`neuronet.data`) rather than on arrays.

``fit(dataset)`` reads the dataset twice over before the first step, a chunk at a time:
once here, to check every value is finite and to learn each input's range (what
``validate_data`` and the saved input range learn from arrays), and then a minibatch
at a time while training. Nothing but one chunk and the targets is held in memory.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import check_classification_targets

from ..data import CHUNK_ROWS, check_dataset, chunks, read
from ..validation import first_few


class Scanned:
    """What a pass over a dataset learned: one sample as read (``first``, shape
    (1, *sample shape)), the targets, and each input value's range (2, n_features)."""

    def __init__(self, first, targets, input_range):
        self.first, self.targets, self.input_range = first, targets, input_range


def training_dtype(dataset, dtype):
    """``dtype`` when given; else the dataset's own float dtype (float64 for other values)."""
    if dtype is not None:
        return np.dtype(dtype)
    kind = np.asarray(dataset[np.arange(1)][0]).dtype
    return kind if kind in (np.float32, np.float64) else np.dtype(np.float64)


def scan(estimator, dataset, dtype, classifier=True):
    """Check ``dataset`` for ``estimator.fit`` a chunk at a time and return what it
    learned (:class:`Scanned`); its samples' values must be finite, its targets labels
    (for a classifier) of at least one sample each. Sets ``n_features_in_``."""
    targets = check_dataset(dataset)
    if classifier:
        check_classification_targets(targets)
    low = high = first = None
    for chunk in chunks(len(dataset)):
        x = read(dataset, np.arange(chunk.start, chunk.stop), dtype)[0]
        flat = x.reshape(len(x), -1)
        finite = np.isfinite(flat).all(axis=1)
        if not finite.all():
            rows = np.flatnonzero(~finite) + chunk.start
            raise ValueError(f"samples {first_few(rows)} of the dataset hold NaN or infinity: {type(estimator).__name__}"
                             " needs finite values (fix or drop those samples)")
        if first is None:
            first, low, high = x[:1], flat.min(axis=0), flat.max(axis=0)
        else:
            low, high = np.minimum(low, flat.min(axis=0)), np.maximum(high, flat.max(axis=0))
    estimator.n_features_in_ = int(first[0].size)
    estimator.__dict__.pop("feature_names_in_", None)
    return Scanned(first, targets, np.vstack([low, high]).astype(np.float64))


def spread_rows(n_samples, rows=CHUNK_ROWS):
    """At most ``rows`` sample numbers spread evenly over ``n_samples``: the samples a
    fitted network is diagnosed on when the data is a dataset."""
    return np.unique(np.linspace(0, n_samples - 1, min(n_samples, rows)).astype(np.intp))


def outputs_in_chunks(forward, dataset):
    """``forward`` of each chunk of ``dataset``'s samples, concatenated."""
    return np.concatenate([forward(dataset[np.arange(chunk.start, chunk.stop)][0]) for chunk in chunks(len(dataset))])
