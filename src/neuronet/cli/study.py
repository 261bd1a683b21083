"""neuronet study: experiments that teach (the learning-rate study)."""

from __future__ import annotations

import os

from ..studies import binary_task, learning_rate_study
from .common import RAW, UserError, load_data, positive_int, rates


STEPS = {"logistic": 300, "mlp": 100, "cnn": 10}  # iterations of gradient descent, or epochs


def add(commands):
    parser = commands.add_parser(
        "study", help="experiments that teach: study learning-rate",
        description="study learning-rate: train the same model with several learning rates and draw their cost "
                    "curves on one figure — the slow crawl, the good one, the overshoot, the blow-up. The model "
                    "is one sigmoid neuron, logistic regression by full-batch gradient descent, or an mlp or cnn "
                    "trained by plain minibatch gradient descent. Each study writes a new figure. Chapter 2 of the "
                    "course (docs/course/ in neuronet's source) walks through the same lesson.",
        epilog="examples:\n  neuronet study learning-rate\n"
               "  neuronet study learning-rate --rates 0.001,0.1,1,30 --iterations 500 --output lr.png\n"
               "  neuronet study learning-rate --data digits --model cnn --rates 0.01,0.1,1",
        formatter_class=RAW)
    parser.add_argument("topic", choices=["learning-rate"], help="what to study")
    parser.add_argument("--data", default="breast-cancer",
                        help="a dataset name, a .csv table or a folder of images (default: breast-cancer)")
    parser.add_argument("--label-column", metavar="NAME|INDEX",
                        help="with a .csv table: the column of labels (default: the last)")
    parser.add_argument("--model", choices=list(STEPS), default="logistic",
                        help="logistic: one sigmoid neuron (a class against the rest on many classes); mlp, cnn: "
                             "softmax over every class (default: logistic)")
    parser.add_argument("--rates", type=rates, default=[0.0001, 0.01, 0.5, 50.0], metavar="LR,LR",
                        help="learning rates to compare (default: 0.0001,0.01,0.5,50)")
    parser.add_argument("--iterations", type=positive_int, default=None, metavar="N",
                        help="gradient-descent iterations of logistic, epochs of mlp and cnn (default: "
                             + ", ".join(f"{steps} {model}" for model, steps in STEPS.items()) + ")")
    parser.add_argument("--output", default=None, metavar="FILE",
                        help="the figure (default: a new file in neuronet-runs/ named after the study, "
                             "e.g. learning-rate-breast-cancer-logistic.png)")
    parser.set_defaults(run=run)


def new_figure_path(args):
    """neuronet-runs/learning-rate-DATA-MODEL.png, numbered -2, -3 … when taken: no study overwrites another."""
    data = os.path.splitext(os.path.basename(os.path.normpath(args.data)))[0]
    stem = os.path.join("neuronet-runs", f"learning-rate-{data}-{args.model}")
    path, number = stem + ".png", 2
    while os.path.exists(path):
        path, number = f"{stem}-{number}.png", number + 1
    return path


def study_data(dataset, model):
    """(X, y, what is trained) for one kind of model."""
    if model == "logistic":
        X, y = binary_task(dataset)
        task = ("one sigmoid neuron" if len(dataset.class_names) == 2 else
                f"one sigmoid neuron: class {dataset.class_names[dataset.y[0]]} against the rest")
        return X, y, f"logistic regression ({task})"
    if model == "cnn" and dataset.image_shape is None:
        raise UserError(f"--model cnn needs images, and {dataset.name} is a table of features; try --model mlp")
    X = dataset.X if model == "cnn" else dataset.flat if dataset.image_shape else binary_task(dataset)[0]
    network = "a convolutional network" if model == "cnn" else "a deep network"
    return X, dataset.y, f"{network} (softmax over {len(dataset.class_names)} classes)"


def run(args):
    from .. import plots  # matplotlib: loaded only when a figure is drawn

    dataset = load_data(args.data, label_column=args.label_column)
    X, y, trained = study_data(dataset, args.model)
    steps = args.iterations or STEPS[args.model]
    step = "iterations of gradient descent" if args.model == "logistic" else "epochs of minibatch gradient descent"
    print(f"{trained[0].upper()}{trained[1:]} on {dataset.name}, {steps} {step}")
    curves = {}
    for rate, costs, outcome in learning_rate_study(X, y, args.rates, steps, args.model, dataset.image_shape):
        print(f"  learning rate {rate:<10g} cost {costs[0]:.4f} → {costs[-1]:.4g}   {outcome}", flush=True)
        curves[rate] = (costs, outcome)
    figure = plots.learning_rate_study(curves, step="iteration" if args.model == "logistic" else "epoch")
    print(f"figure written to {plots.save(figure, args.output or new_figure_path(args))}")
    return 0
