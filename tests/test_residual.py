"""Residual blocks, global average pooling and layers without a bias: their gradients by
finite differences, the same numbers as PyTorch, and their place in networks (packed
parameters, names, summary, files, checkpoints, pickles, ONNX)."""

import pickle
import re

import numpy as np
import pytest

import neuronet
from neuronet import files, nn
from neuronet.files import ModelFileError
from neuronet.gradcheck import check_layer, check_network

RTOL, ATOL = 1e-10, 1e-12


def built(layer, input_shape, seed=0):
    layer.build(input_shape, np.random.default_rng(seed), np.float64)
    return layer


def images(*shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape)


def resnet(dtype="float32", seed=0):
    """A small residual network on 1 × 8 × 8 images: an identity block, a block that halves
    the image and doubles the channels (its 1 × 1 projection made when built), a nested
    block, global average pooling and a dense block with a projection of its own."""
    return nn.Sequential([
        nn.Conv2D(4, 3, padding=1), nn.ReLU(),
        nn.Residual([nn.Conv2D(4, 3, padding=1, bias=False), nn.ReLU(), nn.Conv2D(4, 3, padding=1)]), nn.ReLU(),
        nn.Residual([nn.Conv2D(8, 3, stride=2, padding=1), nn.ReLU(),
                     nn.Residual([nn.Conv2D(8, 3, padding=1, initializer="lecun_normal")])]),
        nn.GlobalAveragePooling2D(),
        nn.Residual([nn.Dense(6), nn.Tanh(), nn.Dropout(0.2)], projection=nn.Dense(6, bias=False)),
        nn.Dense(3), nn.Softmax(),
    ], input_shape=(1, 8, 8), dtype=dtype, random_state=seed)


@pytest.fixture(scope="module")
def digits():
    data = neuronet.datasets.load("digits")
    return data.X[:240].astype(np.float32), data.y[:240] % 3


# --- gradients by finite differences -------------------------------------------------------
@pytest.mark.parametrize("block, shape", [
    (nn.Residual([nn.Dense(5), nn.ReLU(), nn.Dense(5)]), (5,)),
    (nn.Residual([nn.Dense(3, bias=False), nn.Sigmoid()]), (5,)),  # a Dense projection 5 → 3
    (nn.Residual([nn.Conv2D(3, 3, padding=1), nn.Tanh(), nn.Conv2D(2, 3, padding=1)]), (2, 5, 5)),
    (nn.Residual([nn.Conv2D(4, 3, stride=2, padding=1, bias=False), nn.ReLU()]), (2, 6, 6)),  # 1 × 1 stride 2
    (nn.Residual([nn.Residual([nn.Dense(4), nn.Tanh()]), nn.Dense(3)], projection=nn.Dense(3)), (4,)),
    (nn.Residual([nn.Conv2D(5, 3, padding=1)]), (2, 5, 5)),  # more channels alone: a 1 × 1 projection, stride 1
    (nn.Residual([nn.Conv2D(3, 3, stride=2, padding=1), nn.ReLU()]), (2, 7, 7)),  # 7 → 4: stride 2 fits odd sizes
], ids=["identity", "dense-projection", "conv-identity", "conv-projection", "nested-explicit", "conv-channels",
        "conv-odd"])
def test_a_residual_block_passes_the_gradient_check_for_its_input_and_every_parameter(block, shape):
    block = built(block, shape)
    errors = check_layer(block, images(4, *shape))
    assert set(errors) == {"input", *block.params} and len(block.params) >= 2
    if block.shortcut is not None and isinstance(block.shortcut, nn.Conv2D) and block.projection is None:
        assert block.shortcut.kernel_size == (1, 1) and not block.shortcut.bias
        assert block.shortcut.output_shape(shape) == block.inner_shape(shape)
    assert max(errors.values()) < 1e-7, errors


def test_a_residual_block_with_dropout_passes_the_gradient_check_in_training():
    block = built(nn.Residual([nn.Dense(6), nn.Tanh(), nn.Dropout(0.3)]), (6,))
    assert max(check_layer(block, images(5, 6), training=True).values()) < 1e-7


