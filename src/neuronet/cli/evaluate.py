"""neuronet evaluate: accuracy, per-class precision/recall and confusion matrix of a saved model."""

from __future__ import annotations

import os

import numpy as np

from ..preprocessing import final_estimator
from .common import RAW, check_classes, data_like_training, load_model


def add(commands):
    parser = commands.add_parser(
        "evaluate", help="accuracy, per-class precision/recall and confusion matrix of a saved model",
        description="Measure a saved model on a dataset. On the dataset it was trained on, the same held-out "
                    "test split is used (same seed); use --all for every sample.",
        epilog="examples:\n  neuronet evaluate neuronet-runs/model.npz breast-cancer\n"
               "  neuronet evaluate cats.npz ~/dogs-vs-cats/test-folder", formatter_class=RAW)
    parser.add_argument("model", help="a model file written by neuronet train")
    parser.add_argument("data", help="a dataset name or a folder of images")
    parser.add_argument("--all", action="store_true", help="evaluate on every sample, not the held-out split")
    parser.set_defaults(run=run)


def print_confusion_matrix(matrix, names):
    width = max(len(n) for n in names + [str(matrix.max())]) + 2
    print("confusion matrix (rows: true class, columns: predicted)")
    print(" " * width + "".join(n.rjust(width) for n in names))
    for name, row in zip(names, matrix):
        print(name.rjust(width) + "".join(str(v).rjust(width) for v in row))


def run(args):
    from sklearn.metrics import classification_report, confusion_matrix

    model, extra = load_model(args.model)
    dataset = data_like_training(args.data, extra)
    check_classes(dataset, extra)
    trained_here = extra.get("data") in (args.data, os.path.abspath(args.data))
    if trained_here and not args.all:
        _, X, _, y = dataset.split(extra.get("test_size", 0.2), extra.get("seed", 0))  # the split train made
        where = "the held-out test split"
    else:
        X, y, where = dataset.X, dataset.y, "all samples"
    predicted = model.predict(X)
    names = [str(c) for c in dataset.class_names]
    print(f"{type(final_estimator(model)).__name__} on {dataset.name}, {where} ({len(y)} samples)")
    print(f"accuracy {np.mean(predicted == y):.4f}\n")
    print(classification_report(y, predicted, labels=np.arange(len(names)), target_names=names, zero_division=0))
    print_confusion_matrix(confusion_matrix(y, predicted, labels=np.arange(len(names))), names)
    return 0
