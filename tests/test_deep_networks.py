"""Stacked neurons, trained by backpropagation, learn what one neuron cannot."""

import re

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

import neuronet
from neuronet import LogisticRegression, MLPClassifier, datasets, nn

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0])


def test_xor_is_learned_by_a_2_4_1_sigmoid_network():
    net = nn.Sequential([nn.Dense(4), nn.Sigmoid(), nn.Dense(1), nn.Sigmoid()], input_shape=(2,),
                        random_state=0)
    history = net.fit(XOR_X, XOR_Y, loss=nn.BinaryCrossEntropy(), optimizer=nn.SGD(2.0, momentum=0.9),
                      epochs=500, batch_size=4, random_state=0)
    probabilities = net.predict(XOR_X).ravel()
    np.testing.assert_array_equal(probabilities > 0.5, XOR_Y.astype(bool))
    assert history["loss"][-1] < 0.05 and history["accuracy"][-1] == 1.0


def test_xor_is_not_learnable_by_logistic_regression():
    """No line separates XOR: by symmetry the optimum is w = 0, b = 0, and the best
    a linear classifier can do on the four points is 3 of 4 — here it gets only 2."""
    clf = LogisticRegression(solver="newton", dtype="float64").fit(XOR_X, XOR_Y)
    np.testing.assert_allclose(clf.coef_, 0, atol=1e-9)
    np.testing.assert_allclose(clf.predict_proba(XOR_X)[:, 1], 0.5, atol=1e-9)
    assert clf.score(XOR_X, XOR_Y) <= 0.75
    for rate in (0.1, 1.0, 10.0):
        assert LogisticRegression(learning_rate=rate, max_iter=2000).fit(XOR_X, XOR_Y).score(XOR_X, XOR_Y) <= 0.75


def test_summary_counts_parameters_as_by_hand():
    net = nn.Sequential([nn.Dense(128), nn.ReLU(), nn.Dense(64), nn.ReLU(), nn.Dense(10), nn.Softmax()],
                        input_shape=(784,))
    by_hand = (784 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10)
    assert by_hand == 109_386 and net.count_params() == by_hand
    text = net.summary(print_fn=None)
    assert "Total params: 109,386" in text
    assert re.search(r"0: Dense\s+\(None, 128\)\s+100,480\s+784·128 weights \+ 128 bias", text)
    assert re.search(r"5: Softmax\s+\(None, 10\)\s+0", text)


def test_dense_layers_choose_he_before_relu_and_glorot_otherwise():
    net = nn.Sequential([nn.Dense(300), nn.ReLU(), nn.Dense(300), nn.Tanh(), nn.Dense(1)], input_shape=(200,),
                        random_state=0)
    he, glorot = net.layers[0].params["weights"], net.layers[2].params["weights"]
    assert net.layers[0].initializer == "he_normal" and net.layers[2].initializer == "glorot_uniform"
    assert he.std() == pytest.approx(np.sqrt(2 / 200), rel=0.05)
    assert glorot.std() == pytest.approx(np.sqrt(2 / 600), rel=0.05)  # U(±√(6/(n+k))) has var 2/(n+k)
    assert net.layers[0].params["bias"].sum() == 0


def test_adam_bias_correction_makes_the_first_step_the_learning_rate():
    """With 1 − βᵗ, m̂ = g and v̂ = g² at t = 1, so every weight moves by α (not α/(1−β))."""
    param = np.zeros(4)
    nn.Adam(learning_rate=0.01).step(param, np.array([3.0, -0.5, 1e-3, -20.0]))
    np.testing.assert_allclose(param, [-0.01, 0.01, -0.01, 0.01], rtol=1e-4)


def test_sgd_momentum_and_nesterov_follow_their_formulas():
    grads = [np.array([1.0]), np.array([2.0]), np.array([-1.0])]
    for nesterov in (False, True):
        param, velocity, expected = np.zeros(1), 0.0, 0.0
        optimizer = nn.SGD(0.1, momentum=0.5, nesterov=nesterov)
        for g in grads:
            optimizer.step(param, g)
            velocity = 0.5 * velocity + g[0]
            expected -= 0.1 * (g[0] + 0.5 * velocity if nesterov else velocity)
        assert param[0] == pytest.approx(expected)