@pytest.mark.parametrize("layer, shape", [
    (nn.GlobalAveragePooling2D(), (3, 4, 5)),
    (nn.Dense(4, bias=False), (6,)),
    (nn.Conv2D(3, 3, stride=2, padding=1, bias=False), (2, 7, 7)),
], ids=["global-average-pooling", "dense-without-bias", "conv-without-bias"])
def test_global_average_pooling_and_layers_without_a_bias_pass_the_gradient_check(layer, shape):
    layer = built(layer, shape)
    errors = check_layer(layer, images(3, *shape))
    assert set(errors) == {"input", *layer.params} and "bias" not in errors
    assert max(errors.values()) < 1e-7, errors


def test_a_residual_network_passes_the_gradient_check_end_to_end():
    net = resnet("float64")
    errors = check_network(net, images(5, 1, 8, 8), np.array([0, 1, 2, 1, 0]), nn.CrossEntropy())
    assert set(errors) == {key for key, _, _ in net.named_parameters()}
    assert "2/0/weights" in errors and "2/0/bias" not in errors and "4/projection/weights" in errors
    assert "4/2/0/weights" in errors and "6/projection/weights" in errors and "6/projection/bias" not in errors
    assert max(errors.values()) < 1e-6, errors


# --- the same numbers as PyTorch ----------------------------------------------------------
torch_required = "the PyTorch parity tests need torch: pip install torch==2.13.0"


def _parity(torch, forward, ours, x, named):
    """Run ``forward`` (torch) and ``ours`` (a built neuronet layer) on x with L = Σ y ⊙ R:
    outputs, ∂L/∂x and each parameter's gradient (ours by name, theirs as ``named[name]``)."""
    projection = np.random.default_rng(7).normal(size=ours.forward(x).shape)
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = forward(x_torch)
    (y_torch * torch.tensor(projection)).sum().backward()
    y = ours.forward(x, training=True)
    grad_x = ours.backward(projection)
    np.testing.assert_allclose(y, y_torch.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(grad_x, x_torch.grad.numpy(), rtol=RTOL, atol=ATOL)
    assert set(named) == set(ours.params)
    for name, (parameter, to_ours) in named.items():
        np.testing.assert_allclose(ours.grads[name], to_ours(parameter.grad.numpy()), rtol=RTOL, atol=ATOL)


def _linear(torch, dense):
    """A torch Linear with a Dense layer's weights (torch keeps W as k × n, neuronet n × k)."""
    linear = torch.nn.Linear(*dense.params["weights"].shape, bias=dense.bias).double()
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(dense.params["weights"].T))
        if dense.bias:
            linear.bias.copy_(torch.tensor(dense.params["bias"]))
    return linear


def _conv(torch, conv):
    """A torch Conv2d with a Conv2D layer's weights (the same F × C × kh × kw layout)."""
    filters, channels, kh, kw = conv.params["weights"].shape
    module = torch.nn.Conv2d(channels, filters, (kh, kw), stride=conv.stride, padding=conv.padding,
                             bias=conv.bias).double()
    with torch.no_grad():
        module.weight.copy_(torch.tensor(conv.params["weights"]))
        if conv.bias:
            module.bias.copy_(torch.tensor(conv.params["bias"]))
    return module


def test_a_convolutional_residual_block_with_a_projection_computes_what_pytorch_computes():
    torch = pytest.importorskip("torch", reason=torch_required)
    block = built(nn.Residual([nn.Conv2D(6, 3, stride=2, padding=1, bias=False), nn.ReLU(),
                               nn.Conv2D(6, 3, padding=1)]), (3, 8, 8))
    first, second, projection = _conv(torch, block.layers[0]), _conv(torch, block.layers[2]), _conv(torch, block.shortcut)
    assert projection.kernel_size == (1, 1) and projection.stride == (2, 2) and projection.bias is None

    def forward(x):  # y = P x + F(x)
        return projection(x) + second(torch.relu(first(x)))

    identity = lambda grad: grad  # noqa: E731  (the same layout in both)
    _parity(torch, forward, block, images(4, 3, 8, 8), {
        "0/weights": (first.weight, identity), "2/weights": (second.weight, identity),
        "2/bias": (second.bias, identity), "projection/weights": (projection.weight, identity)})


