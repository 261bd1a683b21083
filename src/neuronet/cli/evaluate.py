"""neuronet evaluate: accuracy, per-class precision/recall and confusion matrix of a saved model."""

from __future__ import annotations

import os

import numpy as np

from ..datasets import is_table, label_text
from ..tables import read_table
from .common import RAW, UserError, check_classes, data_like_training, load_model

def add(commands):
    parser = commands.add_parser(
        "evaluate", help="accuracy, per-class precision/recall and confusion matrix of a saved model",
        description="Measure a saved model on a dataset. On the dataset it was trained on, the same held-out "
                    "test split is used (same seed); use --all for every sample. A .csv table has one label "
                    "column (the last, or --label-column) and the model's features in the others; its delimiter "
                    "(comma, semicolon, tab) and header row are recognised.",
        epilog="examples:\n  neuronet evaluate neuronet-runs/run-1/model.npz breast-cancer\n"
               "  neuronet evaluate cats.npz ~/dogs-vs-cats/test-folder\n"
               "  neuronet evaluate model.npz measurements.csv --label-column diagnosis", formatter_class=RAW)
    parser.add_argument("model", help="a model file written by neuronet train or neuronet.save")
    parser.add_argument("data", nargs="?",
                        help="a dataset name, a .csv table or a folder of images (default: the data the model was "
                             "trained on, made again the same way: a studio's 2-D set with its noise and seed too)")
    parser.add_argument("--all", action="store_true", help="evaluate on every sample, not the held-out split")
    parser.add_argument("--label-column", metavar="NAME|INDEX",
                        help="the .csv column that holds the labels: a header name, or an index (0 the first, "
                             "-1 the last; default: the last)")
    parser.set_defaults(run=run)


def print_confusion_matrix(matrix, names):
    width = max(len(n) for n in names + [str(matrix.max())]) + 2
    print("confusion matrix (rows: true class, columns: predicted)")
    print(" " * width + "".join(n.rjust(width) for n in names))
    for name, row in zip(names, matrix):
        print(name.rjust(width) + "".join(str(v).rjust(width) for v in row))


def table_samples(path, saved, label_column):
    """(X, class indices, description) from a labelled CSV table, its labels matched to the
    model's classes (1 and 1.0 are the same label); the label column is the one training
    used unless given."""
    if label_column is None:
        label_column = saved.extra.get("label_column")
    table = read_table(path, labelled=True, label_column=label_column)
    X = saved.input_for(table.X, path)
    known = saved.label_index()
    written = [label_text(label) for label in table.labels]
    unknown = sorted(set(written) - set(known))
    if unknown:
        raise UserError(f"{path} has labels the model does not know: {unknown[:10]}; it knows "
                        f"{saved.class_names()}")
    return X, np.array([known[label] for label in written]), "all rows"


def dataset_samples(name, saved, every_sample, label_column):
    """(X, class indices, description) from a dataset: the held-out split train made when the
    model was trained on it (same seed), else every sample."""
    dataset = data_like_training(name, saved, label_column,
                                 saved.extra.get("dataset_options") if trained_on(name, saved) else None)
    check_classes(dataset, saved)
    if trained_on(name, saved) and not every_sample:
        _, X, _, y = dataset.split(saved.extra.get("test_size", 0.2), saved.extra.get("seed", 0))
        where = "the held-out test split"
    else:
        X, y, where = dataset.X, dataset.y, "all samples"
    return saved.input_for(np.asarray(X), dataset.name, dataset.raw_scale), y, where  # photos: from the cache


def trained_on(name, saved):
    return saved.extra.get("data") in (name, os.path.abspath(name))


def run(args):
    from sklearn.metrics import classification_report, confusion_matrix

    saved = load_model(args.model)
    estimator = saved.classifier("evaluate")
    if args.data is None:
        if not saved.extra.get("data"):
            raise UserError(f"{args.model} does not say what it was trained on: name the data, e.g. "
                            f"neuronet evaluate {args.model} digits")
        args.data = saved.extra["data"]
    if is_table(args.data) and not trained_on(args.data, saved):
        X, y, where = table_samples(args.data, saved, args.label_column)
    else:
        X, y, where = dataset_samples(args.data, saved, args.all, args.label_column)
    predicted = np.searchsorted(estimator.classes_, saved.model.predict(X))
    names = saved.class_names()
    print(f"{type(estimator).__name__} on {os.path.basename(args.data.rstrip(os.sep)) or args.data}, {where} "
          f"({len(y)} samples)")
    print(f"accuracy {np.mean(predicted == y):.4f}\n")
    print(classification_report(y, predicted, labels=np.arange(len(names)), target_names=names, zero_division=0))
    print_confusion_matrix(confusion_matrix(y, predicted, labels=np.arange(len(names))), names)
    return 0
