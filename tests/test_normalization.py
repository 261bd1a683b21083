"""BatchNorm and LayerNorm: the derivation checked by finite differences and by PyTorch, their
state (running statistics) saved and restored, exported to ONNX; training and evaluation modes."""

import numpy as np
import pytest

import neuronet
from neuronet import nn
from neuronet.gradcheck import check_layer, check_network
from invariance import batch_invariant_outputs
from test_optimisation import CtrlC

RTOL, ATOL = 1e-10, 1e-12


def built(layer, sample_shape, dtype=np.float64, seed=0):
    """``layer`` built for samples of ``sample_shape``, with γ and β drawn (not 1 and 0)."""
    layer.build(sample_shape, None, np.dtype(dtype))
    rng = np.random.default_rng(seed)
    for name in ("gamma", "beta"):
        layer.params[name][...] = rng.normal(1.0 if name == "gamma" else 0.0, 0.5, size=layer.params[name].shape)
    return layer


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


# --- finite differences ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 4), (3, 2, 5), (3, 2, 4, 5)], ids=["vectors", "sequences", "images"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_batch_norm_gradients_match_finite_differences(shape, training):
    layer = built(nn.BatchNorm(), shape[1:])
    layer.buffers["running_mean"][...] = 0.3
    layer.buffers["running_var"][...] = 2.0
    x = np.random.default_rng(1).normal(1.0, 2.0, size=shape)
    errors = check_layer(layer, x, training=training)
    assert set(errors) == {"input", "gamma", "beta"}
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("shape, dims", [((6, 5), 1), ((3, 2, 4, 5), 1), ((3, 2, 4, 5), 2), ((3, 2, 4, 5), 3)])
def test_layer_norm_gradients_match_finite_differences(shape, dims):
    layer = built(nn.LayerNorm(dims), shape[1:])
    errors = check_layer(layer, np.random.default_rng(1).normal(1.0, 2.0, size=shape))
    assert max(errors.values()) < 1e-7, errors


def test_a_network_with_normalisation_has_the_gradients_of_finite_differences_in_training_mode():
    rng = np.random.default_rng(0)
    net = nn.Sequential([nn.Conv2D(3, 3, padding=1), nn.BatchNorm(), nn.ReLU(), nn.Flatten(), nn.Dense(6),
                         nn.LayerNorm(), nn.Tanh(), nn.Dense(5), nn.BatchNorm(), nn.Dense(3), nn.Softmax()],
                        input_shape=(2, 4, 4), dtype="float64", random_state=0).train()
    errors = check_network(net, rng.normal(size=(7, 2, 4, 4)), rng.integers(0, 3, 7), nn.CrossEntropy())
    # a bias just before a BatchNorm is taken away with the batch's mean: its gradient is 0 (to rounding)
    for index in (0, 7):
        assert np.abs(net.layers[index].grads["bias"]).max() < 1e-15
        del errors[f"{index}/bias"]
    assert max(errors.values()) < 1e-6, errors


# --- PyTorch ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 6), (4, 3, 5, 6)], ids=["BatchNorm1d", "BatchNorm1d-(N,C,L)",
                                                                          "BatchNorm2d"])
def test_batch_norm_is_pytorchs_in_training_and_in_evaluation(shape):
    torch = pytest.importorskip("torch", reason="the PyTorch parity tests need torch: pip install torch==2.13.0")
    layer = built(nn.BatchNorm(momentum=0.2, epsilon=1e-4), shape[1:])
    channels = shape[1]
    reference = (torch.nn.BatchNorm1d if len(shape) < 4 else torch.nn.BatchNorm2d)(
        channels, momentum=0.2, eps=1e-4, dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.params["gamma"]))
        reference.bias.copy_(torch.from_numpy(layer.params["beta"]))
    rng = np.random.default_rng(2)
    for _ in range(4):  # several training steps: the running statistics follow PyTorch's
        x, g = rng.normal(2.0, 3.0, size=shape), rng.normal(size=shape)
        y, x_torch = layer.forward(x, training=True), torch.tensor(x, requires_grad=True)
        y_torch = reference(x_torch)
        y_torch.backward(torch.from_numpy(g))
        close(y, y_torch.detach().numpy())
        close(layer.backward(g), x_torch.grad.numpy())
        close(layer.grads["gamma"], reference.weight.grad.numpy())
        close(layer.grads["beta"], reference.bias.grad.numpy())
        close(layer.buffers["running_mean"], reference.running_mean.numpy())
        close(layer.buffers["running_var"], reference.running_var.numpy())
        reference.zero_grad()
    reference.eval()
    x, g = rng.normal(2.0, 3.0, size=shape), rng.normal(size=shape)
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = reference(x_torch)
    y_torch.backward(torch.from_numpy(g))
    close(layer.forward(x), y_torch.detach().numpy())
    close(layer.backward(g), x_torch.grad.numpy())
    close(layer.grads["gamma"], reference.weight.grad.numpy())


