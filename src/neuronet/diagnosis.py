"""Why a network stopped learning: dead rectifiers, one class for everything, no gradient.

A fit can end without error and still have learned nothing. Three signs say so, each
read from the trained network and its training data:

* **dead units**: a ReLU unit whose weighted sum z is negative for every training
  sample outputs a = max(0, z) = 0 everywhere, and its gradient ∂a/∂z = [z > 0] is 0
  everywhere too: nothing will ever switch it back on. A hidden layer counts when at
  least ``DEAD_SHARE`` (90 %) of its units are dead; when all of them are, no gradient
  reaches the layers below it, and the network gives every sample the same output.
  A Dense layer's units are its output columns; a convolution's are its feature maps
  (a channel counts as dead when it is 0 at every position of every image).
* **one class**: a classifier predicts the same class for every training sample,
  though the training labels hold several.
* **zero gradients**: the last training step's gradient of the loss is exactly zero for
  a layer. Read from the gradients of the parameters that no penalty touches (the
  biases, ∂L/∂b = Σ_rows ∂L/∂z): an L2 penalty adds α W to the weights' gradient
  whatever the data says, while ∂L/∂b is exactly 0 only when ∂L/∂z is 0 for every
  sample of the batch.

:func:`diagnose` finds them with one inference pass over the training set, in chunks
of ``CHUNK_ROWS`` samples (bounded memory), and stops as soon as nothing more can be
found (every hidden layer already has more than a tenth of its units alive, and two
classes predicted): a healthy network is cleared after its first chunk. After a default
MLPClassifier fit on MNIST-5k (784-100-10, 4,000 samples, 104 epochs in 4.9 s, one BLAS
thread) the whole check takes 0.7 ms; a full pass, as for a network in trouble, 8.5 ms.

The estimators call :func:`warn_if_stopped_learning` at the end of ``fit`` (not of
``partial_fit``): one :class:`StoppedLearningWarning` per finding, in the Python
user's terms, with what to try. Each warning also carries the facts (``kind``,
``layer``, ``count``, ``total``, ``label``, ``remedies`` …), so that the command line
and the studio can word the same advice with their own controls.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning

from .layers import Conv2D, Dense, LeakyReLU, ReLU
from .network import past_max_pooling

DEAD_SHARE = 0.9     # a hidden layer is named when at least this share of its units never fire
CHUNK_ROWS = 256     # samples per forward pass of the check
JUMP = 0.1           # an epoch's loss this share above the one before has jumped: the steps are too large
RECTIFIERS = (ReLU, LeakyReLU)  # units that output exactly 0 for z ≤ 0 (leaky ReLU: only with α = 0)

# What to try, as keys each surface words in its own terms (Python, command line, studio)
SMALLER_LEARNING_RATE, LARGER_LEARNING_RATE, LEAKY_RELU, ADAM, MORE_ITERATIONS, LOWER_THRESHOLD = (
    "smaller_learning_rate", "larger_learning_rate", "leaky_relu", "adam", "more_iterations", "lower_threshold")


@dataclass(frozen=True)
class Diagnosis:
    """One reason a network stopped learning.

    Attributes
    ----------
    kind : {"dead_units", "one_class", "zero_gradients"}
    layer : int or None
        The layer it is about, 1-based among the layers with weights (Dense, Conv2D): the
        k-th hidden layer is layer k, the output layer comes last. For dead units, the
        deepest layer whose units are all dead, else the one with the largest dead share;
        for zero gradients, the first such layer; None for one class.
    index : int or None
        That layer's position in ``network.layers`` (the row number of the summary).
    count, total : int
        Dead units of the layer's units; for one class, 1 of the classes present; for
        zero gradients, the layers without gradient of the layers with weights.
    samples : int
        The training samples looked at.
    label : object or None
        The class predicted for every sample (one class, or dead units that leave a
        classifier one output), else None.
    layers : tuple of int
        Every layer the finding counts (dead units: each named layer; zero gradients: each
        layer without gradient; all dead: the layers that no gradient reaches).
    units : str
        What a unit of ``layer`` is: "units" (Dense) or "filters" (a convolution's maps).
    others : tuple of (int, int, int)
        (layer, count, total) of the other layers with at least ``DEAD_SHARE`` dead units.
    """

    kind: str
    layer: int | None = None
    index: int | None = None
    count: int | None = None
    total: int | None = None
    samples: int = 0
    label: object = None
    layers: tuple = ()
    units: str = "units"
    others: tuple = ()

    @property
    def all_dead(self):
        """Dead units only: every unit of the layer is dead, so nothing below it learns."""
        return self.kind == "dead_units" and self.count == self.total

    def describe(self, model="the network", samples="training samples"):
        """What is wrong, in one sentence with the run's numbers (no advice): ``model`` names
        the predictor ("MLPClassifier"), ``samples`` what the samples looked at are."""
        if self.kind == "one_class":
            return (f"{model} predicts class {self.label} for all {self.samples} {samples}, though "
                    f"{self.total} classes are present")
        if self.kind == "zero_gradients":
            one = len(self.layers) == 1
            return (f"{_numbered('layer', self.layers)} got {'an ' if one else ''}exactly zero gradient"
                    f"{'' if one else 's'} of the loss on the last training step: {'it learns' if one else 'they learn'}"
                    " nothing more")
        text = (f"{self.count} of {self.total} {self.units} in layer {self.layer} never fire (ReLU gives 0 for "
                f"all {self.samples} {samples})")
        if self.all_dead:
            output = ("gives the same output for every sample" if self.label is None
                      else f"predicts class {self.label} for every sample")
            text += f", so no gradient reaches {_numbered('layer', self.layers)} and {model} {output}"
        return text + "".join(f"; in layer {layer} too, {count} of {total} never fire"
                              for layer, count, total in self.others)


def _numbered(noun, numbers):
    """"layer 3", "layers 2 and 5", "layers 1–4"."""
    numbers = sorted(numbers)
    if len(numbers) == 1:
        return f"{noun} {numbers[0]}"
    if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 2:
        return f"{noun}s {numbers[0]}–{numbers[-1]}"
    return f"{noun}s {', '.join(map(str, numbers[:-1]))} and {numbers[-1]}"


class StoppedLearningWarning(ConvergenceWarning):
    """A fit ended with a network that stopped learning (see :mod:`neuronet.diagnosis`).

    A ``ConvergenceWarning``, so filters on scikit-learn's warning apply to it too. Besides
    its one-line message, it carries the facts of its :class:`Diagnosis` as attributes
    (``kind``, ``layer``, ``index``, ``count``, ``total``, ``samples``, ``label``,
    ``layers``), ``remedies`` (keys: "smaller_learning_rate", "larger_learning_rate",
    "leaky_relu", "adam", "more_iterations") and ``learning_rate`` (the step size of the run, None without one).
    """

    def __init__(self, message, diagnosis=None, remedies=(), learning_rate=None):
        super().__init__(message)
        self.diagnosis, self.remedies, self.learning_rate = diagnosis, tuple(remedies), learning_rate
        for name in Diagnosis.__dataclass_fields__:
            setattr(self, name, getattr(diagnosis, name, None))


# --- detection -------------------------------------------------------------------------------
def hidden_rectifiers(network):
    """(layer number, position of the weighted layer, position of its rectifier) for each
    layer with weights whose outputs meet a ReLU or leaky ReLU (across a max pooling): the
    layers whose units can die. Layer numbers are 1-based among the Dense and Conv2D
    layers."""
    weighted = [index for index, layer in enumerate(network.layers) if isinstance(layer, (Dense, Conv2D))]
    found = []
    for number, index in enumerate(weighted[:-1], start=1):  # the output layer has no hidden units
        activation = past_max_pooling(network.layers[index + 1 :])
        if isinstance(activation, RECTIFIERS) and not (isinstance(activation, LeakyReLU) and activation.alpha):
            found.append((number, index, network.layers.index(activation)))
    return found


def _classes_of(logits, logit_threshold):
    """Class indices from logits: z > threshold for one output, else the largest."""
    return (logits[:, 0] > logit_threshold).astype(np.intp) if logits.shape[1] == 1 else logits.argmax(axis=1)


def _fired_and_predicted(network, X, watched, classify, logit_threshold):
    """One inference pass over X in chunks: for each watched rectifier, which of its units
    were nonzero for some sample; and the set of class indices predicted (when
    ``classify``). Stops early once no watched layer can reach ``DEAD_SHARE`` and two
    classes were predicted."""
    body = network.layers[:-1] if network.output_activation is not None else network.layers
    fired = {position: None for _, _, position in watched}
    predicted = set()
    for start in range(0, X.shape[0], CHUNK_ROWS):
        x = X[start : start + CHUNK_ROWS]
        for position, layer in enumerate(body):
            x = layer.forward(x)
            if position in fired:
                now = np.any(x != 0, axis=(0, *range(2, x.ndim)))  # per unit, or per feature map
                fired[position] = now if fired[position] is None else fired[position] | now
        if classify:
            predicted.update(np.unique(_classes_of(x, logit_threshold)).tolist())
        if (not classify or len(predicted) > 1) and all(
                np.count_nonzero(~alive) < DEAD_SHARE * alive.size for alive in fired.values()):
            break
    network.clear_cache()
    return fired, predicted


def diagnose(network, X, y=None, *, classes=None, logit_threshold=0.0, stepped=True, loss=None, target=None):
    """Every reason the trained ``network`` stopped learning, as :class:`Diagnosis` objects.

    Parameters
    ----------
    network : Sequential
    X : array or sparse matrix
        The training inputs, shaped as the network takes them.
    y : array of int, optional
        The training labels as class indices (into ``classes``): a classifier's. Without
        them, the one-class check is skipped (a regressor, or several labels a sample).
    classes : array, optional
        The class labels, to name the predicted one (default: the indices).
    logit_threshold : float
        For one output unit, the logit above which the second class is predicted (0: p > ½).
    stepped : bool
        The layers' gradients are those of a training step (False: the network has taken
        none, its gradients are still the zeros it was built with; they are not judged).
    loss, target : Loss and its targets for X, optional
        With them, a layer whose last step's gradient was zero is named only if the
        gradient of ``loss`` over the whole training set is exactly zero for all of its
        parameters too (a last minibatch can leave a layer without gradient by chance:
        one sample, or residuals of ±1 that cancel); without them, it is not named.

    Returns
    -------
    list of Diagnosis
        Dead units first, then one class (unless dead units explain it), then zero
        gradients (of the layers that no dead layer above already cuts off).
    """
    X = X.tocsr() if sparse.issparse(X) else np.asarray(X)
    if X.dtype.kind != "f":
        X = X.astype(network.dtype)
    present = np.unique(y) if y is not None else ()
    classify = len(present) > 1
    watched = hidden_rectifiers(network)
    fired, predicted = _fired_and_predicted(network, X, watched, classify, logit_threshold)
    label = None
    if classify and len(predicted) == 1:
        index = predicted.pop()
        label = classes[index] if classes is not None else index
        label = label.item() if isinstance(label, np.generic) else label
    found = []
    dead = _dead_units(network, watched, fired, X.shape[0], label)
    if dead is not None:
        found.append(dead)
    if label is not None and not (dead is not None and dead.all_dead):
        found.append(Diagnosis("one_class", count=1, total=len(present), samples=X.shape[0], label=label))
    cut_off = dead.layer if dead is not None and dead.all_dead else 0
    stuck = [number for number in zero_gradient_layers(network) if number > cut_off] if stepped else []
    stuck = _without_data_gradient(network, loss, X, target, stuck) if stuck and loss is not None else []
    if stuck:
        weighted = [index for index, layer in enumerate(network.layers) if isinstance(layer, (Dense, Conv2D))]
        found.append(Diagnosis("zero_gradients", layer=stuck[0], index=weighted[stuck[0] - 1], count=len(stuck),
                               total=len(weighted), samples=X.shape[0], layers=tuple(stuck)))
    return found


def _dead_units(network, watched, fired, samples, label):
    """The dead-units finding (None if no layer has ``DEAD_SHARE`` of its units dead): about
    the deepest layer that is all dead, else the one with the largest dead share."""
    counted = []
    for number, index, position in watched:
        alive = fired[position]
        if alive is not None and np.count_nonzero(~alive) >= DEAD_SHARE * alive.size:
            counted.append((number, index, int(np.count_nonzero(~alive)), alive.size))
    if not counted:
        return None
    all_dead = [entry for entry in counted if entry[2] == entry[3]]
    number, index, count, total = all_dead[-1] if all_dead else max(counted, key=lambda e: e[2] / e[3])
    units = "filters" if isinstance(network.layers[index], Conv2D) else "units"
    others = tuple((n, c, t) for n, _, c, t in counted if n != number)
    if count == total:
        return Diagnosis("dead_units", number, index, count, total, samples, label, tuple(range(1, number + 1)),
                         units, others)
    return Diagnosis("dead_units", number, index, count, total, samples, None, tuple(n for n, *_ in counted),
                     units, others)


def _without_data_gradient(network, loss, X, target, numbers):
    """Of the layers ``numbers`` (1-based among Dense and Conv2D), those whose gradient of
    ``loss`` (no penalty) is exactly zero for every parameter over the whole of X, in
    chunks of ``CHUNK_ROWS``, in inference mode; stops once none is left."""
    weighted = [layer for layer in network.layers if isinstance(layer, (Dense, Conv2D))]
    left = set(numbers)
    for start in range(0, X.shape[0], CHUNK_ROWS):
        logits = network.logits(X[start : start + CHUNK_ROWS], training=False)
        loss.forward(logits, target[start : start + CHUNK_ROWS])
        network.backward(loss.backward(), input_grad=False)
        left = {number for number in left if not any(np.any(grad) for grad in weighted[number - 1].grads.values())}
        if not left:
            break
    return sorted(left)


def zero_gradient_layers(network):
    """The layers with weights (1-based numbers among the Dense and Conv2D layers) whose
    last gradient of the loss was exactly zero: every gradient of a parameter that no
    penalty touches (the biases) is 0. A layer without such parameters is not judged."""
    numbers = []
    weighted = [layer for layer in network.layers if isinstance(layer, (Dense, Conv2D))]
    for number, layer in enumerate(weighted, start=1):
        free = [grad for name, grad in layer.grads.items() if name not in layer.regularized]
        if free and not any(np.any(grad) for grad in free):
            numbers.append(number)
    return numbers


# --- what to try ---------------------------------------------------------------------------------
def remedies(diagnosis, *, relu, adam, learning_rate, stopped_at_limit=False, losses=None, convex=False,
             threshold=None):
    """What is worth trying against ``diagnosis``, as keys, most promising first.

    Parameters
    ----------
    relu : bool
        The hidden layers are plain ReLUs (leaky ReLU keeps a slope α for z < 0: no unit dies).
    adam : bool or None
        Adam is in use (True), could be (False) or is not offered (None). Its steps are
        scaled per parameter, so one large gradient does not throw every unit off.
    learning_rate : float or None
        The step size, None for a solver without one (L-BFGS, Newton).
    stopped_at_limit : bool
        Training stopped at its most iterations: for one class, more of them is the one
        thing to try (the network may still have been learning); a network whose units
        died gets nothing from more.
    losses : sequence of float, optional
        The training loss of each epoch. A single class predicted after a loss that jumped
        (rose by more than ``JUMP`` from one epoch to the next) is a network thrown off by
        too large steps; after one that never did, a network that crawled or sits on a
        plateau (a larger step, or Adam).
    convex, threshold : bool, float or None
        One layer of weights (logistic regression), and its decision threshold (None for
        more than two classes). A convex cost that settled is at its optimum: one class
        there is the data's answer (a rare class the features do not separate), and only
        a lower threshold says the rarer class more often.
    """
    if diagnosis.kind == "one_class":
        if stopped_at_limit:
            return (MORE_ITERATIONS,)  # it may still have been learning
        if convex:
            return (LOWER_THRESHOLD,) if threshold is not None else ()
        if losses is not None and len(losses) > 1 and not any(b > (1 + JUMP) * a for a, b in zip(losses, losses[1:])):
            return tuple(key for key, applies in ((LARGER_LEARNING_RATE, learning_rate is not None),
                                                  (ADAM, adam is False)) if applies)
    keys = [SMALLER_LEARNING_RATE] if learning_rate is not None else []
    if relu:
        keys.append(LEAKY_RELU)
    if adam is False:
        keys.append(ADAM)
    return tuple(keys)


def either(phrases):
    """"a", "a or b", "a, b or c"."""
    return phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} or {phrases[-1]}"


def _python_advice(keys, parameters, rate_name):
    words = {SMALLER_LEARNING_RATE: f"a smaller {rate_name} than {parameters.get(rate_name)!r}",
             LARGER_LEARNING_RATE: f"a larger {rate_name} than {parameters.get(rate_name)!r}",
             LEAKY_RELU: 'activation="leaky_relu"', ADAM: 'solver="adam"',
             MORE_ITERATIONS: f"a larger max_iter than {parameters.get('max_iter')!r}",
             LOWER_THRESHOLD: f"a lower threshold than {parameters.get('threshold')!r} (the optimum itself says "
                              "one class: the other is rare, or the features do not separate it)"}
    return f"; try {either([words[key] for key in keys])}" if keys else ""


def warn_if_stopped_learning(estimator, X, y=None, *, logit_threshold=0.0, stacklevel=1, loss=None, target=None):
    """Warn once per reason the fitted ``estimator``'s network stopped learning.

    ``X`` holds the training inputs as the network takes them; ``y``, for a classifier,
    the labels as indices into ``estimator.classes_``. Each :class:`StoppedLearningWarning`
    says what to try in the estimator's parameters (learning_rate_init or learning_rate,
    activation, solver, max_iter). ``stacklevel`` counts from the caller, as
    :func:`warnings.warn` does. ``loss`` and ``target`` (the training targets as the loss
    takes them) let a layer without gradient be checked over the whole training set.
    """
    parameters = estimator.get_params(deep=False)
    rate_name = "learning_rate_init" if "learning_rate_init" in parameters else "learning_rate"
    solver = parameters.get("solver")
    has_rate = solver not in ("lbfgs", "newton") and isinstance(parameters.get(rate_name), (int, float))
    convex = sum(isinstance(layer, (Dense, Conv2D)) for layer in estimator.network_.layers) == 1
    found = diagnose(estimator.network_, X, y, classes=getattr(estimator, "classes_", None),
                     logit_threshold=logit_threshold, loss=loss, target=target)
    stopped_at_limit = getattr(estimator, "n_iter_", None) == parameters.get("max_iter")
    for diagnosis in found:
        if diagnosis.kind == "one_class" and stopped_at_limit:
            continue  # its remedy, more iterations, is the max_iter warning's own: one ConvergenceWarning a fit
        keys = remedies(diagnosis, relu=parameters.get("activation") == "relu" and bool(hidden_rectifiers(
                        estimator.network_)), adam=None if solver not in ("sgd", "adam") else solver == "adam",
                        learning_rate=parameters.get(rate_name) if has_rate else None,
                        stopped_at_limit=stopped_at_limit,
                        losses=getattr(estimator, "loss_curve_", None), convex=convex,
                        threshold=parameters.get("threshold") if len(getattr(estimator, "classes_", ())) == 2 else None)
        message = diagnosis.describe(type(estimator).__name__) + _python_advice(keys, parameters, rate_name)
        warnings.warn(StoppedLearningWarning(message, diagnosis, keys, parameters.get(rate_name) if has_rate
                                             else None), stacklevel=stacklevel + 1)
