"""Whole models as ONNX graphs: the preprocessing, the network, and the estimator's head.

A graph takes input ``X``: float32 with a dynamic batch dimension, one sample shaped
as the model's ``predict`` takes it (rows of features, or N × C × H × W images already
decoded and resized). Its outputs are those of scikit-learn models converted by
skl2onnx with ``zipmap=False``:

- a classifier: ``label`` (int64, or strings when the classes are strings) and
  ``probabilities`` (float32, N × K, columns in the order of ``classes_``); a
  multi-label classifier gives the K probabilities and the 0/1 labels (N × K);
- a regressor: ``variable`` (float32, N × outputs);
- a bare network (``nn.Sequential``): ``output``, its forward pass.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import is_classifier
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

from ..estimators import NeuralEstimator
from ..estimators.base import savable_classes
from ..files import write_atomically
from ..layers import Sigmoid, Softmax
from ..network import Sequential
from ..preprocessing import ImageScaler, final_estimator, step_names, transformers_of
from .graph import BATCH, ELEMENT_TYPES, Graph
from .layers import add_network

INPUT = "X"


def to_onnx(model, path=None, *, image_shape=None):
    """The ONNX graph of a model, checked by ``onnx.checker`` (and written to ``path``).

    Parameters
    ----------
    model : nn.Sequential, fitted estimator, or Pipeline of scalers and an estimator
        What :func:`neuronet.load` returns. The scalers (StandardScaler, MinMaxScaler,
        MaxAbsScaler, neuronet's ImageScaler) become elementwise nodes before the network.
    path : str or path-like, optional
        Where to write the ``.onnx`` file (atomically).
    image_shape : tuple of int, optional
        (channels, height, width) of one image, for a model fitted on images whose
        network reads them flattened (``neuronet train --model mlp`` on images): the
        graph then takes images, as ``predict`` does. ``neuronet export`` takes it
        from the model file. A network takes samples of its ``input_shape``.

    Returns
    -------
    onnx.ModelProto
        Operator set 18; see this module's description for its input and outputs.

    Examples
    --------
    >>> import onnxruntime  # doctest: +SKIP
    >>> session = onnxruntime.InferenceSession(to_onnx(model).SerializeToString())  # doctest: +SKIP
    >>> labels, probabilities = session.run(None, {"X": X.astype("float32")})  # doctest: +SKIP
    """
    graph = Graph()
    if isinstance(model, Sequential):
        proto = _network_graph(graph, model, image_shape)
    else:
        proto = _estimator_graph(graph, model, image_shape)
    if path is not None:
        write_atomically(path, lambda file: file.write(proto.SerializeToString()))
    return proto


def _network_graph(graph, network, image_shape):
    if not network.built:
        raise ValueError("build the network (give input_shape or run it once) before exporting it")
    if image_shape is not None and tuple(image_shape) != network.input_shape:
        raise ValueError(f"image_shape {tuple(image_shape)} is not the network's input_shape {network.input_shape}")
    output = graph.node("output", "Identity", add_network(graph, network, INPUT), output="output")
    return graph.model("Sequential", [(INPUT, "float32", (BATCH, *network.input_shape))],
                       [(output, "float32", (BATCH, *network.output_shape))])


def _estimator_graph(graph, model, image_shape):
    estimator = final_estimator(model)
    if not isinstance(estimator, NeuralEstimator):
        raise ValueError(f"cannot export a {type(estimator).__name__}: ONNX export takes an nn.Sequential, or a "
                         "neuronet estimator (alone or at the end of a Pipeline of scalers)"
                         + (" (its policy network, .policy, is an nn.Sequential)"
                            if isinstance(getattr(estimator, "policy", None), Sequential) else ""))
    if not hasattr(estimator, "network_"):
        raise ValueError(f"fit the {type(estimator).__name__} before exporting it")
    network = estimator.network_
    sample_shape = _sample_shape(estimator, network, image_shape)
    x = INPUT
    for name, scaler in zip(step_names(model) or [], transformers_of(model)):
        x = _add_scaler(graph, name, scaler, x)
    if sample_shape != network.input_shape:
        x = graph.node("input", "Reshape", x, graph.constant("input/shape", [0, *network.input_shape]))
    x = add_network(graph, network, x)
    outputs = _classifier_outputs(graph, estimator, network, x) if is_classifier(estimator) else [
        (graph.node("variable", "Identity", x, output="variable"), "float32", (BATCH, *network.output_shape))]
    return graph.model(type(estimator).__name__, [(INPUT, "float32", (BATCH, *sample_shape))], outputs)


def _sample_shape(estimator, network, image_shape):
    """One sample as ``predict`` takes it: a row of ``n_features_in_`` values, or an
    image with ``n_features_in_`` channels (``n_features_in_`` counts the first axis)."""
    name, features, taken = type(estimator).__name__, int(np.prod(network.input_shape)), int(estimator.n_features_in_)
    if image_shape is not None:
        shape = tuple(int(size) for size in image_shape)
    elif taken == network.input_shape[0]:  # rows, or images, as the network reads them
        shape = network.input_shape
    elif taken == features:  # rows of pixels that the network reads as images
        shape = (features,)
    else:
        raise ValueError(f"this {name} was fitted on samples shaped ({taken}, ...) and its network reads {features} "
                         "values a sample: give image_shape=(channels, height, width), one sample's shape")
    if int(np.prod(shape)) != features or shape[0] != taken:
        raise ValueError(f"image_shape {shape} does not fit this {name}, fitted on samples of {features} values "
                         f"shaped ({taken}, ...)")
    return shape


# --- preprocessing ----------------------------------------------------------------------
def _standard(scaler):
    """x' = (x − mean_) / scale_, each part only where with_mean, with_std ask for it."""
    return [("Sub", "mean_", scaler.mean_ if scaler.with_mean else None),
            ("Div", "scale_", scaler.scale_ if scaler.with_std else None)]


def _min_max(scaler):
    """x' = x · scale_ + min_, then clipped to feature_range where clip=True."""
    low, high = scaler.feature_range
    clipped = [("Max", "low", float(low)), ("Min", "high", float(high))] if scaler.clip else []
    return [("Mul", "scale_", scaler.scale_), ("Add", "min_", scaler.min_), *clipped]


def _max_abs(scaler):
    """x' = x / scale_: a MaxAbsScaler's largest |x| of each feature (1 where that was 0),
    an ImageScaler's largest value the images' source stores."""
    return [("Div", "scale_", scaler.scale_)]


# Each scaler as elementwise steps: (ONNX operator, name, per-feature value or None to skip)
SCALERS = {StandardScaler: _standard, MinMaxScaler: _min_max, MaxAbsScaler: _max_abs, ImageScaler: _max_abs}


def _add_scaler(graph, name, scaler, x):
    if type(scaler) not in SCALERS:
        raise ValueError(f"cannot export the pipeline step {name!r}, a {type(scaler).__name__}: ONNX export "
                         f"knows {', '.join(cls.__name__ for cls in SCALERS)}")
    for op, value_name, value in SCALERS[type(scaler)](scaler):
        if value is not None:
            x = graph.node(name, op, x, graph.constant(f"{name}/{value_name}", value))
    return x


# --- the estimator's head -----------------------------------------------------------------
def _class_labels(classes):
    """The classes as an ONNX constant: int64, or UTF-8 strings (with the element type)."""
    classes = savable_classes(classes)
    if classes.dtype.kind == "U":
        return np.array([label.encode() for label in classes], dtype=object), "string"
    if classes.dtype.kind == "f" and not np.array_equal(classes, np.round(classes)):
        raise ValueError(f"cannot export class labels {classes.tolist()}: ONNX labels are integers or strings")
    return classes.astype(np.int64), "int64"


def _classifier_outputs(graph, estimator, network, p):
    """``output_label`` and ``output_probability`` from the network's output p, as ``predict`` and
    ``predict_proba`` compute them."""
    classes, label_type = _class_labels(estimator.classes_)
    units, head = network.output_shape[-1], network.output_activation
    if len(classes) < 2:
        raise ValueError(f"this {type(estimator).__name__} was fitted on one class ({classes[0]!r}) and predicts it "
                         "for every input: there is nothing to export")
    if isinstance(head, Sigmoid) and units > 1:  # several labels, each its own probability: p > 0.5 says 1
        above = graph.node("label", "Greater", p, graph.constant("label/threshold", 0.5))
        label = graph.node("label", "Cast", above, to=ELEMENT_TYPES["int64"], output="output_label")
        probabilities = graph.node("probabilities", "Identity", p, output="output_probability")
        return [(label, "int64", (BATCH, units)), (probabilities, "float32", (BATCH, units))]
    if isinstance(head, Sigmoid):  # two classes: p is the second's; predict says it where p > threshold
        threshold = graph.constant("label/threshold", getattr(estimator, "threshold", 0.5))
        above = graph.node("label", "Greater", p, threshold)
        index = graph.node("label", "Cast", graph.node("label", "Squeeze", above, graph.constant("label/axes", [1])),
                           to=ELEMENT_TYPES["int64"])
        first = graph.node("probabilities", "Sub", graph.constant("probabilities/one", 1.0), p)
        probabilities = graph.node("probabilities", "Concat", first, p, axis=1, output="output_probability")
    elif isinstance(head, Softmax):
        index = graph.node("label", "ArgMax", p, axis=1, keepdims=0)
        probabilities = graph.node("probabilities", "Identity", p, output="output_probability")
    else:
        raise ValueError(f"cannot export a {type(estimator).__name__} whose network ends in "
                         f"{type(network.layers[-1]).__name__}, not in Sigmoid or Softmax")
    label = graph.node("label", "Gather", graph.constant("label/classes", classes), index, axis=0, output="output_label")
    return [(label, label_type, (BATCH,)), (probabilities, "float32", (BATCH, len(classes)))]
