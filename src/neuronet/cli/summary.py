"""neuronet summary: a saved model's layers and parameter counts."""

from __future__ import annotations

from ..preprocessing import transformers_of
from .common import RAW, load_model


def add(commands):
    parser = commands.add_parser(
        "summary", help="a saved model's layers and parameter counts",
        description="Print each layer, its output shape and its parameter count, counted as by hand "
                    "(a Dense layer from n inputs to k units: n·k weights + k biases); for a convolutional "
                    "network, each convolution's shared weights beside the weights a dense layer from the same "
                    "input to the same output would need.",
        epilog="examples:\n  neuronet summary neuronet-runs/run-1/model.npz\n"
               "  neuronet train --data mnist-5k --model cnn --epochs 1 --output cnn.npz && neuronet summary cnn.npz",
        formatter_class=RAW)
    parser.add_argument("model", help="a model file written by neuronet train")
    parser.set_defaults(run=run)


def run(args):
    saved = load_model(args.model)
    model, estimator = saved.model, saved.estimator
    trained_on = f" trained on {saved.extra['dataset']}" if saved.extra.get("dataset") else ""
    print(f"{type(estimator).__name__}{trained_on}")
    for step in transformers_of(model):
        print(f"input preprocessing: {type(step).__name__} (saved with the model)")
    getattr(estimator, "network_", estimator).summary()
    return 0
