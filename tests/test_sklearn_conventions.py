"""The estimators pass scikit-learn's own estimator checks and work in its tools."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from neuronet import CNNClassifier, LogisticRegression, MLPClassifier

ESTIMATORS = [
    LogisticRegression(random_state=0),
    LogisticRegression(solver="newton", random_state=0),
    MLPClassifier(hidden_layer_sizes=(16,), learning_rate=0.01, random_state=0),
    CNNClassifier(random_state=0),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
