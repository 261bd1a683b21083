"""Data read a batch at a time: the dataset protocol that ``fit`` takes, and the chunks
that evaluation and prediction work through.

A *dataset* is anything with

* ``len(dataset)``: the number of samples;
* ``dataset[indices]`` → ``(X, y)``: the samples at an array of indices (a minibatch),
  as arrays;
* ``dataset.targets``: every sample's label (or target), an array held in memory,
  needed before training starts (for the classes, and for stratified splits).

as PyTorch's map-style ``Dataset`` is, but indexed a minibatch at a time. Arrays become
one with :class:`ArrayDataset`; :class:`Subset` takes some of a dataset's samples
without reading them; :class:`neuronet.datasets.ImageFolder` reads a folder of photos
from its cache. :class:`LazyRows` is the array-shaped counterpart: rows of a large
array-like (an image cache) that are read only when indexed.

Everything that passes over a whole dataset (scoring, prediction, the report's figures)
reads it in chunks of :data:`CHUNK_ROWS` samples, so its memory is that of one chunk,
whatever the size of the data.
"""

from __future__ import annotations

import hashlib
import operator

import numpy as np

# Samples read, scored or predicted at once by every pass over a whole dataset. A multiple
# of 8, so that float32 predictions stay bitwise batch-invariant (rows are computed in
# blocks of 8: see neuronet.threads).
CHUNK_ROWS = 1024


def is_dataset(data):
    """Whether ``data`` follows the dataset protocol (``__len__``, ``__getitem__`` of
    indices giving ``(X, y)``, ``targets``), rather than being an array of samples."""
    return not isinstance(data, np.ndarray) and hasattr(data, "targets") and hasattr(data, "__getitem__") \
        and hasattr(data, "__len__")


def is_lazy(X):
    """Whether ``X`` is an array-like read a slice of rows at a time (``.shape`` and
    ``X[rows]``, as :class:`LazyRows` or an image cache), rather than data in memory (a
    NumPy array, a scipy sparse matrix, a DataFrame): such an array-like says so with a
    ``lazy = True`` attribute."""
    return getattr(X, "lazy", False) is True and hasattr(X, "shape") and hasattr(X, "__getitem__")


def chunks(n_samples, rows=CHUNK_ROWS):
    """Slices that cover ``range(n_samples)`` in order, ``rows`` at a time."""
    return [slice(start, min(start + rows, n_samples)) for start in range(0, n_samples, rows)]


def spread_rows(n_samples, rows=CHUNK_ROWS):
    """At most ``rows`` sample numbers spread evenly over ``n_samples``, in order: the
    samples that stand for a dataset too large to look at whole (a fitted network is
    diagnosed on them; a checkpoint fingerprints them)."""
    return np.unique(np.linspace(0, n_samples - 1, min(n_samples, rows)).astype(np.intp))


def index_length(index, n_samples):
    """The number of samples at ``index`` (a slice of ``n_samples``, or sample numbers)."""
    return len(range(*index.indices(n_samples))) if isinstance(index, slice) else len(index)


def as_indices(index, n_samples):
    """An index of samples (a slice or integers) as an array of row numbers."""
    if isinstance(index, slice):
        return np.arange(*index.indices(n_samples))
    return np.asarray(index, dtype=np.intp)


class ArrayDataset:
    """Arrays ``X`` (samples first) and ``y`` as a dataset: ``dataset[indices]`` is
    ``(X[indices], y[indices])``. ``X`` may be any array-like indexed by rows, such as
    :class:`LazyRows` or a scipy sparse matrix."""

    def __init__(self, X, y):
        if X.shape[0] != len(y):
            raise ValueError(f"need as many targets as samples; got {X.shape[0]} samples and {len(y)} targets")
        self.X, self.targets = X, np.asarray(y)

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, indices):
        return self.X[indices], self.targets[indices]

    @property
    def sample_shape(self):
        return tuple(self.X.shape[1:])


