"""scikit-learn estimators built on the engine: one sigmoid neuron, an MLP, a CNN.

Each estimator only chooses a network, a loss, a penalty and an optimizer; training
runs the shared loop in :mod:`neuronet.training`. They follow scikit-learn's
conventions (``__init__`` stores parameters, ``fit`` validates them against the
class's ``_parameter_constraints`` and returns ``self``, fitted attributes end in an
underscore) so they work in pipelines, grid search and cross-validation.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .callbacks import Callback, EarlyStopping, History, LearningRateScheduler
from .checkpoint import Checkpoint
from .layers import Conv2D, Dense, Dropout, Flatten, LeakyReLU, MaxPool2D, ReLU, Sigmoid, Softmax, Tanh
from .layers.activations import sigmoid, softmax
from .losses import BinaryCrossEntropy, CrossEntropy
from .network import Sequential
from .optimizers import SGD, CosineDecay, Newton, make_optimizer
from .regularizers import L2
from .training import TrainingDiverged, TrainingInterrupted, fit
from .validation import DtypeOptions, Interval, Sizes, StrOptions, validate_params

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "leaky_relu": LeakyReLU}

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


def _seed(random_state):
    """What the engine's generators take (None or an int) from what scikit-learn
    accepts as ``random_state``: None, an int, a RandomState or a Generator."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31))
    return random_state


