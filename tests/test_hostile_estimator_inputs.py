"""Finite but extreme inputs: ±1e308 overflows inside a network, and a value beyond
float32's range overflows when cast. Either is one ValueError naming the rows — never a
NaN probability, never a label drawn from one.

The hostile inputs are given in a child process (see ``test_hostile_harness``).
"""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits

import neuronet
from test_hostile_harness import assert_bounded, assert_one_clear_error, run_cases

MODULE = "test_hostile_estimator_inputs"
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def fitted(kind):
    """A small model of each kind, fitted on 8×8 digits (ten classes)."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16, y[:300]
    make = {"logistic": lambda: neuronet.LogisticRegression(max_iter=30),
            "mlp": lambda: neuronet.MLPClassifier((8,), max_iter=3, random_state=0),
            "cnn": lambda: neuronet.CNNClassifier(image_shape=(1, 8, 8), conv_filters=(2,), max_iter=1, random_state=0),
            "regressor": lambda: neuronet.MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0)}
    return make[kind]().fit(X, y)


def raw_outputs(model, X):
    """The rows of X whose outputs, as the network gives them unchecked, are not finite: the
    logits for logistic regression (its decision_function), the network's outputs otherwise."""
    network = model.network_
    answer = network.predict_logits if isinstance(model, neuronet.LogisticRegression) else network.predict
    outputs = answer(X.reshape(len(X), *network.input_shape))
    return np.flatnonzero(~np.isfinite(outputs).all(axis=1)).tolist()


def extreme_rows(model):
    """Rows of ±1.8e308 laid along the signs of the first layer's weights (a weighted sum
    of them overflows), a constant ±1.8e308 row, and an ordinary row."""
    weights, big = model.network_.layers[0].params["weights"], np.finfo(np.float64).max
    if weights.ndim == 2:  # Dense: one row per unit of the first three
        aligned = [big * np.sign(weights[:, unit]) for unit in range(3)]
    else:  # Conv2D: each filter's signs tiled over the 8×8 image
        aligned = [big * np.sign(np.tile(weights[f, 0], (3, 3))[:8, :8]).ravel() for f in range(len(weights))]
    return np.array([np.full(64, 0.5), *aligned, np.full(64, big), np.full(64, -big)])


def named_rows(error):
    return [int(n) for n in re.search(r"rows? ([\d, ]+) of X", str(error)).group(1).split(", ")]


def predict(kind):
    """{"overflowing": the rows whose outputs are not finite, "named": the rows the error names}."""
    model = fitted(kind)
    X = extreme_rows(model)
    try:
        model.predict(X)
    except ValueError as error:
        assert "\n" not in str(error)
        return {"overflowing": raw_outputs(model, X), "named": named_rows(error), "message": str(error)}
    return {"overflowing": raw_outputs(model, X), "named": []}


def fit_beyond_float32():
    X = np.random.default_rng(0).uniform(size=(6, 3))
    X[4, 1] = 1e39
    neuronet.LogisticRegression(max_iter=3).fit(X, [0, 1] * 3)


BIG = np.finfo(np.float64).max
VALUES = st.sampled_from([0.0, 1.0, -1.0, 1e30, -1e30, 1e300, -1e300, 3e38, BIG, -BIG])


def fuzz_rows(kind, examples):
    """Rows of random extreme values: finite probabilities for every row, or one ValueError
    naming exactly the rows whose outputs are not finite. Returns how many were refused."""
    model = fitted(kind)
    refused = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(rows=st.lists(st.lists(VALUES, min_size=64, max_size=64), min_size=1, max_size=4))
    def one(rows):
        X = np.array(rows)
        try:
            probabilities = model.predict_proba(X)
        except ValueError as error:
            assert named_rows(error) == raw_outputs(model, X)
            refused.append(X)
            return
        assert np.isfinite(probabilities).all() and not raw_outputs(model, X)

    one()
    return len(refused)


@pytest.fixture(scope="module")
def child():
    cases = {**{kind: (MODULE, "predict", kind) for kind in ("logistic", "mlp", "cnn", "regressor")},
             "fit beyond float32": (MODULE, "fit_beyond_float32"),
             **{("fuzz", kind): (MODULE, "fuzz_rows", kind, 30) for kind in ("logistic", "mlp")}}
    return dict(zip(cases, run_cases(list(cases.values()), case_seconds=60)))


@pytest.mark.parametrize("kind", ["logistic", "mlp", "cnn", "regressor"])
def test_rows_whose_outputs_overflow_are_named_in_one_value_error_and_get_no_label(child, kind):
    result = child[kind]
    assert result["raised"] is None, result["message"]
    assert result["returned"]["overflowing"], "the extreme rows overflow this network"
    assert result["returned"]["named"] == result["returned"]["overflowing"]
    assert 0 not in result["returned"]["named"]  # the ordinary row is answered
    assert re.match(r"the outputs for rows? [\d, ]+ of X are not finite", result["returned"]["message"])
    assert_bounded(result, seconds=15, mib=60)


def test_a_value_beyond_float32_is_named_by_its_row_when_fitting(child):
    assert_one_clear_error(child["fit beyond float32"], ("ValueError",),
                           r"^row 4 of X holds values beyond ±3.4e\+38, too large for float32")


def test_extreme_rows_give_finite_probabilities_or_name_exactly_the_rows_that_overflow(child):
    results = [child["fuzz", kind] for kind in ("logistic", "mlp")]
    for result in results:
        assert result["raised"] is None, result["message"]
        assert_bounded(result, seconds=60, mib=60)
    assert sum(result["returned"] for result in results) > 0  # some examples overflow; the others are answered
