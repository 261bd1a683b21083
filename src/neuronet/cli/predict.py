"""neuronet predict: label images or feature rows with a saved model."""

from __future__ import annotations

import os
import sys

import numpy as np

from ..imagefolder import decode_image, to_unit_range
from ..preprocessing import final_estimator
from .common import RAW, UserError, load_model


def add(commands):
    parser = commands.add_parser(
        "predict", help="label images or feature rows with a saved model",
        description="Print the predicted label and its probability for each image, or for each row of a "
                    ".csv (comma-separated numbers) or .npy file of features.",
        epilog="examples:\n  neuronet predict cats.npz kitten.jpg puppy.png\n"
               "  neuronet predict neuronet-runs/model.npz rows.csv", formatter_class=RAW)
    parser.add_argument("model", help="a model file written by neuronet train")
    parser.add_argument("files", nargs="+", metavar="FILE", help="images, or .csv / .npy files of feature rows")
    parser.set_defaults(run=run)


def read_rows(path):
    try:
        rows = np.load(path, allow_pickle=False) if path.endswith(".npy") else np.loadtxt(path, delimiter=",", ndmin=2)
    except (ValueError, OSError) as error:
        raise UserError(f"{path}: not a table of numbers ({error})") from None
    return rows.reshape(1, -1) if rows.ndim == 1 else rows


def read_image(path, extra):
    """One image as the model saw its training images (size, colour, [0, 1]), or None."""
    if not extra.get("image_shape"):
        raise UserError(f"{path}: this model reads feature rows (.csv or .npy), not images")
    try:
        return to_unit_range(decode_image(path, extra["image_shape"][1:], extra.get("grayscale", False))[None])
    except (OSError, ValueError, SyntaxError) as error:
        print(f"{path}: error: not a readable image ({error})", file=sys.stderr)
        return None


def run(args):
    model, extra = load_model(args.model)
    estimator = final_estimator(model)
    if not hasattr(estimator, "classes_"):
        raise UserError(f"{args.model} holds a {type(estimator).__name__}; neuronet predict labels with classifiers")
    names = extra.get("class_names") or [str(c) for c in estimator.classes_]
    failed = 0
    for path in args.files:
        if not os.path.isfile(path):
            print(f"{path}: error: no such file", file=sys.stderr)
            failed += 1
            continue
        if path.endswith((".csv", ".npy", ".txt")):
            X = read_rows(path)
            labels = [f"{path}[{i}]" for i in range(len(X))]
        else:
            X, labels = read_image(path, extra), [path]
            if X is None:
                failed += 1
                continue
        for label, row in zip(labels, model.predict_proba(X)):
            best = int(row.argmax())
            print(f"{label}: {names[best]} ({row[best]:.1%})")
    return 1 if failed else 0
