"""The ``neuronet`` command: train, evaluate, predict, summarise, and study."""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

EPILOG = """examples:
  neuronet train                                   logistic regression on breast-cancer data
  neuronet train --data digits --model mlp         a deep network reads 8×8 digits
  neuronet train --data mnist-5k --model cnn --epochs 10
  neuronet summary neuronet-runs/model.npz         layers and parameter counts
"""


class UserError(Exception):
    """A mistake on the command line: printed as one line, exit status 2."""


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _sizes(text):
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"hidden sizes are comma-separated integers like 128,64; got {text!r}")
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive, got {text!r}")
    return sizes


# --- train ---------------------------------------------------------------------
def add_train(commands):
    parser = commands.add_parser(
        "train", help="train a model on a dataset and save it",
        description="Train a model on a built-in dataset or a folder of images, report train and test "
                    "accuracy, and save the model (one .npz file).",
        epilog="examples:\n  neuronet train\n  neuronet train --data digits --model mlp --hidden 64\n"
               "  neuronet train --data mnist-5k --model cnn --epochs 10 --batch-size 64",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="breast-cancer",
                        help="dataset name (breast-cancer, digits, mnist-5k, moons, circles, xor, spiral) "
                             "or a folder of images (default: breast-cancer)")
    parser.add_argument("--model", choices=["logistic", "mlp", "cnn"], default="logistic",
                        help="logistic: one sigmoid neuron; mlp: hidden layers; cnn: convolutions (default: logistic)")
    parser.add_argument("--hidden", type=_sizes, default=(128, 64), metavar="N,N",
                        help="hidden layer sizes for mlp (default: 128,64)")
    parser.add_argument("--learning-rate", type=_positive_float, default=None,
                        help="step size (default: 0.1 for logistic, 0.001 with adam)")
    parser.add_argument("--epochs", type=_positive_int, default=None,
                        help="epochs, or gradient-descent iterations for logistic (default: 1000 / 20)")
    parser.add_argument("--batch-size", type=_positive_int, default=64, help="minibatch size (default: 64)")
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam", help="for mlp and cnn")
    parser.add_argument("--l2", type=float, default=None, help="L2 penalty alpha on the weights")
    parser.add_argument("--test-size", type=float, default=0.2, help="held-out fraction (default: 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for split and weights (default: 0)")
    parser.add_argument("--output", default=os.path.join("neuronet-runs", "model.npz"),
                        help="where to write the model (default: neuronet-runs/model.npz)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch output (by default the cost is "
                                                                 "printed about 20 times during training)")
    parser.set_defaults(run=run_train)


def build_estimator(args, dataset):
    from . import LogisticRegression, MLPClassifier

    if args.model == "logistic":
        return LogisticRegression(learning_rate=args.learning_rate or 0.1, max_iter=args.epochs or 1000,
                                  alpha=args.l2 or 0.0, random_state=args.seed, tol=0)
    settings = dict(solver=args.optimizer, learning_rate=args.learning_rate or (0.001 if args.optimizer == "adam" else 0.05),
                    batch_size=args.batch_size, max_iter=args.epochs or 20, alpha=1e-4 if args.l2 is None else args.l2,
                    random_state=args.seed, tol=0)
    if args.model == "mlp":
        return MLPClassifier(hidden_layer_sizes=args.hidden, **settings)
    from . import CNNClassifier

    if dataset.image_shape is None:
        raise UserError(f"--model cnn needs images, and {dataset.name} is a table of features")
    return CNNClassifier(image_shape=dataset.image_shape, **settings)


def _standardizer(dataset, X_train):
    """Tabular features are standardized with the training set's mean and spread."""
    if dataset.image_shape is not None:
        return None
    scale = X_train.std(axis=0)
    return {"mean": X_train.mean(axis=0), "scale": np.where(scale > 0, scale, 1.0)}


def apply_preprocessing(extra_arrays, X):
    if "mean" in extra_arrays:
        return (X - extra_arrays["mean"]) / extra_arrays["scale"]
    return X


def run_train(args):
    from . import datasets, save

    dataset = datasets.load(args.data)
    if not 0 < args.test_size < 1:
        raise UserError(f"--test-size must be between 0 and 1, got {args.test_size}")
    X_train, X_test, y_train, y_test = dataset.split(args.test_size, args.seed)
    preprocessing = _standardizer(dataset, X_train)
    if preprocessing:
        X_train, X_test = apply_preprocessing(preprocessing, X_train), apply_preprocessing(preprocessing, X_test)
    model = build_estimator(args, dataset)
    print(f"Training {type(model).__name__} on {dataset.name}: {dataset.description}")
    print(f"  {len(X_train)} training and {len(X_test)} test samples, seed {args.seed}")
    if not args.quiet:
        model.set_params(verbose=2)
    model.fit(X_train, y_train)
    train_accuracy, test_accuracy = model.score(X_train, y_train), model.score(X_test, y_test)
    print(f"train accuracy {train_accuracy:.4f}   test accuracy {test_accuracy:.4f}")
    extra = {"meta": {"dataset": dataset.name, "class_names": [str(c) for c in dataset.class_names],
                      "image_shape": list(dataset.image_shape) if dataset.image_shape else None},
             "arrays": preprocessing or {}}
    save(model, args.output, extra=extra)
    print(f"model saved to {args.output}")
    print(f"next: neuronet summary {args.output}")
    return 0


# --- summary -------------------------------------------------------------------
def add_summary(commands):
    parser = commands.add_parser(
        "summary", help="show a saved model's layers and parameter counts",
        description="Print each layer, its output shape and its parameter count, counted as by hand.",
        epilog="example:\n  neuronet summary neuronet-runs/model.npz", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a model file written by neuronet train")
    parser.set_defaults(run=run_summary)


def load_model(path):
    from .io import load

    model, extra = load(path, with_extra=True)
    return model, extra


def run_summary(args):
    model, _ = load_model(args.model)
    network = getattr(model, "network_", model)
    print(type(model).__name__)
    network.summary()
    return 0


def make_parser():
    parser = argparse.ArgumentParser(
        prog="neuronet", description="Neural networks from first principles: train, inspect and use models.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_train(commands)
    add_summary(commands)
    return parser


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from .io import ModelFileError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            return args.run(args)
    except (UserError, ModelFileError, ValueError, FileNotFoundError) as error:
        print(f"neuronet {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
