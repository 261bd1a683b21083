"""Saving and loading models: one file, written atomically, loaded without executing code.

A model file is the container of :mod:`neuronet.files` (raw arrays behind a bounded
JSON header). What its metadata holds — the schema, format version 2 — is written
out in ``docs/model-format.md``: the kind of model, the architecture, the
estimator's parameters and fitted state, the preprocessing, the input it expects, the
training history (as float arrays) and the caller's ``extra`` information. Files of
format version 1 (a zip of ``.npy`` members) still load: :func:`_migrate_version_1`
turns their metadata into the current schema.

Loading checks every claim of a file before acting on it: each declared shape against
the stored weights and the limits (nothing is allocated from a claim), every metadata
value for its type and range (the estimator's parameters as its ``fit`` would, its
classes against the output layer, the scalers' arrays, the command line's recipe), so
a forged or damaged file is one :class:`~neuronet.files.ModelFileError`, never a model
with another meaning.
"""

from __future__ import annotations

import math
import os

import numpy as np
from sklearn.base import is_classifier

from .estimators import CNNClassifier, LogisticRegression, MLPClassifier, MLPRegressor, NeuralEstimator
from .estimators import SequenceClassifier  # issue 26: recurrent cells behind the same interface
from .files import ModelFileError, load_file, save_file, tree_from_file, tree_to_file
from .layers import LAYERS, Conv2D, Dense, Exp, Sigmoid, Softmax, layer_description
from .layers import Residual  # issue 26: a block's arrays, known without allocating them
from .network import Sequential
from .preprocessing import TRANSFORMERS, PlaneFeatures, final_estimator, step_names, transformer_from_state, \
    transformer_state, transformers_of, with_preprocessing
from .validation import validate_params

ESTIMATORS = {cls.__name__: cls for cls in (LogisticRegression, MLPClassifier, MLPRegressor, CNNClassifier,
                                            SequenceClassifier)}


def _network_tree(network):
    if not network.built:
        raise ValueError("build the network (give input_shape or run it once) before saving it")
    return {"config": _saved_config(network), **_saved_arrays(network)}


def _saved_config(network):
    """The network's config, each layer by its registered name (an unregistered layer, or
    one whose config is not JSON-safe, is refused in one line: a file holds no code)."""
    for index, layer in enumerate(network.layers):
        _check_parts(layer, str(index))
    return {**network.get_config(), "layers": [layer_description(index, layer)
                                               for index, layer in enumerate(network.layers)]}


def _check_parts(layer, where):
    """A residual block's parts, each registered with a JSON-safe config, as a network's
    layers must be (ValueError in one line naming the part, "2.0", otherwise)."""
    if type(layer) is Residual:
        parts = [(str(number), part) for number, part in enumerate(layer.layers)]
        for name, part in parts + ([("projection", layer.projection)] if layer.projection is not None else []):
            layer_description(f"{where}.{name}", part)
            _check_parts(part, f"{where}.{name}")
    if type(layer) is TimeDistributed:  # issue 26: the layer it applies to every step
        layer_description(f"{where}.layer", layer.layer)
        _check_parts(layer.layer, f"{where}.layer")


def _saved_arrays(network):
    """{"weights": the trained parameters} and, when some layer has any, {"buffers": the
    arrays of the layers' state that are not trained}, each by key ("1/count")."""
    weights = {key: param.copy() for key, param, _ in network.named_parameters()}
    buffers = {key: buffer.copy() for key, buffer in network.named_buffers()}
    return {"weights": weights, **({"buffers": buffers} if buffers else {})}


def _plain_params(estimator):
    """``get_params()`` as JSON can hold it (a dtype given as ``np.float32`` becomes "float32",
    an :class:`~neuronet.augment.Augmentation` its settings)."""
    params = estimator.get_params()
    if params.get("dtype") is not None:
        params["dtype"] = np.dtype(params["dtype"]).name
    if hasattr(params.get("augment"), "get_config"):
        params["augment"] = params["augment"].get_config()
    return params


