"""Sequences: Embedding, RNN, LSTM and GRU.

Their gradients match finite differences and PyTorch's (float64, the same weights);
they save, load, resume and export to ONNX; their parameters are counted by hand;
and networks of them learn (rows of MNIST digits read top to bottom, and a task that
needs a memory of the first step).
"""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

import neuronet
from neuronet import datasets, nn
from neuronet.gradcheck import check_layer, check_network, numerical_gradient, relative_error

from invariance import batch_invariant_outputs

RECURRENT = (nn.RNN, nn.LSTM, nn.GRU)
STEPS, FEATURES, UNITS = 5, 3, 4


def built(layer, input_shape, seed=0, dtype=np.float64):
    """``layer`` built for ``input_shape``, every parameter drawn at random (biases too)."""
    rng = np.random.default_rng(seed)
    layer.build(input_shape, rng, dtype)
    for param in layer.params.values():
        param[...] = rng.normal(0, 0.5, param.shape)
    return layer


# --- finite differences -----------------------------------------------------------------------
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_gradients_match_finite_differences(cls, return_sequences):
    layer = built(cls(UNITS, return_sequences=return_sequences), (STEPS, FEATURES))
    x = np.random.default_rng(1).normal(size=(2, STEPS, FEATURES))
    errors = check_layer(layer, x)
    assert set(errors) == {"input", *layer.params}
    assert max(errors.values()) < 1e-7, errors


def test_embedding_gradient_matches_finite_differences_and_the_ids_get_none():
    layer = built(nn.Embedding(6, 3), (4,))
    ids = np.array([[0, 2, 2, 5], [5, 1, 2, 0]])
    projection = np.random.default_rng(2).normal(size=(2, 4, 3))
    layer.forward(ids)
    assert np.array_equal(layer.backward(projection), np.zeros((2, 4)))  # asked for, ∂L/∂ids is zero
    assert layer.backward(projection, input_grad=False) is None  # what a network asks of its first layer
    numeric = numerical_gradient(lambda: float(np.sum(layer.forward(ids) * projection)), layer.params["weights"])
    assert relative_error(layer.grads["weights"], numeric) < 1e-8
    assert np.all(layer.grads["weights"][[3, 4]] == 0)  # ids the batch does not use


def test_a_network_of_embedding_and_recurrent_layers_has_every_gradient_right():
    rng = np.random.default_rng(3)
    network = nn.Sequential([nn.Embedding(7, 3), nn.LSTM(4, return_sequences=True), nn.GRU(3, return_sequences=True),
                             nn.RNN(4), nn.Dense(3), nn.Softmax()], input_shape=(5,), dtype="float64", random_state=0)
    for param in network.parameters():
        param[...] = rng.normal(0, 0.5, param.shape)
    ids = rng.integers(0, 7, (4, 5))
    errors = check_network(network, ids, rng.integers(0, 3, 4), nn.CrossEntropy())
    assert max(errors.values()) < 1e-7, errors


def test_a_trace_of_a_network_that_starts_with_an_embedding_shows_zeros_for_the_ids():
    network = nn.Sequential([nn.Embedding(10, 4), nn.LSTM(5), nn.Dense(3), nn.Softmax()], input_shape=(6,),
                            dtype="float64", random_state=0)
    steps = network.trace(np.array([1, 2, 3, 4, 5, 6]), [1], nn.CrossEntropy())
    assert [layer.name for layer in steps.layers] == ["Embedding", "LSTM", "Dense", "Softmax"]
    assert not np.any(steps.layers[0].grad_input)
    assert np.any(steps.layers[0].gradients["weights"][1:7]) and not np.any(steps.layers[0].gradients["weights"][[0, 7]])


