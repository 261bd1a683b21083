"""neuronet study: experiments that teach (the learning-rate study)."""

from __future__ import annotations

import os

from ..studies import binary_task, learning_rate_study
from .common import RAW, load_data, positive_int, rates


def add(commands):
    parser = commands.add_parser(
        "study", help="experiments that teach: study learning-rate",
        description="study learning-rate: train the same logistic regression with several learning rates and "
                    "draw their cost curves on one figure — the slow crawl, the good one, the overshoot.",
        epilog="examples:\n  neuronet study learning-rate\n"
               "  neuronet study learning-rate --rates 0.001,0.1,1,30 --iterations 500 --output lr.png",
        formatter_class=RAW)
    parser.add_argument("topic", choices=["learning-rate"], help="what to study")
    parser.add_argument("--data", default="breast-cancer", help="dataset (default: breast-cancer)")
    parser.add_argument("--rates", type=rates, default=[0.0001, 0.01, 0.5, 50.0], metavar="LR,LR",
                        help="learning rates to compare (default: 0.0001,0.01,0.5,50)")
    parser.add_argument("--iterations", type=positive_int, default=300, help="gradient-descent iterations (default: 300)")
    parser.add_argument("--output", default=os.path.join("neuronet-runs", "learning_rate_study.png"), metavar="FILE",
                        help="the figure (default: neuronet-runs/learning_rate_study.png)")
    parser.set_defaults(run=run)


def run(args):
    from .. import plots  # matplotlib: loaded only when a figure is drawn

    dataset = load_data(args.data)
    X, y = binary_task(dataset)
    task = ("" if len(dataset.class_names) == 2 else
            f" (one sigmoid neuron: class {dataset.class_names[dataset.y[0]]} against the rest)")
    print(f"Logistic regression on {dataset.name}{task}, {args.iterations} iterations of gradient descent")
    curves = {}
    for rate, costs, outcome in learning_rate_study(X, y, args.rates, args.iterations):
        print(f"  learning rate {rate:<10g} cost {costs[0]:.4f} → {costs[-1]:.4g}   {outcome}", flush=True)
        curves[rate] = (costs, outcome)
    print(f"figure written to {plots.save(plots.learning_rate_study(curves), args.output)}")
    return 0