class Subset:
    """The samples of ``dataset`` at ``indices``, in that order, read only when indexed."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, np.asarray(indices, dtype=np.intp)
        self.targets = np.asarray(dataset.targets)[self.indices]

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, indices):
        return self.dataset[self.indices[indices]]

    def fingerprint(self):
        return _part_of(fingerprint_of(self.dataset), self.indices)


class _ArrayLike:
    """What an array-like read a slice at a time shares: its ``shape`` gives ``ndim`` and ``len``."""

    shape: tuple
    lazy = True  # see is_lazy

    @property
    def ndim(self):
        return len(self.shape)

    def __len__(self):
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        """Every row in memory (``np.asarray(rows)``), read a chunk at a time."""
        return np.concatenate([np.asarray(self[part], dtype=dtype) for part in chunks(len(self))]
                              or [np.zeros((0, *self.shape[1:]), dtype or self.dtype)])


class LazyRows(_ArrayLike):
    """Rows ``rows`` of ``source`` (an array-like indexed by arrays of row numbers), read
    only when indexed: ``LazyRows(images, rows)[k]`` is ``images[rows[k]]``."""

    def __init__(self, source, rows):
        self.source, self.rows = source, np.asarray(rows, dtype=np.intp)
        self.shape = (len(self.rows), *source.shape[1:])
        self.dtype = source.dtype

    def __getitem__(self, index):
        return self.source[self.rows[index]]

    def fingerprint(self):
        return _part_of(fingerprint_of(self.source), self.rows)


class MappedRows(_ArrayLike):
    """The rows of an array-like ``source`` passed through ``map`` as they are read, and
    only then: ``MappedRows(images, flat, (n_values,))[a:b]`` is ``flat(images[a:b])`` (a
    folder's image cache as flat rows, or in a saved model's units). ``sample_shape`` is
    the shape of one mapped sample; read it by slices or arrays of rows."""

    def __init__(self, source, map, sample_shape, dtype=None):
        self.source, self.map = source, map
        self.shape = (source.shape[0], *sample_shape)
        self.dtype = np.dtype(dtype or source.dtype)

    def __getitem__(self, index):
        if np.ndim(index) == 0 and not isinstance(index, slice):  # one row: mapped as a row of one, then taken
            return self.map(self.source[np.array([operator.index(index)])])[0]
        return self.map(self.source[index])

    def fingerprint(self):
        return fingerprint_of(self.source)


def flat_rows(X):
    """X with one row of values a sample: an array reshaped, an array-like read a slice at
    a time (:func:`is_lazy`) as :class:`MappedRows` that flatten each read."""
    if is_lazy(X):
        return MappedRows(X, lambda rows: rows.reshape(len(rows), -1), (int(np.prod(X.shape[1:])),))
    return X.reshape(len(X), -1)


def _part_of(fingerprint, indices):
    """The fingerprint of the samples ``indices`` of data whose fingerprint is
    ``fingerprint`` (None where that is unknown: then so is the part's)."""
    if fingerprint is None:
        return None
    digest = hashlib.sha256(np.ascontiguousarray(indices, dtype=np.int64).tobytes()).hexdigest()[:16]
    return f"{fingerprint}[{digest}]"


def fingerprint_of(data):
    """A short text that changes when the data does, for a checkpoint to know its run's
    data: the object's own ``fingerprint()`` (an image folder's cache key), else None."""
    method = getattr(data, "fingerprint", None)
    return method() if callable(method) else None


def check_dataset(dataset, what="the dataset"):
    """Raise ValueError unless ``dataset`` has samples and one target per sample."""
    targets = np.asarray(dataset.targets)
    if len(dataset) == 0:
        raise ValueError(f"{what} has no samples")
    if len(targets) != len(dataset):
        raise ValueError(f"{what} has {len(dataset)} samples and {len(targets)} targets; "
                         "its targets must hold one label per sample")
    return targets


class Mapped:
    """``dataset`` with each read passed through ``x_map`` and ``y_map`` (and its targets
    through ``y_map``): labels encoded as class indices, rows reshaped or converted, as
    an estimator takes them, one minibatch at a time."""

    def __init__(self, dataset, x_map=None, y_map=None):
        self.dataset, self.x_map, self.y_map = dataset, x_map, y_map
        self.targets = np.asarray(dataset.targets) if y_map is None else y_map(np.asarray(dataset.targets))

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, indices):
        x, y = self.dataset[indices]
        return (x if self.x_map is None else self.x_map(x)), (y if self.y_map is None else self.y_map(y))

    def fingerprint(self):
        return fingerprint_of(self.dataset)


def read(dataset, indices, dtype):
    """``dataset[indices]`` with X as a dense array of ``dtype`` (a sparse matrix as it is)."""
    x, y = dataset[indices]
    if not hasattr(x, "tocsr"):
        x = np.asarray(x, dtype=dtype)
    y = np.asarray(y)
    asked = index_length(indices, len(dataset))
    if x.shape[0] != asked or len(y) != asked:
        raise ValueError(f"{type(dataset).__name__}[indices] gave {x.shape[0]} samples and {len(y)} targets for "
                         f"{asked} indices: it must give one sample and one target for each index asked")
    return x, y
