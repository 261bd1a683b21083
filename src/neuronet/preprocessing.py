"""Preprocessing that travels with the model: what turns raw input into what the
network was trained on.

The command line standardizes tabular features, x' = (x − mean) / scale, with the
training set's mean and spread (scikit-learn's ``StandardScaler``); images are divided
by the largest value their source stores, x' = x / x_max (:class:`ImageScaler`: 16 for
digits, 255 for MNIST and photos), and flattened. A model with preprocessing is a scikit-learn
``Pipeline`` of the transformers and the estimator, so that ``model.predict(raw_X)``
works the same in Python and in the command line, and :func:`neuronet.save` writes both
into one file. A model file holds the scalers in :data:`TRANSFORMERS` (StandardScaler,
MinMaxScaler, MaxAbsScaler, ImageScaler), each as its parameters and fitted arrays, and
the studio's feature inputs of points on the plane (:class:`PlaneFeatures`).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler
from sklearn.utils.validation import FLOAT_DTYPES, check_array, check_is_fitted

from .validation import Interval, validate_params


class ImageScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Images in the units their source stores them, as the flat rows in [0, 1] a network
    reads: x' = x / x_max for each value, x_max the largest value the source stores
    (16 for scikit-learn's digits, 255 for MNIST and 8-bit photos).

    It takes one sample a row (the C·H·W values of an image, channel by channel) or
    arrays of the image shape, (n, C, H, W), and (n, H, W) for one channel; any other
    shape is refused in one ValueError that names the shapes it reads. A fixed division,
    unlike a scaler fitted on the data: a pixel that is dark in every training image is
    still divided by x_max. ``fit`` learns nothing from X but checks its shape.

    Parameters
    ----------
    image_shape : tuple of int
        (channels, height, width) of one image.
    max_value : float, default 255.0
        x_max, the value that becomes 1.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().data                       # 0–16, 64 values a row
    >>> ImageScaler((1, 8, 8), max_value=16).fit(X).transform(X).max()
    np.float64(1.0)
    """

    _parameter_constraints = {"image_shape": [tuple, list], "max_value": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, image_shape=(1, 28, 28), max_value=255.0):
        self.image_shape = image_shape
        self.max_value = max_value

    def _validate_params(self):
        validate_params(self._parameter_constraints, self.get_params(deep=False), type(self).__name__)

    def _shape(self):
        shape = tuple(self.image_shape)
        if len(shape) != 3 or not all(isinstance(d, Integral) and d > 0 for d in shape):
            raise ValueError(f"image_shape {self.image_shape!r} is not (channels, height, width), three positive "
                             "integers")
        return tuple(int(d) for d in shape)

    def fit(self, X, y=None):
        """Check the parameters and the shape of X; x_max stays the one given."""
        self._validate_params()
        self.n_features_in_ = math.prod(self._shape())
        self.scale_ = np.full(self.n_features_in_, float(self.max_value))
        self._rows(X)
        return self

    def _rows(self, X):
        """X as one row of values a sample, refused in one line unless its samples are
        images of ``image_shape`` or rows of their number of values."""
        X = np.asarray(X)
        channels, height, width = shape = self._shape()
        if math.prod(shape) != self.n_features_in_:
            raise ValueError(f"image_shape {shape} holds {math.prod(shape)} values, not the {self.n_features_in_} "
                             "it was fitted for")
        accepted = [(self.n_features_in_,), shape, *([(height, width)] if channels == 1 else [])]
        if X.ndim < 2 or X.shape[1:] not in accepted:
            given = f"samples of shape {X.shape[1:]}" if X.ndim >= 2 else f"shape {X.shape}"
            arrays = " or ".join(f"(n, {', '.join(map(str, a))})" for a in accepted[1:])
            raise ValueError(f"X has {given}, but the model reads {height}×{width} images of {channels} "
                             f"channel{'s' * (channels != 1)}: rows of {self.n_features_in_} values, or arrays of "
                             f"shape {arrays}")
        return check_array(X.reshape(len(X), -1), dtype=FLOAT_DTYPES)

    def transform(self, X):
        """x / x_max, one flat row a sample (float32 stays float32)."""
        check_is_fitted(self)
        rows = self._rows(X)
        return (rows / self.scale_).astype(rows.dtype, copy=False)

    def inverse_transform(self, X):
        """Flat rows in [0, 1] back in the source's units: x · x_max."""
        check_is_fitted(self)
        rows = check_array(X, dtype=FLOAT_DTYPES)
        return (rows * self.scale_).astype(rows.dtype, copy=False)


