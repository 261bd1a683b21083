"""The estimators pass scikit-learn's own estimator checks and work in its tools."""

import warnings

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import neuronet
from neuronet import CNNClassifier, LogisticRegression, MLPClassifier, MLPRegressor

ESTIMATORS = [
    LogisticRegression(random_state=0),
    LogisticRegression(solver="newton", random_state=0),
    MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0),
    MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0),
    MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0),
    MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0),
    CNNClassifier(random_state=0),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_every_parameter_is_declared_and_checked_with_scikit_learns_message(estimator):
    """scikit-learn's own check_param_validation, with neuronet's InvalidParameterError."""
    import numpy as np
    from sklearn.base import clone

    from neuronet import InvalidParameterError

    name = type(estimator).__name__
    assert set(estimator._parameter_constraints) == set(estimator.get_params(deep=False))
    X, y = np.random.default_rng(0).uniform(size=(20, 4)), np.arange(20) % 2
    for parameter in estimator.get_params(deep=False):
        bad = clone(estimator).set_params(**{parameter: type("BadType", (), {})()})
        pattern = rf"The '{parameter}' parameter of {name} must be .* Got .* instead\."
        with pytest.raises(InvalidParameterError, match=pattern):
            bad.fit(X, y)
    assert issubclass(InvalidParameterError, ValueError) and issubclass(InvalidParameterError, TypeError)


@pytest.mark.parametrize("make", [lambda: neuronet.LogisticRegression(max_iter=3),
                                  lambda: neuronet.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0),
                                  lambda: neuronet.MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=2,
                                                                 random_state=0)])
def test_one_fit_that_stops_early_warns_once_pointing_at_the_callers_line(make, breast_cancer_split):
    from sklearn.exceptions import ConvergenceWarning

    X_train, _, y_train, _ = breast_cancer_split
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make().fit(X_train, y_train)
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(convergence) == 1
    assert convergence[0].filename == __file__