def _model_tree(model):
    """The schema's view of a network, an estimator, or a pipeline ending in one."""
    if isinstance(model, Sequential):
        return {"kind": "network", "network": _network_tree(model), "preprocessing": [],
                "input": {"shape": list(model.input_shape), "dtype": model.dtype.name}}
    estimator = final_estimator(model)
    if not isinstance(estimator, NeuralEstimator) or type(estimator).__name__ not in ESTIMATORS:
        raise ValueError(f"cannot save a {type(estimator).__name__}: save neuronet networks and estimators "
                         "(alone or at the end of a Pipeline)")
    if not hasattr(estimator, "network_"):
        raise ValueError(f"fit the {type(estimator).__name__} before saving it")
    state = {**_curves_as_arrays(estimator.get_fitted_state()), **_feature_names_of(estimator)}
    network = state.pop("network")
    return {
        "kind": "estimator", "network": _network_tree(network),
        "estimator": {"class": type(estimator).__name__, "params": _plain_params(estimator), "state": state},
        "preprocessing": [_step_state(step) for step in transformers_of(model)],
        "steps": step_names(model),
        "input": {"shape": list(network.input_shape), "dtype": network.dtype.name,
                  "n_features": int(np.prod(network.input_shape)), **_raw_input_range(model)},
    }


def _feature_names_of(fitted):
    """{"feature_names_in": the column names} of a step or estimator fitted on a
    DataFrame (its column checks: the names and their order), or {}."""
    names = getattr(fitted, "feature_names_in_", None)
    return {} if names is None else {"feature_names_in": np.asarray(names, dtype=str)}


def _step_state(step):
    """A preprocessing step's tree: its class, parameters, fitted arrays and feature
    names, and {"output": "pandas"} (or "polars") when it gives DataFrames
    (``set_output``), so that the estimator after it is given the columns it checks."""
    output = getattr(step, "_sklearn_output_config", {}).get("transform")
    return {**transformer_state(step), **_feature_names_of(step), **({"output": output} if output in OUTPUTS else {})}


_CURVES = ("loss_curve", "validation_scores")  # scikit-learn's MLPs' lists of one value an epoch


def _curves_as_arrays(state):
    """The fitted state with its per-epoch curves as float64 arrays: stored as tensors, they
    leave the header's size independent of the number of epochs (as JSON they took 20
    bytes an epoch, and a header holds at most 1 MiB)."""
    return {key: np.asarray(value, dtype=np.float64) if key in _CURVES and isinstance(value, list) else value
            for key, value in state.items()}


def _raw_input_range(model):
    """{"range": [smallest, largest]}: the raw input values seen in training — the
    estimator's range of each input value, mapped back through the preprocessing (each
    step an increasing affine map per feature). Empty for a file of an older schema."""
    seen = getattr(final_estimator(model), "_input_range", None)
    if seen is None:
        return {}
    for step in reversed(transformers_of(model)):
        if not hasattr(step, "inverse_transform"):  # features of the input (PlaneFeatures): no way back
            return {}
        seen = step.inverse_transform(seen)
    span = seen.max() - seen.min() or 1.0

    def rounded(value):  # the rounding of float32 inputs is not information: 7 digits, and none below 1e-6 of the span
        return float(f"{np.round(value / span, 6) * span:.7g}") + 0.0

    return {"range": [rounded(seen.min()), rounded(seen.max())]}


def save(model, path, extra=None):
    """Save a built ``Sequential``, a fitted estimator, or a fitted ``Pipeline`` of
    preprocessing and an estimator, to ``path`` (one file, written atomically).

    ``extra`` may hold JSON-safe information to keep with the model (the command
    line records the dataset it was trained on there); :func:`load` with
    ``with_extra=True`` gives it back.
    """
    meta, arrays = tree_to_file({**_model_tree(model), "extra": extra or {}})
    save_file(path, meta, arrays)