@pytest.mark.parametrize("shape, dims", [((6, 5), 1), ((3, 2, 4, 5), 1), ((3, 2, 4, 5), 3)])
def test_layer_norm_is_pytorchs(shape, dims):
    torch = pytest.importorskip("torch", reason="the PyTorch parity tests need torch: pip install torch==2.13.0")
    layer = built(nn.LayerNorm(dims, epsilon=1e-3), shape[1:])
    reference = torch.nn.LayerNorm(shape[len(shape) - dims:], eps=1e-3, dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.params["gamma"]))
        reference.bias.copy_(torch.from_numpy(layer.params["beta"]))
    rng = np.random.default_rng(3)
    x, g = rng.normal(1.0, 2.0, size=shape), rng.normal(size=shape)
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = reference(x_torch)
    y_torch.backward(torch.from_numpy(g))
    close(layer.forward(x, training=True), y_torch.detach().numpy())
    close(layer.backward(g), x_torch.grad.numpy())
    close(layer.grads["gamma"], reference.weight.grad.numpy())
    close(layer.grads["beta"], reference.bias.grad.numpy())


# --- training and evaluation modes -------------------------------------------------------------------
def classes(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(3.0, 2.0, size=(n, 6))
    return X, (X[:, 0] + X[:, 1] > 6).astype(int) + (X[:, 2] > 3)


def normalised(dtype="float32", dropout=0.0):
    return nn.Sequential([nn.Dense(12), nn.BatchNorm(), nn.ReLU(), nn.Dropout(dropout), nn.Dense(8), nn.LayerNorm(),
                          nn.Tanh(), nn.Dense(3), nn.Softmax()], input_shape=(6,), dtype=dtype, random_state=0)


def trained(epochs=3, dtype="float32", **options):
    net = normalised(dtype)
    net.fit(*classes(), loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=epochs, batch_size=16,
            random_state=0, **options)
    return net


def test_a_network_starts_in_evaluation_mode_and_fit_leaves_it_there():
    net = normalised()
    assert net.training is False
    assert net.train() is net and net.training is True
    assert net.eval() is net and net.training is False
    net.train()
    net.fit(*classes(), loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=1)
    assert net.training is False


def test_forward_follows_the_mode_unless_told_and_predict_always_evaluates():
    net, (X, _) = normalised(dropout=0.5), classes()
    evaluated = net.forward(X)
    np.testing.assert_array_equal(net.forward(X, training=False), evaluated)
    before = net.layers[1].buffers["running_mean"].copy()
    net.train()
    assert not np.array_equal(net.forward(X), evaluated)  # batch statistics and dropout
    assert not np.array_equal(net.layers[1].buffers["running_mean"], before)  # training moved them
    running = net.get_weights()
    np.testing.assert_array_equal(net.forward(X, training=False), net.eval().forward(X))
    net.train()
    for predict in (net.predict, net.predict_logits, net.predict_batch_invariant):
        np.testing.assert_array_equal(predict(X), net.eval().__getattribute__(predict.__name__)(X))
        net.train()
    for key, array in running.items():  # evaluation leaves the running statistics alone
        np.testing.assert_array_equal(net.get_weights()[key], array)


def test_a_pickled_network_of_before_modes_loads_in_evaluation_mode():
    net = normalised()
    state = net.__getstate__()
    del state["training"]
    restored = nn.Sequential.__new__(nn.Sequential)
    restored.__setstate__(state)
    assert restored.training is False


def test_evaluation_is_an_affine_map_per_channel_and_keeps_float32_predictions_batch_invariant():
    net = trained()
    conv = nn.Sequential([nn.Conv2D(4, 3, padding=1), nn.BatchNorm(), nn.ReLU(), nn.LayerNorm(3), nn.MaxPool2D(2),
                          nn.Flatten(), nn.Dense(3), nn.Softmax()], input_shape=(1, 6, 6), random_state=0)
    rng = np.random.default_rng(4)
    conv.fit(rng.random((40, 1, 6, 6)), rng.integers(0, 3, 40), loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01),
             epochs=2, batch_size=8)
    for network, X in ((net, classes()[0].astype(np.float32)), (conv, rng.random((37, 1, 6, 6), dtype=np.float32))):
        whole = batch_invariant_outputs(network, X, sizes=(1, 3, 8, 9))
        assert whole.dtype == np.float32
        np.testing.assert_allclose(whole, network.predict(X.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_no_weight_penalty_applies_to_gamma_or_beta_and_no_optimizer_moves_the_running_statistics():
    net = trained(epochs=2, penalty=nn.L2(0.1))
    _, _, mask = net.flat_parameters()
    penalised = {key for key, _, _ in net.named_parameters() if mask[_offset(net, key)]}
    assert penalised == {"0/weights", "4/weights", "7/weights"}
    assert net.count_params() == (6 * 12 + 12) + 2 * 12 + (12 * 8 + 8) + 2 * 8 + (8 * 3 + 3)
    assert net.flat_parameters()[0].size == net.count_params()  # the buffers are not in it
    assert {key for key, _ in net.named_buffers()} == {"1/running_mean", "1/running_var"}


def _offset(net, key):
    """The position in the flat vector of the first entry of parameter ``key``."""
    flat = net.flat_parameters()[0]
    param = dict((k, p) for k, p, _ in net.named_parameters())[key]
    return (param.__array_interface__["data"][0] - flat.__array_interface__["data"][0]) // flat.itemsize


def test_the_summary_counts_gamma_and_beta_and_shows_the_running_statistics_as_not_trained():
    text = normalised().summary(print_fn=None)
    rows = [" ".join(line.split()) for line in text.splitlines()]
    assert "1: BatchNorm (None, 12) 24 12 gamma + 12 beta (not trained: 12 running_mean + 12 running_var)" in rows
    assert "5: LayerNorm (None, 8) 16 8 gamma + 8 beta" in rows
    assert f"Total params: {6 * 12 + 12 + 2 * 12 + 12 * 8 + 8 + 2 * 8 + 8 * 3 + 3:,}" in text
    assert "Buffers, not trained: 24" in text


# --- files -------------------------------------------------------------------------------------------
def test_a_network_with_normalisation_saves_and_loads_its_running_statistics(tmp_path):
    net = trained()
    assert not np.array_equal(net.layers[1].buffers["running_var"], np.ones(12))
    neuronet.save(net, tmp_path / "normalised.nn")
    loaded = neuronet.load(tmp_path / "normalised.nn")
    assert loaded.training is False
    for key, array in net.get_weights().items():
        np.testing.assert_array_equal(loaded.get_weights()[key], array)
    X = classes()[0]
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_a_file_without_the_running_statistics_is_refused(tmp_path, monkeypatch):
    net = trained(epochs=1)
    monkeypatch.setattr(net.layers[1], "buffers", {})
    neuronet.save(net, tmp_path / "bufferless.nn")
    with pytest.raises(neuronet.ModelFileError, match=r"missing \['1/running_mean', '1/running_var'\]"):
        neuronet.load(tmp_path / "bufferless.nn")


def test_a_run_with_normalisation_resumes_exactly(tmp_path):
    trained(epochs=2, callbacks=[nn.Checkpoint(tmp_path / "run.ckpt")])
    resumed = trained(epochs=4, callbacks=[nn.Checkpoint(tmp_path / "run.ckpt", resume=True)])
    straight = trained(epochs=4)
    for key, array in straight.get_weights().items():
        np.testing.assert_array_equal(resumed.get_weights()[key], array)


def test_onnx_runtime_predicts_what_the_network_predicts_in_evaluation_mode():
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from neuronet.export import to_onnx

    rng = np.random.default_rng(5)
    conv = nn.Sequential([nn.Conv2D(4, 3, padding=1), nn.BatchNorm(), nn.ReLU(), nn.LayerNorm(2), nn.Flatten(),
                          nn.Dense(6), nn.BatchNorm(), nn.LayerNorm(), nn.Dense(3), nn.Softmax()],
                         input_shape=(2, 5, 5), random_state=0)
    conv.fit(rng.random((40, 2, 5, 5)), rng.integers(0, 3, 40), loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01),
             epochs=3, batch_size=8)
    for network, X in ((trained(), classes()[0]), (conv, rng.random((30, 2, 5, 5)))):
        model = to_onnx(network)
        assert {"BatchNormalization", "LayerNormalization"} <= {node.op_type for node in model.graph.node}
        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        (output,) = session.run(None, {"X": X.astype(np.float32)})
        np.testing.assert_allclose(output, network.predict(X), atol=1e-5)


# --- errors ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: nn.BatchNorm(momentum=1.5), "momentum"),
    (lambda: nn.BatchNorm(epsilon=0), "epsilon"),
    (lambda: nn.LayerNorm(dims=0), "dims"),
    (lambda: nn.LayerNorm(epsilon=-1), "epsilon"),
    (lambda: nn.Sequential([nn.Flatten(), nn.LayerNorm(2)], input_shape=(4, 4)), r"give dims=1 at most"),
    (lambda: nn.Sequential([nn.BatchNorm()], input_shape=(1, 2, 3, 4)), "put a Flatten"),
    (lambda: nn.Sequential([nn.BatchNorm()], input_shape=(3,)).forward(np.ones((1, 3)), training=True),
     "more than one value per channel"),
    (lambda: built(nn.BatchNorm(), (3,)).forward(np.ones((2, 4))), r"built for samples shaped \(3,\), got \(4,\)"),
])
def test_bad_arguments_and_shapes_are_one_line_value_errors(make, message):
    with pytest.raises(ValueError, match=message) as error:
        make()
    assert "\n" not in str(error.value)


