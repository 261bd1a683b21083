"""The estimators pass scikit-learn's own estimator checks and work in its tools."""

import warnings

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import neuronet
from neuronet import CNNClassifier, LogisticRegression, MLPClassifier, MLPRegressor, SequenceClassifier

ESTIMATORS = [
    LogisticRegression(random_state=0),
    LogisticRegression(solver="newton", random_state=0),
    MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0),
    MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0),
    MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0),
    MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0),
    CNNClassifier(random_state=0),
    CNNClassifier(conv_filters=(4, 8), batch_norm=True, residual=True, random_state=0),
    # flat X is read one value a step: small and fast, enough epochs for the checks' blobs; no dropout, whose
    # masks differ between a weighted fit and a fit on repeated rows
    SequenceClassifier(units=8, batch_size=32, learning_rate_init=0.01, max_iter=40, dropout=0.0, random_state=0),
]


# A weighted fit and a fit on repeated rows differ by rounding only; the check's rtol of
# 1e-7 is below float32's step (1.2e-7), and 35 epochs of a float32 CNN grow the rounding
# past it. The same check passes in float64 (below).
FLOAT32_ROUNDING = {"check_sample_weight_equivalence_on_dense_data":
                    "float32 rounding over 35 epochs exceeds the check's rtol=1e-7"}


# With batch normalisation a weight and a repeated row differ beyond rounding: a repeated row
# counts twice in its minibatch's mean and variance, a weight of 2 only in the loss.
BATCH_STATISTICS = {"check_sample_weight_equivalence_on_dense_data":
                    "BatchNorm's minibatch statistics count a repeated row twice, a weighted row once"}


def expected_failures(estimator):
    if not isinstance(estimator, CNNClassifier):
        return {}
    return BATCH_STATISTICS if estimator.batch_norm else FLOAT32_ROUNDING


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_weighted_cnn_fit_equals_a_fit_on_repeated_rows_in_float64():
    from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data

    check_sample_weight_equivalence_on_dense_data("CNNClassifier", CNNClassifier(random_state=0, dtype="float64"))


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
