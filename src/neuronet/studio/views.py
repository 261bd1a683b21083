"""What the page draws, computed from the network as it is between two minibatches.

Every number comes from the network's own forward pass (and, for the gradient sizes,
from the gradients its backward pass left in each layer). Arrays travel to the page as
bytes: each value scaled from a stated range to 0…255 and written in base64, so a
snapshot of every view stays a few tens of kilobytes.
"""

from __future__ import annotations

import base64

import numpy as np
from sklearn.metrics import confusion_matrix

from ..diagnosis import (ADAM, LARGER_LEARNING_RATE, LEAKY_RELU, MORE_ITERATIONS, SMALLER_LEARNING_RATE, diagnose,
                         either, remedies)
from ..layers import Conv2D, Dense, Sigmoid, Tanh
from ..layers.activations import log_sigmoid
from ..network import HIDDEN_ACTIVATIONS

GRID = 50                # the decision boundary: GRID × GRID points over the plane
NEURON_STRIDE = 2        # each hidden neuron's map: every other point of that grid
SURFACE = 41             # the cost surface: SURFACE × SURFACE values of (w₁, w₂)
MOST_DRAWN_WEIGHTS = 4096  # a Dense layer with more weights is drawn without its connections
MOST_UNIT_IMAGES, MOST_FEATURE_MAPS, MOST_MISTAKES = 32, 16, 8


def as_bytes(values, low, high):
    """``values`` scaled from [low, high] to the bytes 0…255, in base64."""
    span = (high - low) or 1.0
    scaled = np.clip((np.asarray(values, dtype=np.float64) - low) / span, 0, 1)
    return base64.b64encode(np.round(scaled * 255).astype(np.uint8).tobytes()).decode("ascii")


def symmetric_bytes(values):
    """``values`` divided by their largest magnitude, as bytes (128 is zero)."""
    largest = float(np.max(np.abs(values))) if np.size(values) else 0.0
    largest = largest if np.isfinite(largest) and largest > 0 else 1.0
    return as_bytes(values, -largest, largest)


def number(value, digits=6):
    """A float for JSON: rounded, and None for NaN or infinity (JSON has neither)."""
    value = float(value)
    return round(value, digits) if np.isfinite(value) else None


def probabilities(network, logits):
    """Class probabilities (n, K) from the logits: the network's own output activation;
    a single sigmoid unit gives the two columns (1 − p, p)."""
    p = network.output_activation.forward(logits)
    return np.column_stack([1 - p[:, 0], p[:, 0]]) if p.shape[1] == 1 else p


# --- the plane: decision boundary and every hidden neuron ------------------------------
def plane_extent(points):
    """The drawn square of the plane: around the points' box, with a margin, as (x₀, x₁, y₀, y₁)."""
    low, high = points.min(axis=0), points.max(axis=0)
    centre, half = (low + high) / 2, 0.55 * float((high - low).max())
    return [float(centre[0] - half), float(centre[0] + half), float(centre[1] - half), float(centre[1] + half)]


def plane_grid(extent):
    """GRID × GRID points over the extent, row by row from the top (largest y) down."""
    xs = np.linspace(extent[0], extent[1], GRID)
    ys = np.linspace(extent[3], extent[2], GRID)
    return np.column_stack([np.tile(xs, GRID), np.repeat(ys, GRID)])


def _neuron_values(layer, outputs):
    """A hidden layer's outputs on [−1, 1]: tanh as it is, sigmoid from [0, 1], the
    unbounded ones (ReLU, leaky ReLU) divided by the layer's largest magnitude."""
    if isinstance(layer, Tanh):
        return outputs
    if isinstance(layer, Sigmoid):
        return 2 * outputs - 1
    largest = float(np.max(np.abs(outputs))) or 1.0
    return outputs / largest if np.isfinite(largest) else np.zeros_like(outputs)