def test_a_dense_identity_block_computes_what_pytorch_computes():
    torch = pytest.importorskip("torch", reason=torch_required)
    block = built(nn.Residual([nn.Dense(7), nn.Tanh(), nn.Dense(5)]), (5,))
    first, second = _linear(torch, block.layers[0]), _linear(torch, block.layers[2])
    assert block.shortcut is None

    def forward(x):  # y = x + F(x)
        return x + second(torch.tanh(first(x)))

    transposed = lambda grad: grad.T  # noqa: E731
    _parity(torch, forward, block, images(6, 5), {
        "0/weights": (first.weight, transposed), "0/bias": (first.bias, lambda g: g),
        "2/weights": (second.weight, transposed), "2/bias": (second.bias, lambda g: g)})


def test_a_dense_block_with_its_projection_computes_what_pytorch_computes():
    torch = pytest.importorskip("torch", reason=torch_required)
    block = built(nn.Residual([nn.Dense(3, bias=False), nn.Sigmoid()]), (5,))
    inner, projection = _linear(torch, block.layers[0]), _linear(torch, block.shortcut)
    assert projection.bias is None
    _parity(torch, lambda x: projection(x) + torch.sigmoid(inner(x)), block, images(6, 5), {
        "0/weights": (inner.weight, lambda g: g.T), "projection/weights": (projection.weight, lambda g: g.T)})


def test_global_average_pooling_computes_what_pytorch_computes():
    torch = pytest.importorskip("torch", reason=torch_required)
    layer = built(nn.GlobalAveragePooling2D(), (3, 5, 4))
    _parity(torch, lambda x: x.mean(dim=(2, 3)), layer, images(4, 3, 5, 4), {})
    pool = torch.nn.AdaptiveAvgPool2d(1)
    _parity(torch, lambda x: pool(x).flatten(1), layer, images(4, 3, 5, 4, seed=3), {})


def test_layers_without_a_bias_compute_what_pytorch_computes():
    torch = pytest.importorskip("torch", reason=torch_required)
    dense = built(nn.Dense(4, bias=False), (6,))
    linear = _linear(torch, dense)
    _parity(torch, linear, dense, images(5, 6), {"weights": (linear.weight, lambda g: g.T)})
    conv = built(nn.Conv2D(3, 3, stride=2, padding=1, bias=False), (2, 7, 7))
    module = _conv(torch, conv)
    _parity(torch, module, conv, images(3, 2, 7, 7), {"weights": (module.weight, lambda g: g)})


