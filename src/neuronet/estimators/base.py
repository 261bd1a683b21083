"""What neuronet's scikit-learn estimators share: parameter checks, seeds, fitted state.

Each estimator only chooses a network, a loss, a penalty and an optimizer; training
runs the shared loop in :mod:`neuronet.training`. They follow scikit-learn's
conventions (``__init__`` stores parameters, ``fit`` validates them against the
class's ``_parameter_constraints`` and returns ``self``, fitted attributes end in an
underscore) so they work in pipelines, grid search and cross-validation.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import estimator_html_repr
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..callbacks import History
from ..checkpoint import Checkpoint
from ..data import Mapped, chunks, is_dataset, is_lazy, spread_rows
from ..diagnosis import warn_if_stopped_learning
from ..layers import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from ..layers.activations import sigmoid, softmax
from ..losses import BinaryCrossEntropy, CrossEntropy
from ..network import Sequential
from ..training import TrainingDiverged, TrainingInterrupted, fit
from ..validation import DtypeOptions, Interval, first_few, validate_params
from .streamed import scan

# Hidden activations by scikit-learn's names (and neuronet's older aliases)
ACTIVATIONS = {"identity": Identity, "logistic": Sigmoid, "tanh": Tanh, "relu": ReLU,
               "sigmoid": Sigmoid, "leaky_relu": LeakyReLU}

POSITIVE_INT = Interval(Integral, 1, None, closed="left")
NON_NEGATIVE = Interval(Real, 0, None, closed="left")
SHARED_CONSTRAINTS = {
    "max_iter": [POSITIVE_INT],
    "tol": [NON_NEGATIVE],
    "alpha": [NON_NEGATIVE],
    "random_state": ["random_state"],
    "verbose": [Interval(Integral, 0, None, closed="left"), "boolean"],
    "dtype": [DtypeOptions({"float32", "float64"})],
}


# The training curves a fitted state keeps (what a model file holds): at most this many steps
HISTORY_POINTS = 200


def _seed(random_state):
    """What the engine's generators take (None or an int) from what scikit-learn
    accepts as ``random_state``: None, an int, a RandomState or a Generator."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31))
    return random_state


def savable_classes(classes):
    """The labels as a model file holds them: numbers, bools or strings (objects become strings)."""
    classes = np.asarray(classes)
    return classes if classes.dtype.kind in "iufbU" else classes.astype(str)


def with_checkpoint(callbacks, checkpoint, every, resume):
    """The callbacks, and a :class:`~neuronet.checkpoint.Checkpoint` when a path is given."""
    callbacks = list(callbacks)
    if checkpoint is not None:
        callbacks.append(Checkpoint(checkpoint, every=every, resume=resume))
    return callbacks


def network_seed(random_state):
    """The seed of a new network's weights, drawn from the estimator's random_state."""
    random_state = _seed(random_state)
    return None if random_state is None else int(np.random.default_rng(random_state).integers(2**31))


def feature_range(X):
    """Each input value's smallest and largest value over the samples of X (dense or
    sparse, any sample shape): a (2, n_features) float64 array."""
    if sparse.issparse(X):
        return np.vstack([X.min(axis=0).toarray(), X.max(axis=0).toarray()]).astype(np.float64)
    flat = X.reshape(len(X), -1)
    return np.vstack([flat.min(axis=0), flat.max(axis=0)]).astype(np.float64)


def _shown_rows(rows):
    """"row 3", or "rows 1, 2 … and 5 more"."""
    return f"row{'s' if len(rows) > 1 else ''} {first_few(rows)}"


def _non_finite_rows(outputs):
    """The indices of the samples (rows) of ``outputs`` that hold a NaN or an infinity
    (none, in one pass over the values, in the common case)."""
    with np.errstate(over="ignore", invalid="ignore"):  # a sum of finite values may overflow: then look at each
        if np.isfinite(outputs.sum()):
            return np.empty(0, dtype=np.intp)
    return np.flatnonzero(~np.isfinite(outputs.reshape(len(outputs), -1)).all(axis=1))


def validated(estimator, X, y="no_validation", **options):
    """scikit-learn's ``validate_data``; values of X too large for a float32 ``dtype`` are
    refused in one ValueError that names their rows."""
    with np.errstate(over="ignore"):  # validate_data refuses a value too large for the dtype (inf) itself
        try:
            return validate_data(estimator, X, y, **options)
        except ValueError:
            _refuse_overflowing_rows(X, options.get("dtype"))
            raise