class NeuralClassifier(ClassifierMixin, BaseEstimator):
    """What the three classifiers share: validation, labels, training, prediction.

    Binary problems get one output unit with a sigmoid and the binary cross-entropy;
    K > 2 classes get K units with a softmax and the categorical cross-entropy.
    """

    _parameter_constraints: dict = {}

    # --- to be provided by each estimator ----------------------------------
    def _build_layers(self, n_outputs, sample_shape):
        raise NotImplementedError

    def _sample_shape(self, X):
        """The shape the network sees for one sample: flat features by default."""
        return (int(np.prod(X.shape[1:])),)

    # --- fitting --------------------------------------------------------------
    def _check_parameters(self):
        validate_params(self._parameter_constraints, self.get_params(deep=False), type(self).__name__)

    def _validate_fit(self, X, y):
        self._check_parameters()
        with np.errstate(over="ignore"):  # validate_data refuses a value too large for the dtype (inf) itself
            X, y = validate_data(self, X, y, dtype=np.dtype(self.dtype), allow_nd=True)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; y has only one class "
                f"({self.classes_[0]!r})"
            )
        return X.reshape((len(X), *self._sample_shape(X))), self._targets(encoded)

    def _targets(self, encoded):
        """Class indices as the loss takes them: 0/1 floats for two classes, else ints."""
        return encoded.astype(self.dtype) if len(self.classes_) == 2 else encoded

    def _make_network(self, X):
        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        head = Sigmoid() if n_outputs == 1 else Softmax()
        random_state = _seed(self.random_state)
        seed = None if random_state is None else int(np.random.default_rng(random_state).integers(2**31))
        return Sequential([*self._build_layers(n_outputs, X.shape[1:]), head], input_shape=X.shape[1:],
                          dtype=self.dtype, random_state=seed)

    def _loss(self):
        return BinaryCrossEntropy() if len(self.classes_) == 2 else CrossEntropy()

    def _encode_validation(self, validation_data):
        """(X_val, y_val) in the network's shape and dtype, labels as class indices."""
        if validation_data is None:
            return None
        X_val, y_val = validation_data
        X_val = self._validated(X_val, self.dtype)
        y_val = np.asarray(y_val)
        encoded = np.searchsorted(self.classes_, y_val).clip(0, len(self.classes_) - 1)
        unknown = self.classes_[encoded] != y_val
        if unknown.any():
            raise ValueError(f"validation labels {sorted(set(y_val[unknown].tolist()))} were not seen in training "
                             f"(classes: {list(self.classes_)})")
        return X_val, self._targets(encoded)

    def _fit_loop(self, X, target, optimizer, penalty, *, batch_size, shuffle, callbacks=(), validation_split=0.0,
                  validation_data=None, checkpoint=None, checkpoint_every="epoch", resume=False):
        callbacks = list(callbacks)
        if checkpoint is not None:
            callbacks.append(Checkpoint(checkpoint, every=checkpoint_every, resume=resume))
        try:
            history = fit(
                self.network_, X, target, loss=self._loss(), optimizer=optimizer, penalty=penalty,
                epochs=self.max_iter, batch_size=batch_size, shuffle=shuffle, validation_split=validation_split,
                validation_data=self._encode_validation(validation_data),
                callbacks=callbacks, verbose=self.verbose, random_state=_seed(self.random_state),
                print_every=max(1, self.max_iter // 20),
            )
        except (TrainingDiverged, TrainingInterrupted) as stop:  # keep what was learned, then report
            self._record(stop.history)
            raise
        self._record(history)

    def _record(self, history):
        self.history_ = history
        self.loss_curve_ = list(history.history.get("loss", []))
        self.n_iter_ = len(self.loss_curve_)
        if self.n_iter_ == self.max_iter and self.tol > 0:
            warnings.warn(f"{type(self).__name__} stopped at max_iter={self.max_iter} before the cost "
                          f"settled within tol={self.tol:g}; raise max_iter to train longer",
                          ConvergenceWarning, stacklevel=4)

    # --- prediction ---------------------------------------------------------
    def _validated(self, X, dtype=np.float64):
        check_is_fitted(self)
        with np.errstate(over="ignore"):
            X = validate_data(self, X, reset=False, dtype=np.dtype(dtype), allow_nd=True)
        expected = self.network_.input_shape
        if np.prod(X.shape[1:]) != np.prod(expected):
            raise ValueError(f"X has samples of shape {X.shape[1:]}, but {type(self).__name__} was fitted on "
                             f"samples of {int(np.prod(expected))} values {expected}")
        return X.reshape((len(X), *expected))

    def decision_function(self, X):
        """The logits: z = w·x + b for two classes (shape (n,)), K scores otherwise.

        Prediction runs in float64 whatever the training dtype, so a sample's score
        does not depend on which other samples share its batch."""
        X = self._validated(X)  # first: it raises NotFittedError before network_ is touched
        logits = self.network_.predict_logits(X, batch_size=2048)
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

    def summary(self, print_fn=print):
        """The fitted network's layers and parameter counts."""
        check_is_fitted(self)
        return self.network_.summary(print_fn)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "network_")

    # --- the fitted state, for saving ----------------------------------------
    def get_fitted_state(self):
        """Everything ``fit`` learned: the network, the classes, the counts and the
        history (what :func:`neuronet.save` writes beside the parameters)."""
        check_is_fitted(self)
        classes = np.asarray(self.classes_)
        return {"network": self.network_, "classes": classes if classes.dtype.kind in "iufbU" else classes.astype(str),
                "n_features_in": int(self.n_features_in_), "n_iter": int(self.n_iter_),
                "history": self.history_.state_dict()}

    def set_fitted_state(self, state):
        """Put back what :meth:`get_fitted_state` gave (used by :func:`neuronet.load`)."""
        self.network_, self.classes_ = state["network"], np.asarray(state["classes"])
        self.n_features_in_, self.n_iter_ = int(state["n_features_in"]), int(state["n_iter"])
        self.history_ = History()
        self.history_.load_state_dict(state["history"])
        self.loss_curve_ = list(self.history_.history.get("loss", []))
        return self


class _NewtonConverged(Callback):
    """Stop once a Newton step moves no parameter by more than ``tol``."""

    def __init__(self, tol):
        self.tol = float(tol)

    def get_config(self):
        return {"tol": self.tol}

    def on_epoch_end(self, epoch, logs):
        if self.trainer.optimizer.last_step < self.tol:
            self.trainer.stop_training = True


