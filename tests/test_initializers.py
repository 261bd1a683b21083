"""Initialisers: each draws with the variance its formula gives, orthogonal gives QᵀQ = I,
the fans are counted as PyTorch counts them, and a layer takes one by name or as a function,
its config recording the name."""

import numpy as np
import pytest

import neuronet
from neuronet import initializers, nn
from neuronet.initializers import initialize

FAN_IN, FAN_OUT = 300, 500
SHAPE = (FAN_IN, FAN_OUT)  # 150,000 draws: the sample variance is within 1 % of the true one

VARIANCES = {
    "glorot_uniform": 2 / (FAN_IN + FAN_OUT), "glorot_normal": 2 / (FAN_IN + FAN_OUT),
    "xavier_uniform": 2 / (FAN_IN + FAN_OUT), "xavier_normal": 2 / (FAN_IN + FAN_OUT),
    "he_uniform": 2 / FAN_IN, "he_normal": 2 / FAN_IN, "kaiming_uniform": 2 / FAN_IN, "kaiming_normal": 2 / FAN_IN,
    "lecun_uniform": 1 / FAN_IN, "lecun_normal": 1 / FAN_IN,
}
BOUNDS = {"glorot_uniform": np.sqrt(6 / (FAN_IN + FAN_OUT)), "he_uniform": np.sqrt(6 / FAN_IN),
          "lecun_uniform": np.sqrt(3 / FAN_IN)}


@pytest.mark.parametrize("name", sorted(VARIANCES))
def test_each_initializer_draws_the_variance_of_its_formula_around_zero(name):
    weights = initialize(name, SHAPE, FAN_IN, FAN_OUT, np.random.default_rng(0), np.float64)
    assert weights.shape == SHAPE and weights.dtype == np.float64
    assert weights.var() == pytest.approx(VARIANCES[name], rel=0.02)
    assert abs(weights.mean()) < 4 * np.sqrt(VARIANCES[name] / weights.size)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_a_uniform_initializer_stays_within_its_bound_and_reaches_near_it(name):
    weights = initialize(name, SHAPE, FAN_IN, FAN_OUT, np.random.default_rng(1), np.float32)
    assert weights.dtype == np.float32
    assert np.abs(weights).max() <= BOUNDS[name] and np.abs(weights).max() > 0.999 * BOUNDS[name]


@pytest.mark.parametrize("shape", [(64, 64), (80, 30), (30, 80), (8, 3, 3, 3), (4, 5, 3, 3)])
def test_orthogonal_gives_orthonormal_columns_or_rows(shape):
    weights = initialize("orthogonal", shape, 0, 0, np.random.default_rng(2), np.float64)
    matrix = weights.reshape(shape[0], -1)
    gram = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-12)


def test_orthogonal_is_callable_by_the_signature_of_every_initializer():
    weights = initializers.orthogonal((16, 16), 16, 16, np.random.default_rng(0), np.float32)
    assert weights.dtype == np.float32
    np.testing.assert_allclose(weights.T @ weights, np.eye(16), atol=1e-5)


def test_zeros_and_no_generator_give_zeros_and_draw_nothing():
    assert not initialize("zeros", (3, 2), 3, 2, np.random.default_rng(0), np.float32).any()
    assert not initialize("not_registered", (3, 2), 3, 2, None, np.float32).any()  # weights about to be loaded


def test_the_names_of_before_draw_the_same_numbers_as_before():
    rng, again = np.random.default_rng(5), np.random.default_rng(5)
    limit = np.sqrt(6 / (4 + 3))
    np.testing.assert_array_equal(initialize("glorot_uniform", (4, 3), 4, 3, rng, np.float32),
                                  again.uniform(-limit, limit, size=(4, 3)).astype(np.float32))
    np.testing.assert_array_equal(initialize("he_normal", (4, 3), 4, 3, rng, np.float32),
                                  again.normal(0.0, np.sqrt(2 / 4), size=(4, 3)).astype(np.float32))


def recording(calls):
    def recorded(shape, fan_in, fan_out, rng, dtype):
        calls.append((shape, fan_in, fan_out))
        return np.full(shape, 0.25, dtype=dtype)
    return recorded


def test_a_layer_takes_a_function_and_records_its_name():
    calls = []
    initializer = recording(calls)
    net = nn.Sequential([nn.Dense(3, initializer=initializer), nn.ReLU()], input_shape=(5,), random_state=0)
    assert calls == [((5, 3), 5, 3)]
    assert (net.layers[0].params["weights"] == 0.25).all()
    assert net.get_config()["layers"][0]["config"]["initializer"] == "recorded"


def test_fans_of_dense_and_conv_layers_are_counted_as_pytorch_counts_them():
    torch = pytest.importorskip("torch", reason="the PyTorch parity tests need torch: pip install torch==2.13.0")
    calls = []
    nn.Sequential([nn.Conv2D(6, (3, 5), initializer=recording(calls)), nn.Flatten(),
                   nn.Dense(7, initializer=recording(calls))], input_shape=(4, 9, 9), random_state=0)
    (conv_shape, conv_in, conv_out), (_, dense_in, dense_out) = calls
    assert (conv_in, conv_out) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(conv_shape))
    linear = torch.nn.Linear(6 * 7 * 5, 7)  # weight (out, in), the transpose of Dense's (in, out)
    assert (dense_in, dense_out) == torch.nn.init._calculate_fan_in_and_fan_out(linear.weight)