def load(path, with_extra=False):
    """Load what :func:`save` wrote (or a format-version-1 file); ``with_extra=True``
    also returns the ``extra`` dict."""
    model, tree = _load_tree(path)
    return (model, tree.get("extra") or {}) if with_extra else model


def load_described(path):
    """(model, extra, input): the model, what the caller recorded, and the input it
    expects ({"shape", "n_features", "dtype"} and, when recorded, "range")."""
    model, tree = _load_tree(path)
    return model, tree.get("extra") or {}, tree.get("input") or {}


def _load_tree(path):
    meta, arrays = load_file(path)
    if meta.get("kind") == "checkpoint":
        raise ModelFileError(f"{os.fspath(path)!r} is a training checkpoint, not a model: continue its run with an "
                             "estimator's fit(..., checkpoint=, resume=True), nn.Checkpoint(path, resume=True) "
                             "or neuronet train --resume")
    try:
        if meta.get("format_version") == 1:
            meta, arrays = _migrate_version_1(meta, arrays)
        tree = tree_from_file(meta, arrays)
        model = _rebuild(tree)
    except ModelFileError as error:
        raise ModelFileError(f"{os.fspath(path)!r}: {error}") from None
    except _DAMAGE as error:
        reason = " ".join(str(error).split())[:300]
        raise ModelFileError(f"{os.fspath(path)!r} holds an invalid model description: {reason}") from None
    return model, tree


# --- what a file may describe: every claim is checked before anything is built from it ----------
# Errors a forged or damaged description can raise while it is checked; each becomes a ModelFileError.
_DAMAGE = (TypeError, KeyError, ValueError, AttributeError, IndexError, OverflowError, MemoryError, RecursionError,
           ZeroDivisionError)
MAX_SAMPLE_VALUES = 1 << 24  # one sample, and each layer's output for it: at most 16 Mi numbers
MAX_LAYERS = 1000
MAX_NAME_LENGTH = 1000  # one feature name, in characters
OUTPUTS = ("pandas", "polars")  # what a step's set_output may have asked for, besides arrays


def _mapping(value, what):
    if not isinstance(value, dict):
        raise ModelFileError(f"its {what} is not a mapping")
    return value


def _sample_shape(value, what):
    """A declared shape: a list of 1 to 3 positive integers, of at most MAX_SAMPLE_VALUES numbers."""
    if (not isinstance(value, list) or not 1 <= len(value) <= 3
            or not all(type(size) is int and size >= 1 for size in value)):
        raise ModelFileError(f"its {what} {str(value)[:60]} is not a list of 1 to 3 positive integers")
    if math.prod(value) > MAX_SAMPLE_VALUES:
        raise ModelFileError(f"its {what} {value} claims {math.prod(value)} numbers a sample; at most "
                             f"{MAX_SAMPLE_VALUES} are allowed")
    return tuple(value)


def _parameter_shapes(layer, sample_shape):
    """The shapes building ``layer`` for samples of ``sample_shape`` allocates, named as in
    its ``params`` (the weights before the bias): known without allocating them."""
    if type(layer) is Dense:
        if len(sample_shape) != 1:
            raise ModelFileError(f"its Dense layer follows samples shaped {sample_shape}, not flat ones")
        return {"weights": (sample_shape[0], layer.units), **({"bias": (layer.units,)} if layer.bias else {})}
    if type(layer) is Conv2D:
        return {"weights": (layer.filters, sample_shape[0], *layer.kernel_size),
                **({"bias": (layer.filters,)} if layer.bias else {})}
    return None


