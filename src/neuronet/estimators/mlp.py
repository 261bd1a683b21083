"""The multi-layer perceptron as scikit-learn has it: ``MLPClassifier`` and ``MLPRegressor``.

Same constructor parameters, defaults and meaning as ``sklearn.neural_network``, the
same fitted attributes (``coefs_``, ``intercepts_``, ``loss_curve_``, ``t_`` …) and
methods (``partial_fit``, warm starts, ``predict_log_proba``), trained on neuronet's
engine: the stochastic solvers run the shared loop, ``lbfgs`` hands neuronet's loss
and backpropagated gradient to ``scipy.optimize.minimize``.

scikit-learn's bookkeeping after each epoch lives in :class:`_ScikitLearnEpochs`:
the loss curve, the count of epochs without improvement (on the training loss, or
on the validation score with ``early_stopping``), the ``invscaling`` and
``adaptive`` step sizes of SGD, and the best weights.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.optimize
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d

from ..data import Mapped, Subset, is_dataset, is_lazy, spread_rows
from ..callbacks import Callback, History, LearningRateScheduler, LiveCurves, ProgressBar
from ..diagnosis import warn_if_stopped_learning
from ..distributed import mpi_world
from ..layers import Dense, Dropout, Exp, Sigmoid, Softmax
from ..losses import BinaryCrossEntropy, CrossEntropy, HalfPoissonDeviance, HalfSquaredError
from ..network import Sequential
from ..optimizers import SGD, Adam, CosineDecay
from ..regularizers import L2
from ..threads import blas_threads
from ..training import TrainingDiverged, TrainingInterrupted, fit, loss_and_gradient
from ..validation import DtypeOptions, InvalidParameterError, Interval, Options, StrOptions
from .streamed import refuse_dataset, scan, training_dtype
from .base import (ACTIVATIONS, HISTORY_POINTS, POSITIVE_INT, NeuralEstimator, by_chunks, network_seed, savable_classes,
                   validated, with_checkpoint)

MLP_CONSTRAINTS = {
    "hidden_layer_sizes": ["array-like", POSITIVE_INT],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), POSITIVE_INT],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive", "cosine"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "power_t": [Interval(Real, 0, None, closed="left")],
    "max_iter": [POSITIVE_INT],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": [Interval(Integral, 0, None, closed="left"), "boolean", StrOptions({"progress", "plot"})],
    "warm_start": ["boolean"],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [POSITIVE_INT, Options(Real, {np.inf})],
    "max_fun": [POSITIVE_INT],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "dtype": [DtypeOptions({"float32", "float64"}), None],
}
STOCHASTIC = ("sgd", "adam")
# neuronet's own verbose values: the callback each adds in place of scikit-learn's printed lines
_NEURONET_VERBOSE = {"progress": ProgressBar, "plot": LiveCurves}


def _as_array(curve):
    """A per-epoch curve (or None) as a float64 array: a checkpoint stores it as a tensor, so
    its header stays small however long the run."""
    return None if curve is None else np.asarray(curve, dtype=np.float64)


def _as_list(curve):
    """A stored curve (or None) as the list of floats scikit-learn's attribute is."""
    return None if curve is None else [float(value) for value in curve]


