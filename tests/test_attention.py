"""Multi-head self-attention, positional encodings, the transformer's encoder block and the
layers over sequences: their gradients by finite differences, the same numbers as PyTorch,
and their place in networks (summary, files, checkpoints, ONNX, training)."""

import pickle
import re
import time

import numpy as np
import pytest

import neuronet
from neuronet import nn
from neuronet.gradcheck import check_layer, check_network

from invariance import batch_invariant_outputs

RTOL, ATOL = 1e-10, 1e-12
torch_required = "the PyTorch parity tests need torch: pip install torch==2.13.0"


def built(layer, sample_shape, seed=0):
    """``layer`` built in float64 for samples of ``sample_shape``, every parameter drawn from
    N(0, 0.5²) around its start (γ near 1, biases not zero), so that each one matters."""
    layer.build(sample_shape, np.random.default_rng(seed), np.float64)
    rng = np.random.default_rng(seed + 100)
    for name, param in layer.params.items():
        param[...] = param + rng.normal(0.0, 0.5, size=param.shape)
    return layer


def sequences(*shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape)


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


# --- gradients by finite differences -------------------------------------------------------------
@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.MultiHeadSelfAttention(1), (4, 3)),
    (lambda: nn.MultiHeadSelfAttention(2), (5, 6)),
    (lambda: nn.MultiHeadSelfAttention(3, causal=True), (5, 6)),
    (lambda: nn.TransformerEncoderBlock(2, 7), (5, 4)),
    (lambda: nn.TransformerEncoderBlock(2, 7, causal=True, norm_first=False), (5, 4)),
], ids=["one-head", "two-heads", "causal", "pre-norm-block", "post-norm-causal-block"])
def test_attention_passes_the_gradient_check_for_its_input_and_every_parameter(layer, shape):
    layer = built(layer(), shape)
    errors = check_layer(layer, sequences(3, *shape))
    assert set(errors) == {"input", *layer.params}
    key_biases = [name for name in errors if name.endswith("key_bias")]
    assert len(key_biases) == 1
    for name in key_biases:  # the softmax ignores what b_k adds to a whole row of scores: its gradient is 0
        assert np.abs(layer.grads[name]).max() < 1e-12
        del errors[name]
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.PositionalEncoding(), (6, 5)),
    (lambda: nn.PositionalEncoding("learned"), (6, 5)),
    (lambda: nn.GlobalAveragePooling1D(), (6, 5)),
    (lambda: nn.TimeDistributed(nn.Dense(3)), (6, 5)),
    (lambda: nn.TimeDistributed(nn.Conv2D(2, 3, padding=1)), (3, 1, 4, 4)),
], ids=["sinusoidal", "learned", "average-pooling", "time-distributed-dense", "time-distributed-conv"])
def test_the_layers_over_sequences_pass_the_gradient_check(layer, shape):
    layer = built(layer(), shape)
    errors = check_layer(layer, sequences(3, *shape))
    assert set(errors) == {"input", *layer.params}
    assert max(errors.values()) < 1e-7, errors


def transformer(dtype="float32", seed=0, blocks=1, width=8, steps=6, features=5, classes=3, dropout=0.0):
    """A small transformer classifier over sequences of ``steps`` × ``features``: a per-step
    projection to ``width``, positions, encoder blocks, the mean over steps, Dense, Softmax."""
    layers = [nn.TimeDistributed(nn.Dense(width)), nn.PositionalEncoding()]
    layers += [nn.TransformerEncoderBlock(2, 2 * width, dropout=dropout) for _ in range(blocks)]
    layers += [nn.LayerNorm(), nn.GlobalAveragePooling1D(), nn.Dense(classes), nn.Softmax()]
    return nn.Sequential(layers, input_shape=(steps, features), dtype=dtype, random_state=seed)


def test_a_transformer_classifier_passes_the_gradient_check_end_to_end():
    net = nn.Sequential([nn.TimeDistributed(nn.Dense(4)), nn.PositionalEncoding("learned"),
                         nn.MultiHeadSelfAttention(2, causal=True), nn.TransformerEncoderBlock(2, 6, norm_first=False),
                         nn.GlobalAveragePooling1D(), nn.Dense(3), nn.Softmax()],
                        input_shape=(5, 3), dtype="float64", random_state=0)
    errors = check_network(net, sequences(4, 5, 3), np.array([0, 1, 2, 1]), nn.CrossEntropy())
    assert set(errors) == {key for key, _, _ in net.named_parameters()}
    for key in ("2/key_bias", "3/attention/0/key_bias"):
        del errors[key]
    assert max(errors.values()) < 1e-6, errors


