"""Preprocessing that travels with the model: what turns raw input into what the
network was trained on.

The command line standardizes tabular features, x' = (x − mean) / scale, with the
training set's mean and spread (scikit-learn's ``StandardScaler``); images are already
in [0, 1] and go in as they are. A model with preprocessing is a scikit-learn
``Pipeline`` of the transformers and the estimator, so that ``model.predict(raw_X)``
works the same in Python and in the command line, and :func:`neuronet.save` writes both
into one file. A model file holds the scalers in :data:`TRANSFORMERS` (StandardScaler,
MinMaxScaler, MaxAbsScaler), each as its parameters and fitted arrays.
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

# The transformers a model file can hold, with the fitted attributes that define them:
# each is an increasing affine map of every feature, stored as arrays (no pickle).
TRANSFORMERS = {
    "StandardScaler": (StandardScaler, ("mean_", "scale_", "var_", "n_samples_seen_", "n_features_in_")),
    "MinMaxScaler": (MinMaxScaler, ("min_", "scale_", "data_min_", "data_max_", "data_range_", "n_samples_seen_",
                                    "n_features_in_")),
    "MaxAbsScaler": (MaxAbsScaler, ("scale_", "max_abs_", "n_samples_seen_", "n_features_in_")),
}


def default_preprocessing(images):
    """The preprocessing neuronet gives a kind of input: a fresh ``StandardScaler``
    for a table of features, None for images (already in [0, 1])."""
    return None if images else StandardScaler()


def with_preprocessing(transformers, estimator, names=None):
    """A ``Pipeline`` of the transformers (None entries skipped) and the estimator, or
    the estimator alone when there are none. ``names`` names the steps (by default as
    ``make_pipeline`` does)."""
    steps = [step for step in transformers if step is not None]
    if not steps:
        return estimator
    if names is None:
        return make_pipeline(*steps, estimator)
    if len(names) != len(steps) + 1 or len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"the pipeline's step names {names!r} do not name its {len(steps) + 1} steps")
    return Pipeline(list(zip(names, [*steps, estimator])))


def step_names(model):
    """The names of a pipeline's steps (None for a bare estimator)."""
    return [name for name, _ in model.steps] if isinstance(model, Pipeline) else None


def final_estimator(model):
    """The estimator at the end of a pipeline (or the model itself)."""
    return model.steps[-1][1] if isinstance(model, Pipeline) else model


def transformers_of(model):
    """The preprocessing steps before the estimator (an empty list for a bare estimator)."""
    return [step for _, step in model.steps[:-1]] if isinstance(model, Pipeline) else []


def transformer_state(transformer):
    """A fitted transformer as a JSON-and-arrays tree: its class, parameters and fitted attributes."""
    name = type(transformer).__name__
    if name not in TRANSFORMERS or not isinstance(transformer, TRANSFORMERS[name][0]):
        raise ValueError(f"cannot save a {name} step: model files hold {', '.join(TRANSFORMERS)} preprocessing")
    attributes = TRANSFORMERS[name][1]
    return {"class": name, "params": transformer.get_params(),
            "fitted": {key: np.asarray(getattr(transformer, key)) for key in attributes
                       if getattr(transformer, key, None) is not None}}


def transformer_from_state(state):
    """The transformer that :func:`transformer_state` described."""
    if state.get("class") not in TRANSFORMERS:
        raise ValueError(f"unknown preprocessing {state.get('class')!r}; known: {', '.join(TRANSFORMERS)}")
    cls, attributes = TRANSFORMERS[state["class"]]
    transformer = cls(**{key: tuple(value) if isinstance(value, list) else value  # JSON has no tuples
                         for key, value in state["params"].items()})
    for key, value in state["fitted"].items():
        if key not in attributes:
            raise ValueError(f"unknown fitted attribute {key!r} of {state['class']}")
        value = np.asarray(value)
        setattr(transformer, key, value.item() if value.ndim == 0 else value)
    return transformer