class _ScikitLearnEpochs(Callback):
    """What scikit-learn's MLP does after each epoch, on the estimator's attributes.

    ``loss_`` and ``loss_curve_`` take the epoch's average cost (penalty included);
    ``t_`` counts the samples seen. An epoch "does not improve" when the training
    loss is above ``best_loss_ − tol`` (or, with early stopping, the validation
    score below ``best_validation_score_ + tol``); after more than
    ``n_iter_no_change`` such epochs in a row, training stops — unless SGD's
    ``learning_rate="adaptive"`` can divide the step size by 5 first (down to 1e-6).
    ``invscaling`` sets the step to η₀ / (t + 1)^power_t after each epoch.
    """

    def __init__(self, estimator, n_samples, validation=None):
        self.estimator, self.n_samples, self.validation = estimator, n_samples, validation
        self.no_improvement = 0

    def get_config(self):
        """Every setting that steers the epochs: when to stop, and how the step size changes
        (the initial step size is the optimizer's own setting)."""
        est = self.estimator
        return {"n_samples": self.n_samples, "early_stopping": self.validation is not None, "tol": est.tol,
                "n_iter_no_change": est.n_iter_no_change, "solver": est.solver, "learning_rate": est.learning_rate,
                "power_t": est.power_t}

    def state_dict(self):
        est = self.estimator
        return {"no_improvement": self.no_improvement, "t": est.t_, "loss_curve": _as_array(est.loss_curve_),
                "best_loss": est.best_loss_, "validation_scores": _as_array(est.validation_scores_),
                "best_validation_score": est.best_validation_score_, "best_weights": self.best_weights}

    def load_state_dict(self, state):
        est = self.estimator
        self.no_improvement, est.t_ = int(state["no_improvement"]), int(state["t"])
        est.loss_curve_, est.best_loss_ = _as_list(state["loss_curve"]), state["best_loss"]
        est.validation_scores_ = _as_list(state["validation_scores"])
        est.best_validation_score_ = state["best_validation_score"]
        est.n_iter_ = len(est.loss_curve_) - self.loss_curve_before
        self.best_weights = state["best_weights"]

    def on_train_begin(self):
        est = self.estimator
        self.loss_curve_before = len(est.loss_curve_)
        self.best_weights = None
        est.n_iter_ = 0

    def on_epoch_end(self, epoch, logs):
        est, optimizer = self.estimator, self.trainer.optimizer
        est.n_iter_ += 1
        est.loss_ = np.float64(self.trainer.epoch_mean_loss)  # before each step, as scikit-learn's
        est.t_ += self.n_samples
        est.loss_curve_.append(est.loss_)
        if self._printing():
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        self._count_no_improvement()
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            optimizer.learning_rate = float(est.learning_rate_init / (est.t_ + 1) ** est.power_t)
        if self.no_improvement > est.n_iter_no_change:
            what = "Validation score" if self.validation else "Training loss"
            message = (f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} "
                       "consecutive epochs.")
            if est.solver == "sgd" and est.learning_rate == "adaptive" and optimizer.learning_rate > 1e-6:
                optimizer.learning_rate /= 5.0
                self.no_improvement = 0
                if self._printing():
                    print(f"{message} Setting learning rate to {optimizer.learning_rate:f}")
            else:
                self.trainer.stop_training = True
                if self._printing():
                    small = est.solver == "sgd" and est.learning_rate == "adaptive"
                    print(f"{message}{' Learning rate too small.' if small else ''} Stopping.")

    def _printing(self):
        """scikit-learn's verbose output: any true ``verbose`` but neuronet's "progress" (a
        bar) and "plot" (live curves); under MPI from rank 0 alone."""
        world = self.trainer.communicator
        return (bool(self.estimator.verbose) and self.estimator.verbose not in _NEURONET_VERBOSE
                and (world is None or world.is_root))

    def _count_no_improvement(self):
        est = self.estimator
        if self.validation is not None:
            score = est._score(*self.validation)
            est.validation_scores_.append(score)
            if self._printing():
                print(f"Validation score: {score:f}")
            self.no_improvement = self.no_improvement + 1 if score < est.best_validation_score_ + est.tol else 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                self.best_weights = self.trainer.network.get_weights()
        else:
            loss = est.loss_curve_[-1]
            self.no_improvement = self.no_improvement + 1 if loss > est.best_loss_ - est.tol else 0
            est.best_loss_ = min(est.best_loss_, loss)

    def on_train_end(self):
        if self.validation is not None and self.best_weights is not None:
            self.trainer.network.set_weights(self.best_weights)


class _LayerParameters(list):
    """One parameter (``"weights"`` or ``"bias"``) of every Dense layer, as scikit-learn's
    ``coefs_`` and ``intercepts_`` lists: each item is the layer's own array, and
    assigning an item writes into it (same shape, a dtype that casts to the network's)."""

    def __init__(self, layers, name):
        super().__init__(layer.params[name] for layer in layers)
        self._name = name

    def __setitem__(self, index, value):
        targets, values = (self[index], list(value)) if isinstance(index, slice) else ([self[index]], [value])
        if len(values) != len(targets):
            raise ValueError(f"expected {len(targets)} arrays of {self._name}, got {len(values)}")
        for target, array in zip(targets, values):
            self._write(target, np.asarray(array))

    def _write(self, target, array):
        if array.shape != target.shape:
            raise ValueError(f"{self._name} of shape {array.shape} do not fit a layer of {target.shape}")
        if not np.can_cast(array.dtype, target.dtype, casting="same_kind"):
            raise ValueError(f"{self._name} of dtype {array.dtype} do not fit a layer of {target.dtype}")
        target[...] = array


