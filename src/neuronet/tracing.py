"""One forward and backward pass, kept layer by layer to be read.

Training never keeps what the chain rule computed on the way: each layer turns
∂J/∂(its output) into ∂J/∂(its input) and the gradients of its parameters, and the next
batch overwrites them. A trace keeps every number of one pass over a few samples
(often one) — each layer's input and output (z = W·a + b, then a = σ(z)), the cost J,
and on the way back ∂J/∂(output), ∂J/∂(input) and ∂J/∂θ for each parameter θ — computed
by the very forward and backward passes that training runs, so that a hand
computation can be checked against them number for number. Nothing changes: the
weights stay, and the network forgets the batch afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LayerTrace:
    """What one layer did in a traced pass (arrays have the batch as first axis).

    ``grad_output`` is ∂J/∂(output) and ``grad_input`` ∂J/∂(input); ``gradients`` maps
    each parameter's name to ∂J/∂θ and ``parameters`` to θ itself, as it was. For the
    output activation (sigmoid or softmax), ``grad_output`` is None: the loss gives
    ∂J/∂z at once, the simpler fused gradient ŷ − y (over m), so ``grad_input`` is that.
    """

    index: int
    name: str
    input: np.ndarray
    output: np.ndarray
    grad_output: np.ndarray | None = None
    grad_input: np.ndarray | None = None
    parameters: dict = field(default_factory=dict)
    gradients: dict = field(default_factory=dict)


@dataclass
class Trace:
    """A traced pass: ``layers`` in order, the ``cost`` J and the network's ``output`` ŷ."""

    layers: list
    cost: float
    output: np.ndarray


def trace(network, x, target, loss):
    """Forward ``x`` through ``network``, take ``loss`` against ``target`` and
    backpropagate, keeping every layer's numbers (see :class:`LayerTrace`).

    ``x`` is a batch, or one sample without the batch axis (then ``target`` is that
    sample's target). The pass runs in evaluation mode, as prediction does: Dropout is
    off and BatchNorm normalises with its running statistics (its training-mode
    backward, through the batch's own mean and variance, is not what a trace shows), so
    the pass is the network's function itself. The weights are left as they were; the gradients are zeroed and
    the cache cleared afterwards, so nothing of ``x`` stays in the network.
    """
    x = np.asarray(x, dtype=network.dtype)
    if network.built and x.shape == network.input_shape:
        x, target = x[None], np.asarray(target)[None]
    network.ensure_built(x)
    records, activation = [], x
    for index, layer in enumerate(network.layers):
        output = layer.forward(activation, training=False)
        records.append(LayerTrace(index, type(layer).__name__, activation.copy(), output.copy(),
                                  parameters={name: value.copy() for name, value in layer.params.items()}))
        activation = output
    body = records[:-1] if network.output_activation is not None else records
    logits = body[-1].output if body else x
    cost = loss.forward(logits, np.asarray(target))
    gradient = loss.backward()
    if network.output_activation is not None:
        records[-1].grad_input = np.array(gradient, copy=True)
    for record, layer in zip(reversed(body), reversed(network.layers[:len(body)])):
        record.grad_output = np.array(gradient, copy=True)
        gradient = layer.backward(gradient)
        record.grad_input = np.array(gradient, copy=True)
        record.gradients = {name: value.copy() for name, value in layer.grads.items()}
    output = records[-1].output
    network.clear()
    return Trace(records, float(cost), output)