# --- the same numbers as PyTorch ----------------------------------------------------------------------
def _parity(torch, forward, ours, x, pairs):
    """``forward`` (torch) and ``ours`` on x with L = Σ y ⊙ R: the outputs, ∂L/∂x, and every
    parameter's gradient; ``pairs`` maps each of our parameters to (a torch tensor's
    gradient, the function taking it to our layout)."""
    projection = np.random.default_rng(7).normal(size=ours.forward(x).shape)
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = forward(x_torch)
    (y_torch * torch.tensor(projection)).sum().backward()
    close(ours.forward(x, training=True), y_torch.detach().numpy())
    close(ours.backward(projection), x_torch.grad.numpy())
    assert set(pairs) == set(ours.params)
    for name, to_ours in pairs.items():
        close(ours.grads[name], to_ours())


def _copy_attention(torch, layer, module, prefix=""):
    """Our MHSA's weights into torch's MultiheadAttention (in_proj packs W_q, W_k, W_v, each
    transposed); returns {our name: the torch gradient in our layout}."""
    p, width = layer.params, layer.input_shape[1]
    with torch.no_grad():
        packed = np.concatenate([p[f"{name}_weights"].T for name in ("query", "key", "value")])
        module.in_proj_weight.copy_(torch.tensor(packed))
        module.in_proj_bias.copy_(torch.tensor(np.concatenate([p[f"{n}_bias"] for n in ("query", "key", "value")])))
        module.out_proj.weight.copy_(torch.tensor(p["output_weights"].T))
        module.out_proj.bias.copy_(torch.tensor(p["output_bias"]))
    pairs = {}
    for index, name in enumerate(("query", "key", "value")):
        rows = slice(index * width, (index + 1) * width)
        pairs[f"{prefix}{name}_weights"] = lambda rows=rows: module.in_proj_weight.grad.numpy()[rows].T
        pairs[f"{prefix}{name}_bias"] = lambda rows=rows: module.in_proj_bias.grad.numpy()[rows]
    pairs[f"{prefix}output_weights"] = lambda: module.out_proj.weight.grad.numpy().T
    pairs[f"{prefix}output_bias"] = lambda: module.out_proj.bias.grad.numpy()
    return pairs


@pytest.mark.parametrize("heads, causal", [(1, False), (4, False), (2, True), (4, True)])
def test_multi_head_self_attention_computes_what_pytorchs_multihead_attention_computes(heads, causal):
    torch = pytest.importorskip("torch", reason=torch_required)
    steps, width = 7, 8
    layer = built(nn.MultiHeadSelfAttention(heads, causal=causal), (steps, width))
    module = torch.nn.MultiheadAttention(width, heads, batch_first=True, dtype=torch.float64)
    pairs = _copy_attention(torch, layer, module)
    mask = torch.triu(torch.ones(steps, steps, dtype=torch.bool), diagonal=1) if causal else None

    def forward(x):
        return module(x, x, x, attn_mask=mask, need_weights=False)[0]

    _parity(torch, forward, layer, sequences(5, steps, width), pairs)
    _, weights = module(*(torch.tensor(sequences(5, steps, width)),) * 3, attn_mask=mask, average_attn_weights=False)
    close(layer.attention_weights(sequences(5, steps, width)), weights.detach().numpy())
    if causal:  # step t takes nothing from the steps after it
        assert np.all(np.triu(layer.attention_weights(sequences(5, steps, width)), k=1) == 0)


def _copy_linear(torch, dense, linear):
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(dense.params["weights"].T))
        linear.bias.copy_(torch.tensor(dense.params["bias"]))
    return {"weights": lambda: linear.weight.grad.numpy().T, "bias": lambda: linear.bias.grad.numpy()}


def _copy_norm(torch, norm, module):
    with torch.no_grad():
        module.weight.copy_(torch.tensor(norm.params["gamma"]))
        module.bias.copy_(torch.tensor(norm.params["beta"]))
    return {"gamma": lambda: module.weight.grad.numpy(), "beta": lambda: module.bias.grad.numpy()}


def _prefixed(prefix, pairs):
    return {f"{prefix}/{name}": grad for name, grad in pairs.items()}


