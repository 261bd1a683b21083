"""Studies that teach: experiments whose result is the lesson.

The learning-rate study trains the same model with several step sizes and names what
each one does: too small crawls, a good one converges, a large one overshoots and
oscillates, a larger one diverges. The lecture's model is logistic regression (one
sigmoid neuron, full-batch gradient descent); the same lesson holds for a deep network
or a convolutional one trained by plain minibatch gradient descent.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from .estimators import CNNClassifier, LogisticRegression, MLPClassifier
from .training import TrainingDiverged


def outcome(costs, diverged):
    """What a cost curve shows: "diverges", "overshoots and oscillates", "crawls" or "converges".

    It overshoots and oscillates when the cost rose at more than a tenth of the steps, or
    ended above its first value; it crawls when it was still falling at the end (its last
    tenth of the steps lowered it by 0.5 % of its value or more: a run that has found its
    minimum moves it by far less) and had not fallen to half its first value. A cost that fell and levelled off converges, even
    where its minimum is high (two weak features, or XOR for one neuron: the best a line
    can do). A rise within float32's rounding of the cost (8 units in its last place), the
    jitter of a float32 run that has reached its minimum, is not counted."""
    costs = np.asarray(costs, dtype=np.float64)
    if diverged:
        return "diverges"
    rising = np.diff(costs) > 8 * np.finfo(np.float32).eps * np.abs(costs[:-1])
    if rising.size and (rising.mean() > 0.1 or costs[-1] > costs[0]):
        return "overshoots and oscillates"
    last_tenth = max(1, len(costs) // 10)
    still_falling = len(costs) > last_tenth and costs[-1 - last_tenth] - costs[-1] >= 0.005 * abs(costs[-1])
    if still_falling and costs[-1] > 0.5 * costs[0]:
        return "crawls"
    return "converges"


def binary_task(dataset):
    """Standardized features and 0/1 labels (the first class against the rest, for K > 2)."""
    y = dataset.y if len(dataset.class_names) == 2 else (dataset.y == dataset.y[0]).astype(int)
    return StandardScaler().fit_transform(dataset.flat), y


def study_model(kind, rate, steps, image_shape=None):
    """The model a study trains at one learning rate: the lecture's logistic regression, or
    an MLP / CNN trained by plain minibatch gradient descent (no momentum, no schedule)
    for ``steps`` epochs, whatever the cost does."""
    if kind == "logistic":
        return LogisticRegression(learning_rate=rate, max_iter=steps, tol=0, random_state=0)
    plain_descent = dict(solver="sgd", momentum=0.0, learning_rate_init=rate, max_iter=steps, tol=0,
                         n_iter_no_change=np.inf, random_state=0)
    if kind == "mlp":
        return MLPClassifier(**plain_descent)
    return CNNClassifier(image_shape=image_shape, **plain_descent)


def learning_rate_study(X, y, rates, iterations=300, model="logistic", image_shape=None):
    """Train one model per learning rate, yielding (rate, costs, outcome) as each one
    finishes (``model``: "logistic", "mlp" or "cnn"; ``iterations``: its iterations or epochs)."""
    for rate in rates:
        estimator = study_model(model, rate, iterations, image_shape)
        try:
            with warnings.catch_warnings():  # every run goes its full length: no convergence to report
                warnings.simplefilter("ignore", ConvergenceWarning)
                costs, diverged = estimator.fit(X, y).loss_curve_, False
        except TrainingDiverged as error:
            costs, diverged = error.history.history.get("loss") or [np.inf], True  # inf: blew up in epoch 1
        yield rate, costs, outcome(costs, diverged)