# The features PlaneFeatures makes of a point (x₁, x₂), by name.
PLANE_FEATURES = {
    "x1": lambda x1, x2: x1, "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1, "x2^2": lambda x1, x2: x2 * x2, "x1*x2": lambda x1, x2: x1 * x2,
    "sin(x1)": lambda x1, x2: np.sin(x1), "sin(x2)": lambda x1, x2: np.sin(x2),
}


class PlaneFeatures(TransformerMixin, BaseEstimator):
    """Features of a point on the plane as the network's inputs: each of x₁, x₂, x₁², x₂²,
    x₁x₂, sin x₁ and sin x₂ that ``features`` names becomes one input neuron (TensorFlow
    Playground's feature inputs). A linear model on (x₁², x₂²) draws a circle: features
    chosen by hand against features learned by hidden layers.

    The rows are points, two columns (x₁, x₂); the output has one column a feature, in
    the order of ``features``. ``fit`` learns nothing from X but checks its shape. After a
    ``StandardScaler`` (the studio's pipeline), x₁ and x₂ are the standardized coordinates.

    Parameters
    ----------
    features : tuple of str, default ("x1", "x2")
        Names among "x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)", each at most once.

    Examples
    --------
    >>> PlaneFeatures(("x1^2", "x2^2", "x1*x2")).fit_transform([[2.0, 3.0]])
    array([[4., 9., 6.]])
    """

    _parameter_constraints = {"features": [tuple, list]}

    def __init__(self, features=("x1", "x2")):
        self.features = features

    def _validate_params(self):
        validate_params(self._parameter_constraints, self.get_params(deep=False), type(self).__name__)
        names = list(self.features)
        known = all(isinstance(name, str) and name in PLANE_FEATURES for name in names)
        if not (names and known and len(set(names)) == len(names)):
            raise ValueError(f"features {self.features!r} are not distinct names among {', '.join(PLANE_FEATURES)} "
                             "(at least one)")

    def fit(self, X, y=None):
        """Check the parameters and that X holds points (two columns)."""
        self._validate_params()
        self.n_features_in_ = 2
        self._points(X)
        return self

    def _points(self, X):
        X = check_array(X, dtype=FLOAT_DTYPES)
        if X.shape[1] != 2:
            raise ValueError(f"X has {X.shape[1]} columns, but PlaneFeatures reads points (x1, x2): 2 columns")
        return X

    def transform(self, X):
        """One column a feature (float32 stays float32)."""
        check_is_fitted(self)
        X = self._points(X)
        x1, x2 = X[:, 0], X[:, 1]
        return np.column_stack([PLANE_FEATURES[name](x1, x2) for name in self.features]).astype(X.dtype, copy=False)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(list(self.features), dtype=object)


# The transformers a model file can hold, with the fitted attributes that define them:
# each is an increasing affine map of every feature, stored as arrays (no pickle).
TRANSFORMERS = {
    "StandardScaler": (StandardScaler, ("mean_", "scale_", "var_", "n_samples_seen_", "n_features_in_")),
    "MinMaxScaler": (MinMaxScaler, ("min_", "scale_", "data_min_", "data_max_", "data_range_", "n_samples_seen_",
                                    "n_features_in_")),
    "MaxAbsScaler": (MaxAbsScaler, ("scale_", "max_abs_", "n_samples_seen_", "n_features_in_")),
    "ImageScaler": (ImageScaler, ("scale_", "n_features_in_")),
    "PlaneFeatures": (PlaneFeatures, ("n_features_in_",)),  # not a scaler: 2 columns in, one a feature out
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
        raise ValueError(f"cannot save a {name} step: model files hold {', '.join(TRANSFORMERS)} preprocessing; "
                         "save a pipeline with other steps with skops (skops.io.dump), for Python alone")
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