def _array_shapes(layer, sample_shape, dtype):
    """({parameter: shape}, {buffer: shape}) of ``layer`` built for samples of
    ``sample_shape``: neuronet's Dense and Conv2D known without allocating anything, any
    other layer built with zeros (nothing drawn) and asked."""
    known = _parameter_shapes(layer, sample_shape)
    if known is not None:
        return known, {}
    if type(layer) is Residual:
        return _block_shapes(layer, sample_shape, dtype)
    if type(layer) in SEQUENCE_LAYERS:  # issue 26: attention's layers and blocks
        return _sequence_shapes(layer, sample_shape, dtype)
    layer.build(sample_shape, None, np.dtype(dtype))
    return ({name: param.shape for name, param in layer.params.items()},
            {name: buffer.shape for name, buffer in layer.buffers.items()})


def _block_shapes(block, sample_shape, dtype):
    """The arrays of a residual block's parts ("0/weights", "projection/weights"), each
    part's output checked against the limits as a network's layers are: a block in a file
    allocates no more than the same layers in a row would."""
    params, buffers, shape = {}, {}, tuple(sample_shape)
    parts = [(str(index), layer, True) for index, layer in enumerate(block.layers)]
    shortcut = block.shortcut_for(sample_shape)
    parts += [("projection", shortcut, False)] if shortcut is not None else []
    for name, part, chained in parts:
        start = shape if chained else tuple(sample_shape)
        part_params, part_buffers = _array_shapes(part, start, dtype)
        params.update({f"{name}/{key}": size for key, size in part_params.items()})
        buffers.update({f"{name}/{key}": size for key, size in part_buffers.items()})
        padding = getattr(part, "padding", (0, 0))
        padded = (start[0], start[1] + 2 * padding[0], start[2] + 2 * padding[1]) if len(start) == 3 else start
        out = tuple(part.output_shape(start))
        for size, what in ((padded, "padded input"), (out, "output")):
            _sample_shape(list(size), f"residual block's part {name} ({type(part).__name__}) {what}")
        if chained:
            shape = out
    return params, buffers


# --- issue 26: attention, the layers over sequences and the encoder block -----------------------------
from .layers import MultiHeadSelfAttention, TimeDistributed, TransformerEncoderBlock  # noqa: E402

SEQUENCE_LAYERS = (MultiHeadSelfAttention, TimeDistributed, TransformerEncoderBlock)


def _sequence_shapes(layer, sample_shape, dtype):
    """({parameter: shape}, {buffer: shape}) of attention (4 (D × D and D)), of a
    TimeDistributed layer (its layer's, for one step) and of an encoder block (its parts'),
    known without allocating anything; each hidden output checked against the limits."""
    if len(sample_shape) < 2 or (len(sample_shape) != 2 and type(layer) is not TimeDistributed):
        raise ModelFileError(f"its {type(layer).__name__} follows samples shaped {sample_shape}, not sequences")
    if type(layer) is TimeDistributed:
        step = tuple(sample_shape[1:])
        shapes = _array_shapes(layer.layer, step, dtype)
        _sample_shape([sample_shape[0], *layer.layer.output_shape(step)],
                      f"TimeDistributed's layer ({type(layer.layer).__name__}) output")
        return shapes
    features = sample_shape[1]
    if type(layer) is MultiHeadSelfAttention:
        if features % layer.heads:
            raise ModelFileError(f"its attention's {layer.heads} heads do not split {features} features")
        return {f"{name}_{kind}": (features, features) if kind == "weights" else (features,)
                for name in layer.PROJECTIONS for kind in ("weights", "bias")}, {}
    _sample_shape([sample_shape[0], layer.hidden], "encoder block's hidden layer output")
    params, buffers = {}, {}
    for name, part in layer.make_parts(features):
        part_params, part_buffers = _array_shapes(part, tuple(sample_shape), dtype)
        params.update({f"{name}/{key}": size for key, size in part_params.items()})
        buffers.update({f"{name}/{key}": size for key, size in part_buffers.items()})
    return params, buffers