class _BaseMLP(NeuralEstimator):
    """What MLPClassifier and MLPRegressor share: parameters, solvers, fitted attributes."""

    _parameter_constraints = MLP_CONSTRAINTS
    _as_scikit_learn = True  # scikit-learn's initial weights and form of Adam, for the same fits

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, dtype=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.dtype = dtype

    # --- the network --------------------------------------------------------------
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if any(size <= 0 for size in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return sizes

    def _build_layers(self, n_outputs, sample_shape):
        """Dense → activation per hidden layer, then the output layer."""
        layers = []
        for units in self._hidden_sizes():
            layers += [Dense(units), ACTIVATIONS[self.activation]()]
            if self.dropout:
                layers.append(Dropout(self.dropout))
        return layers + [Dense(n_outputs)]

    def _draw_initial_weights(self):
        """Every weight and bias from U(±√(f / (n_in + n_out))) — Glorot's uniform, with
        f = 2 for a logistic activation and 6 otherwise — drawn in scikit-learn's order
        from ``check_random_state(random_state)``: for the same ``random_state`` the
        network starts where scikit-learn's starts."""
        if not self._as_scikit_learn:
            return
        random_state = self._random_state
        factor = 2.0 if self.activation == "logistic" else 6.0
        for layer in self._dense_layers():
            fan_in, fan_out = layer.params["weights"].shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            layer.params["weights"][...] = random_state.uniform(-bound, bound, (fan_in, fan_out))
            layer.params["bias"][...] = random_state.uniform(-bound, bound, fan_out)

    def _dense_layers(self):
        return [layer for layer in self.network_.layers if isinstance(layer, Dense)]

    @property
    def coefs_(self):
        """The weight matrices, one (n_in, n_out) array per Dense layer: the network's
        own arrays, so that changing one, or assigning ``coefs_[i] = W``, changes the network."""
        check_is_fitted(self)
        return _LayerParameters(self._dense_layers(), "weights")

    @coefs_.setter
    def coefs_(self, coefs):
        self._set_parameters("weights", coefs)

    @property
    def intercepts_(self):
        """The bias vectors, one per Dense layer (the network's own, as ``coefs_``)."""
        check_is_fitted(self)
        return _LayerParameters(self._dense_layers(), "bias")

    @intercepts_.setter
    def intercepts_(self, intercepts):
        self._set_parameters("bias", intercepts)

    def _set_parameters(self, name, arrays):
        layers = self._dense_layers()
        if len(arrays) != len(layers):
            raise ValueError(f"expected {len(layers)} arrays of {name}, got {len(arrays)}")
        _LayerParameters(layers, name)[:] = arrays

    # --- fitting --------------------------------------------------------------
    def _check_parameters(self):
        if isinstance(self.learning_rate, Real) and not isinstance(self.learning_rate, bool):
            schedules = self._parameter_constraints["learning_rate"][0]
            raise InvalidParameterError(
                f"The 'learning_rate' parameter of {type(self).__name__} must be {schedules}. Got "
                f"{self.learning_rate!r} instead: the step size is learning_rate_init (scikit-learn's name), e.g. "
                f"learning_rate_init={self.learning_rate!r}")
        super()._check_parameters()

    def fit(self, X, y=None, sample_weight=None, *, validation_data=None, checkpoint=None, resume=False,
            checkpoint_every="epoch", distributed=False):
        """Fit the network to (X, y): up to ``max_iter`` epochs of minibatches (sgd,
        adam) or iterations of L-BFGS.

        X may also be a dataset object, with y None (:mod:`neuronet.data`: ``len``,
        ``dataset[indices] -> (X, y)``, ``targets``, such as
        :class:`neuronet.datasets.ImageFolder`), for data that does not fit in memory:
        it is read a chunk at a time, once to check it, then a minibatch at a time
        (sgd and adam); the weights are those the same arrays would give.

        neuronet's additions, for sgd and adam: ``validation_data=(X_val, y_val)``
        records their loss and score per epoch in ``history_``; ``checkpoint``,
        ``checkpoint_every`` and ``resume`` save the run as it goes and continue it
        exactly (see :class:`neuronet.checkpoint.Checkpoint`); Ctrl-C stops after a
        minibatch (:class:`neuronet.TrainingInterrupted`); ``distributed=True`` trains one
        model data-parallel over the processes of an MPI job, each calling ``fit`` alike
        (``mpiexec -n 4 python script.py``; see :mod:`neuronet.distributed`).
        """
        return self._fit(X, y, sample_weight, incremental=False, validation_data=validation_data,
                         checkpoint=checkpoint, resume=resume, checkpoint_every=checkpoint_every,
                         distributed=distributed)

    def _check_solver(self):
        if self.solver not in STOCHASTIC:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                                 "stochastic.")
        return True

    def _fit(self, X, y, sample_weight, incremental, validation_data=None, checkpoint=None, resume=False,
             checkpoint_every="epoch", distributed=False):
        self._check_parameters()
        self._hidden_sizes()
        first_pass = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        world = mpi_world(required=True) if distributed else None
        dataset = X if is_dataset(X) else None
        if dataset is not None:
            X, y = self._scan_dataset(dataset, y, incremental, first_pass, world)
        else:
            X, y = self._validate_input(X, y, incremental, reset=first_pass)
            self._note_input_range(X, reset=first_pass)
        # one generator for the initial weights, the early-stopping split and the shuffles, as scikit-learn
        seed = self.random_state if world is None else world.shared_seed(self.random_state)
        self._random_state = check_random_state(int(seed.integers(2**31)) if isinstance(seed, np.random.Generator)
                                                else seed)
        if first_pass:
            self._initialize(X, y)
        target = self._targets_of(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, y, dtype=self.network_.dtype)
        if dataset is not None:  # X: the samples as the network takes them, read a minibatch at a time
            X = Mapped(dataset, x_map=self._network_rows, y_map=self._targets_of)
        if self.solver == "lbfgs":
            if checkpoint is not None or validation_data is not None or world is not None:
                raise ValueError("checkpoint=, validation_data= and distributed= follow the epochs of solver='adam' "
                                 "or 'sgd'; L-BFGS runs in one call to scipy")
            self._fit_lbfgs(X, target, sample_weight)
        else:
            self._fit_stochastic(X, target, sample_weight, incremental, validation_data,
                                 checkpoint, resume, checkpoint_every, world)
        if not np.isfinite(self.network_.flat_parameters()[0]).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed.")
        if not incremental:
            # a dataset: diagnosed on samples spread over it, as many as the network computes at once
            rows = spread_rows(len(y), self.network_.chunk_rows()) if dataset is not None else slice(None)
            inputs = X[rows][0] if dataset is not None else self._as_network_input(X)
            warn_if_stopped_learning(self, inputs, self._class_indices(y[rows]), stacklevel=3, loss=self._loss(),
                                     target=target[rows])
        self.network_.clear()  # nothing of X stays in the model
        return self

    def _scan_dataset(self, dataset, y, incremental, first_pass, world=None):
        """(one sample, the targets) of a dataset given to ``fit``, checked a chunk at a
        time as :meth:`_validate_input` checks arrays; the input range noted."""
        if y is not None:
            raise ValueError("fit takes a dataset alone (its targets are the labels), or arrays X and y")
        if self.solver == "lbfgs":
            raise ValueError("L-BFGS takes the whole training set at each step: give arrays, or train the dataset "
                             "with solver='adam' or 'sgd'")
        dtype = self.network_.dtype if not first_pass else training_dtype(dataset, self.dtype)
        scanned = scan(self, dataset, dtype, classifier=not self._numeric_targets, world=world)
        first = self._validated_X(scanned.first, scanned.targets[:1], first_pass, y_numeric=self._numeric_targets)[0]
        self._note_input_range(None, reset=first_pass, seen=scanned.input_range)
        return first, self._checked_targets(scanned.targets, incremental)

    def _network_rows(self, x):
        """A minibatch read from a dataset as the network takes it."""
        return self._as_network_input(np.asarray(x, dtype=self.network_.dtype))

    _numeric_targets = False  # a regressor's targets are numbers; a classifier's any labels

    def _validate_input(self, X, y, incremental, reset):
        """(X, y) checked as scikit-learn checks them, y against the earlier fit's classes."""
        X, y = self._validated_X(X, y, reset, y_numeric=self._numeric_targets)
        return X, self._checked_targets(y, incremental)

    def _augmentation(self):
        """The random changes of training batches (CNNClassifier's ``augment``): none here."""
        return None

    def _dtype(self, X):
        """The training dtype: X's own (float32 or float64), unless ``dtype`` says otherwise."""
        return np.dtype(self.dtype) if self.dtype is not None else X.dtype

    def _validated_X(self, X, y, reset, **options):
        """(X, y) checked as scikit-learn checks them; X in the training dtype (the
        network's own when training continues from it)."""
        if not reset and hasattr(self, "network_"):
            dtype = self.network_.dtype
        else:
            dtype = (np.float64, np.float32) if self.dtype is None else np.dtype(self.dtype)
        return validated(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, reset=reset, dtype=dtype,
                         allow_nd=True, **options)

    def _initialize(self, X, y):
        n_outputs = self._n_outputs(y)
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(self._hidden_sizes()) + 2
        self.out_activation_ = self._out_activation()
        head = {"logistic": Sigmoid, "softmax": Softmax, "exp": Exp}.get(self.out_activation_)
        sample_shape = self._sample_shape(X)
        layers = self._build_layers(n_outputs, sample_shape) + ([head()] if head else [])
        self.network_ = Sequential(layers, dtype=self._dtype(X), random_state=self._network_seed())
        self.network_.build(sample_shape, draw_weights=not self._as_scikit_learn)  # else scikit-learn's draws
        self._draw_initial_weights()
        self.n_iter_, self.t_ = 0, 0
        for name in ("loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_", "history_"):
            self.__dict__.pop(name, None)
        if self.solver in STOCHASTIC:
            self.loss_curve_ = []
            if self.early_stopping:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
            else:
                self.best_loss_, self.validation_scores_, self.best_validation_score_ = np.inf, None, None

    def _network_seed(self):
        """The seed of the network's own generator (dropout masks). It is not drawn from
        a RandomState given as ``random_state``: that one must stay scikit-learn's stream."""
        if isinstance(self.random_state, np.random.RandomState):
            return int(self.random_state.get_state(legacy=False)["state"]["key"][0])
        return network_seed(self.random_state)

    def _as_network_input(self, X):
        """Rows of features; images (n, C, H, W) are flattened channel by channel (neuronet's addition)."""
        return X if X.ndim == 2 else X.reshape(X.shape[0], -1)

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                          stacklevel=5)  # at the user's fit
        return int(np.clip(self.batch_size, 1, n_samples))

    def _optimizer(self):
        if self.solver == "sgd":
            return SGD(self.learning_rate_init, momentum=self.momentum,
                       nesterov=bool(self.nesterovs_momentum and self.momentum > 0), step_velocity=True)
        return Adam(self.learning_rate_init, beta1=self.beta_1, beta2=self.beta_2, epsilon=self.epsilon,
                    corrected_epsilon=not self._as_scikit_learn)

    def _early_stopping_split(self, X, y, sample_weight):
        """scikit-learn's held-out validation set, stratified for single-label
        classification; the validation targets go back to labels, for scoring."""
        stratify = self._stratify(y)
        if is_dataset(X):  # the same split of its samples' numbers: read when trained on, or scored
            rows, y, sample_weight, (rows_val, y_val, weight_val) = self._early_stopping_split(
                np.arange(len(X)), y, sample_weight)
            return Subset(X, rows), y, sample_weight, (Subset(X, rows_val), y_val, weight_val)
        parts = train_test_split(X, y, *([] if sample_weight is None else [sample_weight]),
                                 random_state=self._random_state, test_size=self.validation_fraction,
                                 stratify=stratify)
        if parts[1].shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of your "
                             "dataset.")
        X, X_val, y, y_val = parts[:4]
        sample_weight, weight_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
        return X, y, sample_weight, (X_val, self._decode(y_val), weight_val)

    def _stratify(self, y):
        return None

    def _class_indices(self, y):
        """The labels as indices into ``classes_``, for the one-class check; None: no classes."""
        return None

    def _decode(self, target):
        return target

    def _fit_stochastic(self, X, target, sample_weight, incremental, validation_data, checkpoint, resume,
                        checkpoint_every, world=None):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if not incremental or not hasattr(self, "_optimizer_state"):
            self._optimizer_state = self._optimizer()
        optimizer = self._optimizer_state
        validation = None
        if self.early_stopping:
            X, target, sample_weight, validation = self._early_stopping_split(X, target, sample_weight)
        n_samples = len(X) if is_dataset(X) else X.shape[0]
        batch_size, steps = self._batch_size(n_samples), getattr(self, "steps_per_epoch", None)
        seen = n_samples if steps is None else min(n_samples, steps * batch_size)  # the samples of an epoch
        bookkeeping = _ScikitLearnEpochs(self, seen, validation)
        callbacks = [bookkeeping]
        if self.learning_rate == "cosine":
            callbacks.append(LearningRateScheduler(CosineDecay(self.learning_rate_init, self.max_iter)))
        if self.verbose in _NEURONET_VERBOSE:
            callbacks.append(_NEURONET_VERBOSE[self.verbose]())
        callbacks = with_checkpoint(callbacks, checkpoint, checkpoint_every, resume)
        epochs = 1 if incremental else self.max_iter
        try:
            inputs, target = (X, None) if is_dataset(X) else (self._as_network_input(X), target)
            self.history_ = fit(self.network_, inputs, target, loss=self._loss(),
                                optimizer=optimizer, penalty=self._penalty(), epochs=epochs,
                                batch_size=batch_size, shuffle=self.shuffle, steps_per_epoch=steps,
                                validation_data=self._encode_validation(validation_data), callbacks=callbacks,
                                random_state=self._random_state, sample_weight=sample_weight, communicator=world,
                                augment=self._augmentation())
        except TrainingInterrupted as stop:
            self.history_ = stop.history
            raise
        except TrainingDiverged as stop:
            self.history_ = stop.history
            if not self.early_stopping and stop.non_finite:  # scikit-learn's words, then neuronet's advice
                raise TrainingDiverged(f"Solver produced non-finite parameter weights. The input data may contain "
                                       f"large values and need to be preprocessed. ({stop})", stop.history,
                                       True) from None
            if not self.early_stopping:
                raise
            self.validation_scores_.append(np.nan)  # as scikit-learn: the best validated weights are kept
            warnings.warn(f"training diverged; the weights of the best validation score are kept ({stop})",
                          ConvergenceWarning, stacklevel=4)
            return
        if not incremental and self.n_iter_ == self.max_iter and not bookkeeping.trainer.stop_training:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                          "hasn't converged yet.", ConvergenceWarning, stacklevel=4)

    def _encode_validation(self, validation_data):
        if validation_data is None:
            return None
        if is_dataset(validation_data):
            return Mapped(validation_data, x_map=self._network_rows, y_map=self._targets_of)
        X_val, y_val = self._validated_X(*validation_data, reset=False)
        return self._as_network_input(X_val), self._targets_of(column_or_1d(y_val) if np.ndim(y_val) == 2 and
                                                                  np.shape(y_val)[1] == 1 else y_val)

    def _penalty(self):
        """The L2 penalty on the weights, (α / 2m)·‖W‖² for a minibatch of m samples (scikit-learn's)."""
        return L2(self.alpha, per_batch=True)

    def _fit_lbfgs(self, X, target, sample_weight):
        """L-BFGS on the whole set, through ``scipy.optimize.minimize``: J and its
        gradient come from neuronet's forward and backward passes."""
        if self.dropout:
            raise ValueError("dropout needs a stochastic solver: use solver='adam' or 'sgd', or dropout=0")
        network, loss, penalty = self.network_, self._loss(), self._penalty()
        parameters, gradients, _ = network.flat_parameters()
        inputs = self._as_network_input(X)

        def cost_and_gradient(theta):
            parameters[...] = theta
            value, _ = loss_and_gradient(network, loss, inputs, target, penalty, sample_weight)
            return value, gradients.astype(np.float64)

        with np.errstate(over="ignore", invalid="ignore"), blas_threads(network, X.shape[0]):
            result = scipy.optimize.minimize(cost_and_gradient, parameters.astype(np.float64), method="L-BFGS-B",
                                             jac=True, options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                                                                "gtol": self.tol})
        parameters[...] = result.x
        self.n_iter_ = min(int(result.nit), self.max_iter)
        self.loss_ = float(result.fun)
        if result.status != 0:
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iteration(s) (status={result.status}): "
                          f"{result.message}. Increase the number of iterations (max_iter) or scale the data.",
                          ConvergenceWarning, stacklevel=4)

    # --- prediction ---------------------------------------------------------
    def _forward(self, X, check_input=True):
        """The network's output (probabilities, or the regression values) for X, in the
        dtype of :meth:`_in_dtype_of`. An array-like X read a slice at a time (an image
        cache) is read, checked and predicted a chunk at a time."""
        check_is_fitted(self)
        if is_lazy(X):
            return by_chunks(lambda chunk: self._forward(chunk, check_input), X, self.network_)
        if check_input:
            X = self._prediction_input(X, accept_sparse=["csr", "csc"])
        self._check_sample_size(X)
        return self._in_dtype_of(X, self._network_outputs(self._as_network_input(X)))

    def _held_out_outputs(self, X):
        """The outputs for the early-stopping set (arrays, or part of a dataset, read a chunk at a time)."""
        if is_dataset(X):
            return by_chunks(lambda rows: self._forward(rows, check_input=False), X, self.network_)
        return self._forward(X, check_input=False)

    @staticmethod
    def _in_dtype_of(X, outputs):
        """The outputs in float64 where the network or X is float64 (as scikit-learn's
        are), else float32: a float32 network's outputs are computed in float32, each
        sample's the same whichever samples share the call, then cast."""
        return outputs.astype(np.result_type(X.dtype, outputs.dtype), copy=False)

    def _outputs(self, X):
        """What prediction answers from: the network's outputs for X, refused where not finite."""
        return self._finite(self._forward(X))

    # --- the fitted state, for saving ----------------------------------------
    _FITTED = ("n_features_in_", "n_iter_", "t_", "loss_", "n_outputs_", "n_layers_", "out_activation_",
               "loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_")

    def get_fitted_state(self):
        """Everything ``fit`` learned (what :func:`neuronet.save` writes beside the parameters;
        the optimizer's moments are not kept: a loaded model's ``partial_fit`` starts them afresh)."""
        check_is_fitted(self)
        state = {name[:-1]: getattr(self, name) for name in self._FITTED if hasattr(self, name)}
        if hasattr(self, "history_"):
            state["history"] = self.history_.state_dict(points=HISTORY_POINTS)
        return {**state, **self._input_state(), "network": self.network_}

    def set_fitted_state(self, state):
        """Put back what :meth:`get_fitted_state` gave (used by :func:`neuronet.load`)."""
        self.network_, self._input_range = state["network"], state.get("input_range")
        for name in self._FITTED:
            if name[:-1] in state:
                value = state[name[:-1]]
                setattr(self, name, value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value)
        if "history" in state:
            self.history_ = History()
            self.history_.load_state_dict(state["history"])
            if not hasattr(self, "loss_curve_") and self.solver in STOCHASTIC:
                self.loss_curve_ = list(self.history_.history.get("loss", []))
        self._fill_derived_state()
        return self

    def _fill_derived_state(self):
        """Attributes a file of an older schema may lack, as the network defines them."""
        curve = getattr(self, "loss_curve_", None) or [np.nan]
        defaults = {"n_outputs_": self.network_.output_shape[-1], "n_layers_": len(self._dense_layers()) + 1,
                    "out_activation_": self._out_activation(), "t_": 0, "loss_": curve[-1]}
        if self.solver in STOCHASTIC:  # what a warm start or partial_fit continues from
            stopping = self.early_stopping
            defaults.update(best_loss_=None if stopping else float(np.min(curve)),
                            validation_scores_=[] if stopping else None,
                            best_validation_score_=-np.inf if stopping else None)
        for name, value in defaults.items():
            if not hasattr(self, name):
                setattr(self, name, value)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``, on neuronet.

    Every hidden unit is a logistic regression over the layer below; the network
    ends in a sigmoid (two classes, or several independent labels) or a softmax
    (K classes) and is trained on the log-loss by backpropagation.

    Parameters
    ----------
    hidden_layer_sizes : int or array-like, default (100,)
        Units of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}, default "relu"
        The hidden layers' nonlinearity ("sigmoid" and "leaky_relu" also work).
    solver : {"lbfgs", "sgd", "adam"}, default "adam"
        "lbfgs": full-batch L-BFGS (scipy); "sgd": minibatch SGD with momentum; "adam".
    alpha : float, default 1e-4
        L2 penalty, as scikit-learn scales it: (α/2)‖W‖² / m per batch of m samples.
    batch_size : int or "auto", default "auto"
        "auto" is min(200, n_samples).
    learning_rate : {"constant", "invscaling", "adaptive", "cosine"}, default "constant"
        The step-size schedule of SGD ("cosine" — neuronet's — applies to adam too).
    learning_rate_init : float, default 0.001
        The step size.
    power_t : float, default 0.5
        Exponent of "invscaling": η = η₀ / (t + 1)^power_t, t the samples seen.
    max_iter : int, default 200
        Epochs (sgd, adam) or iterations (lbfgs).
    shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum,
    early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change,
    max_fun
        As in scikit-learn (``verbose`` prints each epoch's loss); neuronet also takes
        ``verbose="progress"``, a progress bar over the minibatches instead, and
        ``verbose="plot"``, the learning curves redrawn in a notebook's cell while the
        stochastic solvers train (:class:`~neuronet.callbacks.LiveCurves`).
    dropout : float, default 0.0
        neuronet's: drop probability of a Dropout layer after each hidden activation.
    dtype : {"float32", "float64"} or None, default None
        neuronet's: the parameters' type; None follows X (float32 X trains in float32).

    Attributes
    ----------
    classes_, coefs_, intercepts_, n_iter_, t_, loss_, loss_curve_, best_loss_,
    validation_scores_, best_validation_score_, n_layers_, n_outputs_,
    out_activation_, n_features_in_, feature_names_in_ — as in scikit-learn;
    network_ (the :class:`neuronet.nn.Sequential`), history_ (Keras-like, per epoch).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier((32,), max_iter=5, random_state=0).fit(X / 16, y)
    >>> [w.shape for w in clf.coefs_]
    [(64, 32), (32, 10)]
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, dtype=None):
        # its own signature, as scikit-learn's: an unknown parameter is refused naming MLPClassifier
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
                         warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
                         early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
                         dropout=dropout, dtype=dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _n_outputs(self, y):
        return len(self.classes_) if self._label_binarizer.y_type_ in ("multiclass", "multilabel-indicator") else 1

    def _loss(self):
        return CrossEntropy() if self.out_activation_ == "softmax" else BinaryCrossEntropy()

    def _checked_targets(self, y, incremental):
        """The labels, checked against the classes of an earlier fit (or setting them)."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the previous "
                                     f"call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        return y

    def _targets_of(self, y):
        """Labels as the loss takes them: 0/1 columns (sigmoid outputs), or class indices (softmax)."""
        if self._label_binarizer.y_type_ == "multiclass":  # each label is one of classes_ (checked): its index
            return np.searchsorted(self.classes_, y)
        return self._label_binarizer.transform(y).astype(self.network_.dtype)

    def _stratify(self, target):
        """Stratify on the labels (as scikit-learn: the 0/1 column of a binary problem,
        as booleans); several independent labels are not stratified."""
        kind = self._label_binarizer.y_type_
        return None if kind == "multilabel-indicator" else target.astype(bool) if kind == "binary" else target

    def _class_indices(self, y):
        """Each sample's class as an index into ``classes_`` (None for several labels a sample)."""
        return None if self._label_binarizer.y_type_ == "multilabel-indicator" else np.searchsorted(self.classes_, y)

    def _decode(self, target):
        if self._label_binarizer.y_type_ == "multiclass":
            return self.classes_[target]
        return self._label_binarizer.inverse_transform(target)

    @available_if(lambda estimator: estimator._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y) from the current weights; ``classes`` (every label of
        the whole problem) is required on the first call."""
        refuse_dataset(X, "partial_fit")
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"`classes={classes!r}` is not the same as on the first call to partial_fit, "
                             f"which was {self.classes_!r}")
        return self._fit(X, y, sample_weight, incremental=True)

    def _score(self, X, y, sample_weight=None):
        """Accuracy on data already validated (the early-stopping set)."""
        return accuracy_score(y, self._labels(self._held_out_outputs(X)), sample_weight=sample_weight)

    def predict_proba(self, X):
        """Class probabilities: columns in the order of ``classes_`` (for several
        labels, each label's own probability)."""
        probabilities = self._outputs(X)
        if len(self.classes_) == 1:  # trained on one class: it is certain
            return np.ones((len(probabilities), 1), dtype=probabilities.dtype)
        if probabilities.shape[1] == 1 and self._label_binarizer.y_type_ != "multilabel-indicator":
            probabilities = probabilities.ravel()
            return np.column_stack([1 - probabilities, probabilities])
        return probabilities

    def predict_log_proba(self, X):
        """log(predict_proba(X)), as scikit-learn computes it."""
        probabilities = self.predict_proba(X)
        return np.log(probabilities, out=probabilities)

    def predict(self, X):
        """The predicted classes (a 0/1 indicator matrix for several labels)."""
        return self._labels(self._outputs(X))

    def _labels(self, probabilities):
        return self._label_binarizer.inverse_transform(probabilities.ravel() if self.n_outputs_ == 1 else probabilities)

    _FITTED = ("classes_",) + _BaseMLP._FITTED

    def get_fitted_state(self):
        state = super().get_fitted_state()
        state["classes"] = savable_classes(self.classes_)
        state["label_type"] = self._label_binarizer.y_type_
        return state

    def set_fitted_state(self, state):
        self.classes_ = np.asarray(state["classes"])
        kind = state.get("label_type") or ("binary" if len(self.classes_) == 2 else "multiclass")
        if kind == "multilabel-indicator":
            self._label_binarizer = LabelBinarizer().fit(np.eye(len(self.classes_), dtype=int))
        else:
            self._label_binarizer = LabelBinarizer().fit(self.classes_)
        return super().set_fitted_state(state)


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor: scikit-learn's ``MLPRegressor``, on neuronet.

    The network ends without an output activation (identity) and is trained on half
    the squared error, J = (1/2N) Σ (ŷ − y)², plus the L2 penalty; with
    ``loss="poisson"`` it predicts e^z and is trained on half the Poisson deviance.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default "squared_error"
    Others as :class:`MLPClassifier`.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.preprocessing import StandardScaler
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = MLPRegressor((16,), solver="lbfgs", random_state=0).fit(StandardScaler().fit_transform(X), y / 100)
    >>> reg.out_activation_
    'identity'
    """

    _parameter_constraints = {**MLP_CONSTRAINTS, "loss": [StrOptions({"squared_error", "poisson"})]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, dtype=None):
        self.loss = loss
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
                         warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
                         early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
                         dropout=dropout, dtype=dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _n_outputs(self, y):
        return 1 if y.ndim == 1 else y.shape[1]

    def _loss(self):
        return HalfPoissonDeviance() if self.loss == "poisson" else HalfSquaredError()

    _numeric_targets = True

    def _checked_targets(self, y, incremental):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs y >= 0 (counts, rates)")
        return y

    def _targets_of(self, y):
        y = np.asarray(y, dtype=self.network_.dtype)
        return y.reshape(-1, 1) if y.ndim == 1 else y

    @available_if(lambda estimator: estimator._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y) from the current weights."""
        refuse_dataset(X, "partial_fit")
        return self._fit(X, y, sample_weight, incremental=True)

    def _score(self, X, y, sample_weight=None):
        """R² on data already validated (the early-stopping set); NaN if the network blew up."""
        predicted = self._held_out_outputs(X)
        if not np.isfinite(predicted).all():
            return np.nan
        return r2_score(y, predicted.ravel() if predicted.shape[1] == 1 else predicted, sample_weight=sample_weight)

    def predict(self, X):
        """The predicted values: (n,) for one target, (n, k) for k."""
        predicted = self._outputs(X)
        return predicted.ravel() if predicted.shape[1] == 1 else predicted