def test_a_whole_residual_network_has_the_logits_and_gradients_of_its_pytorch_twin():
    torch = pytest.importorskip("torch", reason=torch_required)
    net = nn.Sequential([nn.Conv2D(3, 3, padding=1), nn.ReLU(),
                         nn.Residual([nn.Conv2D(5, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2D(5, 3, padding=1)]),
                         nn.ReLU(), nn.GlobalAveragePooling2D(), nn.Dense(4), nn.Softmax()],
                        input_shape=(2, 6, 6), dtype="float64", random_state=0)
    stem, first, second, projection = (_conv(torch, layer) for layer in
                                       (net.layers[0], net.layers[2].layers[0], net.layers[2].layers[2],
                                        net.layers[2].shortcut))
    head = _linear(torch, net.layers[5])
    x, target = images(5, 2, 6, 6), np.array([0, 1, 2, 3, 1])

    def logits(x):
        a = torch.relu(stem(x))
        a = torch.relu(projection(a) + second(torch.relu(first(a))))
        return head(a.mean(dim=(2, 3)))

    theirs = logits(torch.tensor(x))
    torch.nn.functional.cross_entropy(theirs, torch.tensor(target)).backward()
    loss = nn.CrossEntropy()
    np.testing.assert_allclose(net.logits(x), theirs.detach().numpy(), rtol=RTOL, atol=ATOL)
    loss.forward(net.logits(x), target)
    net.backward(loss.backward(), input_grad=False)
    grads = {key: grad for key, _, grad in net.named_parameters()}
    pairs = {"0/weights": stem.weight, "0/bias": stem.bias, "2/0/weights": first.weight, "2/0/bias": first.bias,
             "2/2/weights": second.weight, "2/2/bias": second.bias, "2/projection/weights": projection.weight,
             "5/bias": head.bias}
    assert set(grads) == {*pairs, "5/weights"}
    for key, parameter in pairs.items():
        np.testing.assert_allclose(grads[key], parameter.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(grads["5/weights"], head.weight.grad.numpy().T, rtol=RTOL, atol=ATOL)


# --- in a network ------------------------------------------------------------------------------
def test_a_blocks_parameters_are_views_of_the_networks_flat_vector_and_only_weights_are_penalised():
    net = resnet()
    flat, flat_grads, mask = net.flat_parameters()
    block = net.layers[2]
    for name, param in block.params.items():
        assert param.base is flat and block.grads[name].base is flat_grads
    assert block.layers[0].params["weights"] is block.params["0/weights"]  # the part's own array
    assert block.regularized == ("0/weights", "2/weights")
    weights = sum(param.size for key, param, _ in net.named_parameters() if key.endswith("weights"))
    assert mask.sum() == weights and flat.size == net.count_params()


def test_the_summary_counts_a_block_by_hand_and_shows_its_parts_under_it():
    net = resnet()
    counts = {
        0: 4 * 1 * 9 + 4,
        2: (4 * 4 * 9) + (4 * 4 * 9 + 4),                      # a conv without bias, one with
        4: (8 * 4 * 9 + 8) + (8 * 8 * 9 + 8) + 8 * 4 * 1 * 1,  # the 1 × 1 projection from 4 to 8 channels
        6: (8 * 6 + 6) + 8 * 6,                                # the Dense projection without bias
        7: 6 * 3 + 3,
    }
    assert net.count_params() == sum(counts.values()) == 1367
    text = net.summary(print_fn=None)
    cells = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]
    rows = {row[0].split(":")[0]: row for row in cells if len(row) >= 3 and ": " in row[0]}
    for index, count in counts.items():
        assert rows[str(index)][2] == f"{count:,}", rows[str(index)]
    assert rows["4.0"] == ["4.0: Conv2D", "(None, 8, 4, 4)", "296", "8·4·3·3 weights + 8 bias"]
    assert rows["4.projection"] == ["4.projection: Conv2D", "(None, 8, 4, 4)", "32", "8·4·1·1 weights"]
    assert "P·x + F(x): the sum of the rows below" in text and "x + F(x): the sum of the rows below" in text
    assert "  2.0: Conv2D" in text and "4·4·3·3 weights\n" in text.replace("  \n", "\n")
    assert "  4.projection: Conv2D" in text and "8·4·1·1 weights" in text
    assert "    4.2.0: Conv2D" in text and rows["6.projection"][3] == "8·6 weights" and "5: GlobalAveragePooling2D  (None, 8)" in text
    assert "2.0: Conv2D  144 shared weights; a dense layer" in text  # no biases to count


def test_a_residual_network_trains_and_predicts(digits):
    X, y = digits
    net = resnet(seed=1)
    history = net.fit(X, y, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=8, batch_size=32,
                      random_state=0, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert (net.predict(X).argmax(axis=1) == y).mean() > 0.8


def test_a_residual_network_saves_and_loads_identical_with_the_blocks_config_nested(digits, tmp_path):
    X, _ = digits
    net = resnet()
    neuronet.save(net, tmp_path / "resnet.nn")
    loaded = neuronet.load(tmp_path / "resnet.nn")
    config = loaded.get_config()["layers"]
    assert config[2]["config"]["layers"][0] == {"class": "Conv2D", "config": {
        "filters": 4, "kernel_size": [3, 3], "stride": [1, 1], "padding": [1, 1], "initializer": "he_normal",
        "bias": False}}
    assert config[4]["config"]["projection"] is None and config[6]["config"]["projection"]["class"] == "Dense"
    assert config[5] == {"class": "GlobalAveragePooling2D", "config": {}}
    assert "bias" not in config[0]["config"]  # a layer with a bias is described as before
    assert loaded.get_weights().keys() == net.get_weights().keys()
    for key, array in net.get_weights().items():
        np.testing.assert_array_equal(loaded.get_weights()[key], array)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_set_weights_reaches_the_parts_of_a_block():
    net, other = resnet(seed=0), resnet(seed=1)
    other.set_weights(net.get_weights())
    np.testing.assert_array_equal(other.layers[4].layers[2].layers[0].params["weights"],
                                  net.layers[4].layers[2].layers[0].params["weights"])
    np.testing.assert_array_equal(other.layers[4].shortcut.params["weights"], net.layers[4].shortcut.params["weights"])


def test_a_run_of_a_residual_network_resumes_from_its_checkpoint_exactly(digits, tmp_path):
    X, y = digits

    def trained(epochs, **options):
        net = resnet()
        net.fit(X, y, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=epochs, batch_size=40, random_state=0,
                verbose=0, **options)
        return net

    trained(2, callbacks=[nn.Checkpoint(tmp_path / "run.ckpt")])
    resumed = trained(3, callbacks=[nn.Checkpoint(tmp_path / "run.ckpt", resume=True)])
    straight = trained(3)
    for key, array in straight.get_weights().items():
        np.testing.assert_array_equal(resumed.get_weights()[key], array)


def test_a_pickled_residual_network_trains_on_with_its_blocks_packed(digits):
    X, y = digits
    net = pickle.loads(pickle.dumps(resnet()))
    flat, flat_grads, _ = net.flat_parameters()
    assert all(param.base is flat for param in net.layers[4].params.values())
    assert all(grad.base is flat_grads for grad in net.layers[4].grads.values())
    before = net.get_weights()
    net.fit(X[:64], y[:64], loss=nn.CrossEntropy(), optimizer=nn.SGD(0.1), epochs=1, batch_size=64, verbose=0)
    assert not np.array_equal(before["4/2/0/weights"], net.get_weights()["4/2/0/weights"])


def test_a_forged_file_whose_block_claims_a_huge_layer_is_refused_before_allocating(tmp_path):
    path = tmp_path / "resnet.nn"
    neuronet.save(nn.Sequential([nn.Residual([nn.Dense(4), nn.ReLU()]), nn.Dense(2)], input_shape=(4,)), path)
    meta, arrays = files.load_file(path)
    meta["tree"]["network"]["config"]["layers"][0]["config"]["layers"][0]["config"]["units"] = 10**9
    files.save_file(path, meta, arrays)
    with pytest.raises(ModelFileError, match=r"residual block's part 0 \(Dense\) output \[1000000000\] claims"):
        neuronet.load(path)
    meta["tree"]["network"]["config"]["layers"][0]["config"]["layers"][0] = {"class": "Unknown", "config": {}}
    files.save_file(path, meta, arrays)
    with pytest.raises(ModelFileError, match="unknown type 'Unknown'"):
        neuronet.load(path)


# --- ONNX ---------------------------------------------------------------------------------------
def test_a_residual_network_exports_to_onnx_and_onnx_runtime_predicts_what_it_predicts(digits):
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from neuronet.export import to_onnx

    X, _ = digits
    net = resnet()
    model = to_onnx(net)
    nodes = [node.name for node in model.graph.node]
    assert {"residual_2/Add", "residual_4/projection/Conv", "residual_4/residual_2/Add",
            "global_average_pooling2d_5/GlobalAveragePool", "residual_6/projection/MatMul"} <= set(nodes)
    assert "residual_6/projection/Add" not in nodes  # no bias, no Add
    conv = next(node for node in model.graph.node if node.name == "residual_2/conv2d_0/Conv")
    assert len(conv.input) == 2  # a convolution without a bias: no third input
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: X})[0]
    np.testing.assert_allclose(outputs, net.predict(X), atol=1e-5)