def _layers_and_parameters(config):
    """The layers a network's config describes (constructed, not built) and the shape of
    each parameter and each buffer they will have, every layer's output checked against
    the limits. A layer is looked up by name among the registered ones only."""
    specs = config["layers"]
    if not isinstance(specs, list) or not 1 <= len(specs) <= MAX_LAYERS:
        raise ModelFileError(f"its network has no list of 1 to {MAX_LAYERS} layers")
    shape = _sample_shape(config["input_shape"], "input shape")
    layers, expected, buffers = [], {}, {}
    for index, spec in enumerate(specs):
        if _mapping(spec, f"layer {index}").get("class") not in LAYERS:
            raise ModelFileError(f"its layer {index} is of an unknown type {str(spec.get('class'))[:40]!r}: a layer of "
                                 "one's own is registered with neuronet.nn.register_layer before loading")
        layer = LAYERS[spec["class"]](**_mapping(spec["config"], f"layer {index}'s config"))
        params, layer_buffers = _array_shapes(layer, shape, config["dtype"])
        expected.update({f"{index}/{name}": size for name, size in params.items()})
        buffers.update({f"{index}/{name}": size for name, size in layer_buffers.items()})
        padding = getattr(layer, "padding", (0, 0))
        padded = (shape[0], shape[1] + 2 * padding[0], shape[2] + 2 * padding[1]) if len(shape) == 3 else shape
        shape = tuple(layer.output_shape(shape))
        for size, what in ((padded, "padded input"), (shape, "output")):
            _sample_shape(list(size), f"layer {index} ({spec['class']}) {what}")
        layers.append(layer)
    return layers, expected, buffers


def _restore_network(tree):
    """The network a file describes, built once every declared shape has been checked
    against the stored weights: nothing is allocated from an unchecked claim."""
    config = _mapping(tree["config"], "network config")
    if config["dtype"] not in ("float32", "float64"):
        raise ModelFileError(f"its network's dtype {str(config['dtype'])[:20]!r} is not float32 or float64")
    layers, expected, buffers = _layers_and_parameters(config)
    stored = {**_checked_arrays(tree["weights"], expected, "weight"),
              **_checked_arrays(tree.get("buffers", {}), buffers, "buffer")}
    network = Sequential(layers, dtype=config["dtype"]).build(config["input_shape"], draw_weights=False)
    network.set_weights(stored)
    return network


def _checked_arrays(stored, expected, what):
    """The stored weights (or buffers), once they are exactly the arrays ``expected`` names,
    each of the shape it gives, of finite floats."""
    stored = _mapping(stored, f"{what}s")
    if set(stored) != set(expected):
        missing, extra = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
        raise ModelFileError(f"the stored {what}s do not match the architecture (missing {missing}, extra {extra})")
    for key, shape in expected.items():
        _check_weights(key, stored[key], shape, what)
    return stored


def _check_weights(key, weights, shape, what="weight"):
    """One stored parameter (or buffer): an array of the shape the architecture needs, of finite floats."""
    if not isinstance(weights, np.ndarray) or weights.shape != shape:
        raise ModelFileError(f"{what} {key} has shape {np.shape(weights)}, the architecture needs {shape}")
    if weights.dtype.kind != "f":
        raise ModelFileError(f"{what} {key} holds {weights.dtype} numbers; {what}s are floats (float32 or float64)")
    if not np.isfinite(weights).all():
        raise ModelFileError(f"{what} {key} holds NaN or infinity")


def _check_input(described, network):
    """The input the file says the model expects must be the network's."""
    described = _mapping(described or {}, "input description")
    if "shape" in described and tuple(described["shape"]) != network.input_shape:
        raise ModelFileError(f"its input shape {described['shape']} is not its network's {list(network.input_shape)}")
    if "n_features" in described and described["n_features"] != math.prod(network.input_shape):
        raise ModelFileError(f"its input of {described['n_features']} features is not its network's "
                             f"{math.prod(network.input_shape)}")
    seen = described.get("range")
    if seen is not None and not (isinstance(seen, list) and len(seen) == 2 and all(
            isinstance(value, (int, float)) and math.isfinite(value) for value in seen) and seen[0] <= seen[1]):
        raise ModelFileError(f"its input range {str(seen)[:60]} is not [smallest, largest]")


