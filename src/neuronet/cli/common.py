"""What every command shares: the user-error type, argument types, loading data and models.

A mistake on the command line (missing file, unknown dataset, bad hyperparameter,
model/data mismatch) ends with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
from numbers import Integral, Real

from ..datasets import BUILTIN
from ..datasets import load as load_dataset
from ..persistence import load as load_saved
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
def load_data(name, image_size=64, grayscale=False):
    """A built-in dataset by name, or a folder of images."""
    if name.lower() not in BUILTIN and not os.path.exists(name):
        if os.sep in name or name.startswith((".", "~")):
            raise UserError(f"no such folder: {name!r}")
        raise UserError(f"unknown dataset {name!r}: use one of {', '.join(BUILTIN)}, or a folder of images")
    if os.path.exists(name) and not os.path.isdir(name):
        raise UserError(f"{name!r} is a file; give a dataset name or a folder of images")
    return load_dataset(name, image_size=image_size, grayscale=grayscale)


def load_model(path):
    """(model, extra): the saved model (with its preprocessing) and what train recorded."""
    if not os.path.exists(path):
        raise UserError(f"no model file at {path!r} (train one with: neuronet train --output {path})")
    return load_saved(path, with_extra=True)


def data_like_training(name, extra):
    """Load ``name`` the way the model's training data was loaded (image size, colour)."""
    image = extra.get("image_size")
    return load_data(name, image_size=image or 64, grayscale=bool(extra.get("grayscale")))


def check_classes(dataset, extra):
    trained = extra.get("class_names")
    if trained is not None and [str(c) for c in dataset.class_names] != trained:
        raise UserError(f"the model knows the classes {trained}, but {dataset.name} has "
                        f"{[str(c) for c in dataset.class_names]}")
