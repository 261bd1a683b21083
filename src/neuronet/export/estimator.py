"""A fitted estimator as ONNX nodes: its network, then its head (labels and probabilities,
or a regressor's values), on a graph that is neuronet's own :class:`.graph.Graph` or
skl2onnx's (:mod:`.converters`): both take the same ``constant`` and ``node`` calls."""

from __future__ import annotations

import numpy as np
from sklearn.base import is_classifier

from ..estimators import NeuralEstimator
from ..estimators.base import savable_classes
from ..layers import Sigmoid, Softmax
from ..network import Sequential
from .graph import BATCH, ELEMENT_TYPES
from .layers import add_network


def public_outputs(estimator):
    """The output names :func:`neuronet.to_onnx` gives: ``output_label`` and
    ``output_probability`` for a classifier, ``variable`` for a regressor."""
    return ("output_label", "output_probability") if is_classifier(estimator) else ("variable",)


def fitted_estimator(estimator):
    """``estimator``, checked to be a fitted neuronet estimator (a ValueError says what it is not)."""
    if not isinstance(estimator, NeuralEstimator):
        raise ValueError(f"cannot export a {type(estimator).__name__}: ONNX export takes an nn.Sequential, or a "
                         "neuronet estimator (alone or at the end of a Pipeline)"
                         + (" (its policy network, .policy, is an nn.Sequential)"
                            if isinstance(getattr(estimator, "policy", None), Sequential) else ""))
    if not hasattr(estimator, "network_"):
        raise ValueError(f"fit the {type(estimator).__name__} before exporting it")
    return estimator


def is_multi_label(estimator):
    """Whether the fitted classifier says several labels a sample, each by its own sigmoid."""
    network = estimator.network_
    return isinstance(network.output_activation, Sigmoid) and network.output_shape[-1] > 1


def add_estimator(graph, estimator, x, sample_shape, names):
    """The fitted estimator's network and head on graph value ``x``, samples shaped
    ``sample_shape`` (reshaped to what the network reads where they differ).

    ``names``: the names of the outputs, (label, probabilities) for a classifier, (values,)
    for a regressor. Returns the outputs as ``(name, element type, shape)`` triples."""
    network = estimator.network_
    if tuple(sample_shape) != network.input_shape:
        x = graph.node("input", "Reshape", x, graph.constant("input/shape", [0, *network.input_shape]))
    x = add_network(graph, network, x)
    if is_classifier(estimator):
        return _classifier_outputs(graph, estimator, network, x, *names)
    return [(graph.node("variable", "Identity", x, output=names[0]), "float32", (BATCH, *network.output_shape))]


def _class_labels(classes):
    """The classes as an ONNX constant: int64, or UTF-8 strings (with the element type)."""
    classes = savable_classes(classes)
    if classes.dtype.kind == "U":
        return np.array([label.encode() for label in classes], dtype=object), "string"
    if classes.dtype.kind == "f" and not np.array_equal(classes, np.round(classes)):
        raise ValueError(f"cannot export class labels {classes.tolist()}: ONNX labels are integers or strings")
    return classes.astype(np.int64), "int64"


def _classifier_outputs(graph, estimator, network, p, label_name, probabilities_name):
    """The labels and the probabilities (outputs ``label_name`` and ``probabilities_name``)
    from the network's output p, as ``predict`` and ``predict_proba`` compute them."""
    classes, label_type = _class_labels(estimator.classes_)
    units, head = network.output_shape[-1], network.output_activation
    if len(classes) < 2:
        raise ValueError(f"this {type(estimator).__name__} was fitted on one class ({classes[0]!r}) and predicts it "
                         "for every input: there is nothing to export")
    if is_multi_label(estimator):  # several labels, each its own probability: p > 0.5 says 1
        above = graph.node("label", "Greater", p, graph.constant("label/threshold", 0.5))
        label = graph.node("label", "Cast", above, to=ELEMENT_TYPES["int64"], output=label_name)
        probabilities = graph.node("probabilities", "Identity", p, output=probabilities_name)
        return [(label, "int64", (BATCH, units)), (probabilities, "float32", (BATCH, units))]
    if isinstance(head, Sigmoid):  # two classes: p is the second's; predict says it where p > threshold
        threshold = graph.constant("label/threshold", getattr(estimator, "threshold", 0.5))
        above = graph.node("label", "Greater", p, threshold)
        index = graph.node("label", "Cast", graph.node("label", "Squeeze", above, graph.constant("label/axes", [1])),
                           to=ELEMENT_TYPES["int64"])
        first = graph.node("probabilities", "Sub", graph.constant("probabilities/one", 1.0), p)
        probabilities = graph.node("probabilities", "Concat", first, p, axis=1, output=probabilities_name)
    elif isinstance(head, Softmax):
        index = graph.node("label", "ArgMax", p, axis=1, keepdims=0)
        probabilities = graph.node("probabilities", "Identity", p, output=probabilities_name)
    else:
        raise ValueError(f"cannot export a {type(estimator).__name__} whose network ends in "
                         f"{type(network.layers[-1]).__name__}, not in Sigmoid or Softmax")
    label = graph.node("label", "Gather", graph.constant("label/classes", classes), index, axis=0, output=label_name)
    return [(label, label_type, (BATCH,)), (probabilities, "float32", (BATCH, len(classes)))]
