"""Nothing of the data stays in a model: no row given to fit or predict is in its
pickle or its saved file, and the pickle holds the weights, not the layers' caches or
gradient buffers."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

import neuronet
from neuronet import nn
from neuronet.estimators import CNNClassifier, LogisticRegression, MLPClassifier, MLPRegressor
from neuronet.rl import PolicyGradientAgent

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning",
                                        "ignore::neuronet.diagnosis.StoppedLearningWarning")

QUERY = np.full((2, 30), 42.0)


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True)


def rows_found(blob, X):
    """The indices of the rows of X whose bytes (as float64 or float32) are in ``blob``."""
    flat = np.asarray(X).reshape(len(X), -1)
    return [i for i, row in enumerate(flat)
            if any(row.astype(dtype).tobytes() in blob for dtype in (np.float64, np.float32))]


def fitted_mlp(X, y, **options):
    return MLPClassifier((100,), random_state=0, **options).fit(X, y)


@pytest.mark.parametrize("options", [{}, {"solver": "lbfgs"}, {"solver": "sgd", "early_stopping": True},
                                     {"dropout": 0.2, "dtype": "float32"}])
def test_a_pickled_mlp_classifier_holds_no_training_row(cancer, options):
    X, y = cancer
    assert rows_found(pickle.dumps(X), X) == list(range(len(X)))  # the search finds rows that are there
    assert rows_found(pickle.dumps(fitted_mlp(X, y, max_iter=20, **options)), X) == []


def test_a_pickled_mlp_classifier_holds_no_predicted_row(cancer):
    model = fitted_mlp(*cancer, max_iter=5)
    for method in (model.predict, model.predict_proba, model.predict_log_proba):
        method(QUERY)
        assert rows_found(pickle.dumps(model), QUERY) == []
    model.partial_fit(QUERY, [0, 1])
    assert rows_found(pickle.dumps(model), QUERY) == []


def test_a_pickled_mlp_classifier_keeps_the_recorded_range_of_each_input(cancer):
    X, y = cancer
    copy = pickle.loads(pickle.dumps(fitted_mlp(X, y, max_iter=2)))
    np.testing.assert_array_equal(copy._input_range, [X.min(axis=0), X.max(axis=0)])


def test_a_pickled_mlp_classifier_is_at_most_a_fifth_larger_than_scikit_learns(cancer):
    X, y = cancer
    theirs = len(pickle.dumps(SkMLPClassifier((100,), random_state=0, max_iter=50).fit(X, y)))
    model = fitted_mlp(X, y, max_iter=50)
    assert len(pickle.dumps(model)) <= 1.2 * theirs
    model.predict(np.random.default_rng(0).normal(size=(50_000, 30)))
    assert len(pickle.dumps(model)) <= 1.2 * theirs


def test_an_unpickled_mlp_classifier_predicts_and_trains_on_exactly_as_the_original(cancer):
    X, y = cancer
    model = fitted_mlp(X, y, max_iter=5, dropout=0.1)
    model.predict(QUERY)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
    for trained in (model, copy):
        trained.partial_fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
    for trained in (model, copy):
        trained.set_params(warm_start=True, max_iter=3).fit(X, y)
    for mine, theirs in zip(copy.network_.parameters(), model.network_.parameters()):
        np.testing.assert_array_equal(mine, theirs)


def test_a_pickled_mlp_regressor_holds_no_row(cancer):
    X, y = cancer
    model = MLPRegressor(hidden_layer_sizes=(20,), solver="lbfgs", max_iter=10, random_state=0).fit(X, y)
    model.predict(QUERY)
    blob = pickle.dumps(model)
    assert rows_found(blob, X) == [] and rows_found(blob, QUERY) == []


def test_a_pickled_logistic_regression_holds_no_row(cancer):
    X, y = cancer
    model = LogisticRegression(max_iter=5).fit(X / X.max(axis=0), y)
    model.predict_proba(QUERY)
    model.predict(QUERY)
    blob = pickle.dumps(model)
    assert rows_found(blob, X / X.max(axis=0)) == [] and rows_found(blob, QUERY) == []


def test_a_pickled_cnn_classifier_holds_no_image():
    X, y = load_digits(return_X_y=True)
    X, y = X[:200] / 16, y[:200]
    model = CNNClassifier(image_shape=(1, 8, 8), max_iter=2, random_state=0).fit(X, y)
    query = np.full((2, 64), 0.42)
    model.predict_proba(query)
    blob = pickle.dumps(model)
    assert rows_found(blob, X) == [] and rows_found(blob, query) == []
    assert not any(cached(layer) for layer in model.network_.layers)  # the convolution's columns included
    assert not any(cached(layer) for layer in pickle.loads(blob).network_.layers)


def test_neuronet_save_writes_no_row(cancer, tmp_path):
    X, y = cancer
    model = fitted_mlp(X, y, max_iter=5)
    model.predict(QUERY)
    neuronet.save(model, tmp_path / "model.nn")
    blob = (tmp_path / "model.nn").read_bytes()
    assert rows_found(blob, X) == [] and rows_found(blob, QUERY) == []


def cached(layer):
    """Whether ``layer`` holds any of the attributes its forward pass keeps for backward."""
    return any(name in vars(layer) for name in layer.cache)


def small_network(rate=0.0):
    return nn.Sequential([nn.Conv2D(3, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(), nn.Dropout(rate),
                          nn.Dense(5), nn.Tanh(), nn.Dense(3), nn.Softmax()],
                         input_shape=(1, 8, 8), dtype="float64", random_state=0)


def test_a_bare_network_keeps_its_caches_from_forward_to_backward_and_pickles_none():
    network = small_network(rate=0.5)
    x = np.random.default_rng(0).normal(size=(4, 1, 8, 8))
    network.forward(x, training=True)
    assert all(cached(layer) for layer in network.layers if layer.cache)
    assert not any(cached(layer) for layer in pickle.loads(pickle.dumps(network)).layers)
    grad_x = network.backward(np.ones((4, 3)))
    assert grad_x.shape == x.shape and all(np.any(grad != 0) for _, _, grad in network.named_parameters())
    network.clear()
    assert not any(cached(layer) for layer in network.layers)
    assert all(not np.any(grad) for _, _, grad in network.named_parameters())


def test_an_unpickled_network_gets_its_gradient_buffers_back():
    x = np.random.default_rng(1).normal(size=(4, 1, 8, 8))
    network = small_network()
    network.logits(x, training=True)
    network.backward(np.ones((4, 3)))
    copy = pickle.loads(pickle.dumps(network))
    assert all(grad.shape == param.shape and not grad.any() for _, param, grad in copy.named_parameters())
    copy.logits(x, training=True)
    copy.backward(np.ones((4, 3)))
    for (_, _, mine), (_, _, theirs) in zip(copy.named_parameters(), network.named_parameters()):
        np.testing.assert_array_equal(mine, theirs)
    parameters, gradients, _ = copy.flat_parameters()
    assert all(grad.base is gradients for _, _, grad in copy.named_parameters())


def test_a_bare_layer_pickles_neither_its_cache_nor_its_gradients():
    layer = nn.Dense(4)
    layer.build((3,), np.random.default_rng(0), np.float64)
    x = np.arange(6.0).reshape(2, 3) + 0.5
    layer.forward(x, training=True)
    layer.backward(np.ones((2, 4)))
    copy = pickle.loads(pickle.dumps(layer))
    assert copy.grads == {} and "_x" not in vars(copy) and rows_found(pickle.dumps(layer), x) == []
    copy.forward(x, training=True)
    copy.backward(np.ones((2, 4)))
    np.testing.assert_array_equal(copy.grads["weights"], layer.grads["weights"])


def test_nn_fit_and_predict_leave_no_row_in_a_bare_network():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(64, 1, 8, 8)), rng.integers(0, 3, size=64)
    network = small_network(rate=0.2)
    nn.fit(network, X, y, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=2, batch_size=16,
           validation_data=(X[:8], y[:8]))
    query = np.full((2, 1, 8, 8), 42.0)
    network.predict(query)
    assert not any(cached(layer) for layer in network.layers)
    blob = pickle.dumps(network)
    assert rows_found(blob, X) == [] and rows_found(blob, query) == []


def test_an_agent_pickles_no_observation():
    agent = PolicyGradientAgent(4, 2, hidden=(8,), random_state=0)
    observations = np.random.default_rng(3).normal(size=(20, 4))
    agent.learn(observations, np.arange(20) % 2, np.ones(20))
    agent.act(observations[-1])
    blob = pickle.dumps(agent)
    assert rows_found(blob, observations) == []
    copy = pickle.loads(blob)
    assert copy.act(observations[0], greedy=True) == agent.act(observations[0], greedy=True)