# --- errors ----------------------------------------------------------------------------------------
def test_bad_blocks_and_inputs_are_refused_in_one_line():
    refusals = [
        ("Residual takes a non-empty list of layers", lambda: nn.Residual([])),
        ("Residual's layer 1 is 3, not a neuronet layer", lambda: nn.Residual([nn.ReLU(), 3])),
        (r"take samples shaped \(2, 4, 4\) to \(32,\), which no 1 × 1 projection",
         lambda: nn.Sequential([nn.Residual([nn.Flatten()])], input_shape=(2, 4, 4))),
        (r"projection gives samples shaped \(5,\), its layers \(3,\)",
         lambda: nn.Sequential([nn.Residual([nn.Dense(3)], projection=nn.Dense(5))], input_shape=(4,))),
        (r"GlobalAveragePooling2D expects images shaped \(channels, height, width\)",
         lambda: nn.Sequential([nn.GlobalAveragePooling2D()], input_shape=(6,))),
        ("Dense's bias is True or False, not 'no'", lambda: nn.Dense(3, bias="no")),
        ("Conv2D's bias is True or False, not 1", lambda: nn.Conv2D(3, 3, bias=1)),
    ]
    for message, make in refusals:
        with pytest.raises(ValueError, match=message) as error:
            make()
        assert "\n" not in str(error.value)


