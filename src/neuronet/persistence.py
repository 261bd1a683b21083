"""Saving and loading models: one file, written atomically, loaded without executing code.

A model file is the container of :mod:`neuronet.files` (raw arrays behind a bounded
JSON header). What its metadata holds — the schema, format version 2 — is written
out in ``docs/model-format.md``: the kind of model, the architecture, the
estimator's parameters and fitted state, the preprocessing, the input it expects, the
training history (as float arrays) and the caller's ``extra`` information. Files of
format version 1 (a zip of ``.npy`` members) still load: :func:`_migrate_version_1`
turns their metadata into the current schema.
"""

from __future__ import annotations

import os

import numpy as np

from .estimators import CNNClassifier, LogisticRegression, MLPClassifier, MLPRegressor, NeuralEstimator
from .files import ModelFileError, load_file, save_file, tree_from_file, tree_to_file
from .network import Sequential
from .preprocessing import final_estimator, step_names, transformer_from_state, transformer_state, \
    transformers_of, with_preprocessing

ESTIMATORS = {cls.__name__: cls for cls in (LogisticRegression, MLPClassifier, MLPRegressor, CNNClassifier)}


def _network_tree(network):
    if not network.built:
        raise ValueError("build the network (give input_shape or run it once) before saving it")
    return {"config": network.get_config(), "weights": network.get_weights()}


def _plain_params(estimator):
    """``get_params()`` as JSON can hold it (a dtype given as ``np.float32`` becomes "float32")."""
    params = estimator.get_params()
    if params.get("dtype") is not None:
        params["dtype"] = np.dtype(params["dtype"]).name
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
    state = estimator.get_fitted_state()
    network = state.pop("network")
    return {
        "kind": "estimator", "network": _network_tree(network),
        "estimator": {"class": type(estimator).__name__, "params": _plain_params(estimator), "state": state},
        "preprocessing": [transformer_state(step) for step in transformers_of(model)],
        "steps": step_names(model),
        "input": {"shape": list(network.input_shape), "dtype": network.dtype.name,
                  "n_features": int(np.prod(network.input_shape)), **_raw_input_range(model)},
    }


def _raw_input_range(model):
    """{"range": [smallest, largest]}: the raw input values seen in training — the
    estimator's range of each input value, mapped back through the preprocessing (each
    step an increasing affine map per feature). Empty for a file of an older schema."""
    seen = getattr(final_estimator(model), "_input_range", None)
    if seen is None:
        return {}
    for step in reversed(transformers_of(model)):
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
    except (TypeError, KeyError, ValueError, AttributeError, IndexError) as error:
        raise ModelFileError(f"{os.fspath(path)!r} holds an invalid model description: {error}") from None
    return model, tree


def _restore_network(tree):
    try:
        network = Sequential.from_config(tree["config"])
    except (TypeError, KeyError, ValueError) as error:
        raise ModelFileError(f"the model's architecture is invalid: {error}") from None
    expected = {key: param for key, param, _ in network.named_parameters()}
    stored = tree["weights"]
    if set(stored) != set(expected):
        raise ModelFileError("the stored weights do not match the architecture "
                             f"(missing {sorted(set(expected) - set(stored))}, extra {sorted(set(stored) - set(expected))})")
    for key, param in expected.items():
        weights = np.asarray(stored[key])
        if weights.shape != param.shape or weights.dtype.kind != "f":
            raise ModelFileError(f"weight {key} has shape {weights.shape}, the architecture needs {param.shape}")
        param[...] = weights
    return network


def _rebuild(tree):
    network = _restore_network(tree["network"])
    if tree["kind"] == "network":
        return network
    description = tree.get("estimator") or {}
    if tree["kind"] != "estimator" or description.get("class") not in ESTIMATORS:
        raise ModelFileError(f"unknown model kind {tree.get('kind')!r} / {description.get('class')!r}")
    params = _current_names({k: tuple(v) if isinstance(v, list) else v for k, v in description["params"].items()})
    estimator = ESTIMATORS[description["class"]](**params)
    estimator.set_fitted_state({**description["state"], "network": network})
    transformers = [transformer_from_state(state) for state in tree.get("preprocessing", [])]
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
    if "extra/mean" in arrays and "extra/scale" in arrays:  # the command line's standardizer
        mean, scale = arrays["extra/mean"].astype(np.float64), arrays["extra/scale"].astype(np.float64)
        tree["preprocessing"] = [{"class": "StandardScaler", "params": {"copy": True, "with_mean": True, "with_std": True},
                                  "fitted": {"mean_": mean, "scale_": scale, "var_": scale**2,
                                             "n_features_in_": np.asarray(len(mean)),
                                             "n_samples_seen_": np.asarray(0)}}]  # not recorded by format 1
    return tree_to_file(tree)
