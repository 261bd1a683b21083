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
    """Z = X · W + b (Z = X · W for a layer without a bias)"""
    z = graph.node(scope, "MatMul", x, graph.constant(f"{scope}/weights", layer.params["weights"]))
    if not layer.bias:
        return z
    return graph.node(scope, "Add", z, graph.constant(f"{scope}/bias", layer.params["bias"]))


def _conv2d(graph, scope, layer, x):
    weights = graph.constant(f"{scope}/weights", layer.params["weights"])
    bias = [graph.constant(f"{scope}/bias", layer.params["bias"])] if layer.bias else []  # Conv's bias is optional
    return graph.node(scope, "Conv", x, weights, *bias,
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


# --- issue 26: residual blocks and global average pooling ----------------------------------------
from ..layers import GlobalAveragePooling2D, Residual  # noqa: E402  (their own block, for a clean merge)


def _global_average_pooling(graph, scope, layer, x):
    """GlobalAveragePool gives N × C × 1 × 1; Flatten makes it the layer's N × C."""
    return graph.node(scope, "Flatten", graph.node(scope, "GlobalAveragePool", x), axis=1)


def _residual(graph, scope, layer, x):
    """y = x + F(x) (or P·x + F(x)): F's layers in a row, scopes ``residual_3/conv2d_0``,
    the projection's ``residual_3/projection``, and one Add node."""
    inner = _add_layers(graph, layer.layers, x, f"{scope}/")
    shortcut = x
    if layer.shortcut is not None:
        shortcut = _add_layers(graph, [layer.shortcut], x, f"{scope}/", names=["projection"])
    return graph.node(scope, "Add", inner, shortcut)


CONVERTERS[GlobalAveragePooling2D] = ("global_average_pooling2d", _global_average_pooling)
CONVERTERS[Residual] = ("residual", _residual)


def _add_layers(graph, layers, x, prefix="", names=None):
    """``layers`` applied in a row to graph value ``x``, scopes ``<prefix><name>_<place>``
    (or ``<prefix><names[i]>``)."""
    for index, layer in enumerate(layers):
        if type(layer) not in CONVERTERS:
            known = ", ".join(cls.__name__ for cls in CONVERTERS)
            raise ValueError(f"cannot export layer {prefix}{index}, {type(layer).__name__}: ONNX export knows {known}")
        name, convert = CONVERTERS[type(layer)]
        x = convert(graph, f"{prefix}{name}_{index}" if names is None else f"{prefix}{names[index]}", layer, x)
    return x
# --- end of issue 26's block ------------------------------------------------------------------------


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


# --- normalisation: BatchNorm (in evaluation, its running statistics) and LayerNorm ---------
from ..layers import BatchNorm, LayerNorm  # noqa: E402


def _batch_norm(graph, scope, layer, x):
    """y = γ (x − μ_run) / √(σ²_run + ε) + β, per channel (axis 1): BatchNormalization in
    inference mode, for N × C, N × C × L and N × C × H × W alike."""
    arrays = [graph.constant(f"{scope}/{name}", array) for name, array in (
        ("gamma", layer.params["gamma"]), ("beta", layer.params["beta"]),
        ("running_mean", layer.buffers["running_mean"]), ("running_var", layer.buffers["running_var"]))]
    return graph.node(scope, "BatchNormalization", x, *arrays, epsilon=layer.epsilon)


def _layer_norm(graph, scope, layer, x):
    """y = γ ⊙ (x − μ) / √(σ² + ε) + β over each sample's last ``dims`` dimensions:
    LayerNormalization (operator set 17 and later)."""
    return graph.node(scope, "LayerNormalization", x, graph.constant(f"{scope}/gamma", layer.params["gamma"]),
                      graph.constant(f"{scope}/beta", layer.params["beta"]), axis=-layer.dims,
                      epsilon=layer.epsilon)


CONVERTERS.update({
    BatchNorm: ("batch_norm", _batch_norm),
    LayerNorm: ("layer_norm", _layer_norm),
})


# --- issue 26: attention, positions, the encoder block and the layers over sequences -----------------
from ..layers import (GlobalAveragePooling1D, MultiHeadSelfAttention, PositionalEncoding,  # noqa: E402
                      TimeDistributed, TransformerEncoderBlock)


def _self_attention(graph, scope, layer, x):
    """Q, K, V as MatMul and Add, split into h heads by Reshape (N × T × h × d) and Transpose
    (N × h × T × d, the keys N × h × d × T); S = Q · Kᵀ / √d (+ M, −∞ above the diagonal when
    causal); A = Softmax(S) on the last axis; the heads' A · V side by side again by Transpose
    and Reshape; then · W_o + b_o."""
    steps, features = layer.input_shape
    heads_shape = graph.constant(f"{scope}/heads_shape", np.array([0, steps, layer.heads, layer.head_width]))

    def linear(name, z):
        z = graph.node(f"{scope}/{name}", "MatMul", z, graph.constant(f"{scope}/{name}_weights",
                                                                        layer.params[f"{name}_weights"]))
        bias = graph.constant(f"{scope}/{name}_bias", layer.params[f"{name}_bias"])
        return graph.node(f"{scope}/{name}", "Add", z, bias)

    def heads(name, perm):
        z = graph.node(f"{scope}/{name}", "Reshape", linear(name, x), heads_shape)
        return graph.node(f"{scope}/{name}", "Transpose", z, perm=perm)

    q, k, v = heads("query", [0, 2, 1, 3]), heads("key", [0, 2, 3, 1]), heads("value", [0, 2, 1, 3])
    scores = graph.node(f"{scope}/scores", "MatMul", q, k)
    scores = graph.node(f"{scope}/scores", "Mul", scores,
                        graph.constant(f"{scope}/scale", np.float32(1 / np.sqrt(layer.head_width))))
    mask = layer.mask(steps)
    if mask is not None:
        scores = graph.node(f"{scope}/scores", "Add", scores,
                            graph.constant(f"{scope}/mask", np.where(mask, -np.inf, 0.0).astype(np.float32)))
    weights = graph.node(scope, "Softmax", scores, axis=-1)
    o = graph.node(f"{scope}/heads", "MatMul", weights, v)
    o = graph.node(f"{scope}/heads", "Transpose", o, perm=[0, 2, 1, 3])
    merged_shape = graph.constant(f"{scope}/merged_shape", np.array([0, steps, features]))
    o = graph.node(f"{scope}/heads", "Reshape", o, merged_shape)
    return linear("output", o)


def _positional_encoding(graph, scope, layer, x):
    """Y = X + P, P a constant (T × D) broadcast over the batch."""
    return graph.node(scope, "Add", x, graph.constant(f"{scope}/positions", layer.table))


def _time_distributed(graph, scope, layer, x):
    """The steps as one batch (Reshape to N·T × …), the layer, and back (N × T × …)."""
    steps, step_shape = layer.input_shape[0], layer.input_shape[1:]
    out = layer.layer.output_shape(step_shape)
    x = graph.node(scope, "Reshape", x, graph.constant(f"{scope}/steps_as_samples", np.array([-1, *step_shape])))
    x = _add_layers(graph, [layer.layer], x, f"{scope}/")
    return graph.node(f"{scope}/back", "Reshape", x, graph.constant(f"{scope}/samples_as_steps",
                                                                       np.array([-1, steps, *out])))


def _global_average_pooling1d(graph, scope, layer, x):
    """The mean over the steps (axis 1), that axis dropped."""
    return graph.node(scope, "ReduceMean", x, graph.constant(f"{scope}/axes", np.array([1])), keepdims=0)


def _encoder_block(graph, scope, layer, x):
    """The parts in a row, scopes ``transformer_encoder_block_3/attention`` (a residual block:
    ``…/attention/multi_head_self_attention_1``, its Add ``…/attention/Add``), ``…/feedforward``."""
    names, parts = zip(*layer.parts)
    return _add_layers(graph, list(parts), x, f"{scope}/", names=list(names))


CONVERTERS.update({
    MultiHeadSelfAttention: ("multi_head_self_attention", _self_attention),
    PositionalEncoding: ("positional_encoding", _positional_encoding),
    TimeDistributed: ("time_distributed", _time_distributed),
    GlobalAveragePooling1D: ("global_average_pooling1d", _global_average_pooling1d),
    TransformerEncoderBlock: ("transformer_encoder_block", _encoder_block),
})
