"""skl2onnx converters for neuronet's estimators: a pipeline skl2onnx knows that ends in
``LogisticRegression``, ``MLPClassifier``, ``MLPRegressor``, ``CNNClassifier`` or
``SequenceClassifier`` (reading flat rows) converts with ``skl2onnx.to_onnx``, by skl2onnx's own conventions.

:func:`register` (run when :mod:`neuronet.export` is imported, where skl2onnx is
installed) gives skl2onnx a shape calculator and a converter for each of the five,
with ``update_registered_converter``. The converter adds the network and the head that
:func:`neuronet.to_onnx` builds (:func:`.estimator.add_estimator`) to skl2onnx's
graph. The outputs are skl2onnx's: a classifier's ``label`` and ``probabilities`` (one
N × K float32 tensor) with ``options={id(classifier): {"zipmap": False}}``, or by
default ``output_label`` and ``output_probability``, the probabilities as a list of
{class: probability} maps (its ZipMap); a regressor's ``variable`` (N × outputs). The
network computes in float32: its input must be a FloatTensorType.
"""

from __future__ import annotations

import numpy as np
from onnx import numpy_helper
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types

from ..estimators import CNNClassifier, LogisticRegression, MLPClassifier, MLPRegressor
from ..estimators import SequenceClassifier  # issue 26
from .estimator import add_estimator, fitted_estimator, is_multi_label
from .graph import ELEMENT_TYPES, OPSET


class ScopeGraph:
    """The ``constant`` and ``node`` calls of :class:`.graph.Graph`, written into
    skl2onnx's scope (which keeps every name unique) and container."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def constant(self, name, array):
        """A constant named after ``name``: float arrays are stored as float32, object
        arrays (class labels, UTF-8 bytes) as strings."""
        array = np.asarray(array)
        name = self.scope.get_unique_variable_name(name)
        if array.dtype == object:
            self.container.add_initializer(name, ELEMENT_TYPES["string"], list(array.shape), list(array.ravel()))
        else:
            tensor = numpy_helper.from_array(array.astype(np.float32) if array.dtype.kind == "f" else array)
            self.container.add_initializer(name, tensor.data_type, list(array.shape), tensor)
        return name

    def node(self, scope, op, *inputs, output=None, **attributes):
        """Add ``op`` on ``inputs`` as a node named after ``scope/op``; returns its output
        (``output`` when given: an output of skl2onnx's operator)."""
        name = self.scope.get_unique_operator_name(f"{scope}/{op}")
        output = output or self.scope.get_unique_variable_name(f"{scope}/{op}")
        self.container.add_node(op, list(inputs), [output], name=name, **attributes)
        return output


def _fitted(operator):
    """The operator's estimator, fitted and not multi-label, read by a float input."""
    estimator = fitted_estimator(operator.raw_operator)
    check_input_and_output_types(operator, good_input_types=[FloatTensorType, DoubleTensorType])
    if is_multi_label(estimator):
        raise ValueError(f"skl2onnx cannot convert a multi-label {type(estimator).__name__}: "
                         "neuronet.to_onnx exports it")
    return estimator


def calculate_classifier_shapes(operator):
    """skl2onnx's shapes for a classifier: label (N,) and probabilities (N × K), float32
    as the network computes them."""
    _fitted(operator)
    calculate_linear_classifier_output_shapes(operator)
    operator.outputs[1].type = FloatTensorType(operator.outputs[1].type.shape)


def calculate_regressor_shapes(operator):
    """The regressor's values: float32, N × outputs."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    estimator = _fitted(operator)
    batch = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([batch, *estimator.network_.output_shape])


def convert(scope, operator, container):
    """The estimator's network and head, from the operator's input to its outputs."""
    if container.target_opset < OPSET:
        raise ValueError(f"neuronet's estimators convert to ONNX operator set {OPSET} or later, "
                         f"not {container.target_opset}: give target_opset={OPSET}")
    graph, x = ScopeGraph(scope, container), operator.inputs[0]
    features = x.full_name if isinstance(x.type, FloatTensorType) else \
        graph.node("input", "Cast", x.full_name, to=ELEMENT_TYPES["float32"])  # float64 columns, as predict does
    add_estimator(graph, operator.raw_operator, features, tuple(x.type.shape[1:]),
                  [output.full_name for output in operator.outputs])


CLASSIFIER_OPTIONS = {"zipmap": [True, False], "nocl": [False]}
SHAPES = {LogisticRegression: calculate_classifier_shapes, MLPClassifier: calculate_classifier_shapes,
          CNNClassifier: calculate_classifier_shapes, MLPRegressor: calculate_regressor_shapes,
          SequenceClassifier: calculate_classifier_shapes}


def register():
    """Register the five estimators with skl2onnx (as ``Neuronet<class name>``)."""
    for estimator, shapes in SHAPES.items():
        options = CLASSIFIER_OPTIONS if shapes is calculate_classifier_shapes else None
        update_registered_converter(estimator, f"Neuronet{estimator.__name__}", shapes, convert, options=options)