def _refuse_overflowing_rows(X, dtype):
    if isinstance(dtype, (tuple, list)) or dtype is None or np.dtype(dtype) != np.float32:
        return  # a list of dtypes keeps X's own, or converts it to float64
    try:
        values = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        return
    if values.size == 0:
        return
    flat = values.reshape(len(values), -1) if values.ndim > 1 else values.reshape(-1, 1)
    rows = np.flatnonzero(np.isfinite(flat).all(axis=1) & (np.abs(flat) > np.finfo(np.float32).max).any(axis=1))
    if len(rows):
        raise ValueError(f"{_shown_rows(rows)} of X hold{'s' * (len(rows) == 1)} values beyond "
                         f"±{np.finfo(np.float32).max:.3g}, too large for float32: scale X (as in training), or use "
                         "dtype='float64'") from None


def plain_float_input(estimator, X):
    """X as it is when it needs none of scikit-learn's checks but finiteness (what nearly
    every call to predict passes): a C-ordered float32 or float64 ndarray with
    ``n_features_in_`` values along its second axis, for an estimator fitted without
    feature names, whose values are finite (checked in one pass: their sum). None
    otherwise: validate_data then checks X and says what is wrong."""
    if (type(X) is not np.ndarray or X.dtype not in (np.float32, np.float64) or not X.flags.c_contiguous
            or X.ndim < 2 or not len(X) or X.shape[1] != estimator.n_features_in_
            or hasattr(estimator, "feature_names_in_")):
        return None
    with np.errstate(over="ignore"):  # finite values whose sum overflows: validate_data looks at each
        return X if np.isfinite(X.sum()) else None


def by_chunks(method, X, network):
    """``method`` applied to the samples of ``X``, an array-like (an image cache: never
    read whole) or a dataset, read a chunk of as many samples as ``network`` computes at
    once (:data:`~neuronet.data.CHUNK_ROWS`, or fewer for large images) at a time, its
    answers put together in order. A float32 network's answers are bitwise those of the
    whole array at once (its predictions are batch-invariant)."""
    if is_dataset(X):
        n, samples = len(X), lambda part: X[np.arange(part.start, part.stop)][0]
    else:
        n, samples = X.shape[0], X.__getitem__
    return np.concatenate([method(samples(part)) for part in chunks(n, network.chunk_rows()) or [slice(0, 0)]])


class NeuralEstimator(BaseEstimator):
    """The bookkeeping every neuronet estimator shares."""

    _parameter_constraints: dict = {}

    def _note_input_range(self, X, reset, seen=None):
        """Remember the range of each input value seen in training (widened by each
        further call when training continues): :func:`neuronet.save` records it, and the
        command line warns when new data lies far outside it. ``seen``: the range of X,
        where it is known already (a dataset's, found chunk by chunk)."""
        seen = feature_range(X) if seen is None else seen
        if not reset and getattr(self, "_input_range", None) is not None:
            seen = np.vstack([np.minimum(seen[0], self._input_range[0]), np.maximum(seen[1], self._input_range[1])])
        self._input_range = seen

    def _input_state(self):
        """The input range, as the fitted state holds it (absent in files of older schemas)."""
        seen = getattr(self, "_input_range", None)
        return {} if seen is None else {"input_range": seen}

    def _check_parameters(self):
        validate_params(self._parameter_constraints, self.get_params(deep=False), type(self).__name__)

    def _finite(self, outputs):
        """The network's ``outputs``, one row a sample, refused where a row is not finite: a
        label or probability drawn from NaN is no answer. Finite but extreme inputs (±1e308)
        overflow inside the network."""
        rows = _non_finite_rows(outputs)
        if len(rows):
            raise ValueError(f"the outputs for {_shown_rows(rows)} of X are not finite: their values overflow "
                             f"{type(self).__name__}'s network; scale X as the training data was")
        return outputs

    def _prediction_input(self, X, **options):
        """X for prediction, float32 or float64 as given: unchanged when
        :func:`plain_float_input` takes it, else through scikit-learn's checks (``options``
        for validate_data), with their messages."""
        plain = plain_float_input(self, X)
        if plain is not None:
            return plain
        return validated(self, X, reset=False, dtype=(np.float64, np.float32), allow_nd=True, **options)

    def _network_outputs(self, X):
        """The network's outputs for X, validated. A float32 network predicts in float32,
        each sample's outputs bitwise the same whichever samples share the call
        (:meth:`~neuronet.network.Sequential.predict_batch_invariant`); a sample whose
        float32 outputs overflow (values near or beyond float32's range) is computed again,
        alone, in float64, as a float64 network (or sparse X) computes every sample."""
        network = self.network_
        if network.dtype != np.float32 or sparse.issparse(X):
            return network.predict(X, batch_size=2048)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowing sample is computed again
            outputs = network.predict_batch_invariant(X)
        overflowing = _non_finite_rows(outputs)
        if len(overflowing):
            outputs = outputs.astype(np.float64)
            for row in overflowing:
                outputs[row] = network.predict(X[row : row + 1].astype(np.float64))[0]
        return outputs

    def _check_sample_size(self, X):
        """Refuse samples of another size than the network was built for, in one line."""
        expected = self.network_.input_shape
        if math.prod(X.shape[1:]) != math.prod(expected):  # math: a tuple's product without making an array
            raise ValueError(f"X has samples of shape {X.shape[1:]}, but {type(self).__name__} was fitted on "
                             f"samples of {math.prod(expected)} values {expected}")
        return expected

    def _sample_shape(self, X):
        """The shape the network sees for one sample: flat features by default."""
        return (int(np.prod(X.shape[1:])),)

    def summary(self, print_fn=print):
        """The fitted network's layers and parameter counts."""
        check_is_fitted(self)
        return self.network_.summary(print_fn)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "network_")

    def _html_repr(self):
        """scikit-learn's diagram of the estimator and, once fitted, the network's layer
        table under it (what notebooks show)."""
        diagram = estimator_html_repr(self)
        return diagram + self.network_._repr_html_() if self.__sklearn_is_fitted__() else diagram