# --- PyTorch parity ---------------------------------------------------------------------------
def _torch_and_ours(cls, return_sequences, seed=0):
    """A PyTorch layer with random weights and biases, and ours with the same numbers:
    weights transposed, PyTorch's two biases summed where they add."""
    torch = pytest.importorskip("torch", reason="the PyTorch parity tests need torch: pip install torch==2.13.0")
    torch.manual_seed(seed)
    theirs = getattr(torch.nn, cls.__name__)(FEATURES, UNITS, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for param in theirs.parameters():
            param.uniform_(-0.8, 0.8)
    ours = cls(UNITS, return_sequences=return_sequences)
    ours.build((STEPS, FEATURES), None, np.float64)
    weights = {name: param.detach().numpy() for name, param in theirs.named_parameters()}
    ours.params["weights"][...] = weights["weight_ih_l0"].T
    ours.params["recurrent_weights"][...] = weights["weight_hh_l0"].T
    bias = weights["bias_ih_l0"] + weights["bias_hh_l0"]
    if cls is nn.GRU:  # b_in and b_hn stay apart: b_hn sits inside the reset gate's product
        bias[2 * UNITS :] = weights["bias_ih_l0"][2 * UNITS :]
        ours.params["recurrent_bias"][...] = weights["bias_hh_l0"][2 * UNITS :]
    ours.params["bias"][...] = bias
    return torch, theirs, ours


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_layers_match_pytorch_in_float64(cls, return_sequences):
    torch, theirs, ours = _torch_and_ours(cls, return_sequences)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, STEPS, FEATURES))
    x_torch = torch.tensor(x, requires_grad=True)
    sequence, final = theirs(x_torch)
    final = final if isinstance(final, tuple) else (final,)  # (h_T, c_T) for an LSTM
    output_torch = sequence if return_sequences else final[0][0]
    output = ours.forward(x)
    close = dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(output, output_torch.detach().numpy(), **close)
    for state, state_torch in zip(ours.final_state, final, strict=True):
        np.testing.assert_allclose(state, state_torch[0].detach().numpy(), **close)

    grad_out = rng.normal(size=output.shape)
    output_torch.backward(torch.tensor(grad_out))
    np.testing.assert_allclose(ours.backward(grad_out), x_torch.grad.numpy(), **close)
    grads = {name: param.grad.numpy() for name, param in theirs.named_parameters()}
    np.testing.assert_allclose(ours.grads["weights"], grads["weight_ih_l0"].T, **close)
    np.testing.assert_allclose(ours.grads["recurrent_weights"], grads["weight_hh_l0"].T, **close)
    np.testing.assert_allclose(ours.grads["bias"], grads["bias_ih_l0"], **close)  # b moves as b_ih does
    if cls is nn.GRU:
        np.testing.assert_allclose(ours.grads["recurrent_bias"], grads["bias_hh_l0"][2 * UNITS :], **close)
    else:
        np.testing.assert_allclose(ours.grads["bias"], grads["bias_hh_l0"], **close)  # and as b_hh does


def test_embedding_matches_pytorch_in_float64():
    torch = pytest.importorskip("torch", reason="the PyTorch parity tests need torch: pip install torch==2.13.0")
    theirs = torch.nn.Embedding(9, 4, dtype=torch.float64)
    ours = nn.Embedding(9, 4)
    ours.build((6,), None, np.float64)
    ours.params["weights"][...] = theirs.weight.detach().numpy()
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 9, (3, 6))
    output_torch = theirs(torch.tensor(ids))
    output = ours.forward(ids.astype(np.float64))  # as fit and predict hand it over
    np.testing.assert_allclose(output, output_torch.detach().numpy(), rtol=1e-10, atol=1e-12)
    grad_out = rng.normal(size=output.shape)
    output_torch.backward(torch.tensor(grad_out))
    ours.backward(grad_out, input_grad=False)
    np.testing.assert_allclose(ours.grads["weights"], theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)


# --- initial weights, shapes, errors ------------------------------------------------------------
def test_recurrent_weights_start_orthogonal_gate_by_gate_and_the_lstm_remembers_at_the_start():
    layer = nn.LSTM(6)
    layer.build((4, 3), np.random.default_rng(0), np.float64)
    for gate in range(4):
        block = layer.params["recurrent_weights"][:, gate * 6 : (gate + 1) * 6]
        np.testing.assert_allclose(block.T @ block, np.eye(6), atol=1e-12)
    np.testing.assert_array_equal(layer.params["bias"], np.repeat([0.0, 1.0, 0.0, 0.0], 6))  # forget gate at 1
    limit = np.sqrt(6 / (3 + 24))
    assert np.abs(layer.params["weights"]).max() <= limit


@pytest.mark.parametrize("cls", RECURRENT)
def test_outputs_are_the_last_state_or_every_state_in_the_networks_dtype(cls):
    x = np.random.default_rng(0).normal(size=(2, 7, 3))
    last = nn.Sequential([cls(5)], input_shape=(7, 3), random_state=0)
    every = nn.Sequential([cls(5, return_sequences=True)], input_shape=(7, 3), random_state=0)
    assert last.output_shape == (5,) and every.output_shape == (7, 5)
    sequence = every.forward(x.astype(np.float32))
    assert sequence.dtype == np.float32 and sequence.shape == (2, 7, 5)
    np.testing.assert_array_equal(last.forward(x.astype(np.float32)), sequence[:, -1])