def _copy_block(torch, block, module):
    """Our encoder block's weights into torch's TransformerEncoderLayer; {our name: gradient}."""
    parts = dict(block.parts)
    attention, feedforward = parts["attention"].layers, parts["feedforward"].layers
    if block.norm_first:
        norms = [("attention/0", attention[0]), ("feedforward/0", feedforward[0])]
        mhsa, first, second = ("attention/1", attention[1]), ("feedforward/1", feedforward[1]), ("feedforward/4",
                                                                                             feedforward[4])
    else:
        norms = [("norm1", parts["norm1"]), ("norm2", parts["norm2"])]
        mhsa, first, second = ("attention/0", attention[0]), ("feedforward/0", feedforward[0]), ("feedforward/3",
                                                                                             feedforward[3])
    pairs = _copy_attention(torch, mhsa[1], module.self_attn, prefix=mhsa[0] + "/")
    pairs.update(_prefixed(first[0], _copy_linear(torch, first[1].layer, module.linear1)))
    pairs.update(_prefixed(second[0], _copy_linear(torch, second[1].layer, module.linear2)))
    for (name, norm), theirs in zip(norms, (module.norm1, module.norm2)):
        pairs.update(_prefixed(name, _copy_norm(torch, norm, theirs)))
    return pairs


@pytest.mark.parametrize("norm_first, causal", [(True, False), (False, False), (True, True), (False, True)],
                         ids=["pre-norm", "post-norm", "pre-norm-causal", "post-norm-causal"])
def test_the_encoder_block_computes_what_pytorchs_transformer_encoder_layer_computes(norm_first, causal):
    torch = pytest.importorskip("torch", reason=torch_required)
    steps, width, heads, hidden = 6, 8, 2, 12
    block = built(nn.TransformerEncoderBlock(heads, hidden, causal=causal, norm_first=norm_first), (steps, width))
    module = torch.nn.TransformerEncoderLayer(width, heads, dim_feedforward=hidden, dropout=0.0, activation="relu",
                                              batch_first=True, norm_first=norm_first, dtype=torch.float64)
    pairs = _copy_block(torch, block, module)
    mask = torch.triu(torch.ones(steps, steps, dtype=torch.bool), diagonal=1) if causal else None
    _parity(torch, lambda x: module(x, src_mask=mask), block, sequences(4, steps, width), pairs)


def test_the_sinusoidal_encoding_is_the_pytorch_tutorials_and_the_layers_over_sequences_are_pytorchs():
    torch = pytest.importorskip("torch", reason=torch_required)
    import math

    steps, width = 9, 6
    position = torch.arange(steps, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, width, 2, dtype=torch.float64) * (-math.log(10000.0) / width))
    table = torch.zeros(steps, width, dtype=torch.float64)
    table[:, 0::2], table[:, 1::2] = torch.sin(position * div_term), torch.cos(position * div_term)
    encoding = built(nn.PositionalEncoding(), (steps, width))
    close(encoding.table, table.numpy())
    _parity(torch, lambda x: x + table, encoding, sequences(3, steps, width), {})
    learned = built(nn.PositionalEncoding("learned"), (steps, width))
    positions = torch.tensor(learned.params["positions"], requires_grad=True)
    _parity(torch, lambda x: x + positions, learned, sequences(3, steps, width), {"positions": lambda: positions.grad})
    _parity(torch, lambda x: x.mean(dim=1), built(nn.GlobalAveragePooling1D(), (steps, width)),
            sequences(3, steps, width), {})
    each_step = built(nn.TimeDistributed(nn.Dense(4)), (steps, width))
    linear = torch.nn.Linear(width, 4, dtype=torch.float64)
    _parity(torch, linear, each_step, sequences(3, steps, width), _copy_linear(torch, each_step.layer, linear))