def _check_outputs(estimator, state, network):
    """A classifier's classes must be what its output layer gives: one sigmoid unit for
    two classes (or one), K softmax units for K, K sigmoid units for K labels; a regressor
    ends without an activation, or in Exp for the Poisson loss."""
    head, outputs = network.output_activation, network.output_shape[-1]
    if not is_classifier(estimator):
        if type(head) is not (Exp if estimator.loss == "poisson" else type(None)):
            raise ModelFileError(f"its {type(estimator).__name__} with loss={estimator.loss!r} ends in "
                                 f"{type(head).__name__}")
        return
    classes, kind = np.asarray(state["classes"]), state.get("label_type")
    if classes.ndim != 1 or len(np.unique(classes)) != len(classes) or not len(classes):
        raise ModelFileError("its classes are not a list of distinct labels")
    if isinstance(head, Softmax):
        fits = outputs == len(classes) and kind in (None, "multiclass")
    elif isinstance(head, Sigmoid):
        fits = (outputs == 1 and len(classes) <= 2 and kind in (None, "binary")) or (
            outputs == len(classes) and kind == "multilabel-indicator")
    else:
        fits = False
    if not fits:
        raise ModelFileError(f"its {len(classes)} classes ({str(kind or 'single-label')[:30]}) do not fit its output "
                             f"layer of {outputs} {type(head).__name__} unit(s)")


def _curves_as_lists(state):
    """The per-epoch curves read back as the lists of floats scikit-learn's attributes are (a
    file of an older schema holds them as lists already)."""
    curves = {key: state[key] for key in _CURVES if isinstance(state.get(key), np.ndarray)}
    for key, curve in curves.items():
        if curve.ndim != 1 or curve.dtype.kind != "f":
            raise ModelFileError(f"its fitted {key}_ is not a list of numbers (an array of {curve.dtype}, "
                                 f"shape {curve.shape})")
    return {**state, **{key: curve.tolist() for key, curve in curves.items()}}


def _check_fitted_state(estimator, state):
    """The fitted counts are integers in range (the number of input features at least 1,
    of iterations at least 0), and a LogisticRegression, which its fit refuses with one
    class, has at least two."""
    for key, least, most in (("n_features_in", 1, MAX_SAMPLE_VALUES), ("n_iter", 0, math.inf)):
        value = state.get(key, least)
        if type(value) is not int or not least <= value <= most:
            raise ModelFileError(f"its fitted {key}_ {str(value)[:30]!r} is not an integer of at least {least}")
    if isinstance(estimator, LogisticRegression) and len(np.asarray(state["classes"])) < 2:
        raise ModelFileError("its LogisticRegression has fewer than 2 classes; it is fitted on at least 2")