def test_batch_invariant_prediction_reaches_into_blocks_and_threads_count_their_products():
    from neuronet.threads import largest_product

    net = nn.Sequential([nn.Flatten(), nn.Residual([nn.Dense(64), nn.ReLU(), nn.Dense(32)]),
                         nn.Residual([nn.Dense(16)]), nn.Dense(3)], input_shape=(1, 4, 4), random_state=0)
    assert largest_product(net, 10) == 2 * 10 * 64 * 32  # the block's second Dense: 64 → 32
    X = images(37, 1, 4, 4).astype(np.float32)
    whole = net.predict_batch_invariant(X)
    np.testing.assert_array_equal(whole, np.concatenate([net.predict_batch_invariant(X[i:i + 5])
                                                         for i in range(0, 37, 5)]))
    np.testing.assert_allclose(whole, net.predict(X), rtol=1e-5, atol=1e-6)
    conv = resnet()
    X = images(11, 1, 8, 8).astype(np.float32)
    np.testing.assert_array_equal(conv.predict_batch_invariant(X)[3:4], conv.predict_batch_invariant(X[3:4]))


def test_a_residual_network_round_trips_through_skops_trusting_neuronet_types_alone(digits, tmp_path):
    sio = pytest.importorskip("skops.io")
    X, y = digits
    net = resnet()
    path = str(tmp_path / "resnet.skops")
    sio.dump(net, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert all(name.startswith("neuronet.") for name in untrusted) and "neuronet.layers.residual.Residual" in untrusted
    loaded = sio.load(path, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    loaded.fit(X[:32], y[:32], loss=nn.CrossEntropy(), optimizer=nn.SGD(0.1), epochs=1, batch_size=32, verbose=0)
    flat, _, _ = loaded.flat_parameters()
    assert all(param.base is flat for param in loaded.layers[4].params.values())


def test_a_network_of_layers_without_a_bias_is_counted_saved_and_exported_without_one(tmp_path):
    net = nn.Sequential([nn.Dense(20, bias=False), nn.ReLU(), nn.Dense(20, bias=False), nn.Tanh(), nn.Dense(3),
                         nn.Softmax()],
                        input_shape=(20,), random_state=0)
    assert net.count_params() == 20 * 20 + 20 * 20 + (20 * 3 + 3)
    text = net.summary(print_fn=None)
    rows = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]
    assert ["0: Dense", "(None, 20)", "400", "20·20 weights"] in rows and ["4: Dense", "(None, 3)", "63",
                                                                          "20·3 weights + 3 bias"] in rows
    assert [key for key, _, _ in net.named_parameters()] == ["0/weights", "2/weights", "4/weights", "4/bias"]
    neuronet.save(net, tmp_path / "no-bias.nn")
    loaded = neuronet.load(tmp_path / "no-bias.nn")
    assert loaded.layers[0].bias is False and loaded.layers[4].bias is True
    X = images(9, 20).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from neuronet.export import to_onnx

    model = to_onnx(net)
    assert [node.name for node in model.graph.node][:2] == ["dense_0/MatMul", "relu_1/Relu"]
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: X})[0], net.predict(X), atol=1e-5)


def test_a_block_holding_an_unregistered_layer_trains_but_is_refused_at_save_naming_the_part(tmp_path):
    class Unlisted(nn.Layer):
        """y = x"""

    net = nn.Sequential([nn.Dense(3), nn.Residual([nn.Dense(3), Unlisted()])], input_shape=(3,), random_state=0)
    assert net.get_config()["layers"][1]["config"]["layers"][1] == {"class": "Unlisted", "config": {}}
    net.fit(images(8, 3), images(8, 3), loss=nn.MeanSquaredError(), optimizer=nn.SGD(0.1), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"layer 1.1, Unlisted, is not a registered layer: .*register_layer") as error:
        neuronet.save(net, tmp_path / "unlisted.nn")
    assert "\n" not in str(error.value) and not (tmp_path / "unlisted.nn").exists()
