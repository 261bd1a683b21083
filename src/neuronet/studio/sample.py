"""One training sample by hand: the page's "step one sample".

The run takes one gradient step on one training sample with its own optimizer
(:func:`neuronet.training.traced_step`: the trace of the library's forward and backward
passes, then the update with exactly the gradients it shows). This module turns that
trace into the page's message: each layer's input and output (z, then a = σ(z)), the
cost J, and on the way back ∂J/∂(output), ∂J/∂(input) and ∂J/∂θ, then θ after the step.
A dense network's numbers travel as they are, to four significant digits; an array
of more than ``MOST_SHOWN`` numbers (a convolution's, or a large Dense layer's) travels
as its shape and norm.
"""

from __future__ import annotations

import numpy as np

from ..layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, Sigmoid, Softmax
from ..network import HIDDEN_ACTIVATIONS
from .views import significant

MOST_SHOWN = 65536  # numbers of one array shown one by one; a larger array is its shape and norm


def shown(array, every=True):
    """An array for the page: its shape and norm, and its values (4 significant digits)
    where ``every`` and it has at most MOST_SHOWN of them."""
    array = np.asarray(array, dtype=np.float64)
    message = {"shape": list(array.shape), "norm": significant(np.linalg.norm(array))}
    if every and array.size <= MOST_SHOWN:
        message["values"] = [significant(v) for v in array.ravel()]
    return message


def _kind(layer, last):
    if isinstance(layer, Dense):
        return "dense"
    if isinstance(layer, Conv2D):
        return "conv"
    if last and isinstance(layer, (Sigmoid, Softmax)):
        return "output"
    if isinstance(layer, HIDDEN_ACTIVATIONS):
        return "activation"
    if isinstance(layer, MaxPool2D):
        return "pool"
    if isinstance(layer, Flatten):
        return "flatten"
    if isinstance(layer, Dropout):
        return "dropout"
    return "other"


def sample_message(network, traced, *, index, target, class_name, cost_after, optimizer, penalty, raw):
    """The page's message for one traced sample step: ``traced`` before the step, the
    ``network`` after it; ``cost_after`` is J on the sample at the new weights."""
    dense = not any(isinstance(layer, Conv2D) for layer in network.layers)
    layers, last = [], len(traced.layers) - 1
    for record, layer in zip(traced.layers, network.layers):
        entry = {"index": record.index, "name": record.name, "kind": _kind(layer, record.index == last),
                 "input": shown(record.input[0], dense), "output": shown(record.output[0], dense),
                 "grad_output": None if record.grad_output is None else shown(record.grad_output[0], dense),
                 "grad_input": None if record.grad_input is None else shown(record.grad_input[0], dense)}
        if record.parameters:
            entry["parameters"] = {name: shown(value, dense) for name, value in record.parameters.items()}
            entry["gradients"] = {name: shown(value, dense) for name, value in record.gradients.items()}
            entry["updated"] = {name: shown(value, dense) for name, value in layer.params.items()}
        if isinstance(layer, HIDDEN_ACTIVATIONS) and record.index != last:
            entry["activation"] = type(layer).__name__
        layers.append(entry)
    step = {"optimizer": type(optimizer).__name__, "learning_rate": optimizer.learning_rate,
            "momentum": getattr(optimizer, "momentum", 0.0) or 0.0, "iterations": int(optimizer.iterations),
            "l2": float(penalty.alpha) if penalty is not None else 0.0}
    return {"type": "sample", "index": int(index), "label": class_name, "target": np.asarray(target).tolist(),
            "dense": dense, "layers": layers, "cost": significant(traced.cost), "cost_after": significant(cost_after),
            "output": [significant(v) for v in np.ravel(traced.output[0])], "step": step, "raw": raw}