def _checked_transformer(transformer, n_features):
    """A preprocessing step whose parameters are valid and whose fitted arrays are finite,
    one number per feature of the network's input, with positive scales; ``n_features``
    is what the step must give (the next step's, or the network's, input)."""
    transformer._validate_params()  # scikit-learn's own parameter checks, as its fit makes them
    name = type(transformer).__name__
    if isinstance(transformer, PlaneFeatures):
        if transformer.n_features_in_ != 2 or len(transformer.features) != n_features:
            raise ModelFileError(f"its PlaneFeatures makes {len(transformer.features)} features of "
                                 f"{transformer.n_features_in_!r} columns, not {n_features} of 2")
        return transformer
    if getattr(transformer, "n_features_in_", None) != n_features:
        raise ModelFileError(f"its {name} reads {getattr(transformer, 'n_features_in_', None)} features, its "
                             f"network {n_features}")
    for key in TRANSFORMERS[name][1]:
        value = getattr(transformer, key, None)
        if isinstance(value, np.ndarray) and (value.shape != (n_features,) or value.dtype.kind not in "iuf"
                                              or not np.isfinite(value).all()):
            raise ModelFileError(f"its {name}'s {key} is not {n_features} finite numbers")
    if np.any(np.asarray(transformer.scale_) <= 0):
        raise ModelFileError(f"its {name} has a scale that is not positive")
    try:  # every fitted attribute it needs is there: it maps a sample both ways
        probe = transformer.inverse_transform(transformer.transform(np.zeros((1, n_features))))
    except (AttributeError, TypeError, ValueError) as error:
        raise ModelFileError(f"its {name} cannot transform a sample ({error})") from None
    if not np.isfinite(probe).all():
        raise ModelFileError(f"its {name} maps a sample to NaN or infinity")
    return transformer


def _with_feature_names(fitted, names, n_features):
    """``fitted`` given the feature names a file holds for it (None: it has none):
    ``n_features`` strings of at most MAX_NAME_LENGTH characters, kept as scikit-learn
    keeps them (an object array), so that it checks a DataFrame's columns as before."""
    if names is not None:
        name = type(fitted).__name__
        if not (isinstance(names, np.ndarray) and names.dtype.kind == "U" and names.shape == (n_features,)):
            raise ModelFileError(f"its {name}'s feature names are not {n_features} strings")
        if np.char.str_len(names).max(initial=0) > MAX_NAME_LENGTH:
            raise ModelFileError(f"its {name} has a feature name of more than {MAX_NAME_LENGTH} characters")
        fitted.feature_names_in_ = names.astype(object)
    return fitted


def _restored_step(state, n_features):
    """A preprocessing step as a file describes it, checked, with its feature names."""
    state = dict(_mapping(state, "preprocessing"))
    names, output = state.pop("feature_names_in", None), state.pop("output", None)
    if output is not None and output not in OUTPUTS:
        raise ModelFileError(f"its preprocessing output {str(output)[:20]!r} is not one of {', '.join(OUTPUTS)}")
    step = _checked_transformer(transformer_from_state(state), n_features)
    step = _with_feature_names(step, names, step.n_features_in_)
    return step if output is None else step.set_output(transform=output)


def _check_recipe(extra, network, classes):
    """What ``neuronet train`` records in ``extra`` (image shape and size, class names,
    colour), checked where the commands rely on it."""
    extra = _mapping(extra, "extra information")
    if extra.get("image_shape") is not None:
        shape = _sample_shape(extra["image_shape"], "image shape")
        if len(shape) != 3 or shape[0] not in (1, 3) or math.prod(shape) != math.prod(network.input_shape):
            raise ModelFileError(f"its image shape {list(shape)} does not fit its network's input "
                                 f"{list(network.input_shape)}")
    size = extra.get("image_size")
    if size is not None and not (type(size) is int and 1 <= size and size * size <= MAX_SAMPLE_VALUES):
        raise ModelFileError(f"its image size {repr(size)[:30]} is not a positive pixel count")
    names = extra.get("class_names")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)
                                  and classes is not None and len(names) == len(classes)):
        raise ModelFileError(f"its class names {str(names)[:60]} do not name its "
                             f"{'no' if classes is None else len(classes)} classes")
    if not isinstance(extra.get("grayscale", False), bool):
        raise ModelFileError("its grayscale setting is not true or false")


