"""SequenceClassifier: recurrent cells behind the MLP's scikit-learn interface.

It learns a task that needs memory, saves and loads, exports to ONNX, and refuses
input of the wrong shape in one line. scikit-learn's own estimator checks run in
tests/test_sklearn_conventions.py."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import neuronet
from neuronet import SequenceClassifier, nn

TRANSFORMER = "transformer"


def first_step_task(n=400, steps=8, features=3, seed=0):
    """Sequences whose class is the sign of the first feature at the first step: the
    recurrent state must carry it through every later step (noise) to the end."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, steps, features)).astype(np.float32)
    return X, np.where(X[:, 0, 0] > 0, "up", "down")


def quiet_fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


@pytest.fixture(scope="module")
def fitted_lstm():
    X, y = first_step_task()
    return quiet_fit(SequenceClassifier(units=16, batch_size=32, learning_rate_init=0.01, max_iter=40, random_state=0),
                     X, y), X, y


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", TRANSFORMER])
def test_each_cell_remembers_the_first_step_to_the_end(cell):
    """The first of 8 steps decides the class: each cell reaches 95 % on unseen sequences."""
    X, y = first_step_task()
    X_test, y_test = first_step_task(200, seed=1)
    model = quiet_fit(SequenceClassifier(cell=cell, units=16, batch_size=32, learning_rate_init=0.01, max_iter=40,
                                         random_state=0), X, y)
    if cell != "transformer":
        assert type(model.network_.layers[0]) is {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
    assert model.score(X_test, y_test) >= 0.95
    assert set(model.predict(X_test)) <= {"up", "down"}
    probabilities = model.predict_proba(X_test)
    assert probabilities.shape == (200, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-6)


def test_the_network_stacks_cells_and_the_dense_head_and_counts_its_parameters():
    X, y = first_step_task(60)
    model = quiet_fit(SequenceClassifier(units=6, num_layers=2, hidden_layer_sizes=(5,), max_iter=1,
                                         random_state=0), X, y)
    first, second, dropped, hidden, _, dropped_hidden, output, head = model.network_.layers
    assert (first.return_sequences, second.return_sequences) == (True, False)
    assert (hidden.units, output.units, type(head)) == (5, 1, nn.Sigmoid)
    assert dropped.rate == dropped_hidden.rate == 0.2  # the default dropout: on h_T, and after the hidden layer
    lstm = lambda features, units: 4 * units * (features + units + 1)  # noqa: E731  four gates
    expected = lstm(3, 6) + lstm(6, 6) + (6 * 5 + 5) + (5 * 1 + 1)
    assert model.network_.count_params() == expected
    lines = []
    model.summary(print_fn=lines.append)
    assert f"{expected:,}" in "\n".join(lines)


def test_flat_rows_are_read_as_n_steps_steps_or_one_value_a_step():
    X, y = first_step_task(60)
    flat = X.reshape(len(X), -1)
    by_steps = quiet_fit(SequenceClassifier(units=4, n_steps=8, max_iter=1, random_state=0), flat, y)
    assert by_steps.network_.input_shape == (8, 3)
    sequences = quiet_fit(SequenceClassifier(units=4, max_iter=1, random_state=0), X, y)
    np.testing.assert_array_equal(by_steps.predict_proba(flat), sequences.predict_proba(X))  # the same reading
    one_value = quiet_fit(SequenceClassifier(units=4, max_iter=1, random_state=0), flat, y)
    assert one_value.network_.input_shape == (24, 1)


def test_dtype_follows_X_and_partial_fit_continues():
    X, y = first_step_task(60)
    assert quiet_fit(SequenceClassifier(units=4, max_iter=1), X, y).network_.dtype == np.float32
    assert quiet_fit(SequenceClassifier(units=4, max_iter=1), X.astype(np.float64), y).network_.dtype == np.float64
    model = SequenceClassifier(units=4, random_state=0).partial_fit(X, y, classes=["down", "up"])
    before = model.network_.flat_parameters()[0].copy()
    model.partial_fit(X, y)
    assert model.n_iter_ == 1 and not np.array_equal(before, model.network_.flat_parameters()[0])


def test_clip_norm_reaches_the_optimizer():
    X, y = first_step_task(60)
    model = quiet_fit(SequenceClassifier(units=4, max_iter=1, clip_norm=0.5, random_state=0), X, y)
    assert model._optimizer_state.clip_norm == 0.5
    assert quiet_fit(SequenceClassifier(units=4, max_iter=1, clip_norm=None), X, y)._optimizer_state.clip_norm is None


def test_early_stopping_keeps_the_best_validated_weights():
    X, y = first_step_task(200)
    model = quiet_fit(SequenceClassifier(units=8, max_iter=6, early_stopping=True, random_state=0), X, y)
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)