def test_a_whole_transformer_classifier_has_the_logits_and_gradients_of_its_pytorch_twin():
    torch = pytest.importorskip("torch", reason=torch_required)
    net = nn.Sequential([nn.TimeDistributed(nn.Dense(8)), nn.PositionalEncoding(),
                         nn.TransformerEncoderBlock(2, 12, causal=True), nn.GlobalAveragePooling1D(), nn.Dense(3),
                         nn.Softmax()], input_shape=(6, 5), dtype="float64", random_state=0)
    rng = np.random.default_rng(3)
    for _, param, _ in net.named_parameters():  # biases, γ and β away from 0 and 1
        param += rng.normal(0.0, 0.3, size=param.shape)
    embed, head = torch.nn.Linear(5, 8, dtype=torch.float64), torch.nn.Linear(8, 3, dtype=torch.float64)
    block = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, batch_first=True,
                                             norm_first=True, dtype=torch.float64)
    pairs = {**_prefixed("0", _copy_linear(torch, net.layers[0].layer, embed)),
             **_prefixed("2", _copy_block(torch, net.layers[2], block)),
             **_prefixed("4", _copy_linear(torch, net.layers[4], head))}
    table, mask = torch.tensor(net.layers[1].table), torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)
    x, target = sequences(7, 6, 5), np.array([0, 1, 2, 1, 0, 2, 2])
    theirs = head(block(embed(torch.tensor(x)) + table, src_mask=mask).mean(dim=1))
    torch.nn.functional.cross_entropy(theirs, torch.tensor(target)).backward()
    loss = nn.CrossEntropy()
    close(net.logits(x), theirs.detach().numpy())
    loss.forward(net.logits(x), target)
    net.backward(loss.backward(), input_grad=False)
    grads = {key: grad for key, _, grad in net.named_parameters()}
    assert set(grads) == set(pairs)
    for key, to_ours in pairs.items():
        close(grads[key], to_ours())


# --- in a network ---------------------------------------------------------------------------------------
def test_the_parameters_are_counted_by_hand_in_the_summary():
    net = transformer()
    width, hidden = 8, 16
    attention = 4 * (width * width + width)
    block = 2 * (2 * width) + attention + (width * hidden + hidden) + (hidden * width + width)
    counts = {0: 5 * width + width, 1: 0, 2: block, 3: 2 * width, 4: 0, 5: width * 3 + 3}
    assert attention == 288 and block == 600
    assert net.count_params() == sum(counts.values()) == 48 + 600 + 16 + 27
    text = net.summary(print_fn=None)
    rows = {row[0].split(":")[0].strip(): row for row in
            (re.split(r"\s{2,}", line.strip()) for line in text.splitlines()) if ": " in row[0]}
    for index, count in counts.items():
        assert rows[str(index)][2] == f"{count:,}", rows[str(index)]
    assert rows["0"][1:] == ["(None, 6, 8)", "48", "5·8 weights + 8 bias"]
    assert rows["2.attention"][2] == f"{2 * width + attention}" and rows["2.attention.1"][2] == "288"
    assert rows["2.attention.1"][3].startswith("8·8 query_weights + 8 query_bias + 8·8 key_weights")
    assert rows["2.feedforward.1"][1:] == ["(None, 6, 16)", "144", "8·16 weights + 16 bias"]
    assert rows["4"][:2] == ["4: GlobalAveragePooling1D", "(None, 8)"]


def test_a_blocks_parameters_are_views_of_the_networks_flat_vector_and_only_weights_are_penalised():
    net = transformer(blocks=2)
    flat, flat_grads, mask = net.flat_parameters()
    block = net.layers[3]
    for name, param in block.params.items():
        assert param.base is flat and block.grads[name].base is flat_grads
    assert block.regularized == ("attention/1/query_weights", "attention/1/key_weights", "attention/1/value_weights",
                                 "attention/1/output_weights", "feedforward/1/weights", "feedforward/4/weights")
    weights = sum(param.size for key, param, _ in net.named_parameters() if key.endswith("weights"))
    assert mask.sum() == weights


@pytest.fixture(scope="module")
def rows_of_digits():
    """MNIST-5k digits as sequences: 28 steps (rows) of 28 pixels, in [0, 1]."""
    data = neuronet.datasets.load("mnist-5k")
    order = np.random.default_rng(0).permutation(len(data.y))  # the file is sorted by digit
    return data.X.reshape(-1, 28, 28)[order], data.y[order]