def test_weight_decay_shrinks_weights_but_not_biases():
    net = nn.Sequential([nn.Dense(3)], input_shape=(1,), dtype="float64")
    parameters, gradients, mask = net.flat_parameters()
    parameters[:], gradients[:] = 1.0, 0.0
    nn.L2(0.5).add_gradient(parameters, gradients, mask, batch_size=1)
    nn.SGD(0.1).step(parameters, gradients)
    np.testing.assert_allclose(net.layers[0].params["weights"], 0.95)
    np.testing.assert_allclose(net.layers[0].params["bias"], 1.0)


@pytest.fixture(scope="module")
def digits_flat(digits_split):
    """The digits split with one row of 64 pixels per sample, for Dense networks."""
    X_train, X_test, y_train, y_test = digits_split
    return X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1), y_train, y_test


def test_mlp_reads_digits_to_97_percent(digits_flat):
    X_train, X_test, y_train, y_test = digits_flat
    clf = MLPClassifier(max_iter=100, batch_size=32, random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.97
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 10
    np.testing.assert_allclose(clf.predict_proba(X_test).sum(axis=1), 1.0, rtol=1e-6)  # float32, as X


def test_mlp_reads_mnist_5k_as_well_as_scikit_learn_in_20_epochs():
    data = datasets.load("mnist-5k")
    assert data.X.shape == (5000, 1, 28, 28) and 0 <= data.X.min() and data.X.max() <= 1
    X_train, X_test, y_train, y_test = train_test_split(data.flat, data.y, train_size=4000, test_size=1000,
                                                        random_state=0, stratify=data.y)
    clf = MLPClassifier((128, 64), solver="sgd", learning_rate_init=0.1, momentum=0.9, batch_size=64, max_iter=20,
                        tol=0, random_state=0).fit(X_train, y_train)
    assert clf.n_iter_ == 20
    assert clf.score(X_test, y_test) >= 0.94  # scikit-learn's MLPClassifier, same settings, seeds 0-2: 0.935-0.951


def test_binary_mlp_uses_one_sigmoid_output(breast_cancer_split):
    X_train, X_test, y_train, y_test = breast_cancer_split
    clf = MLPClassifier((16,), max_iter=100, random_state=0).fit(X_train, y_train)
    assert isinstance(clf.network_.layers[-1], nn.Sigmoid) and clf.network_.output_shape == (1,)
    assert clf.network_.predict_logits(X_test).shape == (len(X_test), 1)
    assert clf.score(X_test, y_test) >= 0.94


def test_history_holds_train_and_validation_metrics_per_epoch(digits_flat):
    X_train, _, y_train, _ = digits_flat
    clf = MLPClassifier((32,), learning_rate_init=0.01, max_iter=5, tol=0, early_stopping=True,
                        random_state=0).fit(X_train, y_train)
    history = clf.history_.history
    assert set(history) == {"loss", "accuracy"} and all(len(values) == 5 for values in history.values())
    assert len(clf.validation_scores_) == 5 and clf.validation_scores_[-1] > 0.8  # scikit-learn's record
    X_val, y_val = digits_flat[1], digits_flat[3]
    clf = MLPClassifier((32,), learning_rate_init=0.01, max_iter=5, tol=0, random_state=0).fit(
        X_train, y_train, validation_data=(X_val, y_val))
    assert set(clf.history_.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_early_stopping_restores_the_best_weights(digits_flat):
    X_train, X_test, y_train, y_test = digits_flat
    net = nn.Sequential([nn.Dense(64), nn.ReLU(), nn.Dense(10), nn.Softmax()], random_state=0)
    stop = nn.EarlyStopping(monitor="val_loss", patience=2)
    history = net.fit(X_train, y_train, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.05), epochs=200,
                      batch_size=32, validation_data=(X_test, y_test), callbacks=[stop], random_state=0)
    assert len(history.epoch) < 200
    best = int(np.argmin(history["val_loss"]))
    assert stop.best_epoch == best and len(history.epoch) == best + 1 + 2
    logits = net.logits(X_test.astype(np.float32))
    assert nn.CrossEntropy()(logits, y_test) == pytest.approx(history["val_loss"][best], rel=1e-5)


def test_learning_rate_schedule_sets_the_rate_each_epoch(digits_flat):
    X_train, _, y_train, _ = digits_flat
    net = nn.Sequential([nn.Dense(10), nn.Softmax()], random_state=0)
    optimizer = nn.SGD(0.1)
    seen = []

    class Spy(nn.Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append(self.trainer.optimizer.learning_rate)

    net.fit(X_train, y_train, loss=nn.CrossEntropy(), optimizer=optimizer, epochs=3,
            callbacks=[nn.LearningRateScheduler(lambda epoch, rate: 0.1 * 0.5**epoch), Spy()])
    assert seen == [0.1, 0.05, 0.025]


def test_verbose_prints_scikit_learns_epoch_lines_or_a_progress_bar(digits_flat, capsys, terminal):
    X_train, _, y_train, _ = digits_flat
    MLPClassifier((8,), max_iter=2, tol=0, verbose=1, random_state=0).fit(X_train, y_train)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and re.fullmatch(r"Iteration 2, loss = \d+\.\d{8}", lines[1])
    MLPClassifier((8,), max_iter=2, tol=0, verbose="progress", random_state=0).fit(X_train, y_train)
    shown = capsys.readouterr()
    assert re.search(r"epoch 2/2: 100%\|.*\| 12/12 .*loss \(epoch mean\)=", shown.err) and shown.out == ""


def test_dropout_is_active_only_in_training():
    layer = nn.Dropout(0.5)
    layer.rng = np.random.default_rng(0)
    x = np.ones((1000, 10), dtype=np.float32)
    np.testing.assert_array_equal(layer.forward(x), x)
    dropped = layer.forward(x, training=True)
    assert set(np.unique(dropped)) == {0.0, 2.0}
    assert dropped.mean() == pytest.approx(1.0, abs=0.05)


def test_mean_squared_error_trains_a_regression_network():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(256, 1))
    y = np.sin(X)
    net = nn.Sequential([nn.Dense(32), nn.Tanh(), nn.Dense(1)], random_state=0)
    history = net.fit(X, y, loss=nn.MeanSquaredError(), optimizer=nn.Adam(0.01), epochs=200, batch_size=32,
                      random_state=0)
    assert "accuracy" not in history.history
    assert history["loss"][-1] < 0.01 < history["loss"][0]


def test_mismatched_loss_and_output_layer_is_a_clear_error():
    net = nn.Sequential([nn.Dense(3), nn.Softmax()], input_shape=(2,))
    with pytest.raises(ValueError, match="ends in Softmax.*BinaryCrossEntropy"):
        net.fit(XOR_X, XOR_Y, loss=nn.BinaryCrossEntropy(), optimizer=nn.SGD(0.1), epochs=1)


def test_wrong_input_shape_for_a_built_network_is_a_clear_error():
    net = nn.Sequential([nn.Dense(3)], input_shape=(2,))
    with pytest.raises(ValueError, match=r"expects samples shaped \(2,\), got \(5,\)"):
        net.predict(np.ones((4, 5)))


@pytest.mark.parametrize("settings, message", [
    ({"max_iter": None}, "'max_iter' parameter of MLPClassifier must be an int"), ({"max_iter": 2.5}, "max_iter"),
    ({"batch_size": 0}, "batch_size"), ({"learning_rate": float("nan")}, "learning_rate"),
    ({"hidden_layer_sizes": (8, -1)}, "hidden_layer_sizes"), ({"activation": "swish"}, "activation"),
    ({"solver": "rmsprop"}, "'solver' parameter of MLPClassifier must be a str among"), ({"dropout": 1.0}, "dropout"), ({"alpha": -1}, "alpha"),
    ({"learning_rate": "step"}, "learning_rate"), ({"dtype": "int8"}, "dtype"),
])
def test_bad_hyperparameters_are_value_errors_that_name_them(settings, message):
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**settings).fit(XOR_X, XOR_Y)