class NeuralClassifier(ClassifierMixin, NeuralEstimator):
    """The classifier of the lecture's kind (LogisticRegression): validation, labels,
    training by the shared loop, prediction with a threshold.

    Binary problems get one output unit with a sigmoid and the binary cross-entropy;
    K > 2 classes get K units with a softmax and the categorical cross-entropy.
    """

    # --- fitting --------------------------------------------------------------
    def _validate_fit(self, X, y, world=None):
        """(X as the network takes it, the targets as the loss takes them) — or, for a
        dataset X, (one sample, the targets, the dataset read as the network takes it)."""
        self._check_parameters()
        if is_dataset(X):
            return self._scan_fit(X, y, world)
        X, y = validated(self, X, y, dtype=np.dtype(self.dtype), allow_nd=True)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; y has only one class "
                f"({self.classes_[0]!r})"
            )
        self._note_input_range(X, reset=True)
        return X.reshape((len(X), *self._sample_shape(X))), self._targets(encoded), None

    def _scan_fit(self, dataset, y, world=None):
        if y is not None:
            raise ValueError("fit takes a dataset alone (its targets are the labels), or arrays X and y")
        scanned = scan(self, dataset, np.dtype(self.dtype), world=world)
        self.classes_ = np.unique(scanned.targets)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; the dataset's targets have "
                             f"only one class ({self.classes_[0]!r})")
        self._note_input_range(None, reset=True, seen=scanned.input_range)
        shape = self._sample_shape(scanned.first)
        rows = self._as_read(dataset, shape)
        return scanned.first.reshape((1, *shape)), rows.targets, rows

    def _as_read(self, dataset, shape):
        """``dataset`` read as the network and the loss take it: samples of ``shape`` in
        the training dtype, labels as class indices."""
        return Mapped(dataset, x_map=lambda x: np.asarray(x, dtype=self.dtype).reshape((len(x), *shape)),
                      y_map=lambda labels: self._targets(np.searchsorted(self.classes_, labels)))

    def _targets(self, encoded):
        """Class indices as the loss takes them: 0/1 floats for two classes, else ints."""
        return encoded.astype(self.dtype) if len(self.classes_) == 2 else encoded

    def _make_network(self, X):
        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        head = Sigmoid() if n_outputs == 1 else Softmax()
        seed = network_seed(self.random_state)
        return Sequential([*self._build_layers(n_outputs, X.shape[1:]), head], input_shape=X.shape[1:],
                          dtype=self.dtype, random_state=seed)

    def _loss(self):
        return BinaryCrossEntropy() if len(self.classes_) == 2 else CrossEntropy()

    def _encode_validation(self, validation_data):
        """(X_val, y_val) in the network's shape and dtype, labels as class indices (a
        dataset: read so, a minibatch at a time)."""
        if validation_data is None:
            return None
        if is_dataset(validation_data):
            unknown = np.setdiff1d(validation_data.targets, self.classes_)
            if unknown.size:
                raise ValueError(f"validation labels {unknown[:10].tolist()} were not seen in training "
                                 f"(classes: {list(self.classes_)})")
            return self._as_read(validation_data, self.network_.input_shape)
        X_val, y_val = validation_data
        X_val = self._validated(X_val, self.dtype)
        y_val = np.asarray(y_val)
        encoded = np.searchsorted(self.classes_, y_val).clip(0, len(self.classes_) - 1)
        unknown = self.classes_[encoded] != y_val
        if unknown.any():
            raise ValueError(f"validation labels {sorted(set(y_val[unknown].tolist()))} were not seen in training "
                             f"(classes: {list(self.classes_)})")
        return X_val, self._targets(encoded)

    def _fit_loop(self, X, target, optimizer, penalty, *, batch_size, shuffle, callbacks=(), validation_data=None,
                  checkpoint=None, checkpoint_every="epoch", resume=False, communicator=None):
        """Train on (X, target), or on the dataset X (target None) read a minibatch (or,
        past :data:`~neuronet.data.CHUNK_ROWS` samples, a chunk) at a time."""
        callbacks = with_checkpoint(callbacks, checkpoint, checkpoint_every, resume)
        try:
            history = fit(
                self.network_, X, None if is_dataset(X) else target, loss=self._loss(), optimizer=optimizer, penalty=penalty,
                epochs=self.max_iter, batch_size=batch_size, shuffle=shuffle,
                validation_data=self._encode_validation(validation_data),
                callbacks=callbacks, verbose=self.verbose, random_state=_seed(self.random_state),
                print_every=max(1, self.max_iter // 20), communicator=communicator,
                divergence_ratio=None,  # a convex cost that bounces high is an overshooting rate: warned at the end
                accumulate_gradients=True,  # a batch of every sample, in chunks: the memory of one chunk
            )
        except (TrainingDiverged, TrainingInterrupted) as stop:  # keep what was learned, then report
            self._record(stop.history)
            raise
        self._record(history)
        if is_dataset(X):  # diagnosed on samples spread over it, as many as the network computes at once
            X, target = X[spread_rows(len(X), self.network_.chunk_rows())]
        warn_if_stopped_learning(self, X, target, logit_threshold=self._logit_threshold(), stacklevel=3,
                                 loss=self._loss(), target=target)
        self.network_.clear()  # nothing of X stays in the model

    def _record(self, history):
        self.history_ = history
        self.loss_curve_ = list(history.history.get("loss", []))
        self.n_iter_ = len(self.loss_curve_)

    # --- prediction ---------------------------------------------------------
    def _validated(self, X, dtype):
        check_is_fitted(self)
        X = validated(self, X, reset=False, dtype=np.dtype(dtype), allow_nd=True)
        expected = self._check_sample_size(X)
        return X.reshape((len(X), *expected))

    def decision_function(self, X):
        """The logits: z = w·x + b for two classes (shape (n,)), K scores otherwise.

        Prediction runs in float64 whatever the training dtype, so a sample's score
        does not depend on which other samples share its batch (and the one product is
        cheap: Newton's method fits weights whose terms cancel beyond float32's digits).
        An array-like ``X`` read a slice at a time (an image cache) is read, checked and
        scored a chunk at a time."""
        check_is_fitted(self)  # first: NotFittedError before network_ is touched
        if is_lazy(X):
            return by_chunks(self.decision_function, X, self.network_)
        X = self._prediction_input(X).astype(np.float64, copy=False)
        X = X.reshape((len(X), *self._check_sample_size(X)))
        logits = self._finite(self.network_.predict_logits(X, batch_size=2048))
        return logits.ravel() if logits.shape[1] == 1 else logits

    def predict_proba(self, X):
        """Class probabilities (rows sum to 1), columns in the order of ``classes_``."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            positive = sigmoid(scores)
            return np.column_stack([1 - positive, positive])
        return softmax(scores)

    def predict(self, X):
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > self._logit_threshold()).astype(int)]
        return self.classes_[scores.argmax(axis=1)]

    def _logit_threshold(self):
        return 0.0

    # --- the fitted state, for saving ----------------------------------------
    def get_fitted_state(self):
        """Everything ``fit`` learned: the network, the classes, the counts and the
        history (what :func:`neuronet.save` writes beside the parameters)."""
        check_is_fitted(self)
        return {"network": self.network_, "classes": savable_classes(self.classes_),
                "n_features_in": int(self.n_features_in_), "n_iter": int(self.n_iter_),
                "history": self.history_.state_dict(points=HISTORY_POINTS), **self._input_state()}

    def set_fitted_state(self, state):
        """Put back what :meth:`get_fitted_state` gave (used by :func:`neuronet.load`)."""
        self._input_range = state.get("input_range")
        self.network_, self.classes_ = state["network"], np.asarray(state["classes"])
        self.n_features_in_, self.n_iter_ = int(state["n_features_in"]), int(state["n_iter"])
        self.history_ = History()
        self.history_.load_state_dict(state["history"])
        self.loss_curve_ = list(self.history_.history.get("loss", []))
        return self