def plane_views(network, grid_inputs):
    """The class probabilities over the grid, and each hidden neuron's output over it."""
    x, neurons = grid_inputs, []
    inputs = grid_inputs.reshape(GRID, GRID, -1)[::NEURON_STRIDE, ::NEURON_STRIDE]  # each input neuron's map
    last = len(network.layers) - 1
    for index, layer in enumerate(network.layers):
        x = layer.forward(x)
        if index < last and isinstance(layer, HIDDEN_ACTIVATIONS):
            values = _neuron_values(layer, x).reshape(GRID, GRID, -1)[::NEURON_STRIDE, ::NEURON_STRIDE]
            neurons.append([as_bytes(values[:, :, unit], -1, 1) for unit in range(values.shape[2])])
    p = x if x.shape[1] > 1 else np.column_stack([1 - x[:, 0], x[:, 0]])
    return {"size": GRID, "neuron_size": -(-GRID // NEURON_STRIDE),
            "probabilities": [as_bytes(p[:, k], 0, 1) for k in range(p.shape[1])], "neurons": neurons,
            "inputs": [symmetric_bytes(inputs[:, :, unit]) for unit in range(inputs.shape[2])]}


def drawn_columns(network):
    """The columns of the network's drawing: the inputs, then each convolution (a box of
    maps) and each Dense layer (its units), with the layer that follows it."""
    columns = [{"kind": "inputs", "shape": list(network.input_shape), "units": int(np.prod(network.input_shape))}]
    shape, layers = network.input_shape, network.layers
    for index, layer in enumerate(layers):
        shape = layer.output_shape(shape)
        if isinstance(layer, (Dense, Conv2D)):
            following = type(layers[index + 1]).__name__ if index + 1 < len(layers) else None
            columns.append({"kind": "dense" if isinstance(layer, Dense) else "conv", "shape": list(shape),
                            "units": int(np.prod(shape)), "activation": following})
    return columns


def drawn_weights(network):
    """The weights into each column of the drawing after the inputs: a Dense layer's
    (inputs × units), rounded; None for a convolution or a layer too large to draw."""
    return [np.round(layer.params["weights"], 4).tolist()
            if isinstance(layer, Dense) and layer.params["weights"].size <= MOST_DRAWN_WEIGHTS else None
            for layer in network.layers if isinstance(layer, (Dense, Conv2D))]


def significant(value, digits=4):
    """A float for JSON with ``digits`` significant digits (a tiny value stays itself, and
    only an exact zero is 0); None for NaN or infinity."""
    value = float(value)
    return float(f"{value:.{digits}g}") if np.isfinite(value) else None


def gradient_sizes(network):
    """Mean |∂J/∂W| of each layer's weights on the last minibatch (J with its penalty), to
    four significant digits: exactly 0 only where every gradient is."""
    return [{"layer": f"{index}: {type(layer).__name__}", "size": significant(np.mean(np.abs(layer.grads["weights"])))}
            for index, layer in enumerate(network.layers) if "weights" in layer.grads]


# --- why the network stopped learning ----------------------------------------------------
def _studio_advice(keys, learning_rate):
    """What to try, in the page's controls."""
    words = {SMALLER_LEARNING_RATE: f"a smaller learning rate than {learning_rate:g}",
             LARGER_LEARNING_RATE: f"a larger learning rate than {learning_rate:g}",
             LEAKY_RELU: "activation: leaky ReLU", ADAM: "optimizer: Adam", MORE_ITERATIONS: "more steps"}
    return f" Try {either([words[key] for key in keys])}." if keys else ""


def diagnoses(network, X, y, class_names, settings, losses):
    """Why the network stopped learning, if it did (see :mod:`neuronet.diagnosis`), on the
    training samples the page measures, after the epochs of mean training ``losses``: each
    finding's facts and its line for the banner, with what to try in the page's controls."""
    relu = not settings.neuron and settings.activation == "relu"
    adam = None if settings.neuron else settings.optimizer == "adam"
    found = []
    for finding in diagnose(network, X, y, classes=class_names, stepped=bool(losses)):
        problem = finding.describe(samples="training samples measured")
        keys = remedies(finding, relu=relu, adam=adam, learning_rate=settings.learning_rate, losses=losses)
        found.append({"kind": finding.kind, "layer": finding.layer, "count": finding.count, "total": finding.total,
                      "layers": list(finding.layers),
                      "text": f"{problem[0].upper()}{problem[1:]}.{_studio_advice(keys, settings.learning_rate)}"})
    return found


# --- the single neuron: its cost over (w₁, w₂) at the current bias ---------------------
def cost_surface(X, y, weights, bias, alpha, path):
    """J(w₁, w₂; b) over a square around the origin that holds the path of gradient
    descent: the cross-entropy of one sigmoid neuron, −(1/m) Σ [y log σ(z) + (1 − y)
    log(1 − σ(z))] with z = x·w + b, plus the penalty (α/2)‖w‖². Drawn as log J."""
    reach = max(3.0, 1.2 * float(np.max(np.abs(path)))) if len(path) else 3.0
    axis = np.linspace(-reach, reach, SURFACE)
    w1, w2 = np.meshgrid(axis, axis[::-1])
    candidates = np.vstack([w1.ravel(), w2.ravel()])
    z = X.astype(np.float64) @ candidates + bias
    cost = np.mean((1 - y)[:, None] * z - log_sigmoid(z), axis=0) + 0.5 * alpha * (candidates**2).sum(axis=0)
    log_cost = np.log(np.maximum(cost, 1e-12))
    return {"size": SURFACE, "reach": reach, "log_cost": as_bytes(log_cost, log_cost.min(), log_cost.max()),
            "cost_range": [number(cost.min()), number(cost.max())], "weights": [number(w) for w in weights],
            "bias": number(bias), "path": np.round(path, 4).tolist()}


# --- images: what the first layer looks for, what the convolutions see ---------------
def unit_images(network, image_shape):
    """The first layer's weights as images: each Dense unit's weights over the pixels, or
    each Conv2D filter's kernel; 128 is a zero weight."""
    first = network.layers[0]
    if isinstance(first, Conv2D):
        kernels = first.params["weights"][:MOST_UNIT_IMAGES]
        return {"shape": list(kernels.shape[1:]), "images": [symmetric_bytes(kernel) for kernel in kernels]}
    if isinstance(first, Dense) and image_shape is not None:
        weights = first.params["weights"].T[:MOST_UNIT_IMAGES]
        return {"shape": list(image_shape), "images": [symmetric_bytes(unit) for unit in weights]}
    return None


def feature_maps(network, example):
    """One example through the network: each convolution's maps, through the activation
    of its block (see :meth:`~neuronet.network.Sequential.convolution_maps`)."""
    return [{"layer": f"{index}: Conv2D", "shape": list(maps.shape[1:]),
             "maps": [symmetric_bytes(m) for m in maps[:MOST_FEATURE_MAPS]]}
            for index, _, maps in network.convolution_maps(example)]


def pixels(image):
    """An image in [0, 1] as bytes."""
    return as_bytes(image, 0, 1)


def predicted_classes(p, threshold=0.5):
    """The class each row of probabilities predicts: the most likely one; for two classes,
    class 1 where its probability is above ``threshold`` (at 0.5, the most likely one)."""
    return (p[:, 1] > threshold).astype(int) if p.shape[1] == 2 else p.argmax(axis=1)


def accuracy_at(network, X, y, threshold):
    """The share of (X, y) a two-class network gets right, predicting class 1 where its
    probability is above ``threshold``."""
    return number(np.mean(predicted_classes(probabilities(network, network.predict_logits(X)), threshold) == y))


def evaluation_views(network, X, y, raw, class_names, images, threshold=0.5):
    """The confusion matrix of (X, y) and its most confident mistakes (with their images),
    two classes told apart at ``threshold``."""
    p = probabilities(network, network.predict_logits(X))
    predicted = predicted_classes(p, threshold)
    wrong = np.flatnonzero(predicted != y)
    wrong = wrong[np.argsort(-p[wrong, predicted[wrong]])][:MOST_MISTAKES]
    mistakes = [{"index": int(i), "true": class_names[y[i]], "predicted": class_names[predicted[i]],
                 "probability": number(p[i, predicted[i]], 4), "image": pixels(raw[i]) if images else None}
                for i in wrong]
    return {"confusion": confusion_matrix(y, predicted, labels=np.arange(len(class_names))).tolist(),
            "mistakes": mistakes}