@pytest.mark.parametrize("make, message", [
    (lambda: nn.LSTM(0), "units"),
    (lambda: nn.GRU(3, return_sequences="yes"), "return_sequences"),
    (lambda: nn.Embedding(0, 4), "vocabulary"),
    (lambda: nn.Sequential([nn.LSTM(3)], input_shape=(12,)), r"expects sequences shaped \(steps, features\)"),
])
def test_bad_arguments_and_shapes_are_refused_in_one_line(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_batch_of_the_wrong_shape_and_ids_outside_the_vocabulary_are_refused():
    network = nn.Sequential([nn.Embedding(5, 2), nn.RNN(3)], input_shape=(4,), random_state=0)
    with pytest.raises(ValueError, match=r"ids must lie in 0 … 4 \(vocabulary=5\), got 0 … 5"):
        network.forward(np.array([[0, 1, 2, 5]]))
    with pytest.raises(ValueError, match="not whole numbers"):
        network.forward(np.array([[0, 1.5, 2, 3]]))
    layer = network.layers[1]
    with pytest.raises(ValueError, match=r"RNN expects a batch of sequences shaped \(samples, 4, 2\), got \(1, 3, 2\)"):
        layer.forward(np.zeros((1, 3, 2), np.float32))


# --- parameter counts ---------------------------------------------------------------------------
def test_the_summary_counts_each_layers_parameters_as_by_hand():
    network = nn.Sequential([nn.Embedding(1000, 16), nn.LSTM(128, return_sequences=True), nn.GRU(64),
                             nn.Dense(10), nn.Softmax()], input_shape=(28,))
    embedding = 1000 * 16
    lstm = 4 * 128 * (16 + 128 + 1)  # 4 gates, each a neuron layer over [x, h] with one bias
    gru = 3 * 64 * (128 + 64 + 1) + 64  # 3 gates, and the candidate's recurrent bias b_hn
    dense = 64 * 10 + 10
    assert [layer.count_params() for layer in network.layers] == [embedding, lstm, gru, dense, 0]
    assert (embedding, lstm, gru) == (16_000, 74_240, 37_120)
    text = network.summary(print_fn=None)
    assert f"Total params: {embedding + lstm + gru + dense:,}" in text
    assert "16·512 weights + 128·512 recurrent_weights + 512 bias" in text
    assert "(None, 28, 128)" in text and "(None, 28, 16)" in text


def test_the_counts_are_pytorchs_less_the_biases_that_are_sums_of_others():
    torch = pytest.importorskip("torch", reason="the PyTorch parity tests need torch: pip install torch==2.13.0")
    for cls, merged in ((nn.RNN, 1), (nn.LSTM, 4), (nn.GRU, 2)):  # RNN: b; LSTM: four gates; GRU: b_r, b_z
        theirs = sum(p.numel() for p in getattr(torch.nn, cls.__name__)(28, 128, batch_first=True).parameters())
        ours = nn.Sequential([cls(128)], input_shape=(28, 28)).count_params()
        assert ours == theirs - merged * 128


# --- files ----------------------------------------------------------------------------------------
def _sequence_network():
    return nn.Sequential([nn.Embedding(12, 4), nn.LSTM(6, return_sequences=True, forget_bias=0.5),
                          nn.GRU(5, return_sequences=True), nn.RNN(4), nn.Dense(3), nn.Softmax()],
                         input_shape=(7,), random_state=0)


def _memory_task(samples=300, steps=7, vocabulary=12, classes=3, seed=0):
    """Sequences of ids whose class is their first id (mod ``classes``): the network has
    to carry the first step to the last."""
    ids = np.random.default_rng(seed).integers(0, vocabulary, (samples, steps))
    return ids, ids[:, 0] % classes


def test_a_network_of_sequence_layers_saves_and_loads(tmp_path):
    network = _sequence_network()
    ids, labels = _memory_task(60)
    network.fit(ids, labels, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=1, random_state=0)
    neuronet.save(network, tmp_path / "sequences.nn")
    loaded = neuronet.load(tmp_path / "sequences.nn")
    assert loaded.get_config() == network.get_config()
    assert loaded.get_config()["layers"][1] == {"class": "LSTM", "config": {"units": 6, "return_sequences": True,
                                                                           "forget_bias": 0.5}}
    np.testing.assert_array_equal(loaded.predict(ids), network.predict(ids))


def test_a_run_of_sequence_layers_resumes_exactly_from_its_checkpoint(tmp_path):
    ids, labels = _memory_task(90)

    def trained(epochs, callbacks=()):
        network = _sequence_network()
        network.fit(ids, labels, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=epochs, batch_size=16,
                    callbacks=list(callbacks), random_state=0)
        return network

    trained(2, [nn.Checkpoint(tmp_path / "run.ckpt")])
    resumed = trained(4, [nn.Checkpoint(tmp_path / "run.ckpt", resume=True)])
    straight = trained(4)
    for key, array in straight.get_weights().items():
        np.testing.assert_array_equal(resumed.get_weights()[key], array)


def test_a_pickled_recurrent_layer_keeps_nothing_of_the_batch():
    import pickle

    network = _sequence_network()
    network.forward(_memory_task(5)[0], training=True)
    restored = pickle.loads(pickle.dumps(network))
    for layer in restored.layers:
        assert not any(name in layer.__dict__ for name in layer.cache)


# --- ONNX -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, sample", [
    (_sequence_network, (7,)),
    (lambda: nn.Sequential([nn.LSTM(5, return_sequences=True), nn.LSTM(4), nn.Dense(2), nn.Sigmoid()],
                           input_shape=(6, 3), random_state=1), (6, 3)),
    (lambda: nn.Sequential([nn.GRU(5)], input_shape=(6, 3), random_state=2), (6, 3)),
    (lambda: nn.Sequential([nn.RNN(5, return_sequences=True)], input_shape=(6, 3), random_state=3), (6, 3)),
])
def test_sequence_networks_give_neuronets_outputs_in_onnx_runtime(make, sample):
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from neuronet.export import to_onnx

    network = make()
    rng = np.random.default_rng(0)
    for param in network.parameters():  # biases too, not only the initial zeros
        param[...] = rng.normal(0, 0.5, param.shape)
    if len(sample) == 1:
        X = rng.integers(0, 12, (4, *sample)).astype(np.float32)
    else:
        X = rng.normal(size=(4, *sample)).astype(np.float32)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(to_onnx(network).SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    output = session.run(None, {"X": X})[0]
    assert output.shape == (4, *network.output_shape)
    assert np.abs(output - network.predict(X)).max() <= 1e-5


# --- learning -------------------------------------------------------------------------------------
def test_an_lstm_reading_mnist_rows_top_to_bottom_learns_the_digits():
    digits = datasets.load("mnist-5k")
    rows = digits.X.reshape(-1, 28, 28) / digits.X.max()  # 28 steps of 28 pixels
    X_train, X_test, y_train, y_test = train_test_split(rows, digits.y, train_size=4000, test_size=1000,
                                                        random_state=0, stratify=digits.y)
    network = nn.Sequential([nn.LSTM(64), nn.Dense(10), nn.Softmax()], input_shape=(28, 28), random_state=0)
    network.fit(X_train, y_train, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=3, batch_size=32,
                random_state=0)
    accuracy = np.mean(network.predict(X_test).argmax(axis=1) == y_test)
    assert accuracy >= 0.85, accuracy


@pytest.mark.parametrize("cls", RECURRENT)
def test_embedding_and_a_recurrent_layer_remember_the_first_id_to_the_last_step(cls):
    ids, labels = _memory_task(1200, steps=8, vocabulary=10, classes=10, seed=1)
    network = nn.Sequential([nn.Embedding(10, 8), cls(32), nn.Dense(10), nn.Softmax()], input_shape=(8,),
                            random_state=0)
    network.fit(ids[:1000], labels[:1000], loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=8,
                batch_size=32, random_state=0)
    accuracy = np.mean(network.predict(ids[1000:]).argmax(axis=1) == labels[1000:])
    assert accuracy >= 0.95, accuracy


def test_the_readmes_sequence_example_runs_and_counts_as_it_says(capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    example, = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "nn.LSTM(64)" in block]
    exec(example, {})
    assert "0: LSTM       (None, 64)    23,808" in capsys.readouterr().out
    assert "= 23,808" in example and 4 * 64 * (28 + 64 + 1) == 23_808


@pytest.mark.parametrize("cls", RECURRENT)
def test_an_output_is_the_callers_even_for_one_sequence(cls):
    """The layer reuses its workspace from batch to batch; what it returns is never part
    of it (for one sample, every state of the sequence was once a view of it)."""
    layer = built(cls(UNITS, return_sequences=True), (STEPS, FEATURES))
    x = np.random.default_rng(0).standard_normal((2, STEPS, FEATURES))
    first = layer.forward(x[:1])
    kept = first.copy()
    layer.forward(x[1:])
    np.testing.assert_array_equal(first, kept)


@pytest.mark.parametrize("cls", RECURRENT)
def test_batch_invariant_prediction_gives_each_sequence_the_same_numbers_in_any_batch(cls):
    """In float32 a recurrent layer's products over a batch round a sample's numbers by
    where it sits in the batch; predict_batch_invariant reads each sequence alone."""
    net = nn.Sequential([cls(12, return_sequences=True), cls(8), nn.Dense(3), nn.Softmax()], input_shape=(6, 5),
                        random_state=0)
    X = np.random.default_rng(0).standard_normal((29, 6, 5)).astype(np.float32)
    whole = batch_invariant_outputs(net, X)
    assert whole.shape == (29, 3) and whole.dtype == np.float32
    np.testing.assert_allclose(whole, net.predict(X), rtol=1e-5, atol=1e-6)