def test_a_last_minibatch_of_one_sample_joins_the_one_before_it_under_batch_norm_over_features(tmp_path):
    X = np.random.default_rng(0).normal(size=(33, 4)).astype(np.float32)
    y = np.arange(33) % 2

    def run(callbacks=(), *layers):
        net = nn.Sequential([nn.Dense(8), *layers, nn.ReLU(), nn.Dense(1), nn.Sigmoid()], input_shape=(4,),
                            random_state=0)
        history = nn.fit(net, X, y, loss=nn.BinaryCrossEntropy(), optimizer=nn.Adam(0.01), epochs=3, batch_size=16,
                         random_state=0, callbacks=list(callbacks))
        return net, history

    class Count(nn.Callback):
        changes_training = False
        batches = 0

        def on_batch_end(self, batch, logs):
            Count.batches += 1

    _, history = run([Count()], nn.BatchNorm())
    assert Count.batches == 3 * 2 and np.isfinite(history.history["loss"]).all()  # 16 + 17, not 16 + 16 + 1
    Count.batches = 0
    run([Count()])  # without BatchNorm every minibatch is as it was: 16 + 16 + 1
    assert Count.batches == 3 * 3
    path = tmp_path / "run.ckpt"
    straight, _ = run((), nn.BatchNorm())
    with pytest.raises(nn.TrainingInterrupted):
        run([CtrlC(1, 0), nn.Checkpoint(path, every=1, resume=True)], nn.BatchNorm())
    resumed, _ = run([nn.Checkpoint(path, resume=True)], nn.BatchNorm())
    for key, value in straight.get_weights().items():
        np.testing.assert_array_equal(resumed.get_weights()[key], value)

