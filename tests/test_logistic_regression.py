"""Logistic regression is one sigmoid neuron trained by gradient descent."""

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from neuronet import LogisticRegression, TrainingDiverged, nn
from neuronet.losses import BinaryCrossEntropy

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_logistic_regression_is_one_sigmoid_neuron(breast_cancer_split):
    X_train, _, y_train, _ = breast_cancer_split
    clf = LogisticRegression(max_iter=50, random_state=0).fit(X_train, y_train)
    layers = clf.network_.layers
    assert [type(layer) for layer in layers] == [nn.Dense, nn.Sigmoid]
    assert layers[0].units == 1 and clf.network_.count_params() == X_train.shape[1] + 1
    # ŷ = σ(Xw + b), computed by hand from the fitted parameters
    z = X_train @ clf.coef_.ravel() + clf.intercept_[0]
    np.testing.assert_allclose(clf.predict_proba(X_train)[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-5, atol=1e-6)


def test_gradient_descent_is_the_lecture_update(breast_cancer_split):
    """One iteration from zero: w = −α (1/m) Xᵀ(ŷ − y) with ŷ = 1/2, b = −α mean(ŷ − y)."""
    X, _, y, _ = breast_cancer_split
    alpha = 0.3
    clf = LogisticRegression(learning_rate=alpha, max_iter=1, tol=0, dtype="float64").fit(X, y)
    residual = 0.5 - y
    np.testing.assert_allclose(clf.coef_.ravel(), -alpha * X.T @ residual / len(y), rtol=1e-12)
    np.testing.assert_allclose(clf.intercept_, [-alpha * residual.mean()], rtol=1e-12)
    # the cost curve measures the weights each iteration made (the untrained cost, ln 2, is before it)
    p = 1 / (1 + np.exp(-(X @ clf.coef_.ravel() + clf.intercept_[0])))
    cost = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert clf.loss_curve_ == pytest.approx([cost], rel=1e-12) and cost < np.log(2)


def test_default_gradient_descent_reaches_95_percent_on_breast_cancer(breast_cancer_split):
    X_train, X_test, y_train, y_test = breast_cancer_split
    clf = LogisticRegression(random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.95
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 5
    assert np.all(np.diff(clf.loss_curve_) <= 1e-7)  # a good step size falls monotonically


def test_newton_solver_reaches_95_percent_in_a_few_iterations(breast_cancer_split):
    X_train, X_test, y_train, y_test = breast_cancer_split
    clf = LogisticRegression(solver="newton", alpha=0.01, max_iter=50).fit(X_train, y_train)
    assert clf.n_iter_ <= 15
    assert clf.score(X_test, y_test) >= 0.95


def _scipy_optimum(X, y, alpha=0.0):
    def cost(theta):
        z = X @ theta[:-1] + theta[-1]
        return np.mean(np.logaddexp(0, z) - y * z) + 0.5 * alpha * theta[:-1] @ theta[:-1]

    result = minimize(cost, np.zeros(X.shape[1] + 1), method="BFGS", options={"gtol": 1e-10})
    return result.fun, result.x


@pytest.fixture(scope="module")
def non_separable():
    """Three breast-cancer features (texture, smoothness, worst concave points): not
    linearly separable, so with alpha=0 the optimum is finite and unique."""
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X[:, [1, 4, 27]]), y


@pytest.mark.parametrize("solver, settings", [
    ("gd", {"learning_rate": 2.0, "max_iter": 3000, "tol": 0}),
    ("newton", {"max_iter": 50, "tol": 1e-10}),
])
def test_both_solvers_reach_the_same_optimum_as_scipy(non_separable, solver, settings):
    X, y = non_separable
    best_cost, best_theta = _scipy_optimum(X, y)
    clf = LogisticRegression(solver=solver, dtype="float64", **settings).fit(X, y)
    assert clf.loss_curve_[-1] == pytest.approx(best_cost, rel=1e-6)
    np.testing.assert_allclose(clf.coef_.ravel(), best_theta[:-1], atol=1e-3)
    np.testing.assert_allclose(clf.intercept_, best_theta[-1:], atol=1e-3)


def test_l2_penalty_matches_scipy_with_both_solvers(non_separable):
    X, y = non_separable
    best_cost, best_theta = _scipy_optimum(X, y, alpha=0.1)
    for clf in (LogisticRegression(solver="newton", alpha=0.1, tol=1e-10, dtype="float64"),
                LogisticRegression(learning_rate=2.0, alpha=0.1, max_iter=3000, tol=0, dtype="float64")):
        clf.fit(X, y)
        assert clf.loss_curve_[-1] == pytest.approx(best_cost, rel=1e-6)
        np.testing.assert_allclose(clf.coef_.ravel(), best_theta[:-1], atol=1e-3)


def test_newton_on_separable_data_keeps_lowering_the_cost(breast_cancer_split):
    X, _, y, _ = breast_cancer_split  # all 30 features: linearly separable
    clf = LogisticRegression(solver="newton", max_iter=25, dtype="float64").fit(X, y)
    assert np.all(np.diff(clf.loss_curve_) <= 0)
    assert clf.score(X, y) == 1.0


def test_step_size_tiny_crawls_good_converges_too_large_overshoots(breast_cancer_split):
    X, _, y, _ = breast_cancer_split

    def curve(rate):
        return np.array(LogisticRegression(learning_rate=rate, max_iter=300, tol=0).fit(X, y).loss_curve_)

    tiny, good, large = curve(1e-4), curve(0.5), curve(50.0)
    assert tiny[-1] > 0.6  # barely moved from log 2 ≈ 0.693 after 300 iterations
    assert np.all(np.diff(tiny) < 0)
    assert good[-1] < 0.07 and np.all(np.diff(good) <= 1e-7)
    assert large[0] > 3 * np.log(2)  # the first step overshoots far past the minimum: the cost rises from ln 2
    assert np.sum(np.diff(large) > 0) >= 50  # and the cost keeps bouncing up


def test_training_diverges_with_clear_error_when_learning_rate_too_large(breast_cancer_split):
    X, _, y, _ = breast_cancer_split
    clf = LogisticRegression(learning_rate=1e39, max_iter=100, tol=0)
    with pytest.raises(TrainingDiverged, match=r"learning_rate=1e\+39.*smaller learning rate"):
        clf.fit(X, y)
    assert all(np.isfinite(p).all() for p in clf.network_.parameters())


def test_any_two_labels_work_and_positive_is_the_second_class(breast_cancer_split):
    X, X_test, y, y_test = breast_cancer_split
    names = np.array(["malignant", "benign"])
    clf = LogisticRegression(random_state=0).fit(X, names[y])
    assert list(clf.classes_) == ["benign", "malignant"]
    reference = LogisticRegression(random_state=0).fit(X, 1 - y)  # 1 = malignant
    np.testing.assert_array_equal(clf.predict(X_test), names[1 - reference.predict(X_test)])
    np.testing.assert_allclose(clf.predict_proba(X_test), reference.predict_proba(X_test))


def test_threshold_moves_the_decision(breast_cancer_split):
    X, X_test, y, _ = breast_cancer_split
    low = LogisticRegression(threshold=0.1, random_state=0).fit(X, y)
    high = LogisticRegression(threshold=0.9, random_state=0).fit(X, y)
    proba = low.predict_proba(X_test)[:, 1]
    np.testing.assert_array_equal(low.predict(X_test), (proba > 0.1).astype(int))
    assert low.predict(X_test).sum() > high.predict(X_test).sum()


def test_float32_and_float64_agree_and_huge_logits_stay_finite():
    z = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    for dtype in (np.float32, np.float64):
        loss = BinaryCrossEntropy()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            value = loss(z.astype(dtype)[:, None], np.array([0, 1, 1, 0, 1]))
            grad = loss.backward()
        assert np.isfinite(value) and np.all(np.isfinite(grad))
        # softplus(50) for y=0, softplus(50) for z=−50 with y=1, log 2 for z=0
        assert value == pytest.approx((50 + 50 + np.log(2)) / 5, rel=1e-6)


@pytest.mark.parametrize("X, y, message", [
    (np.array([[0.0, np.nan], [1.0, 2.0]]), [0, 1], "NaN"),
    (np.array([[0.0, np.inf], [1.0, 2.0]]), [0, 1], "infinity"),
    (np.empty((0, 3)), [], "0 sample"),
    (np.ones((4, 2)), [1, 1, 1, 1], "at least 2 classes"),
    (np.ones((3, 2)), [0, 1], "inconsistent numbers of samples"),
    (np.array([["a", "b"], ["c", "d"]]), [0, 1], "convert string to float"),
    (np.ones((4, 2)), [0.5, 1.5, 2.5, 3.5], "Unknown label type"),
])
def test_bad_input_gives_a_clear_value_error(X, y, message):
    with pytest.raises(ValueError, match=message):
        LogisticRegression(max_iter=5).fit(X, y)


def test_predict_with_wrong_number_of_features_is_a_clear_error(breast_cancer_split):
    X, _, y, _ = breast_cancer_split
    clf = LogisticRegression(max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but LogisticRegression is expecting 30"):
        clf.predict(X[:, :3])


def test_bad_hyperparameters_are_clear_errors(breast_cancer_split):
    X, _, y, _ = breast_cancer_split
    for clf, message in ((LogisticRegression(solver="lbfgs"), "solver"),
                         (LogisticRegression(learning_rate=-1), "learning_rate"),
                         (LogisticRegression(threshold=1.5), "threshold")):
        with pytest.raises(ValueError, match=message):
            clf.fit(X, y)


def test_gd_stops_early_once_the_cost_settles(breast_cancer_split):
    X, _, y, _ = breast_cancer_split
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = LogisticRegression(learning_rate=0.5, max_iter=100000, tol=1e-4).fit(X, y)
    assert clf.n_iter_ < 1000


def test_newton_runs_on_the_engine_and_records_its_history(breast_cancer_split):
    X_train, X_test, y_train, y_test = breast_cancer_split
    clf = LogisticRegression(solver="newton", alpha=0.01, max_iter=50).fit(X_train, y_train,
                                                                          validation_data=(X_test, y_test))
    history = clf.history_
    assert history.step == "iteration" and len(history.epoch) == clf.n_iter_
    assert history["loss"] == clf.loss_curve_ and np.all(np.diff(history["loss"]) <= 1e-7)
    assert history["val_accuracy"][-1] >= 0.95


def test_newton_warns_when_it_stops_at_max_iter_before_converging(breast_cancer_split):
    X_train, _, y_train, _ = breast_cancer_split
    with pytest.warns(ConvergenceWarning, match="stopped at max_iter=2"):
        LogisticRegression(solver="newton", max_iter=2).fit(X_train, y_train)


def test_newton_in_float32_converges_as_in_float64():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = (X @ [1.0, -2.0, 0.5, 0.0, 1.5] + rng.logistic(size=300) > 0).astype(int)
    fits = {dtype: LogisticRegression(solver="newton", alpha=0.01, dtype=dtype).fit(X, y) for dtype in ("float32", "float64")}
    assert fits["float32"].n_iter_ <= fits["float64"].n_iter_ + 1 < 15  # small steps are not rounded away
    np.testing.assert_allclose(fits["float32"].coef_, fits["float64"].coef_, rtol=1e-4)


@pytest.mark.parametrize("solver, settings", [("newton", {"max_iter": 50, "tol": 1e-10}),
                                              ("gd", {"learning_rate": 2.0, "max_iter": 3000, "tol": 0})])
def test_more_than_two_classes_is_softmax_regression_reaching_scikit_learns_optimum(solver, settings):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression as ScikitLearn

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    alpha = 0.05
    clf = LogisticRegression(solver=solver, alpha=alpha, dtype="float64", **settings).fit(X, y)
    assert isinstance(clf.network_.layers[-1], nn.Softmax) and clf.coef_.shape == (3, 4)
    # the same objective: mean cross-entropy + (α/2)‖W‖²  ⇔  C = 1 / (α m)
    reference = ScikitLearn(C=1 / (alpha * len(X)), tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), reference.predict_proba(X), atol=1e-5)