class LogisticRegression(NeuralClassifier):
    """Logistic regression: one sigmoid neuron, ŷ = σ(X·w + b).

    The cost is the average negative log-likelihood of a Bernoulli (cross-entropy),
    J = −(1/m) Σ [y log ŷ + (1 − y) log(1 − ŷ)] + (α/2)‖w‖², and training is
    full-batch gradient descent, w ← w − η dw with dw = (1/m) Xᵀ(ŷ − y) + α w and
    db = mean(ŷ − y) — the network ``Dense(1) → Sigmoid`` trained by the shared loop.
    ``solver="newton"`` uses the Hessian instead (Newton's method, IRLS).

    Parameters
    ----------
    learning_rate : float, default 0.1
        Step size η of gradient descent.
    max_iter : int, default 1000
        Gradient-descent iterations (epochs over the full batch), or Newton steps.
    tol : float, default 1e-6
        Stop when the cost improves by less than this in an iteration (gd), or when a
        Newton step moves no coefficient by more than this.
    threshold : float, default 0.5
        ``predict`` says the second class when its probability exceeds this.
    solver : {"gd", "newton"}
    alpha : float, default 0.0
        L2 penalty on the weights (not the bias).
    random_state : int or None
        Seeds the initial weights.
    verbose : int
        0 silent, 1 progress bar, 2 the cost every max_iter/20 iterations.
    dtype : {"float32", "float64"}

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)
    classes_ : the two labels; the second is the "positive" one (y = 1)
    n_iter_ : int
    loss_curve_ : list of float, the cost at each iteration

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = LogisticRegression(random_state=0).fit(StandardScaler().fit_transform(X), y)
    >>> clf.coef_.shape
    (1, 30)
    """

    _parameter_constraints = {
        **SHARED_CONSTRAINTS,
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "threshold": [Interval(Real, 0, 1, closed="neither")],
        "solver": [StrOptions({"gd", "newton"})],
    }

    def __init__(self, learning_rate=0.1, max_iter=1000, tol=1e-6, threshold=0.5, solver="gd",
                 alpha=0.0, random_state=None, verbose=0, dtype="float32"):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.threshold = threshold
        self.solver = solver
        self.alpha = alpha
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _build_layers(self, n_outputs, sample_shape):
        return [Dense(1, initializer="zeros")]

    def fit(self, X, y, validation_data=None, checkpoint=None, resume=False, checkpoint_every="epoch"):
        """Fit w and b to (X, y); y may hold any two labels.

        ``validation_data=(X_val, y_val)`` adds their cost and accuracy per iteration
        to ``history_`` (monitoring only). ``checkpoint``, ``checkpoint_every`` and
        ``resume`` as for :class:`neuronet.checkpoint.Checkpoint` (path, every, resume).
        """
        X, target = self._validate_fit(X, y)
        if len(self.classes_) > 2:
            raise ValueError(
                f"Only binary classification is supported. The type of the target is multiclass: "
                f"y has {len(self.classes_)} classes. Use MLPClassifier (softmax output) for more than two"
            )
        self.network_ = self._make_network(X)
        penalty = L2(self.alpha)  # the lecture's (α/2)‖w‖², whatever the batch
        if self.solver == "gd":
            stop = [EarlyStopping(monitor="loss", patience=1, min_delta=self.tol, restore_best_weights=False)]
            optimizer = SGD(self.learning_rate)
        else:
            stop = [_NewtonConverged(self.tol)]
            optimizer = self._newton(X, target, penalty)
        self._fit_loop(X, target, optimizer, penalty, batch_size=len(X), shuffle=False,
                       callbacks=stop if self.tol > 0 else [], validation_data=validation_data,
                       checkpoint=checkpoint, resume=resume, checkpoint_every=checkpoint_every)
        return self

    def _newton(self, X, y, penalty):
        """Newton's method on J (IRLS): θ = (w, b), X̃ = [X 1],
        H = (1/m) X̃ᵀ diag(ŷ(1 − ŷ)) X̃ + α I_w, plus a tiny ridge."""
        network, loss = self.network_, BinaryCrossEntropy()
        parameters, _, mask = network.flat_parameters()  # (w₁ … wₙ, b): the columns of X̃
        X_tilde = np.column_stack([X, np.ones(len(X))]).astype(np.float64)
        curvature = np.diag(penalty.curvature(mask, len(X)) + 1e-10)

        def cost():
            return loss.forward(network.logits(X), y) + penalty.value(parameters, mask, len(X))

        def hessian():
            p = sigmoid(network.logits(X).ravel().astype(np.float64))
            return (X_tilde.T * (p * (1 - p))) @ X_tilde / len(X) + curvature

        return Newton(hessian, cost)

    def _logit_threshold(self):
        return float(np.log(self.threshold / (1 - self.threshold)))

    @property
    def coef_(self):
        check_is_fitted(self)
        return self.network_.layers[0].params["weights"].T.astype(np.float64)

    @property
    def intercept_(self):
        check_is_fitted(self)
        return self.network_.layers[0].params["bias"].astype(np.float64)


