"""neuronet's MLPClassifier and MLPRegressor stand in for scikit-learn's, on bundled data."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn import neural_network
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import neuronet
from neuronet import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
PAIRS = [(MLPClassifier, neural_network.MLPClassifier), (MLPRegressor, neural_network.MLPRegressor)]


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["classifier", "regressor"])
def test_every_scikit_learn_parameter_is_accepted_with_its_default(ours, theirs):
    mine, reference = ours().get_params(), theirs().get_params()
    assert {name: mine[name] for name in reference} == reference
    assert set(mine) - set(reference) == {"dropout", "dtype"}  # neuronet's additions


def _fitted_attributes(model):
    names = [name for name in dir(model) if name.endswith("_") and not name.startswith("_")]
    return {name: getattr(model, name, "absent") for name in names if name != "feature_names_in_"}


def _describe(value):
    if isinstance(value, list):
        return ("list", [np.shape(item) for item in value])
    if isinstance(value, np.ndarray):
        return ("array", value.shape)
    for kind in (bool, str, int, float):  # a NumPy scalar counts as its Python kind
        if isinstance(value, (kind, np.generic)) and np.asarray(value).dtype.kind == np.dtype(kind).kind:
            return kind.__name__
    return None if value is None else type(value).__name__


@pytest.mark.parametrize("solver, early_stopping", [("adam", False), ("adam", True), ("sgd", False), ("lbfgs", False)])
@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["classifier", "regressor"])
def test_fitted_attributes_are_scikit_learns_with_the_same_shapes(ours, theirs, solver, early_stopping, cancer):
    X, y = cancer
    settings = dict(hidden_layer_sizes=(7, 3), solver=solver, early_stopping=early_stopping, max_iter=5,
                    random_state=0)
    mine, reference = ours(**settings).fit(X, y), theirs(**settings).fit(X, y)
    expected = {name: _describe(value) for name, value in _fitted_attributes(reference).items()}
    found = {name: _describe(value) for name, value in _fitted_attributes(mine).items() if name in expected}
    assert found == expected
    assert mine.n_iter_ == reference.n_iter_ or early_stopping  # early stopping may stop at another epoch


def test_setting_coefs_changes_the_predictions(cancer):
    X, y = cancer
    model = MLPClassifier((4,), max_iter=5, random_state=0).fit(X, y)
    model.coefs_ = [np.zeros_like(c) for c in model.coefs_]
    model.intercepts_ = [np.zeros_like(b) for b in model.intercepts_]
    np.testing.assert_array_equal(model.predict_proba(X), 0.5)


def test_lbfgs_reaches_scikit_learns_loss_in_the_convex_case(cancer):
    X, y = cancer
    settings = dict(hidden_layer_sizes=(), solver="lbfgs", tol=1e-10, max_iter=5000, alpha=1e-2, random_state=0)
    mine = MLPClassifier(**settings).fit(X, y)
    reference = neural_network.MLPClassifier(**settings).fit(X, y)
    assert mine.loss_ <= reference.loss_ * (1 + 1e-6)  # as low, or lower


def test_lbfgs_from_scikit_learns_initial_weights_reaches_its_loss(diabetes):
    """A smooth problem (tanh, some L2): from the same start both find the same minimum
    (with ReLU kinks, rounding alone can steer two L-BFGS runs to different ones)."""
    X, y = diabetes
    settings = dict(hidden_layer_sizes=(3,), activation="tanh", alpha=0.1, solver="lbfgs", max_iter=1, random_state=0)
    reference = neural_network.MLPRegressor(**settings).fit(X, y)
    mine = MLPRegressor(warm_start=True, **settings).fit(X, y)
    mine.coefs_, mine.intercepts_ = reference.coefs_, reference.intercepts_  # the same starting point
    for model in (reference, mine):
        model.set_params(warm_start=True, max_iter=3000, tol=1e-10).fit(X, y)
    assert mine.loss_ == pytest.approx(reference.loss_, rel=1e-6)


def test_the_weights_have_the_dtype_of_x_unless_dtype_says_otherwise(cancer):
    X, y = cancer
    assert MLPClassifier((4,), max_iter=2).fit(X, y).coefs_[0].dtype == np.float64
    assert MLPClassifier((4,), max_iter=2).fit(X.astype(np.float32), y).coefs_[0].dtype == np.float32
    assert MLPClassifier((4,), max_iter=2, dtype="float32").fit(X, y).coefs_[0].dtype == np.float32


def test_a_float_learning_rate_points_to_learning_rate_init(cancer):
    with pytest.raises(neuronet.InvalidParameterError, match="the step size is learning_rate_init"):
        MLPClassifier(learning_rate=0.01).fit(*cancer)


def test_partial_fit_over_minibatches_learns():
    X, y = load_digits(return_X_y=True)
    model = MLPClassifier((32,), learning_rate_init=0.01, random_state=0)
    for epoch in range(10):
        for start in range(0, len(X), 300):
            model.partial_fit(X[start : start + 300] / 16, y[start : start + 300], classes=np.arange(10))
    assert model.score(X / 16, y) > 0.9 and model.n_iter_ == 1 and model.t_ == 10 * len(X)


def test_warm_start_continues_from_the_first_fits_weights(cancer):
    X, y = cancer
    model = MLPClassifier((8,), max_iter=5, tol=0, warm_start=True, random_state=0).fit(X, y)
    first = [c.copy() for c in model.coefs_]
    cold_loss = MLPClassifier((8,), max_iter=5, tol=0, random_state=0).fit(X, y).loss_curve_[0]
    model.fit(X, y)
    assert len(model.loss_curve_) == 10 and model.loss_curve_[5] < cold_loss
    assert not np.allclose(model.coefs_[0], first[0])


def test_multi_label_targets_get_independent_sigmoids():
    X, y = load_digits(return_X_y=True)
    Y = np.column_stack([y % 2, y > 4, y == 3])
    model = MLPClassifier((32,), solver="lbfgs", max_iter=300, random_state=0).fit(X / 16, Y)
    assert model.out_activation_ == "logistic" and model.predict(X / 16).shape == Y.shape
    assert model.score(X / 16, Y) > 0.95


def test_multi_output_regression_and_sparse_and_dataframe_inputs(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, -y])
    model = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=500, random_state=0).fit(X, Y)
    assert model.predict(X).shape == (len(X), 2) and model.score(X, Y) > 0.5
    dense = MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, y)
    csr = MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(sparse.csr_matrix(X), y)
    np.testing.assert_allclose(csr.predict(sparse.csr_matrix(X)), dense.predict(X), rtol=1e-10)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        named = MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(frame, y)
        named.predict(frame)
    assert list(named.feature_names_in_) == list(frame.columns)


def test_a_model_saved_and_loaded_keeps_scikit_learns_attributes(cancer, tmp_path):
    X, y = cancer
    model = MLPClassifier((8,), max_iter=20, early_stopping=True, random_state=0).fit(X, np.array(["no", "yes"])[y])
    neuronet.save(model, tmp_path / "m.npz")
    loaded = neuronet.load(tmp_path / "m.npz")
    for name in ("n_iter_", "t_", "loss_", "n_layers_", "n_outputs_", "out_activation_", "best_validation_score_"):
        assert getattr(loaded, name) == getattr(model, name)
    assert loaded.validation_scores_ == model.validation_scores_ and loaded.best_loss_ is None
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("dataset", ["digits", "breast-cancer"])
def test_accuracy_matches_scikit_learns_over_seeds_and_folds(dataset, solver):
    """Mean test accuracy over 5 seeds × stratified 5-fold, same settings for both."""
    from sklearn.model_selection import StratifiedKFold

    X, y = load_digits(return_X_y=True) if dataset == "digits" else load_breast_cancer(return_X_y=True)
    X = X / 16 if dataset == "digits" else StandardScaler().fit_transform(X)
    settings = dict(hidden_layer_sizes=(32,), solver=solver, max_iter=30, learning_rate_init=0.01)
    scores = {"neuronet": [], "scikit-learn": []}
    for seed in range(5):
        for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
            for name, estimator in (("neuronet", MLPClassifier), ("scikit-learn", neural_network.MLPClassifier)):
                model = estimator(random_state=seed, **settings).fit(X[train], y[train])
                scores[name].append(model.score(X[test], y[test]))
    assert np.mean(scores["neuronet"]) >= np.mean(scores["scikit-learn"]) - 0.01


@pytest.mark.parametrize("solver, schedule", [("adam", "constant"), ("sgd", "constant"), ("sgd", "invscaling"),
                                              ("sgd", "adaptive"), ("lbfgs", "constant")])
@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["classifier", "regressor"])
def test_the_same_random_state_gives_scikit_learns_fit(ours, theirs, solver, schedule, cancer):
    """Same initial weights, same minibatch order, same updates: the same network."""
    X, y = cancer
    settings = dict(hidden_layer_sizes=(10,), solver=solver, learning_rate=schedule, max_iter=20, random_state=3)
    mine, reference = ours(**settings).fit(X, y), theirs(**settings).fit(X, y)
    assert mine.n_iter_ == reference.n_iter_
    for a, b in zip(mine.coefs_ + mine.intercepts_, reference.coefs_ + reference.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


def test_a_random_state_object_is_used_as_scikit_learn_uses_it(cancer):
    X, y = cancer
    by_seed = MLPClassifier((6,), solver="sgd", max_iter=5, random_state=0).fit(X, y)
    by_object = MLPClassifier((6,), solver="sgd", max_iter=5, random_state=np.random.RandomState(0)).fit(X, y)
    np.testing.assert_array_equal(by_object.coefs_[0], by_seed.coefs_[0])


def test_early_stopping_scores_the_validation_set_with_its_sample_weights(cancer):
    X, y = cancer
    weights = np.where(y == 1, 3.0, 0.5)
    settings = dict(hidden_layer_sizes=(6,), early_stopping=True, solver="sgd", max_iter=5, random_state=0)
    mine = MLPClassifier(**settings).fit(X, y, sample_weight=weights)
    reference = neural_network.MLPClassifier(**settings).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(mine.validation_scores_, reference.validation_scores_)


def test_a_loaded_model_keeps_its_feature_names_and_can_train_on(tmp_path, diabetes):
    X, y = diabetes
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(frame, y)
    neuronet.save(model, tmp_path / "m.npz")
    loaded = neuronet.load(tmp_path / "m.npz")
    assert list(loaded.feature_names_in_) == list(frame.columns)
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(frame[frame.columns[::-1]])
    loaded.partial_fit(frame, y)
    assert loaded.n_iter_ == 1


def test_a_version_1_model_file_trains_on_with_partial_fit():
    import os

    from sklearn.datasets import load_breast_cancer

    model = neuronet.load(os.path.join(os.path.dirname(__file__), "data", "legacy-v1-mlp.npz"))
    X, y = load_breast_cancer(return_X_y=True)
    model.fit(X, y)  # a Pipeline: refit from scratch, standardizer included
    model[-1].set_params(warm_start=True).fit(model[0].transform(X), y)
    model[-1].partial_fit(model[0].transform(X), y)
    assert model.score(X, y) > 0.9


@pytest.mark.parametrize("make", [lambda: MLPClassifier((4,), max_iter=2), lambda: MLPClassifier((4,), solver="lbfgs",
                                                                                                 max_iter=2),
                                  lambda: neuronet.LogisticRegression(max_iter=2)], ids=["adam", "lbfgs", "logistic"])
def test_one_convergence_warning_pointing_at_the_users_fit(make, cancer):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make().fit(*cancer)
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(convergence) == 1 and convergence[0].filename == __file__


def test_assigning_an_item_of_coefs_or_intercepts_changes_the_model_as_in_scikit_learn(cancer):
    X, y = cancer
    model = MLPClassifier((4,), max_iter=5, random_state=0).fit(X, y)
    reference = neural_network.MLPClassifier((4,), max_iter=5, random_state=0).fit(X, y)
    for fitted in (model, reference):
        fitted.coefs_[1] = np.zeros((4, 1))
        fitted.intercepts_[-1] = np.zeros(1)
    assert isinstance(model.coefs_, list) and isinstance(model.intercepts_, list)
    np.testing.assert_array_equal(model.predict_proba(X), reference.predict_proba(X))
    model.coefs_[:] = [np.ones((30, 4)), np.ones((4, 1))]
    assert model.coefs_[0].sum() == 120 and model.coefs_[1].sum() == 4


@pytest.mark.parametrize("array, reason", [
    (np.zeros((4, 4)), r"weights of shape \(4, 4\) do not fit a layer of \(30, 4\)"),
    (np.zeros((30, 4), dtype=complex), "weights of dtype complex128 do not fit a layer of float64"),
])
def test_a_coefs_item_of_another_shape_or_kind_is_refused_in_one_line(array, reason, cancer):
    model = MLPClassifier((4,), max_iter=1, random_state=0).fit(*cancer)
    with pytest.raises(ValueError, match=reason):
        model.coefs_[0] = array


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor], ids=["classifier", "regressor"])
def test_a_float32_model_predicts_float64_for_float64_input_and_float32_for_float32(make, cancer):
    X, y = cancer
    model = make(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X.astype(np.float32), y)
    predict = model.predict_proba if make is MLPClassifier else model.predict
    assert predict(X).dtype == np.float64 and predict(X.tolist()).dtype == np.float64
    assert predict(X.astype(np.float32)).dtype == np.float32
    in_pieces = np.concatenate([predict(X[start:start + 7]) for start in range(0, len(X), 7)])
    np.testing.assert_array_equal(predict(X), in_pieces)  # float32 outputs, cast: batch-invariant still
    np.testing.assert_allclose(predict(X), predict(X.astype(np.float32)), rtol=1e-6)  # computed in float32


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor, neuronet.CNNClassifier, neuronet.LogisticRegression])
def test_an_unknown_parameter_is_refused_naming_the_public_class(make):
    with pytest.raises(TypeError, match=rf"^{make.__name__}\.__init__\(\) got an unexpected keyword argument "
                                        "'class_weight'$"):
        make(class_weight="balanced")


def _convergence_warnings(fit, **module):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=ConvergenceWarning, **module)
        fit()
    return [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def test_a_warning_filter_by_module_matches_the_module_that_called_fit_and_one_by_category_any(cancer):
    from sklearn.pipeline import make_pipeline

    def fit():
        return MLPClassifier((4,), max_iter=2, random_state=0).fit(*cancer)

    def fit_in_a_pipeline():
        return make_pipeline(StandardScaler(), MLPClassifier((4,), max_iter=2, random_state=0)).fit(*cancer)

    assert len(_convergence_warnings(fit, module="sklearn")) == 1  # points at this file: not scikit-learn's
    assert _convergence_warnings(fit, module=__name__) == []
    assert _convergence_warnings(fit_in_a_pipeline, module="sklearn") == []  # the Pipeline called fit
    assert _convergence_warnings(fit) == _convergence_warnings(fit_in_a_pipeline) == []
