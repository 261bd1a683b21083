"""What every command shares: the user-error type, argument types, loading data and models.

A mistake on the command line (missing file, unknown dataset, bad hyperparameter,
model/data mismatch) ends with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from ..data import chunks, is_lazy
from ..datasets import BUILTIN, TABLE_SUFFIXES, is_table, label_text
from ..datasets import load as load_dataset
from ..persistence import load_described
from ..preprocessing import ImageScaler, PlaneFeatures, final_estimator, transformers_of
from ..validation import Interval, argument_type

RAW = argparse.RawDescriptionHelpFormatter


class UserError(Exception):
    """A mistake on the command line: printed as one line, exit status 2."""


# --- argument types: the library's own constraints, as argparse types -----------------
positive_int = argument_type([Interval(Integral, 1, None, closed="left")], convert=int, name="positive_int")
positive_float = argument_type([Interval(Real, 0, None, closed="neither")], name="positive_float")
non_negative_float = argument_type([Interval(Real, 0, None, closed="left")], name="non_negative_float")
fraction = argument_type([Interval(Real, 0, 1, closed="neither")], name="fraction")


def sizes(text):
    """Comma-separated layer sizes, e.g. 128,64."""
    parts = [part for part in text.split(",") if part.strip()]
    try:
        values = tuple(positive_int(part) for part in parts)
    except argparse.ArgumentTypeError:
        values = ()
    if not values:
        raise argparse.ArgumentTypeError(f"sizes are comma-separated positive integers like 128,64; got {text!r}")
    return values


def rates(text):
    """Comma-separated positive learning rates, e.g. 0.001,0.1,1."""
    try:
        values = [positive_float(part) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"learning rates are comma-separated positive numbers: {error}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"give at least one learning rate, like 0.01,0.5; got {text!r}")
    return values


# --- data and models ----------------------------------------------------------------
def load_data(name, image_size=64, grayscale=False, label_column=None, options=None):
    """A built-in dataset by name (made with ``options``, e.g. a 2-D set's noise), a CSV
    table, or a folder of images."""
    table = is_table(name)
    if label_column is not None and not table:
        raise UserError("--label-column applies to a CSV table; built-in datasets and image folders carry their labels")
    if name.lower() not in BUILTIN and not os.path.exists(name):
        if os.sep in name or name.startswith((".", "~")) or name.lower().endswith(TABLE_SUFFIXES):
            raise UserError(f"no such file or folder: {name!r}")
        raise UserError(f"unknown dataset {name!r}: use one of {', '.join(BUILTIN)}, a .csv table or a folder of images")
    if os.path.isfile(name) and not table:
        raise UserError(f"{name!r} is a file; give a dataset name, a .csv table or a folder of images")
    return load_dataset(name, image_size=image_size, grayscale=grayscale, label_column=label_column,
                        **(options or {}))


@dataclass
class SavedModel:
    """A model file as the commands use it: the model, what ``train`` recorded
    (``extra``) and the input the model expects (``expected``: shape, n_features,
    and the range of raw values seen in training)."""

    path: str
    model: object
    extra: dict
    expected: dict
    said: set = field(default_factory=set, repr=False)  # notes and warnings already printed: once each

    @property
    def estimator(self):
        return final_estimator(self.model)

    @property
    def image_shape(self):
        """(channels, height, width) of the images the model reads, or None for a table model."""
        shape = self.extra.get("image_shape") or self.expected.get("shape") or ()
        return tuple(shape) if len(shape) == 3 else None

    @property
    def sample_shape(self):
        """One sample as the model was given it in training: flat features, or an image."""
        flat = getattr(self.estimator, "n_features_in_", self.n_features) == self.n_features
        return (self.n_features,) if flat or self.image_shape is None else self.image_shape

    @property
    def n_features(self):
        """The values of one raw sample (the network's inputs, unless a step makes features of them)."""
        steps = transformers_of(self.model)
        if any(isinstance(step, PlaneFeatures) for step in steps):
            return int(steps[0].n_features_in_)
        return int(self.expected.get("n_features") or self.estimator.n_features_in_)

    def classifier(self, command):
        """The estimator, refused in one line when it cannot label samples."""
        estimator = self.estimator
        if hasattr(estimator, "classes_"):
            return estimator
        if self.extra.get("environment"):
            raise UserError(f"{self.path} is a policy network trained by neuronet rl; watch it play with: "
                            f"neuronet rl cartpole --play {self.path}")
        raise UserError(f"{self.path} holds a {type(estimator).__name__}; neuronet {command} works with classifiers")

    def predict(self, X):
        """The model's labels for X; an array-like read a slice at a time (a folder's image
        cache) is read and predicted a chunk at a time, as the same array at once would be."""
        if not is_lazy(X):
            return self.model.predict(X)
        return np.concatenate([self.model.predict(X[chunk]) for chunk in chunks(X.shape[0]) or [slice(0, 0)]])

    def labelled(self, X):
        """(class index, class probabilities) of each sample of X, the class chosen by the
        model's own rule: the most probable, or a logistic regression's threshold."""
        indices = np.searchsorted(self.estimator.classes_, self.model.predict(X))
        return indices, self.model.predict_proba(X)

    def class_names(self):
        return self.extra.get("class_names") or [str(c) for c in self.estimator.classes_]

    def label_index(self):
        """{label as text: class index}: the class names ``train`` recorded, else the classes themselves."""
        return {label_text(name): k for k, name in enumerate(self.class_names())}

    def _say(self, kind, message):
        if kind not in self.said:
            self.said.add(kind)
            print(message, file=sys.stderr)

    def input_for(self, X, source, raw_scale=1.0):
        """X (any sample shape) as the model takes it: the same number of values per sample
        (one line otherwise), in the units it was trained on, shaped as in training; warns in
        one line when the values lie far outside the range seen in training."""
        rows = X.reshape(len(X), -1)
        if rows.shape[1] != self.n_features:
            raise UserError(self._size_mismatch(source, rows.shape[1]))
        seen, scaler = self.expected.get("range"), self.image_scaler
        if scaler is not None and raw_scale != 1:  # images in [0, 1], as the model's first step reads them
            rows = scaler.inverse_transform(rows.astype(np.float64))  # float64: it divides back exactly
        elif seen is not None and raw_scale != 1 and 0.5 * raw_scale <= seen[1] <= 1.5 * raw_scale \
                and rows.max(initial=0) <= 1:
            self._say("units", f"note: {self.path} was trained on raw values up to {seen[1]:g}; giving it "
                               f"{source} in those units (× {raw_scale:g})")
            rows = rows * raw_scale
        if seen is not None and len(rows):
            self._check_range(rows, source, *seen)
        return rows.reshape(len(rows), *self.sample_shape)

    @property
    def image_scaler(self):
        """The model's first step when it is an :class:`~neuronet.preprocessing.ImageScaler`
        (a model ``train`` made from images reads them in their source's units), else None."""
        steps = transformers_of(self.model)
        return steps[0] if steps and isinstance(steps[0], ImageScaler) else None

    def _size_mismatch(self, source, n_values):
        if self.image_shape is not None:
            return (f"{source} has {n_values} values a sample; {self.path} reads "
                    f"{'×'.join(map(str, self.image_shape))} images ({self.n_features} values): give it images")
        hint = " (is one of them the label? predict reads features only)" if n_values == self.n_features + 1 else ""
        return f"{source} has {n_values} columns; the model expects {self.n_features}{hint}"

    def _check_range(self, rows, source, low, high):
        span = max(high - low, 1e-12)
        data_low, data_high = float(rows.min()), float(rows.max())
        if data_high > high + span or data_low < low - span:
            self._say("range", f"warning: {source} has values in [{data_low:.4g}, {data_high:.4g}], far outside "
                               f"the [{low:.4g}, {high:.4g}] seen in training: check its units and preprocessing")


def load_model(path):
    """The :class:`SavedModel` at ``path``, or one line saying what is wrong."""
    if not os.path.exists(path):
        raise UserError(f"no model file at {path!r} (train one with: neuronet train --output {path})")
    return SavedModel(path, *load_described(path))


def data_like_training(name, saved, label_column=None, options=None):
    """Load ``name`` the way the model's training data was loaded (image size, colour, the
    label column of a table unless given, and a generated set's ``options``)."""
    image = saved.image_shape
    size = saved.extra.get("image_size") or (tuple(image[1:]) if image else 64)
    if label_column is None and is_table(name):
        label_column = saved.extra.get("label_column")
    return load_data(name, image_size=size, grayscale=bool(image) and image[0] == 1, label_column=label_column,
                     options=options)


def _shown(names, count=10):
    """A list of names as Python writes it, the first ``count`` of a longer one."""
    return str(names) if len(names) <= count else f"{str(names[:count])[:-1]}, … and {len(names) - count} more]"


def check_classes(dataset, saved):
    """Refuse, in one line, a dataset whose classes are not the model's (by name when train
    recorded the names, else by value or as the model's class indices 0 … k−1)."""
    names = [label_text(name) for name in dataset.class_names]
    classes = [label_text(c) for c in saved.estimator.classes_]
    by_index = "class_names" not in saved.extra and classes == [str(k) for k in range(len(names))]
    if names != [label_text(name) for name in saved.class_names()] and not by_index:
        raise UserError(f"the model knows the classes {_shown(saved.class_names())}, but {dataset.name} has "
                        f"{_shown([str(c) for c in dataset.class_names])}")
