"""Whole models as ONNX graphs: the preprocessing, the network, and the estimator's head.

:func:`to_onnx` builds one graph with input ``X``: float32 with a dynamic batch dimension,
one sample shaped as the model's ``predict`` takes it (rows of features, or N × C × H × W
images already decoded and resized). Its outputs:

- a classifier: ``output_label`` (int64, or strings when the classes are strings) and
  ``output_probability`` (float32, one N × K tensor, columns in the order of ``classes_``);
  a multi-label classifier gives the 0/1 labels and the K probabilities (N × K each);
- a regressor: ``variable`` (float32, N × outputs);
- a bare network (``nn.Sequential``): ``output``, its forward pass.

These are the names skl2onnx gives scikit-learn classifiers with its ZipMap, though the
probabilities stay one tensor (skl2onnx's ``zipmap=False`` calls them ``label`` and
``probabilities``). A pipeline with steps other than the scalers is converted by skl2onnx
(:mod:`.converters` converts the estimator at its end) into the same input and outputs.
"""

from __future__ import annotations

import numpy as np
import onnx
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

from ..extras import install_command
from ..files import write_atomically
from ..network import Sequential
from ..preprocessing import ImageScaler, PlaneFeatures, final_estimator, step_names, transformers_of
from .estimator import add_estimator, fitted_estimator, public_outputs
from .graph import BATCH, OPSET, Graph
from .layers import add_network

INPUT = "X"


def to_onnx(model, path=None, *, image_shape=None):
    """The ONNX graph of a model, checked by ``onnx.checker`` (and written to ``path``).

    Parameters
    ----------
    model : nn.Sequential, fitted estimator, or Pipeline ending in an estimator
        What :func:`neuronet.load` returns, or any pipeline skl2onnx converts. The scalers
        (StandardScaler, MinMaxScaler, MaxAbsScaler, neuronet's ImageScaler) become
        elementwise nodes before the network; a pipeline with other steps (a PCA, a
        ColumnTransformer over numeric columns) is converted by skl2onnx, its input ``X`` the
        ``n_features_in_`` columns as one float32 tensor (``skl2onnx.to_onnx`` itself gives a
        table one input a column).
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
        Operator set 18; see this module's description for its input and outputs: the
        same whichever converts the pipeline.

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
    estimator = fitted_estimator(final_estimator(model))
    transformers = list(zip(step_names(model) or [], transformers_of(model)))
    if any(type(transformer) not in SCALERS and type(transformer) is not PlaneFeatures
           for _, transformer in transformers):
        return _pipeline_by_skl2onnx(model, estimator)
    network = estimator.network_
    sample_shape = input_shape = _sample_shape(estimator, network, image_shape)
    x = INPUT
    for name, step in transformers:
        x = (_add_plane_features if type(step) is PlaneFeatures else _add_scaler)(graph, name, step, x)
    if any(type(step) is PlaneFeatures for _, step in transformers):  # it reads the points, not the features
        input_shape = (int(transformers[0][1].n_features_in_),)
    outputs = add_estimator(graph, estimator, x, sample_shape, public_outputs(estimator))
    return graph.model(type(estimator).__name__, [(INPUT, "float32", (BATCH, *input_shape))], outputs)


def _pipeline_by_skl2onnx(model, estimator):
    """A pipeline with steps other than the scalers, converted by skl2onnx (the estimator at
    its end by :mod:`.converters`) into the input ``X`` of ``n_features_in_`` float32 columns
    and the outputs of :func:`.estimator.public_outputs`."""
    try:
        from skl2onnx import to_onnx as skl2onnx_to_onnx
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError:  # the [onnx] extra
        name, step = next((name, step) for name, step in zip(step_names(model), transformers_of(model))
                          if type(step) not in SCALERS and type(step) is not PlaneFeatures)
        raise ValueError(f"cannot export the pipeline step {name!r}, a {type(step).__name__}: neuronet exports "
                         f"{', '.join(cls.__name__ for cls in SCALERS)}, and skl2onnx the other steps: "
                         f"{install_command('onnx')}") from None
    if _picks_columns_by_name(model):
        raise ValueError("this pipeline picks its columns by name (a ColumnTransformer fitted on a DataFrame): "
                         "convert it with skl2onnx.to_onnx(model, X[:1]) after import neuronet.export, which "
                         "gives the graph one input a column")
    try:
        proto = skl2onnx_to_onnx(model, initial_types=[(INPUT, FloatTensorType([None, model.n_features_in_]))],
                                 target_opset=OPSET, options={id(estimator): {"zipmap": False}},
                                 final_types=[(name, None) for name in public_outputs(estimator)])
    except RuntimeError as error:  # skl2onnx's MissingShapeCalculator, MissingConverter, ...
        raise ValueError(f"skl2onnx cannot convert this pipeline: {str(error).strip().splitlines()[0]}") from None
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _picks_columns_by_name(model):
    """Whether a step of the pipeline is a ColumnTransformer that selects columns by their names."""
    return any(isinstance(step, ColumnTransformer) and
               any(np.asarray(columns).dtype.kind in "OU" for _, _, columns in step.transformers_)
               for step in transformers_of(model))


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


def _add_plane_features(graph, name, features, x):
    """PlaneFeatures: the columns x₁ and x₂ (Gather), each feature from them (Mul, Sin),
    side by side (Concat)."""
    columns = [graph.node(f"{name}/x{k + 1}", "Gather", x, graph.constant(f"{name}/column{k + 1}", np.array([k])),
                          axis=1) for k in range(2)]
    made = {"x1": columns[0], "x2": columns[1]}
    recipes = {"x1^2": ("Mul", 0, 0), "x2^2": ("Mul", 1, 1), "x1*x2": ("Mul", 0, 1), "sin(x1)": ("Sin", 0),
               "sin(x2)": ("Sin", 1)}
    for feature in features.features:
        if feature not in made:
            op, *of = recipes[feature]
            made[feature] = graph.node(f"{name}/{feature}", op, *(columns[k] for k in of))
    return graph.node(name, "Concat", *(made[feature] for feature in features.features), axis=1)


def _add_scaler(graph, name, scaler, x):
    if type(scaler) not in SCALERS:
        raise ValueError(f"cannot export the pipeline step {name!r}, a {type(scaler).__name__}: ONNX export "
                         f"knows {', '.join(cls.__name__ for cls in SCALERS)}")
    for op, value_name, value in SCALERS[type(scaler)](scaler):
        if value is not None:
            x = graph.node(name, op, x, graph.constant(f"{name}/{value_name}", value))
    return x