@pytest.mark.parametrize("X, message", [
    (np.zeros((10, 2, 3, 4)), r"reads X shaped \(samples, steps, features\).*got X of 4 dimensions"),
])
def test_fit_refuses_x_of_another_shape_in_one_line(X, message):
    with pytest.raises(ValueError, match=message) as caught:
        SequenceClassifier(units=4, max_iter=1).fit(X, np.arange(10) % 2)
    assert "\n" not in str(caught.value)


def test_n_steps_that_do_not_fit_are_refused_in_one_line():
    X, y = first_step_task(20)
    for model, data, message in [(SequenceClassifier(n_steps=5), X.reshape(20, -1), "n_steps=5 does not divide the 24"),
                                 (SequenceClassifier(n_steps=4), X, "n_steps=4 does not fit X of 8 steps")]:
        with pytest.raises(ValueError, match=message) as caught:
            model.fit(data, y)
        assert "\n" not in str(caught.value)


def test_prediction_refuses_sequences_of_another_shape_in_one_line(fitted_lstm):
    model, X, _ = fitted_lstm
    with pytest.raises(ValueError, match=r"fitted on sequences of 8 steps of 3 features") as caught:
        model.predict(np.zeros((2, 8, 4), dtype=np.float32))
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="expecting 8 features"):  # scikit-learn's check of the steps
        model.predict(np.zeros((2, 7, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="fitted on sequences") as caught:
        model.partial_fit(np.zeros((2, 8, 4), dtype=np.float32), ["up", "down"])


def test_the_transformer_cell_is_built_by_one_function():
    from neuronet.estimators.sequence import transformer_layers

    X, y = first_step_task(40)
    if not hasattr(nn, "TransformerEncoderBlock"):
        with pytest.raises(ValueError, match="cell='transformer' needs the attention layers") as caught:
            SequenceClassifier(cell="transformer", units=8, max_iter=1).fit(X, y)
        assert "\n" not in str(caught.value)
        return
    with pytest.raises(ValueError, match="multiple of heads"):
        transformer_layers(10, 1, 4, 0.0)
    model = quiet_fit(SequenceClassifier(cell="transformer", units=8, heads=2, max_iter=2, random_state=0), X, y)
    assert [type(layer).__name__ for layer in model.network_.layers] == [
        "TimeDistributed", "PositionalEncoding", "TransformerEncoderBlock", "TransformerEncoderBlock", "LayerNorm",
        "GlobalAveragePooling1D", "Dropout", "Dense", "Sigmoid"]


@pytest.mark.parametrize("cell, units, num_layers, alpha", [("lstm", 128, 1, 0.0), ("gru", 128, 1, 0.0),
                                                            (TRANSFORMER, 64, 2, 0.003)])
def test_units_num_layers_and_alpha_left_none_are_the_cells_own(cell, units, num_layers, alpha):
    """units=None, num_layers=None, alpha=None: one recurrent layer of 128 units, unpenalised;
    two encoder blocks of width 64 (4 heads of 16, feed-forward width 128), α = 0.003."""
    X, y = first_step_task(20)
    model = quiet_fit(SequenceClassifier(cell=cell, max_iter=1, random_state=0), X, y)
    params = model.get_params()
    assert (params["units"], params["num_layers"], params["alpha"]) == (None, None, None)  # as given
    assert model._penalty().alpha == alpha
    if cell == TRANSFORMER:
        blocks = [layer for layer in model.network_.layers if isinstance(layer, nn.TransformerEncoderBlock)]
        assert model.network_.layers[0].layer.units == units and len(blocks) == num_layers
        assert {(block.heads, block.hidden) for block in blocks} == {(4, 2 * units)}
    else:
        assert [layer.units for layer in model.network_.layers if isinstance(layer, nn.LSTM | nn.GRU)] == [units]
    given = quiet_fit(SequenceClassifier(cell=cell, units=8, num_layers=1, alpha=0.5, heads=2, max_iter=1,
                                         random_state=0), X, y)
    first = given.network_.layers[0]
    assert given._penalty().alpha == 0.5 and (first.layer if cell == TRANSFORMER else first).units == 8


def test_save_and_load_give_the_same_predictions(fitted_lstm, tmp_path):
    model, X, _ = fitted_lstm
    neuronet.save(model, tmp_path / "sequence.neuronet")
    loaded = neuronet.load(tmp_path / "sequence.neuronet")
    assert type(loaded) is SequenceClassifier and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, model.classes_)


def test_a_flat_model_saves_and_loads_with_its_n_steps(tmp_path):
    X, y = first_step_task(60)
    model = quiet_fit(SequenceClassifier(cell="gru", units=4, n_steps=8, num_layers=2, max_iter=2, random_state=0),
                      X.reshape(60, -1), y)
    neuronet.save(model, tmp_path / "gru.neuronet")
    loaded = neuronet.load(tmp_path / "gru.neuronet")
    assert loaded.n_steps == 8 and loaded.network_.input_shape == (8, 3)
    np.testing.assert_array_equal(loaded.predict(X.reshape(60, -1)), model.predict(X.reshape(60, -1)))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", TRANSFORMER])
def test_onnx_runtime_predicts_what_the_estimator_predicts(cell):
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    X, y = first_step_task(120)
    model = quiet_fit(SequenceClassifier(cell=cell, units=8, num_layers=2, max_iter=3, random_state=0), X, y)
    proto = neuronet.to_onnx(model)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(None, {"X": X})
    np.testing.assert_allclose(probabilities, model.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(np.array(model.classes_)[labels] if labels.dtype.kind == "i" else labels,
                                  model.predict(X))


def test_several_labels_a_sample_each_get_their_own_sigmoid():
    """As the MLP's: a 0/1 indicator matrix y trains one sigmoid unit a label."""
    X, _ = first_step_task(300, steps=5)
    Y = np.column_stack([X[:, 0, 0] > 0, X[:, -1, 1] > 0]).astype(int)  # the first step's sign, the last's
    model = quiet_fit(SequenceClassifier(units=8, batch_size=32, learning_rate_init=0.01, max_iter=30,
                                         random_state=0), X, Y)
    assert model.predict(X).shape == (300, 2) and model.predict_proba(X).shape == (300, 2)
    assert (model.predict(X) == Y).mean() >= 0.9


def test_a_model_of_flat_rows_exports_reading_them_as_predict_does():
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    X, y = first_step_task(60, features=1)
    flat = X.reshape(60, -1)
    for model, image_shape in [(SequenceClassifier(units=4, n_steps=4, max_iter=2, random_state=0), None),
                               (SequenceClassifier(units=4, max_iter=2, random_state=0), (8,))]:
        quiet_fit(model, flat, y)
        proto = neuronet.to_onnx(model, image_shape=image_shape)
        session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        _, probabilities = session.run(None, {"X": flat})
        np.testing.assert_allclose(probabilities, model.predict_proba(flat), atol=1e-5)


def test_extreme_finite_values_saturate_the_gates_into_finite_probabilities(fitted_lstm):
    """±1.8e308 at every step: the sigmoid and tanh gates saturate (in float64, where the
    float32 network's overflowing sample is computed again), never a NaN probability."""
    model, X, _ = fitted_lstm
    big = np.finfo(np.float64).max
    extreme = np.concatenate([X[:2].astype(np.float64), np.full((1, 8, 3), big), np.full((1, 8, 3), -big)])
    probabilities = model.predict_proba(extreme)
    assert np.isfinite(probabilities).all() and np.allclose(probabilities.sum(axis=1), 1)
    np.testing.assert_allclose(probabilities[:2], model.predict_proba(X[:2]), atol=1e-6)