def test_a_small_transformer_reads_digits_row_by_row(rows_of_digits):
    X, y = rows_of_digits
    assert X.shape == (5000, 28, 28) and X.max() <= 1
    train, test = slice(0, 4000), slice(4000, 5000)
    net = nn.Sequential([nn.TimeDistributed(nn.Dense(32)), nn.PositionalEncoding(),
                         nn.TransformerEncoderBlock(heads=4, hidden=64), nn.LayerNorm(), nn.GlobalAveragePooling1D(),
                         nn.Dense(10), nn.Softmax()], input_shape=(28, 28), random_state=0)
    start = time.perf_counter()
    net.fit(X[train], y[train], loss=nn.CrossEntropy(), optimizer=nn.Adam(0.003), epochs=8, batch_size=64,
            random_state=0, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = (net.predict(X[test]).argmax(axis=1) == y[test]).mean()
    assert accuracy > 0.92, accuracy  # 0.931 measured
    assert seconds < 60, seconds


def test_a_transformer_saves_and_loads_identical(tmp_path):
    net = nn.Sequential([nn.TimeDistributed(nn.Dense(8)), nn.PositionalEncoding("learned"),
                         nn.MultiHeadSelfAttention(2, causal=True, initializer="lecun_normal"),
                         nn.TransformerEncoderBlock(4, 12, dropout=0.1, causal=True, norm_first=False),
                         nn.GlobalAveragePooling1D(), nn.Dense(3), nn.Softmax()],
                        input_shape=(6, 5), random_state=0)
    neuronet.save(net, tmp_path / "transformer.nn")
    loaded = neuronet.load(tmp_path / "transformer.nn")
    config = loaded.get_config()["layers"]
    assert config[0] == {"class": "TimeDistributed", "config": {"layer": {
        "class": "Dense", "config": {"units": 8, "initializer": "glorot_uniform"}}}}
    assert config[2] == {"class": "MultiHeadSelfAttention",
                         "config": {"heads": 2, "causal": True, "initializer": "lecun_normal"}}
    assert config[3] == {"class": "TransformerEncoderBlock", "config": {
        "heads": 4, "hidden": 12, "dropout": 0.1, "causal": True, "norm_first": False}}
    assert loaded.get_weights().keys() == net.get_weights().keys()
    for key, array in net.get_weights().items():
        np.testing.assert_array_equal(loaded.get_weights()[key], array)
    X = sequences(7, 6, 5).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    again = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(again.predict(X), net.predict(X))
    assert all(param.base is again.flat_parameters()[0] for param in again.layers[3].params.values())


def test_a_transformer_round_trips_through_skops_trusting_neuronet_types_alone(tmp_path):
    sio = pytest.importorskip("skops.io")
    net = transformer(dropout=0.1)
    X = sequences(20, 6, 5).astype(np.float32)
    sio.dump(net, str(tmp_path / "transformer.skops"))
    untrusted = sio.get_untrusted_types(file=str(tmp_path / "transformer.skops"))
    assert all(name.startswith("neuronet.") for name in untrusted)
    loaded = sio.load(str(tmp_path / "transformer.skops"), trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    loaded.fit(X, np.arange(20) % 3, loss=nn.CrossEntropy(), optimizer=nn.SGD(0.1), epochs=1, verbose=0)
    flat = loaded.flat_parameters()[0]
    assert all(param.base is flat for layer in loaded.layers for param in layer.params.values())
    assert loaded.layers[0].layer.params["weights"] is loaded.layers[0].params["weights"]


def test_a_forged_file_whose_block_claims_a_huge_layer_is_refused_before_allocating(tmp_path):
    path = tmp_path / "transformer.nn"
    neuronet.save(transformer(), path)
    meta, arrays = neuronet.files.load_file(path)
    layers = meta["tree"]["network"]["config"]["layers"]
    layers[2]["config"]["hidden"] = 10**9
    neuronet.files.save_file(path, meta, arrays)
    with pytest.raises(neuronet.ModelFileError, match=r"claims"):
        neuronet.load(path)
    layers[2]["config"]["hidden"] = 16
    layers[0]["config"]["layer"]["config"]["units"] = 10**9
    neuronet.files.save_file(path, meta, arrays)
    with pytest.raises(neuronet.ModelFileError, match=r"claims"):
        neuronet.load(path)


def test_a_run_of_a_transformer_with_dropout_resumes_from_its_checkpoint_exactly(tmp_path):
    X, y = sequences(60, 6, 5), np.arange(60) % 3

    def trained(epochs, **options):
        net = transformer(dropout=0.2)
        net.fit(X, y, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=epochs, batch_size=16, random_state=0,
                verbose=0, **options)
        return net

    trained(2, callbacks=[nn.Checkpoint(tmp_path / "run.ckpt")])
    resumed = trained(3, callbacks=[nn.Checkpoint(tmp_path / "run.ckpt", resume=True)])
    straight = trained(3)
    for key, array in straight.get_weights().items():
        np.testing.assert_array_equal(resumed.get_weights()[key], array)
    assert not np.array_equal(straight.get_weights()["2/attention/1/query_weights"],
                              transformer(dropout=0.2).get_weights()["2/attention/1/query_weights"])


def test_batch_invariant_prediction_gives_each_sample_the_same_numbers_in_any_batch():
    net = nn.Sequential([nn.TimeDistributed(nn.Dense(16)), nn.PositionalEncoding(), nn.MultiHeadSelfAttention(4),
                         nn.TransformerEncoderBlock(4, 32), nn.GlobalAveragePooling1D(), nn.Dense(3), nn.Softmax()],
                        input_shape=(6, 5), random_state=0)
    X = sequences(29, 6, 5).astype(np.float32)
    whole = batch_invariant_outputs(net, X)
    assert whole.shape == (29, 3) and whole.dtype == np.float32
    np.testing.assert_allclose(whole, net.predict(X), rtol=1e-5, atol=1e-6)


# --- ONNX -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_first", [True, False])
def test_onnx_runtime_predicts_what_a_transformer_predicts(norm_first):
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from neuronet.export import to_onnx

    net = nn.Sequential([nn.TimeDistributed(nn.Dense(8)), nn.PositionalEncoding("learned"),
                         nn.MultiHeadSelfAttention(2, causal=True),
                         nn.TransformerEncoderBlock(4, 12, dropout=0.1, norm_first=norm_first),
                         nn.PositionalEncoding(), nn.TimeDistributed(nn.Tanh()),
                         nn.GlobalAveragePooling1D(), nn.Dense(3), nn.Softmax()],
                        input_shape=(6, 5), random_state=0)
    X = sequences(40, 6, 5).astype(np.float32)
    net.fit(X, np.arange(40) % 3, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=3, batch_size=8, verbose=0)
    model = to_onnx(net)
    ops = {node.op_type for node in model.graph.node}
    assert {"MatMul", "Softmax", "Transpose", "Reshape", "ReduceMean"} <= ops
    names = {node.name for node in model.graph.node}
    assert {"multi_head_self_attention_2/scores/MatMul", "multi_head_self_attention_2/Softmax",
            "transformer_encoder_block_3/attention/Add",
            f"transformer_encoder_block_3/feedforward/time_distributed_{int(norm_first)}/dense_0/MatMul"} <= names
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {session.get_inputs()[0].name: X})
    np.testing.assert_allclose(output, net.predict(X), atol=1e-5)


# --- errors ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: nn.MultiHeadSelfAttention(0), "heads"),
    (lambda: nn.MultiHeadSelfAttention(2, causal="yes"), "causal is True or False"),
    (lambda: nn.Sequential([nn.MultiHeadSelfAttention(3)], input_shape=(5, 8)), "3 heads do not split the 8"),
    (lambda: nn.Sequential([nn.MultiHeadSelfAttention(2)], input_shape=(8,)), r"sequences shaped \(steps, features\)"),
    (lambda: nn.PositionalEncoding("rotary"), "'sinusoidal' or 'learned'"),
    (lambda: nn.TransformerEncoderBlock(2, 0), "hidden"),
    (lambda: nn.TransformerEncoderBlock(2, 8, dropout=1.0), "dropout"),
    (lambda: nn.TransformerEncoderBlock(2, 8, norm_first=None), "norm_first is True or False"),
    (lambda: nn.Sequential([nn.GlobalAveragePooling1D()], input_shape=(2, 3, 4)), "GlobalAveragePooling1D expects"),
    (lambda: nn.Sequential([nn.TimeDistributed(nn.Dense(2))], input_shape=(4,)), "TimeDistributed expects"),
    (lambda: nn.TimeDistributed(3), "TimeDistributed's layer is 3, not a neuronet layer"),
    (lambda: built(nn.MultiHeadSelfAttention(2), (5, 4)).forward(np.ones((2, 5, 6))), r"built for sequences shaped"),
])
def test_bad_arguments_and_shapes_are_one_line_value_errors(make, message):
    with pytest.raises(ValueError, match=message) as error:
        make()
    assert "\n" not in str(error.value)


def test_a_time_distributed_unregistered_layer_trains_but_is_refused_at_save_naming_it(tmp_path):
    class Unlisted(nn.Layer):
        """y = x"""

    net = nn.Sequential([nn.TimeDistributed(Unlisted()), nn.GlobalAveragePooling1D(), nn.Dense(2)],
                        input_shape=(3, 4), random_state=0)
    net.fit(sequences(8, 3, 4), sequences(8, 2), loss=nn.MeanSquaredError(), optimizer=nn.SGD(0.1), epochs=1,
            verbose=0)
    with pytest.raises(ValueError, match=r"layer 0.layer, Unlisted, is not a registered layer") as error:
        neuronet.save(net, tmp_path / "unlisted.nn")
    assert "\n" not in str(error.value) and not (tmp_path / "unlisted.nn").exists()