# (neuronet name, torch.nn.init call, that call's scale: the std of a normal, the bound of a uniform)
TORCH_RULES = [
    ("glorot_uniform", "xavier_uniform_", {}, lambda fi, fo: np.sqrt(6 / (fi + fo))),
    ("glorot_normal", "xavier_normal_", {}, lambda fi, fo: np.sqrt(2 / (fi + fo))),
    ("he_uniform", "kaiming_uniform_", {"nonlinearity": "relu"}, lambda fi, fo: np.sqrt(6 / fi)),
    ("he_normal", "kaiming_normal_", {"nonlinearity": "relu"}, lambda fi, fo: np.sqrt(2 / fi)),
    ("lecun_uniform", "kaiming_uniform_", {"nonlinearity": "linear"}, lambda fi, fo: np.sqrt(3 / fi)),
    ("lecun_normal", "kaiming_normal_", {"nonlinearity": "linear"}, lambda fi, fo: np.sqrt(1 / fi)),
]


@pytest.mark.parametrize("name, call, options, scale", TORCH_RULES, ids=[rule[0] for rule in TORCH_RULES])
def test_each_formula_has_the_scale_of_its_torch_nn_init_counterpart_on_a_conv_kernel(name, call, options, scale):
    torch = pytest.importorskip("torch", reason="the PyTorch parity tests need torch: pip install torch==2.13.0")
    shape = (64, 32, 5, 5)  # F, C, kh, kw: fan_in = C·kh·kw = 800, fan_out = F·kh·kw = 1600
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert (fan_in, fan_out) == (32 * 25, 64 * 25)
    if "uniform" in name:  # torch's bound, read from its own formula: gain · √(3 / fan) (Kaiming), gain · √(6 / (fi + fo))
        gain = torch.nn.init.calculate_gain(options.get("nonlinearity", "linear"))
        torch_scale = gain * np.sqrt(6 / (fan_in + fan_out)) if "xavier" in call else gain * np.sqrt(3 / fan_in)
    else:
        gain = torch.nn.init.calculate_gain(options.get("nonlinearity", "linear"))
        torch_scale = gain * np.sqrt(2 / (fan_in + fan_out)) if "xavier" in call else gain / np.sqrt(fan_in)
    assert scale(fan_in, fan_out) == pytest.approx(torch_scale, rel=1e-12)
    torch.manual_seed(0)
    theirs = getattr(torch.nn.init, call)(torch.empty(shape, dtype=torch.float64), **options).numpy()
    ours = initialize(name, shape, fan_in, fan_out, np.random.default_rng(0), np.float64)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.02)
    if "uniform" in name:
        assert np.abs(ours).max() <= scale(fan_in, fan_out) and np.abs(theirs).max() <= scale(fan_in, fan_out) * (1 + 1e-12)


def test_orthogonal_matches_torch_orthogonal_in_what_it_guarantees():
    torch = pytest.importorskip("torch", reason="the PyTorch parity tests need torch: pip install torch==2.13.0")
    theirs = torch.nn.init.orthogonal_(torch.empty(20, 2, 3, 3, dtype=torch.float64)).numpy().reshape(20, -1)
    ours = initialize("orthogonal", (20, 2, 3, 3), 18, 180, np.random.default_rng(0), np.float64).reshape(20, -1)
    for matrix in (theirs, ours):  # 20 × 18, taller than wide: orthonormal columns
        np.testing.assert_allclose(matrix.T @ matrix, np.eye(18), atol=1e-12)


def test_a_layer_takes_every_initializer_by_name():
    for name in initializers.INITIALIZERS:
        net = nn.Sequential([nn.Dense(4, initializer=name)], input_shape=(6,), random_state=0)
        assert net.layers[0].initializer == name and net.get_config()["layers"][0]["config"]["initializer"] == name
    net = nn.Sequential([nn.Dense(200, initializer="lecun_normal")], input_shape=(400,), dtype="float64",
                        random_state=0)
    assert net.layers[0].params["weights"].var() == pytest.approx(1 / 400, rel=0.02)


def test_an_unknown_name_or_a_non_callable_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"unknown initializer 'he_normall'.*register_initializer"):
        nn.Sequential([nn.Dense(4, initializer="he_normall")], input_shape=(3,))
    with pytest.raises(ValueError, match=r"Dense's initializer is a name .* or a function"):
        nn.Dense(4, initializer=42)
    with pytest.raises(ValueError, match=r"gave an array of shape \(3,\), not the \(3, 4\)"):
        nn.Sequential([nn.Dense(4, initializer=lambda shape, *_: np.zeros(3))], input_shape=(3,))


def test_a_file_naming_an_unregistered_function_loads_its_weights_and_only_drawing_afresh_needs_it(tmp_path):
    def halves(shape, fan_in, fan_out, rng, dtype):
        return np.full(shape, 0.5, dtype=dtype)

    net = nn.Sequential([nn.Dense(3, initializer=halves), nn.Tanh()], input_shape=(2,), random_state=0)
    net.layers[0].params["weights"][0, 0] = 2.0
    neuronet.save(net, tmp_path / "halves.nn")
    loaded = neuronet.load(tmp_path / "halves.nn")  # the file holds the weights: nothing to draw
    np.testing.assert_array_equal(loaded.get_weights()["0/weights"], net.get_weights()["0/weights"])
    assert loaded.layers[0].initializer == "halves"
    with pytest.raises(ValueError, match=r"unknown initializer 'halves'.*register_initializer"):
        nn.Sequential.from_config(loaded.get_config())  # new weights by that name
    initializers.register_initializer(halves)
    try:
        fresh = nn.Sequential.from_config(loaded.get_config())
        assert (fresh.layers[0].params["weights"] == 0.5).all()
    finally:
        initializers.REGISTRY.pop("halves")


def test_a_taken_name_is_not_registered_again_for_another_function():
    with pytest.raises(ValueError, match="the initializer name 'he_normal' is taken"):
        initializers.register_initializer(lambda *args: None, name="he_normal")
