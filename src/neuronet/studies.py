"""Studies that teach: experiments whose result is the lesson.

The learning-rate study trains the same logistic regression (one sigmoid neuron,
full-batch gradient descent) with several step sizes and names what each one does:
too small crawls, a good one converges, a large one overshoots and oscillates, a
larger one diverges.
"""

from __future__ import annotations

import numpy as np

from sklearn.preprocessing import StandardScaler

from .estimators import LogisticRegression
from .training import TrainingDiverged


def outcome(costs, diverged):
    """What a cost curve shows: "diverges", "overshoots and oscillates", "crawls" or "converges"."""
    costs = np.asarray(costs)
    if diverged:
        return "diverges"
    if np.mean(np.diff(costs) > 0) > 0.1:
        return "overshoots and oscillates"
    if costs[-1] > 0.5 * costs[0]:
        return "crawls"
    return "converges"


def binary_task(dataset):
    """Standardized features and 0/1 labels (the first class against the rest, for K > 2)."""
    y = dataset.y if len(dataset.class_names) == 2 else (dataset.y == dataset.y[0]).astype(int)
    return StandardScaler().fit_transform(dataset.flat), y


def learning_rate_study(X, y, rates, iterations=300):
    """Train one logistic regression per learning rate, yielding (rate, costs, outcome)
    as each one finishes."""
    for rate in rates:
        model = LogisticRegression(learning_rate=rate, max_iter=iterations, tol=0, random_state=0)
        try:
            costs, diverged = model.fit(X, y).loss_curve_, False
        except TrainingDiverged as error:
            costs, diverged = error.history["loss"], True
        yield rate, costs, outcome(costs, diverged)
