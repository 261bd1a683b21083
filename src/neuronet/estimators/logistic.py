"""Logistic regression, the lecture's way: one sigmoid neuron."""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from ..callbacks import Callback, StopWhenSettled
from ..data import is_dataset
from ..distributed import mpi_world
from ..layers import Dense
from ..layers.activations import sigmoid, softmax
from ..optimizers import SGD, Newton
from ..regularizers import L2
from ..validation import Interval, StrOptions
from .base import POSITIVE_INT, SHARED_CONSTRAINTS, NeuralClassifier


def _softmax_hessian(X_tilde, p):
    """∂²J/∂Θ² of the cross-entropy of softmax regression, indexed [(i, k), (j, l)]
    for feature i of class k and feature j of class l."""
    m, features = X_tilde.shape
    classes = p.shape[1]
    hessian = np.empty((features, classes, features, classes))
    for k in range(classes):
        for l in range(k, classes):
            block = (X_tilde.T * (p[:, k] * ((k == l) - p[:, l]))) @ X_tilde / m
            hessian[:, k, :, l] = block
            hessian[:, l, :, k] = block
    return hessian.reshape(features * classes, features * classes)


class _NewtonConverged(Callback):
    """Stop once a Newton step moves no parameter by more than ``tol``."""

    def __init__(self, tol):
        self.tol = float(tol)

    def get_config(self):
        return {"tol": self.tol}

    def on_train_begin(self):
        self.settled = False

    def on_epoch_end(self, epoch, logs):
        if self.trainer.optimizer.last_step < self.tol:
            self.trainer.stop_training = self.settled = True