def test_a_network_ending_in_an_output_activation_trains_only_with_the_loss_of_its_probabilities():
    net = nn.Sequential([nn.Dense(2), nn.Sigmoid()], input_shape=(2,))
    with pytest.raises(ValueError, match="ends in Sigmoid, which MeanSquaredError does not take"):
        net.fit(XOR_X, XOR_Y, loss=nn.MeanSquaredError(), optimizer=nn.SGD(0.1), epochs=1)
    with pytest.raises(ValueError, match="ends in Sigmoid, which CrossEntropy does not take"):
        net.fit(XOR_X, XOR_Y, loss=nn.CrossEntropy(), optimizer=nn.SGD(0.1), epochs=1)


def test_the_network_exposes_its_logits_and_its_output_activation_is_the_link():
    net = nn.Sequential([nn.Dense(3), nn.Softmax()], input_shape=(2,), dtype="float64", random_state=0)
    x = np.array([[0.5, -1.0], [2.0, 0.1]])
    assert isinstance(net.output_activation, nn.Softmax)
    z = net.logits(x)
    np.testing.assert_allclose(net.forward(x), np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(net.predict_logits(x, batch_size=1), z, rtol=1e-12)


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Adam(learning_rate=-1), "The 'learning_rate' parameter of Adam must be a float in the range (0.0, inf)"),
    (lambda: nn.SGD(0.1, momentum=1.5), "The 'momentum' parameter of SGD must be a float in the range [0.0, 1.0]"),
    (lambda: nn.Sequential([nn.Dense(1)]).fit(XOR_X, XOR_Y, loss=nn.MeanSquaredError(), optimizer=nn.SGD(),
                                              epochs=0), "The 'epochs' parameter of fit must be an int"),
])
def test_optimizers_and_the_loop_validate_like_the_estimators(make, message):
    with pytest.raises(neuronet.InvalidParameterError) as error:
        make()
    assert message in str(error.value)


