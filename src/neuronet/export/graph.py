"""A small builder of ONNX graphs: named nodes, constants, and the checked model.

Every node is named ``scope/Operator`` (``dense_0/MatMul``, ``standardscaler/Sub``)
and its one output carries the same name, so a graph reads like the network's
summary in Netron, and an error from a runtime names the layer it comes from.
"""

from __future__ import annotations

import numpy as np

from ..extras import install_command

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # the [onnx] extra
    raise ImportError(f"ONNX export needs the onnx package: {install_command('onnx')}") from None

OPSET = 18  # ai.onnx operator set: ONNX 1.13 (2022) and every ONNX Runtime since 1.14 run it
BATCH = "batch"  # the name of the dynamic first dimension of every input and output

ELEMENT_TYPES = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64, "string": TensorProto.STRING}


class Graph:
    """Nodes and constants, added in order; :meth:`model` turns them into a checked model."""

    def __init__(self):
        self.nodes, self.constants, self._names = [], [], set()

    def _unique(self, name):
        if name in self._names:
            raise ValueError(f"two parts of the graph are both named {name!r}")
        self._names.add(name)
        return name

    def constant(self, name, array):
        """A named constant (weights, a scaler's means): float arrays are stored as float32."""
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        self.constants.append(numpy_helper.from_array(array, self._unique(name)))
        return name

    def node(self, scope, op, *inputs, output=None, **attributes):
        """Add ``op`` on ``inputs`` as node ``scope/op``; returns the name of its output
        (``output`` when given: a graph output takes its public name)."""
        name = self._unique(f"{scope}/{op}")
        output = name if output is None else self._unique(output)
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=name, **attributes))
        return output

    def model(self, name, inputs, outputs, doc=""):
        """The ``ModelProto``, checked by ``onnx.checker`` with full shape inference.

        ``inputs`` and ``outputs``: ``(name, element type, shape)`` triples, with
        :data:`BATCH` for the dynamic batch dimension."""
        graph = helper.make_graph(self.nodes, name, [_value(*spec) for spec in inputs],
                                  [_value(*spec) for spec in outputs], initializer=self.constants, doc_string=doc)
        opsets = [helper.make_opsetid("", OPSET)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="neuronet",
                                  ir_version=helper.find_min_ir_version_for(opsets))
        onnx.checker.check_model(model, full_check=True)
        return model


def _value(name, element_type, shape):
    return helper.make_tensor_value_info(name, ELEMENT_TYPES[element_type], list(shape))


def signature(model):
    """The inputs and the outputs of ``model``, each a list of ``(name, element type,
    shape)`` with :data:`BATCH` for the batch dimension."""
    types = {code: name for name, code in ELEMENT_TYPES.items()}

    def describe(value):
        tensor = value.type.tensor_type
        return value.name, types[tensor.elem_type], tuple(dim.dim_param or dim.dim_value for dim in tensor.shape.dim)

    return [describe(value) for value in model.graph.input], [describe(value) for value in model.graph.output]
