"""The studio's datasets: what the page may choose, and each one made, split and scaled
the way ``neuronet train`` does it.

The page names a dataset by its key, never by a path: the built-in ones, and the image
folders or CSV tables given on the command line (``neuronet studio --data PATH``). The
2-D teaching sets are generated from a recipe (samples, noise, seed); the recipe, the
split and the preprocessing go into the model file, so that the command line can make
the same data again.
"""

from __future__ import annotations

import inspect
import math
import os
import threading
from dataclasses import dataclass

import numpy as np

from .. import datasets
from ..preprocessing import default_preprocessing

PLANE = ("moons", "circles", "xor", "spiral", "blobs")  # the 2-D sets: points on a plane
BUILT_IN = {"breast-cancer": "table", "digits": "images", "mnist-5k": "images"}
REINFORCEMENT = {"cartpole": "CartPole-v1"}  # no data: an environment, learned from rewards (studio.cartpole)


@dataclass(frozen=True)
class Recipe:
    """What makes a run's data: the dataset's key, the 2-D sets' generator options
    (None for the others), the seed of the generator and of the split, and the test fraction."""

    dataset: str
    samples: int | None
    noise: float | None
    seed: int
    test_fraction: float


@dataclass
class Prepared:
    """A run's data, ready for the network: the network's inputs (standardized tables
    and points, images as they are), the labels as class indices, the raw 2-D points for
    drawing, the fitted scaler (or None) and what the model file records of the data."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    raw_train: np.ndarray
    raw_test: np.ndarray
    scaler: object
    class_names: list
    kind: str
    name: str
    description: str
    image_shape: tuple | None
    extra: dict

    @property
    def n_classes(self):
        return len(self.class_names)

    @property
    def sample_shape(self):
        return self.X_train.shape[1:]


def generator_defaults(name):
    """The 2-D set's own defaults for n_samples and noise, as its maker declares them."""
    parameters = inspect.signature(datasets.BUILTIN[name]).parameters
    return {"samples": parameters["n_samples"].default, "noise": parameters["noise"].default}


class Catalog:
    """Every dataset the page can choose, by key, with a cache of the loaded ones.

    Parameters
    ----------
    paths : list of str
        Image folders and CSV tables from the command line; each becomes a key of its
        own (the folder's or file's name).
    image_size : int
        Folder images are resized to image_size × image_size.
    grayscale : bool
        Read folder images as one grey channel.
    """

    def __init__(self, paths=(), image_size=32, grayscale=False):
        self.image_size, self.grayscale = image_size, grayscale
        self.kinds = {name: "plane" for name in PLANE} | dict(BUILT_IN) | {name: "rl" for name in REINFORCEMENT}
        self.paths = {}
        for path in paths:
            key = os.path.basename(os.path.normpath(path)) or path
            while key in self.kinds:
                key += "'"
            self.kinds[key] = "images" if os.path.isdir(path) else "table"
            self.paths[key] = os.path.abspath(path)
        self._loaded, self._lock = {}, threading.Lock()

    def describe(self):
        """The datasets as the page lists them: key, kind and, for the 2-D sets, their defaults."""
        return [{"key": key, "kind": kind, "from_command_line": key in self.paths,
                 **(generator_defaults(key) if kind == "plane" else {})} for key, kind in self.kinds.items()]

    def _load(self, recipe):
        if recipe.dataset in PLANE:
            return datasets.load(recipe.dataset, n_samples=recipe.samples, noise=recipe.noise,
                                 random_state=recipe.seed)
        with self._lock:  # loading MNIST or a folder takes a while: once per server
            if recipe.dataset not in self._loaded:
                source = self.paths.get(recipe.dataset, recipe.dataset)
                self._loaded[recipe.dataset] = datasets.load(source, image_size=self.image_size,
                                                             grayscale=self.grayscale)
            return self._loaded[recipe.dataset]

    def sizes(self, recipe):
        """(samples, training samples, one sample's shape, classes) of ``recipe``'s data,
        split as :meth:`prepare` splits it (the test set: test_fraction of the samples,
        rounded up); loads the data once, as :meth:`prepare` would."""
        dataset = self._load(recipe)
        n = len(dataset.y)
        return n, n - math.ceil(recipe.test_fraction * n), dataset.X.shape[1:], len(dataset.class_names)

    def prepare(self, recipe):
        """The data of ``recipe``: made, split (stratified, seeded) and scaled as train does."""
        dataset = self._load(recipe)
        X_train, X_test, y_train, y_test = dataset.split(recipe.test_fraction, recipe.seed)
        X_train, X_test = np.asarray(X_train), np.asarray(X_test)  # photos read from the cache, into memory
        kind = self.kinds[recipe.dataset]
        scaler = default_preprocessing(images=dataset.image_shape is not None)
        inputs_train, inputs_test = (X_train, X_test) if scaler is None else (
            scaler.fit_transform(X_train), scaler.transform(X_test))
        return Prepared(inputs_train, inputs_test, y_train, y_test, X_train, X_test, scaler,
                        [str(name) for name in dataset.class_names], kind, dataset.name, dataset.description,
                        dataset.image_shape, self.model_file_recipe(recipe, dataset))

    def model_file_recipe(self, recipe, dataset):
        """What a model file records of its data, as ``neuronet train`` writes it, and for the
        2-D sets the generator's options (``dataset_options``) that make the same points again."""
        source = self.paths.get(recipe.dataset, recipe.dataset)
        images = dataset.image_shape is not None
        extra = {"dataset": dataset.name, "data": source, "class_names": [str(c) for c in dataset.class_names],
                 "seed": recipe.seed, "test_size": recipe.test_fraction,
                 "image_size": self.image_size if recipe.dataset in self.paths and images else None,
                 "grayscale": self.grayscale if recipe.dataset in self.paths and images else False,
                 "image_shape": list(dataset.image_shape) if images else None,
                 "label_column": None}  # a table's labels: its last column
        if recipe.dataset in PLANE:
            extra["dataset_options"] = {"n_samples": recipe.samples, "noise": recipe.noise,
                                        "random_state": recipe.seed}
        return extra
