"""neuronet predict: label images or feature rows with a saved model."""

from __future__ import annotations

import csv
import io
import os
import re
import sys
import warnings

from PIL import Image

from ..files import ModelFileError, destination, load_npy, write_atomically
from ..imagefolder import decode_image, to_unit_range
from ..datasets import TABLE_SUFFIXES
from ..tables import read_table
from .common import RAW, load_model


def add(commands):
    parser = commands.add_parser(
        "predict", help="label images or feature rows with a saved model",
        description="Print the predicted label and its probability for each image, or for each row of a "
                    ".csv table or .npy file of features (a .csv's delimiter — comma, semicolon, tab — and header "
                    "row are recognised). A folder means every file under it, in natural order (2.jpg before "
                    "10.jpg); folders without a visible file are an error (nothing to predict). Images are "
                    "resized and coloured as the model's training images were. A file that cannot be read or "
                    "predicted is reported in one line and skipped; the exit status is 1 if any was.",
        epilog="examples:\n  neuronet predict cats.npz kitten.jpg puppy.png\n"
               "  neuronet predict cats.npz ~/dogs-vs-cats/test1 --output predictions.csv\n"
               "  neuronet predict neuronet-runs/run-1/model.npz rows.csv", formatter_class=RAW)
    parser.add_argument("model", help="a model file written by neuronet train or neuronet.save")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="images, folders of images, or .csv / .npy files of feature rows")
    parser.add_argument("--output", metavar="FILE.csv",
                        help="also write file, label and the probability of each class (p_<class>) as CSV")
    parser.set_defaults(run=run)


class Unreadable(Exception):
    """One input that cannot be read: reported on stderr, and the others go on."""


def natural_key(name):
    """Orders names as a person would: case-insensitive, with each run of digits
    compared by its value, so "2.jpg" comes before "10.jpg" (ties by the exact name)."""
    parts = re.split(r"(\d+)", name)
    return [int(part) if i % 2 else part.casefold() for i, part in enumerate(parts)], name


def read_rows(path):
    try:
        rows = load_npy(path) if path.lower().endswith(".npy") else read_table(path).X
    except (ValueError, OSError) as error:
        raise Unreadable(f"not a table of numbers ({error})") from None
    if rows.ndim == 0 or rows.dtype.kind not in "biuf":
        raise Unreadable(f"not a table of numbers (an array of {rows.dtype} with shape {rows.shape})")
    return rows.reshape(1, -1) if rows.ndim == 1 else rows


def read_image(path, saved):
    """One image as the model saw its training images (size, channels, [0, 1])."""
    image = saved.image_shape
    if image is None:
        raise Unreadable(f"{saved.path} reads feature rows (.csv or .npy), not images")
    try:
        with warnings.catch_warnings():  # an image too large for Pillow is refused below, with the reason
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return to_unit_range(decode_image(path, image[1:], grayscale=image[0] == 1)[None])
    except (OSError, ValueError, SyntaxError) as error:
        raise Unreadable(f"not a readable image ({error})") from None


def inputs(paths):
    """Every file named, in the order given, and every visible file under the folders
    named: a folder's files in natural order, then its subfolders', in natural order."""
    for path in paths:
        if not os.path.isdir(path):
            yield path
            continue
        for folder, subfolders, names in os.walk(path):
            subfolders[:] = sorted((name for name in subfolders if not name.startswith(".")), key=natural_key)
            visible = sorted((name for name in names if not name.startswith(".")), key=natural_key)
            yield from (os.path.join(folder, name) for name in visible)


def read(path, saved):
    """(rows as the model takes them, a name for each row) from one file."""
    if not os.path.isfile(path):
        raise Unreadable("not a regular file (a FIFO, device, socket or broken link)" if os.path.lexists(path)
                         else "no such file or folder")
    if path.lower().endswith((*TABLE_SUFFIXES, ".npy")):
        rows = read_rows(path)
        return saved.input_for(rows, path), [f"{path}[{i}]" for i in range(len(rows))]
    return saved.input_for(read_image(path, saved), path, raw_scale=255.0), [path]


def predicted(path, saved):
    """(name, class index, class probabilities) of every row of one file, the class chosen
    by the model's own rule (see SavedModel.labelled)."""
    X, row_names = read(path, saved)
    return list(zip(row_names, *saved.labelled(X)))


def first_line(error):
    """What went wrong, in one line: the first of the error's message (its kind if it has none)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def write_table(path, names, predictions):
    """The predictions as CSV: file, label, p_<class> for every class."""
    text = io.StringIO()
    table = csv.writer(text)
    table.writerow(["file", "label", *(f"p_{name}" for name in names)])
    for row_name, best, probabilities in predictions:
        table.writerow([row_name, names[best], *(f"{p:.6g}" for p in probabilities)])
    write_atomically(path, lambda file: file.write(text.getvalue().encode()))


def run(args):
    if args.output:
        destination(args.output)  # a folder, a device or a FIFO is refused before anything is predicted
    paths = list(inputs(args.files))
    if not paths:
        raise ValueError(f"nothing to predict: {', '.join(args.files)} {'holds' if len(args.files) == 1 else 'hold'} "
                         "no visible file")
    saved = load_model(args.model)
    saved.classifier("predict")
    names = saved.class_names()
    failed, predictions = 0, []
    for path in paths:
        try:
            rows = predicted(path, saved)
        except ModelFileError:  # the model is damaged: every file would fail
            raise
        except Exception as error:  # this file could not be read or predicted (e.g. a NaN); the others may be
            print(f"{path}: error: {first_line(error)}", file=sys.stderr)
            failed += 1
            continue
        for row_name, best, probabilities in rows:
            print(f"{row_name}: {names[best]} (probability {probabilities[best]:.1%})")
            predictions.append((row_name, best, probabilities))
    if args.output:
        write_table(args.output, names, predictions)
        print(f"predictions written to {args.output}")
    return 1 if failed else 0