def test_the_progress_bar_of_a_resumed_run_starts_where_the_run_stopped(terminal):
    from neuronet.callbacks import ProgressBar
    from neuronet.training import Trainer

    net = nn.Sequential([nn.Dense(2)], input_shape=(2,))
    trainer = Trainer(net, nn.MeanSquaredError(), nn.SGD(), epochs=5, batch_size=2, callbacks=[ProgressBar()])
    trainer.batches_per_epoch, trainer.epoch, trainer.position = 4, 2, {"batch": 1}  # as a checkpoint restores
    bar = trainer.callbacks[0]
    bar.trainer = trainer
    bar.on_train_begin()
    trainer.position["batch"] += 1  # the loop counts the minibatch, then tells the callbacks
    bar.on_batch_end(1, {"loss": 0.5})
    assert (bar.bar.n, bar.bar.total) == (2 * 4 + 2, 5 * 4)
    bar.on_train_end()


def test_a_checkpoint_runs_after_every_other_callback_and_the_logger_sees_the_stop(tmp_path, capsys):
    from neuronet.training import Trainer

    checkpoint, stop = nn.Checkpoint(tmp_path / "run.ckpt"), nn.EarlyStopping("loss", patience=1, min_delta=10.0)
    net = nn.Sequential([nn.Dense(1)], input_shape=(2,))
    trainer = Trainer(net, nn.MeanSquaredError(), nn.SGD(0.01), epochs=50, batch_size=4,
                      callbacks=[checkpoint, stop])
    assert trainer.callbacks == [stop, checkpoint]
    nn.fit(net, XOR_X, XOR_Y[:, None], loss=nn.MeanSquaredError(), optimizer=nn.SGD(0.01), epochs=50, verbose=2,
           print_every=100, callbacks=[stop])
    assert "iteration 2/50" in capsys.readouterr().out  # the step where early stopping ended the run is logged