class _MinibatchClassifier(NeuralClassifier):
    """The training options that the MLP and the CNN share."""

    _parameter_constraints = {
        **SHARED_CONSTRAINTS,
        "hidden_layer_sizes": [Sizes()],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"adam", "sgd"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_schedule": [StrOptions({"constant", "cosine"})],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [POSITIVE_INT],
        "n_iter_no_change": [POSITIVE_INT],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def _hidden_activation(self):
        return ACTIVATIONS[self.activation]

    def _dense_stack(self, n_outputs):
        layers = []
        for units in self.hidden_layer_sizes:
            layers += [Dense(units), self._hidden_activation()()]
            if self.dropout:
                layers.append(Dropout(self.dropout))
        return layers + [Dense(n_outputs)]

    def _callbacks(self):
        callbacks = []
        if self.tol > 0 or self.early_stopping:
            callbacks.append(EarlyStopping(monitor="val_loss" if self.early_stopping else "loss",
                                           patience=self.n_iter_no_change, min_delta=self.tol,
                                           restore_best_weights=self.early_stopping))
        if self.learning_rate_schedule == "cosine":
            callbacks.append(LearningRateScheduler(CosineDecay(self.learning_rate, self.max_iter)))
        return callbacks

    def fit(self, X, y, validation_data=None, checkpoint=None, resume=False, checkpoint_every="epoch"):
        """Train on (X, y) for up to ``max_iter`` epochs of minibatches.

        ``validation_data=(X_val, y_val)`` is evaluated after every epoch and recorded
        in ``history_`` (with ``early_stopping`` it is monitored instead of a split).
        ``checkpoint="run.ckpt"`` saves the whole state of the run after every epoch
        (``checkpoint_every``: "epoch", N minibatches, or None for Ctrl-C only);
        ``resume=True`` continues from it.
        Ctrl-C stops after the current minibatch (:class:`TrainingInterrupted`).
        """
        X, target = self._validate_fit(X, y)
        self.network_ = self._make_network(X)
        settings = {"learning_rate": self.learning_rate}
        if self.solver == "sgd":
            settings["momentum"] = self.momentum
        split = self.validation_fraction if self.early_stopping and validation_data is None else 0.0
        self._fit_loop(X, target, make_optimizer(self.solver, **settings), L2(self.alpha),
                       batch_size=min(self.batch_size, len(X)), shuffle=True, callbacks=self._callbacks(),
                       validation_split=split, validation_data=validation_data,
                       checkpoint=checkpoint, resume=resume, checkpoint_every=checkpoint_every)
        return self


class MLPClassifier(_MinibatchClassifier):
    """A multi-layer perceptron: Dense → activation, repeated, then a sigmoid or softmax.

    Every hidden unit is a logistic regression over the layer below; the whole stack is
    trained by backpropagation on minibatches.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (128, 64)
    activation : {"relu", "tanh", "sigmoid", "leaky_relu"}
    solver : {"adam", "sgd"}
    learning_rate : float, default 0.001
    learning_rate_schedule : {"constant", "cosine"}
        "cosine" lowers the rate from ``learning_rate`` towards 0 over ``max_iter`` epochs.
    momentum : float, default 0.9 (solver="sgd" only)
    batch_size : int, default 200
    max_iter : int, default 200 (epochs)
    alpha : float, default 1e-4 (L2 penalty (α/2)‖W‖² on the weights)
    tol, n_iter_no_change : stop when the monitored loss has not improved by ``tol``
        for ``n_iter_no_change`` epochs (tol=0 trains all ``max_iter`` epochs)
    early_stopping : bool
        Hold out ``validation_fraction`` (stratified), monitor its loss, keep the best weights.
    dropout : float, default 0.0
        Drop probability of a Dropout layer after each hidden activation (0: none).
    random_state, verbose (0, 1 progress bar, 2 a line per epoch), dtype

    Attributes
    ----------
    classes_, n_iter_, loss_curve_, history_ (per-epoch loss/accuracy, Keras-like),
    network_ (the trained :class:`neuronet.nn.Sequential`)

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier((32,), max_iter=5, random_state=0).fit(X / 16, y)
    >>> clf.predict_proba(X[:2] / 16).sum(axis=1).round(6).tolist()
    [1.0, 1.0]
    """

    def __init__(self, hidden_layer_sizes=(128, 64), activation="relu", solver="adam", learning_rate=0.001,
                 learning_rate_schedule="constant", momentum=0.9, batch_size=200, max_iter=200, alpha=1e-4,
                 tol=1e-4, n_iter_no_change=10, early_stopping=False, validation_fraction=0.1, dropout=0.0,
                 random_state=None, verbose=0, dtype="float32"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.alpha = alpha
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.dropout = dropout
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    def _build_layers(self, n_outputs, sample_shape):
        return self._dense_stack(n_outputs)


class CNNClassifier(_MinibatchClassifier):
    """A convolutional network: (Conv2D → activation → MaxPool2D) per entry of
    ``conv_filters``, then Flatten, optional hidden Dense layers, and a sigmoid or
    softmax output.

    Each convolution applies one small kernel at every position of the image (weights
    shared across positions), so it has far fewer parameters than a Dense layer on
    the same image. Convolutions are "same"-padded; a pooling window is clipped to the
    image where the image is smaller than the window.

    Parameters
    ----------
    image_shape : tuple, optional
        (channels, height, width) or (height, width) of one image, for flat X. Without
        it, X may be given as images (n, C, H, W) or (n, H, W); flat X with a square
        number of features is read as one-channel square images, any other as 1 × n rows.
    conv_filters : tuple of int, default (8, 16)
        Number of filters of each convolution block.
    kernel_size : int, default 3
    pool_size : int, default 2
    hidden_layer_sizes : tuple of int, default ()
        Dense layers between the convolutions and the output.
    Other parameters as for :class:`MLPClassifier` (here learning_rate 0.005 with the
    "cosine" schedule, batch_size 32, max_iter 10 epochs).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier(image_shape=(1, 8, 8), max_iter=2, random_state=0).fit(X / 16, y)
    >>> clf.network_.layers[0]
    Conv2D(filters=8, kernel_size=[3, 3], stride=[1, 1], padding=[1, 1], initializer='he_normal')
    """

    _parameter_constraints = {
        **_MinibatchClassifier._parameter_constraints,
        "image_shape": [tuple, list, None],
        "conv_filters": [Sizes(allow_empty=False)],
        "kernel_size": [POSITIVE_INT],
        "pool_size": [POSITIVE_INT],
    }

    def __init__(self, image_shape=None, conv_filters=(8, 16), kernel_size=3, pool_size=2, hidden_layer_sizes=(),
                 activation="relu", solver="adam", learning_rate=0.005, learning_rate_schedule="cosine",
                 momentum=0.9, batch_size=32, max_iter=10, alpha=1e-4, tol=1e-4, n_iter_no_change=10,
                 early_stopping=False, validation_fraction=0.1, dropout=0.0, random_state=None, verbose=0,
                 dtype="float32"):
        self.image_shape = image_shape
        self.conv_filters = conv_filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.alpha = alpha
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.dropout = dropout
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    def _sample_shape(self, X):
        if self.image_shape is not None:
            shape = tuple(int(d) for d in self.image_shape)
            shape = (1, *shape) if len(shape) == 2 else shape
            if len(shape) != 3 or np.prod(shape) != np.prod(X.shape[1:]):
                raise ValueError(f"image_shape {self.image_shape} does not fit samples of "
                                 f"{int(np.prod(X.shape[1:]))} values; give (channels, height, width)")
            return shape
        if X.ndim == 4:
            return X.shape[1:]
        if X.ndim == 3:
            return (1, *X.shape[1:])
        side = int(round(np.sqrt(X.shape[1])))
        return (1, side, side) if side * side == X.shape[1] else (1, 1, X.shape[1])

    def _build_layers(self, n_outputs, sample_shape):
        _, height, width = sample_shape
        layers = []
        for filters in self.conv_filters:
            pool = (min(self.pool_size, height), min(self.pool_size, width))
            layers += [Conv2D(filters, self.kernel_size, padding=self.kernel_size // 2),
                       self._hidden_activation()(), MaxPool2D(pool)]
            height, width = height // pool[0], width // pool[1]
        return [*layers, Flatten(), *self._dense_stack(n_outputs)]