class LogisticRegression(NeuralClassifier):
    """Logistic regression: one sigmoid neuron, ŷ = σ(X·w + b).

    The cost is the average negative log-likelihood of a Bernoulli (cross-entropy),
    J = −(1/m) Σ [y log ŷ + (1 − y) log(1 − ŷ)] + (α/2)‖w‖², and training is
    full-batch gradient descent, w ← w − η dw with dw = (1/m) Xᵀ(ŷ − y) + α w and
    db = mean(ŷ − y) — the network ``Dense(1) → Sigmoid`` trained by the shared loop.
    ``solver="newton"`` uses the Hessian instead (Newton's method, IRLS).

    With K > 2 classes it is multinomial (softmax) regression, the lecture's "many
    outputs": one layer of K neurons, ŷ = softmax(X·W + b), trained on the categorical
    cross-entropy the same ways.

    Parameters
    ----------
    learning_rate : float, default 0.1
        Step size η of gradient descent.
    max_iter : int, default 1000
        Gradient-descent iterations (epochs over the full batch), or Newton steps.
    tol : float, default 1e-6
        Gradient descent stops as settled when the cost has fallen by less than this at
        each of the last ``n_iter_no_change`` iterations and has not risen at any of
        them; Newton's method stops when a step moves no coefficient by more than this.
        0 runs every iteration.
    n_iter_no_change : int, default 10
        How many settled iterations in a row stop gradient descent. A run whose cost
        rose (the learning rate overshoots) ends with a ConvergenceWarning that says so.
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
    coef_ : ndarray of shape (1, n_features), or (K, n_features) for K > 2 classes
    intercept_ : ndarray of shape (1,), or (K,)
    classes_ : the labels; of two, the second is the "positive" one (y = 1)
    n_iter_ : int
    loss_curve_ : list of float, the cost at each iteration (after :func:`neuronet.load`, a
        run of more than 200 iterations keeps 200 of them: ``history_.epoch`` says which)

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
        "n_iter_no_change": [POSITIVE_INT],
    }

    def __init__(self, learning_rate=0.1, max_iter=1000, tol=1e-6, threshold=0.5, solver="gd",
                 alpha=0.0, random_state=None, verbose=0, dtype="float32", n_iter_no_change=10):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.threshold = threshold
        self.solver = solver
        self.alpha = alpha
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    def _build_layers(self, n_outputs, sample_shape):
        return [Dense(n_outputs, initializer="zeros")]

    def fit(self, X, y=None, validation_data=None, checkpoint=None, resume=False, checkpoint_every="epoch",
            distributed=False):
        """Fit w and b to (X, y); y may hold any labels (two: one sigmoid neuron; more:
        one softmax neuron per class).

        ``validation_data=(X_val, y_val)`` adds their cost and accuracy per iteration
        to ``history_`` (monitoring only). ``checkpoint``, ``checkpoint_every`` and
        ``resume`` as for :class:`neuronet.checkpoint.Checkpoint` (path, every, resume).
        ``distributed=True`` splits each iteration's batch over the processes of an MPI
        job, each calling ``fit`` alike (see :mod:`neuronet.distributed`).

        X may also be a dataset object, with y None (:mod:`neuronet.data`), for data that
        does not fit in memory: gradient descent then reads it a chunk of
        :data:`~neuronet.data.CHUNK_ROWS` samples at a time, summing the gradient (as it
        does arrays of more samples than that), so the weights are the arrays' own.
        """
        if is_dataset(X) and self.solver == "newton":
            raise ValueError("Newton's method takes the whole training set at once: give arrays, or train the dataset "
                             "with solver='gd'")
        X, target, dataset = self._validate_fit(X, y)
        self.network_ = self._make_network(X)
        penalty = L2(self.alpha)  # the lecture's (α/2)‖w‖², whatever the batch
        if self.solver == "gd":
            stop = StopWhenSettled(self.tol, self.n_iter_no_change)
            optimizer = SGD(self.learning_rate)
        else:
            stop = _NewtonConverged(self.tol)
            optimizer = self._newton(X, target, penalty)
        X = X if dataset is None else dataset
        self._fit_loop(X, target, optimizer, penalty, batch_size=len(target), shuffle=False,
                       callbacks=[stop] if self.tol > 0 or self.solver == "gd" else [],
                       validation_data=validation_data, checkpoint=checkpoint, resume=resume,
                       checkpoint_every=checkpoint_every,
                       communicator=mpi_world(required=True) if distributed else None)
        self._warn_unless_settled(stop)
        return self

    def _warn_unless_settled(self, stop):
        """One ConvergenceWarning for a run that did not settle: its cost rose (the
        learning rate overshoots), or it reached ``max_iter`` still falling. The warning's
        ``facts`` dict holds the numbers (``kind``: "cost_rose" or "still_falling")."""
        costs, facts = self.loss_curve_, {"iterations": self.n_iter_, "max_iter": self.max_iter}
        if self.solver == "gd" and stop.rises:
            at, before, after = stop.first_rise
            facts.update(kind="cost_rose", rises=stop.rises, first_rise=stop.first_rise)
            message = (f"the cost rose at {stop.rises} of {len(costs)} iterations (first at iteration {at}: "
                       f"{before:.4g} → {after:.4g}), so gradient descent overshoots: learning_rate="
                       f"{self.learning_rate:g} is likely too large. Try a smaller one, e.g. "
                       f"{self.learning_rate / 10:g}, or compare rates with `neuronet study learning-rate`")
        elif self.n_iter_ == self.max_iter and self.tol > 0 and not stop.settled:
            if self.solver == "gd":
                facts.update(kind="still_falling", last_fall=stop.last_fall, last_cost=costs[-1])
                moving = f"it was still falling ({stop.last_fall:.2g} in the last iteration, to {costs[-1]:.4g})"
                steps = "a larger learning_rate"
            else:
                moving = f"its last step moved a coefficient by {stop.trainer.optimizer.last_step:.2g}"
                steps = "a larger tol"
            message = (f"{type(self).__name__} stopped at max_iter={self.max_iter} before the cost settled within "
                       f"tol={self.tol:g}: {moving}; raise max_iter to train longer, or try {steps}")
        else:
            return
        warning = ConvergenceWarning(message)
        warning.facts = facts  # what the command line words in its own terms
        warnings.warn(warning, stacklevel=3)

    def _newton(self, X, y, penalty):
        """Newton's method on J (IRLS): θ = (w, b), X̃ = [X 1],
        H = (1/m) X̃ᵀ diag(ŷ(1 − ŷ)) X̃ + α I_w, plus a tiny ridge.

        For K softmax outputs θ = Θ, the (n+1) × K matrix [W; bᵀ] read row by row, and
        the block of classes (k, l) is H_kl = (1/m) X̃ᵀ diag(ŷ_k (δ_kl − ŷ_l)) X̃."""
        network, loss = self.network_, self._loss()
        parameters, _, mask = network.flat_parameters()  # Θ row by row: weights, then the biases
        X_tilde = np.column_stack([X, np.ones(len(X))]).astype(np.float64)
        curvature = np.diag(penalty.curvature(mask, len(X)) + 1e-10)

        def cost():
            return loss.forward(network.logits(X), y) + penalty.value(parameters, mask, len(X))

        def hessian():
            logits = network.logits(X).astype(np.float64)
            if logits.shape[1] == 1:
                p = sigmoid(logits.ravel())
                return (X_tilde.T * (p * (1 - p))) @ X_tilde / len(X) + curvature
            return _softmax_hessian(X_tilde, softmax(logits)) + curvature

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
