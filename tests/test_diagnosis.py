"""A network that stopped learning is named: dead ReLU units, one class for every sample,
exactly zero gradients; a healthy fit is not."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, make_circles, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import neuronet
from neuronet import CNNClassifier, LogisticRegression, MLPClassifier, MLPRegressor, StoppedLearningWarning, nn
from neuronet.diagnosis import diagnose
from neuronet.losses import CrossEntropy
from neuronet.optimizers import SGD

CIRCLES = make_circles(400, noise=0.1, factor=0.5, random_state=0)
DEAD_RELU = dict(hidden_layer_sizes=(8,) * 5, solver="sgd", momentum=0.9, learning_rate_init=0.3, batch_size=10,
                 random_state=0)


def stopped_learning(fit):
    """The StoppedLearningWarnings that ``fit()`` emits (every other warning let through)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    return [w for w in caught if issubclass(w.category, StoppedLearningWarning)]


def only(found):
    assert len(found) == 1, [str(w.message) for w in found]
    return found[0]


# --- dead units ------------------------------------------------------------------------------
def test_a_network_of_dead_relu_units_is_named_with_their_count_and_what_to_try():
    X, y = CIRCLES
    clf = MLPClassifier(**DEAD_RELU)
    warning = only(stopped_learning(lambda: clf.fit(X, y)))
    message = str(warning.message)
    assert clf.score(X, y) == 0.5
    assert "8 of 8 units in layer 5 never fire (ReLU gives 0 for all 400 training samples)" in message
    assert "no gradient reaches layers 1–5" in message and "predicts class" in message
    assert 'smaller learning_rate_init than 0.3' in message
    assert 'activation="leaky_relu"' in message and 'solver="adam"' in message
    assert "\n" not in message


def test_the_warning_carries_the_facts_for_other_wordings():
    X, y = CIRCLES
    facts = only(stopped_learning(lambda: MLPClassifier(**DEAD_RELU).fit(X, y))).message
    assert (facts.kind, facts.layer, facts.count, facts.total, facts.samples) == ("dead_units", 5, 8, 8, 400)
    assert facts.index == 8  # Dense, ReLU four times over: the fifth Dense is layer 8 of the summary
    assert facts.layers == (1, 2, 3, 4, 5) and facts.label in (0, 1)
    assert facts.remedies == ("smaller_learning_rate", "leaky_relu", "adam") and facts.learning_rate == 0.3
    copied = pickle.loads(pickle.dumps(facts))
    assert str(copied) == str(facts) and copied.kind == "dead_units" and copied.remedies == facts.remedies


def test_the_warning_points_at_the_users_call():
    X, y = CIRCLES
    warning = only(stopped_learning(lambda: MLPClassifier(**DEAD_RELU).fit(X, y)))
    assert warning.filename == __file__


def test_a_regressor_with_dead_units_is_named():
    X, y = make_regression(400, 5, noise=1, random_state=0)
    reg = MLPRegressor(**DEAD_RELU)
    warning = only(stopped_learning(lambda: reg.fit(StandardScaler().fit_transform(X), y / y.std())))
    assert warning.message.kind == "dead_units"
    assert "MLPRegressor gives the same output for every sample" in str(warning.message)


def _dense_relu_network(dead):
    """2 → 16 ReLU units → 3 classes, with ``dead`` of the hidden units switched off for
    good (bias −1000 against inputs in [0, 1]) and the others on (bias +1000)."""
    network = nn.Sequential([nn.Dense(16), nn.ReLU(), nn.Dense(3), nn.Softmax()], input_shape=(2,), random_state=0)
    network.layers[0].params["bias"][:] = 1000.0
    network.layers[0].params["bias"][:dead] = -1000.0
    return network


@pytest.mark.parametrize("dead, named", [(16, True), (15, True), (14, False), (0, False)])
def test_a_layer_is_named_from_ninety_percent_of_dead_units(dead, named):
    X = np.random.default_rng(0).uniform(size=(300, 2)).astype(np.float32)
    found = diagnose(_dense_relu_network(dead), X, stepped=False)
    assert bool(found) == named
    if named:
        assert (found[0].count, found[0].total, found[0].layer, found[0].units) == (dead, 16, 1, "units")
        assert found[0].describe().startswith(f"{dead} of 16 units in layer 1 never fire")


def test_a_convolutions_dead_feature_maps_are_counted_as_filters():
    network = nn.Sequential([nn.Conv2D(4, 3, padding=1), nn.MaxPool2D(2), nn.ReLU(), nn.Flatten(), nn.Dense(3),
                             nn.Softmax()], input_shape=(1, 8, 8), random_state=0)
    network.layers[0].params["bias"][:] = -1000.0
    X = np.random.default_rng(0).uniform(size=(50, 1, 8, 8)).astype(np.float32)
    y = np.arange(50) % 3
    dead = only(diagnose(network, X, y, classes=np.array(["a", "b", "c"]), stepped=False))
    assert (dead.kind, dead.layer, dead.count, dead.total, dead.units) == ("dead_units", 1, 4, 4, "filters")
    assert dead.label in ("a", "b", "c")  # every map is zero: one output, one class, said in the same line
    assert f"the network predicts class {dead.label} for every sample" in dead.describe()


def test_leaky_relu_units_never_die():
    network = nn.Sequential([nn.Dense(16), nn.LeakyReLU(), nn.Dense(3), nn.Softmax()], input_shape=(2,))
    network.layers[0].params["bias"][:] = -1000.0
    X = np.random.default_rng(0).uniform(size=(30, 2)).astype(np.float32)
    assert diagnose(network, X, stepped=False) == []