def _rebuild(tree):
    network = _restore_network(_mapping(tree["network"], "network"))
    _check_input(tree.get("input"), network)
    if tree["kind"] == "network":
        _check_recipe(tree.get("extra") or {}, network, None)
        return network
    description = _mapping(tree.get("estimator") or {}, "estimator")
    if tree["kind"] != "estimator" or description.get("class") not in ESTIMATORS:
        raise ModelFileError(f"unknown model kind {str(tree.get('kind'))[:30]!r} / "
                             f"{str(description.get('class'))[:30]!r}")
    params = _current_names({k: tuple(v) if isinstance(v, list) else v
                             for k, v in _mapping(description["params"], "parameters").items()})
    estimator = ESTIMATORS[description["class"]](**params)
    validate_params(estimator._parameter_constraints, estimator.get_params(deep=False), description["class"])
    state = _curves_as_lists(_mapping(description["state"], "fitted state"))
    _check_outputs(estimator, state, network)
    _check_fitted_state(estimator, state)
    names = state.pop("feature_names_in", None)
    estimator.set_fitted_state({**state, "network": network})
    n_features = math.prod(network.input_shape)
    _with_feature_names(estimator, names, n_features)
    transformers = []
    for step in reversed(tree.get("preprocessing") or []):  # each step gives what the one after it reads
        transformers.insert(0, _restored_step(step, n_features))
        n_features = transformers[0].n_features_in_
    _check_recipe(tree.get("extra") or {}, network, getattr(estimator, "classes_", None))
    return with_preprocessing(transformers, estimator, tree.get("steps"))


def _current_names(params):
    """Parameters saved under neuronet's earlier names, in scikit-learn's: the step size
    was ``learning_rate`` and the schedule ``learning_rate_schedule``."""
    if "learning_rate_schedule" in params:
        params = dict(params)
        params["learning_rate_init"] = params.pop("learning_rate")
        params["learning_rate"] = params.pop("learning_rate_schedule")
    return params


# --- format version 1 ------------------------------------------------------------
def _has_version_1_standardizer(arrays):
    """Whether a version-1 file holds the command line's standardizer: both its arrays, or
    neither (one alone would silently drop the standardisation)."""
    present = [name for name in ("extra/mean", "extra/scale") if name in arrays]
    if len(present) == 1:
        raise ModelFileError(f"its standardizer has {present[0]} without "
                             f"{'extra/scale' if present[0] == 'extra/mean' else 'extra/mean'}")
    return bool(present)


def _migrate_version_1(meta, arrays):
    """Version 1 metadata and arrays, rewritten in the current schema (as a file tree)."""
    weights = {key[len("weights/"):]: value for key, value in arrays.items() if key.startswith("weights/")}
    network = meta["network"]
    tree = {"kind": meta["kind"], "network": {"config": network, "weights": weights}, "preprocessing": [],
            "input": {"shape": network["input_shape"], "dtype": network["dtype"]}, "extra": meta.get("extra", {})}
    if meta["kind"] == "estimator":
        fitted = meta["fitted"]
        curve = fitted["loss_curve_"]
        metrics = fitted.get("history") or {"loss": curve}
        step = "iteration" if meta["estimator"] == "LogisticRegression" else "epoch"
        tree["estimator"] = {"class": meta["estimator"], "params": meta["params"], "state": {
            "classes": arrays["classes"], "n_features_in": fitted["n_features_in_"], "n_iter": fitted["n_iter_"],
            "history": {"step": step, "epoch": np.arange(len(curve)),
                        "metrics": {key: np.asarray(values, dtype=np.float64) for key, values in metrics.items()}}}}
    if _has_version_1_standardizer(arrays):  # the command line's standardizer
        mean, scale = arrays["extra/mean"].astype(np.float64), arrays["extra/scale"].astype(np.float64)
        tree["preprocessing"] = [{"class": "StandardScaler", "params": {"copy": True, "with_mean": True, "with_std": True},
                                  "fitted": {"mean_": mean, "scale_": scale, "var_": scale**2,
                                             "n_features_in_": np.asarray(len(mean)),
                                             "n_samples_seen_": np.asarray(0)}}]  # not recorded by format 1
    return tree_to_file(tree)
