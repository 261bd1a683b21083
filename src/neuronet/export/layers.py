"""Each neuronet layer as ONNX operators, with the same arithmetic at inference.

Images are N × C × H × W in both, and a convolution's weights are F × C × kh × kw in
both, so weights go over as they are. Padding is added on both sides of the height
and width (ONNX ``pads`` = [top, left, bottom, right]); windows that do not fit are
dropped (``ceil_mode`` 0), as ⌊(size + 2p − k) / s⌋ + 1 says. Pooling pads the way
neuronet does, with a Pad node before the pooling: −∞ for max pooling (a pad never
wins), zeros for average pooling (they count in the mean). Dropout is the identity at
inference.
"""

from __future__ import annotations

import numpy as np

from ..layers import (AvgPool2D, Conv2D, Dense, Dropout, Exp, Flatten, Identity, LeakyReLU, MaxPool2D, ReLU,
                      Sigmoid, Softmax, Tanh)
from ..layers import GRU, LSTM, RNN, Embedding  # sequences
from .graph import ELEMENT_TYPES


def _dense(graph, scope, layer, x):
    """Z = X · W + b"""
    z = graph.node(scope, "MatMul", x, graph.constant(f"{scope}/weights", layer.params["weights"]))
    return graph.node(scope, "Add", z, graph.constant(f"{scope}/bias", layer.params["bias"]))


def _conv2d(graph, scope, layer, x):
    weights = graph.constant(f"{scope}/weights", layer.params["weights"])
    return graph.node(scope, "Conv", x, weights, graph.constant(f"{scope}/bias", layer.params["bias"]),
                      kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
                      pads=[*layer.padding, *layer.padding])


def _pooling(op):
    """A converter for a pooling layer: its padding (of ``layer.pad_value``) as a Pad
    node, then ``op`` over the windows of the padded images."""

    def convert(graph, scope, layer, x):
        if any(layer.padding):
            ph, pw = layer.padding
            x = graph.node(scope, "Pad", x, graph.constant(f"{scope}/pads", [ph, pw, ph, pw]),
                           graph.constant(f"{scope}/pad_value", np.float32(layer.pad_value)),
                           graph.constant(f"{scope}/axes", [2, 3]))
        return graph.node(scope, op, x, kernel_shape=list(layer.pool_size), strides=list(layer.stride))

    return convert


def _leaky_relu(graph, scope, layer, x):
    return graph.node(scope, "LeakyRelu", x, alpha=layer.alpha)


def _elementwise(op, **attributes):
    """A converter for a layer that is one ONNX operator on its input."""
    return lambda graph, scope, layer, x: graph.node(scope, op, x, **attributes)


# --- sequences ---------------------------------------------------------------------------
# ONNX's RNN, LSTM and GRU read step-major sequences (T × N × F) and keep each gate's
# weights as rows, W (gates·H × F) where neuronet keeps columns, W (F × gates·H), in
# their own order of gates: LSTM i, o, f, c (neuronet's and PyTorch's i, f, g, o), GRU
# z, r, h (neuronet's r, z, n), with linear_before_reset=1 for the candidate
# n = tanh(x·W_n + b_n + r ⊙ (h·U_n + b_hn)). Their bias B is [input biases, recurrent
# biases] (2·gates·H): neuronet's one bias a gate goes into the first half.
ONNX_GATE_ORDER = {RNN: [0], LSTM: [0, 3, 1, 2], GRU: [1, 0, 2]}


def _embedding(graph, scope, layer, x):
    """out = E[ids]: the (float) ids cast to integers, then a Gather of E's rows."""
    ids = graph.node(scope, "Cast", x, to=ELEMENT_TYPES["int64"])
    return graph.node(scope, "Gather", graph.constant(f"{scope}/weights", layer.params["weights"]), ids, axis=0)


def _recurrent(graph, scope, layer, x):
    """The layer as ONNX's operator of its name, between Transposes to and from step-major;
    its output Y (T × 1 × N × H) holds every state, the last one taken by a Gather."""
    order, size = ONNX_GATE_ORDER[type(layer)], layer.units

    def rows(matrix):  # F × gates·H columns in neuronet's order → 1 × gates·H × F rows in ONNX's
        return np.concatenate([matrix[:, k * size : (k + 1) * size] for k in order], axis=1).T[None]

    bias = layer.params["bias"]
    input_bias = np.concatenate([bias[k * size : (k + 1) * size] for k in order])
    recurrent_bias = np.zeros_like(input_bias)
    attributes = {"hidden_size": size}
    if isinstance(layer, GRU):
        recurrent_bias[2 * size :] = layer.params["recurrent_bias"]  # h, last in both orders
        attributes["linear_before_reset"] = 1
    steps_first = graph.node(f"{scope}/input", "Transpose", x, perm=[1, 0, 2])
    y = graph.node(scope, type(layer).__name__, steps_first,
                   graph.constant(f"{scope}/W", rows(layer.params["weights"])),
                   graph.constant(f"{scope}/R", rows(layer.params["recurrent_weights"])),
                   graph.constant(f"{scope}/B", np.concatenate([input_bias, recurrent_bias])[None]), **attributes)
    if layer.return_sequences:  # T × 1 × N × H → N × T × H
        y = graph.node(f"{scope}/Y", "Squeeze", y, graph.constant(f"{scope}/direction_axis", np.array([1])))
        return graph.node(f"{scope}/output", "Transpose", y, perm=[1, 0, 2])
    last_step = graph.constant(f"{scope}/last_step", np.array(layer.input_shape[0] - 1))
    last = graph.node(f"{scope}/last", "Gather", y, last_step, axis=0)  # 1 × N × H
    return graph.node(f"{scope}/Y_h", "Squeeze", last, graph.constant(f"{scope}/direction_axis", np.array([0])))


# By exact class: a subclass may compute something else, and is refused by name.
CONVERTERS = {
    Dense: ("dense", _dense),
    Conv2D: ("conv2d", _conv2d),
    MaxPool2D: ("max_pool2d", _pooling("MaxPool")),
    AvgPool2D: ("avg_pool2d", _pooling("AveragePool")),
    Flatten: ("flatten", _elementwise("Flatten", axis=1)),
    Dropout: ("dropout", _elementwise("Identity")),
    Identity: ("identity", _elementwise("Identity")),
    Sigmoid: ("sigmoid", _elementwise("Sigmoid")),
    Tanh: ("tanh", _elementwise("Tanh")),
    ReLU: ("relu", _elementwise("Relu")),
    LeakyReLU: ("leaky_relu", _leaky_relu),
    Softmax: ("softmax", _elementwise("Softmax", axis=-1)),
    Exp: ("exp", _elementwise("Exp")),
}
CONVERTERS.update({Embedding: ("embedding", _embedding), RNN: ("rnn", _recurrent), LSTM: ("lstm", _recurrent),
                   GRU: ("gru", _recurrent)})  # sequences


def add_network(graph, network, x):
    """Every layer of ``network`` applied to graph value ``x``, node scopes named after
    the layer and its place (``dense_0``, ``relu_1``); returns the network's output."""
    for index, layer in enumerate(network.layers):
        if type(layer) not in CONVERTERS:
            known = ", ".join(cls.__name__ for cls in CONVERTERS)
            raise ValueError(f"cannot export layer {index}, {type(layer).__name__}: ONNX export knows {known}")
        name, convert = CONVERTERS[type(layer)]
        x = convert(graph, f"{name}_{index}", layer, x)
    return x