# --- one class ---------------------------------------------------------------------------------
def test_a_classifier_that_predicts_one_class_for_every_sample_is_named():
    X, y = CIRCLES
    clf = MLPClassifier((8,) * 3, activation="logistic", solver="sgd", learning_rate_init=5, batch_size=10,
                        random_state=0)
    warning = only(stopped_learning(lambda: clf.fit(X, y)))
    predicted = clf.predict(X)
    assert len(set(predicted)) == 1
    assert warning.message.kind == "one_class" and warning.message.label == predicted[0]
    assert (f"MLPClassifier predicts class {predicted[0]} for all 400 training samples, though 2 classes are "
            "present; try a smaller learning_rate_init than 5 or solver=\"adam\"") == str(warning.message)


def test_logistic_regression_that_settles_on_one_class_is_named_at_the_users_call_with_a_lower_threshold():
    """A rare class the features do not separate: the convex cost's optimum itself says the
    common class for every sample, and no step size changes that; a lower threshold does."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(400, 3)), (rng.random(400) < 0.1).astype(int)
    model = LogisticRegression()
    warning = only(stopped_learning(lambda: model.fit(X, y)))
    assert model.n_iter_ < model.max_iter  # it settled
    assert warning.message.kind == "one_class" and warning.filename == __file__
    assert "LogisticRegression predicts class 0 for all 400 training samples" in str(warning.message)
    assert "try a lower threshold than 0.5" in str(warning.message) and "learning_rate" not in str(warning.message)


def test_one_class_at_max_iter_is_left_to_the_max_iter_warning_one_convergence_warning_a_fit():
    X, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=1, threshold=0.9)  # one step from w = 0: every probability near ½
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(StandardScaler().fit_transform(X), y)
    assert len(caught) == 1 and "stopped at max_iter=1" in str(caught[0].message)


# --- zero gradients ----------------------------------------------------------------------------
def test_a_layer_with_exactly_zero_gradients_is_named():
    """All-zero weights and tanh: the hidden units output tanh(0) = 0, so the output layer's
    weights get no gradient and send none back; nothing but the output bias ever learns."""
    X, y = CIRCLES
    clf = MLPClassifier((4,), activation="tanh", warm_start=True, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    clf.coefs_ = [np.zeros_like(c) for c in clf.coefs_]
    clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
    found = stopped_learning(lambda: clf.set_params(max_iter=5).fit(X, y))
    stuck = [w.message for w in found if w.message.kind == "zero_gradients"]
    assert len(stuck) == 1 and (stuck[0].layer, stuck[0].layers) == (1, (1,))
    assert str(stuck[0]).startswith("layer 1 got an exactly zero gradient of the loss on the last training step")


def test_zero_gradients_below_a_dead_layer_are_said_in_the_dead_layers_line():
    network = _dense_relu_network(16)
    X = np.random.default_rng(0).uniform(size=(40, 2)).astype(np.float32)
    y = np.arange(40) % 3
    nn.fit(network, X, y, loss=CrossEntropy(), optimizer=SGD(0.1), epochs=1, batch_size=40)
    found = diagnose(network, X, y)
    assert [d.kind for d in found] == ["dead_units"] and found[0].layers == (1,)
    assert "no gradient reaches layer 1 and the network predicts class" in found[0].describe()


# --- healthy fits --------------------------------------------------------------------------------
def test_a_default_mlp_on_digits_is_not_diagnosed():
    X, y = load_digits(return_X_y=True)
    assert stopped_learning(lambda: MLPClassifier(random_state=0).fit(X / 16, y)) == []


def test_a_cnn_on_digits_is_not_diagnosed():
    X, y = load_digits(return_X_y=True)
    assert stopped_learning(lambda: CNNClassifier(image_shape=(1, 8, 8), max_iter=10, random_state=0)
                            .fit(X / 16, y)) == []


@pytest.mark.parametrize("solver", ["gd", "newton"])
def test_logistic_regression_on_breast_cancer_is_not_diagnosed(solver):
    X, y = load_breast_cancer(return_X_y=True)
    assert stopped_learning(lambda: LogisticRegression(solver=solver).fit(StandardScaler().fit_transform(X), y)) == []


def test_partial_fit_is_not_diagnosed():
    X, y = CIRCLES
    clf = MLPClassifier(**DEAD_RELU)
    assert stopped_learning(lambda: [clf.partial_fit(X, y, classes=[0, 1]) for _ in range(15)]) == []


# --- the class ---------------------------------------------------------------------------------
def test_the_warning_is_a_convergence_warning_that_neuronet_exports():
    assert issubclass(StoppedLearningWarning, ConvergenceWarning)
    assert "StoppedLearningWarning" in neuronet.__all__ and neuronet.StoppedLearningWarning is StoppedLearningWarning
    X, y = CIRCLES
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)  # a filter written for scikit-learn's warning
        MLPClassifier(**DEAD_RELU).fit(X, y)
    assert caught == []


@pytest.mark.parametrize("losses, keys", [([0.70, 0.69, 0.69], ("larger_learning_rate", "adam")),
                                          ([0.70, 0.90, 0.69], ("smaller_learning_rate", "leaky_relu", "adam"))])
def test_one_class_after_a_loss_that_crawled_asks_for_larger_steps_and_after_one_that_jumped_for_smaller(losses, keys):
    from neuronet.diagnosis import Diagnosis, remedies

    one_class = Diagnosis("one_class", count=1, total=2, samples=10, label=0)
    assert remedies(one_class, relu=True, adam=False, learning_rate=0.1, losses=losses) == keys
    assert remedies(one_class, relu=True, adam=False, learning_rate=0.1, losses=losses,
                    stopped_at_limit=True) == ("more_iterations",)
