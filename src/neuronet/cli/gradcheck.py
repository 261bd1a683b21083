"""neuronet gradcheck: check backpropagation against finite differences."""

from __future__ import annotations

import numpy as np

from ..gradcheck import check_network
from ..layers import Dense, ReLU, Softmax, Tanh
from ..losses import BinaryCrossEntropy, CrossEntropy
from ..network import Sequential
from .common import RAW, load_model, positive_int


def add(commands):
    parser = commands.add_parser(
        "gradcheck", help="check backpropagation against finite differences",
        description="Compare every layer's backpropagated gradient with central finite differences in float64 "
                    "and print the relative error per parameter (correct backprop: below 1e-6). Without a model, "
                    "a small demonstration network is checked.",
        epilog="examples:\n  neuronet gradcheck\n  neuronet gradcheck neuronet-runs/run-1/model.npz --entries 10",
        formatter_class=RAW)
    parser.add_argument("model", nargs="?", help="a model file written by neuronet train")
    parser.add_argument("--samples", type=positive_int, default=4, help="samples in the checked batch (default: 4)")
    parser.add_argument("--entries", type=positive_int, default=20,
                        help="randomly chosen entries checked per parameter array (default: 20)")
    parser.set_defaults(run=run)


def network_in_float64(path):
    """The saved model's network (or a demonstration network), with float64 parameters."""
    if path is None:
        return Sequential([Dense(8), Tanh(), Dense(6), ReLU(), Dense(3), Softmax()],
                          input_shape=(5,), dtype="float64", random_state=0)
    estimator = load_model(path).estimator
    trained = getattr(estimator, "network_", estimator)
    network = Sequential.from_config({**trained.get_config(), "dtype": "float64"})
    network.set_weights(trained.get_weights())
    return network


def run(args):
    rng = np.random.default_rng(0)
    network = network_in_float64(args.model)
    x = rng.uniform(0, 1, size=(args.samples, *network.input_shape))
    outputs = network.output_shape[0]
    loss = BinaryCrossEntropy() if outputs == 1 else CrossEntropy()
    target = rng.integers(0, max(outputs, 2), size=args.samples)
    errors = check_network(network, x, target, loss, entries=args.entries)
    print(f"finite-difference check, float64, {args.samples} samples, up to {args.entries} entries per array")
    for key, error in errors.items():
        index, name = key.split("/")
        verdict = "ok" if error < 1e-6 else "MISMATCH"
        print(f"  layer {index} {type(network.layers[int(index)]).__name__:<8} {name:<8} relative error {error:.2e}  {verdict}")
    worst = max(errors.values())
    conclusion = "backpropagation agrees with finite differences" if worst < 1e-6 else "gradients disagree"
    print(f"worst relative error {worst:.2e}: {conclusion}")
    return 0 if worst < 1e-6 else 1
