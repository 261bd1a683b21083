"""Every layer and loss passes the finite-difference gradient check in float64."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuronet import nn
from neuronet.gradcheck import check_layer, check_loss, check_network, numerical_gradient, relative_error
from neuronet.losses import HalfPoissonDeviance, HalfSquaredError

TOLERANCE = 1e-6


def built(layer, sample_shape, seed=0):
    layer.build(sample_shape, np.random.default_rng(seed), np.float64)
    return layer


def assert_gradients_match(errors):
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("layer", [nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.LeakyReLU(0.1), nn.Softmax()],
                         ids=lambda layer: type(layer).__name__)
def test_activation_gradients_match_finite_differences(layer, rng):
    x = rng.normal(scale=2.0, size=(5, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the ReLU kink, where the derivative jumps
    assert_gradients_match(check_layer(built(layer, (4,)), x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_is_max_of_zero_and_z_at_the_edges_too(dtype):
    z = np.array([[np.nan, -np.inf, np.inf, -2.5, -0.0, 0.0, 3.0]], dtype=dtype)
    a = built(nn.ReLU(), (7,)).forward(z)
    assert a.dtype == dtype
    np.testing.assert_array_equal(a, np.maximum(z, 0))  # NaN stays NaN, so divergence is seen


def test_dense_gradients_match_finite_differences(rng):
    layer = built(nn.Dense(3), (4,))
    layer.params["bias"][:] = rng.normal(size=3)
    assert_gradients_match(check_layer(layer, rng.normal(size=(6, 4))))


def test_dense_leaves_out_inputs_zero_in_the_whole_batch_and_its_gradients_still_match(rng):
    layer = built(nn.Dense(3), (8,))
    x = rng.normal(size=(6, 8))
    x[:, [1, 4, 6]] = 0.0  # three of eight inputs silent in every row, as MNIST's border pixels
    full = layer.forward(x) @ np.ones(3)  # inference: every input multiplied
    trained = layer.forward(x, training=True) @ np.ones(3)
    assert list(layer._present) == [0, 2, 3, 5, 7]
    np.testing.assert_allclose(trained, full, rtol=1e-14)
    assert_gradients_match(check_layer(layer, x, training=True))
    layer.backward(np.ones((6, 3)))
    assert not layer.grads["weights"][[1, 4, 6]].any()


def test_dropout_and_flatten_gradients_match_finite_differences(rng):
    assert_gradients_match(check_layer(built(nn.Dropout(0.4), (6,)), rng.normal(size=(5, 6)), training=True))
    assert_gradients_match(check_layer(built(nn.Flatten(), (2, 3, 3)), rng.normal(size=(4, 2, 3, 3))))


@pytest.mark.parametrize("loss, target", [
    (nn.BinaryCrossEntropy(), np.array([0, 1, 1, 0, 1])),
    (nn.BinaryCrossEntropy(), np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0], [0, 0, 0], [1, 0, 0]])),  # multi-label
    (nn.CrossEntropy(), np.array([0, 2, 1, 2, 0])),
    (nn.CrossEntropy(), np.eye(3)[[0, 2, 1, 2, 0]] * 0.8 + 0.2 / 3),  # soft targets
    (nn.MeanSquaredError(), np.arange(15.0).reshape(5, 3) / 10),
    (nn.MeanSquaredError(), np.arange(5.0) / 10),  # one output
    (HalfSquaredError(), np.arange(15.0).reshape(5, 3) / 10),
    (HalfPoissonDeviance(), np.arange(15.0).reshape(5, 3) % 4),  # counts, zeros included
    (HalfPoissonDeviance(), np.array([0.0, 1, 3, 2, 0])),
], ids=["bce", "bce-multi-label", "ce-labels", "ce-soft", "mse", "mse-one-output", "half-squared-multi-output",
        "poisson-multi-output", "poisson-one-output"])
def test_loss_gradients_match_finite_differences(loss, target, rng):
    outputs = 1 if np.ndim(target) == 1 and not isinstance(loss, nn.CrossEntropy) else 3
    assert check_loss(loss, rng.normal(scale=3.0, size=(5, outputs)), target) < TOLERANCE


@pytest.mark.parametrize("activation", [nn.Sigmoid, nn.Tanh, nn.ReLU])
@pytest.mark.parametrize("loss, head, outputs", [
    (nn.BinaryCrossEntropy, nn.Sigmoid, 1), (nn.CrossEntropy, nn.Softmax, 4), (nn.MeanSquaredError, None, 2),
])
def test_whole_three_layer_network_gradients_match_finite_differences(activation, loss, head, outputs, rng):
    layers = [nn.Dense(6), activation(), nn.Dense(5), activation(), nn.Dense(outputs)]
    net = nn.Sequential(layers + ([head()] if head else []), input_shape=(3,), dtype="float64", random_state=1)
    x = rng.normal(size=(7, 3))
    target = {1: rng.integers(0, 2, 7), 4: rng.integers(0, 4, 7), 2: rng.normal(size=(7, 2))}[outputs]
    assert_gradients_match(check_network(net, x, target, loss()))


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 6), n_in=st.integers(2, 5), n_out=st.integers(1, 5),
       scale=st.sampled_from([0.1, 1.0, 3.0]), seed=st.integers(0, 2**16))
def test_dense_and_activations_over_random_shapes(batch, n_in, n_out, scale, seed):
    """(Finite differences cannot resolve the ~1e-13 slopes of saturated units;
    saturation is covered by the next test. The examples are drawn alike on every run
    (conftest.py): among all draws, some put a unit at 3σ far enough into saturation that
    its finite-difference slope misses by 3e-6, which says nothing of the layer.)"""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=scale, size=(batch, n_in))
    assert_gradients_match(check_layer(built(nn.Dense(n_out), (n_in,), seed), x))
    for layer in (nn.Sigmoid(), nn.Tanh(), nn.Softmax()):
        assert_gradients_match(check_layer(built(layer, (n_in,)), x))


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 6), classes=st.integers(2, 6), seed=st.integers(0, 2**16),
       magnitude=st.sampled_from([1.0, 50.0, 1e3, 1e4]))
def test_losses_stay_finite_and_correct_for_saturated_logits(batch, classes, seed, magnitude):
    rng = np.random.default_rng(seed)
    logits = rng.choice([-1.0, 1.0], size=(batch, classes)) * magnitude * rng.uniform(0.5, 1, (batch, classes))
    labels = rng.integers(0, classes, batch)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        ce = nn.CrossEntropy()
        value = ce(logits, labels)
        grad = ce.backward()
        bce = nn.BinaryCrossEntropy()
        bce_value = bce(logits[:, :1], labels % 2)
        bce_grad = bce.backward()
        activations = [layer.forward(logits) for layer in (nn.Sigmoid(), nn.Softmax(), nn.Tanh())]
    assert np.isfinite(value) and np.isfinite(bce_value)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(bce_grad))
    assert all(np.all(np.isfinite(a)) for a in activations)
    # the gradient of softmax cross-entropy is (p − onehot)/m: rows sum to zero
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-12)
    if magnitude == 1.0:  # unsaturated: the slopes are large enough for finite differences
        assert check_loss(nn.CrossEntropy(), logits, labels) < 1e-6


def test_softmax_backward_uses_the_full_jacobian(rng):
    z = rng.normal(size=(1, 4))
    s = np.exp(z) / np.exp(z).sum()
    jacobian = np.diag(s[0]) - np.outer(s[0], s[0])
    grad_s = rng.normal(size=(1, 4))
    layer = nn.Softmax()
    layer.forward(z)
    np.testing.assert_allclose(layer.backward(grad_s), grad_s @ jacobian)


def test_gradcheck_catches_a_wrong_backward(rng):
    class HalfSigmoid(nn.Sigmoid):
        def backward(self, grad_a):
            return super().backward(grad_a) / 2

    assert check_layer(built(HalfSigmoid(), (3,)), rng.normal(size=(4, 3)))["input"] > 0.1


def test_gradcheck_refuses_float32(rng):
    layer = nn.Dense(2)
    layer.build((3,), rng, np.float32)
    with pytest.raises(ValueError, match="float64"):
        check_layer(layer, rng.normal(size=(2, 3)))


def test_losses_with_sample_weights_are_weighted_averages_with_matching_gradients(rng):
    logits, labels, weights = rng.normal(size=(6, 4)), rng.integers(0, 4, 6), rng.uniform(0.1, 2, 6)
    for loss, target in ((nn.CrossEntropy(), labels), (nn.BinaryCrossEntropy(), (labels[:, None] == [0, 1, 2, 3])),
                         (HalfSquaredError(), rng.normal(size=(6, 4)))):
        per_sample = [loss.forward(logits[[n]], target[[n]]) for n in range(6)]
        assert loss.forward(logits, target, weights) == pytest.approx(np.average(per_sample, weights=weights))
        analytic = loss.backward()
        numeric = numerical_gradient(lambda: loss.forward(logits, target, weights), logits)
        assert relative_error(analytic, numeric) < TOLERANCE


@pytest.mark.parametrize("loss, target", [
    (nn.BinaryCrossEntropy(), np.array([0, 1, 1, 0, 1, 0])),
    (HalfPoissonDeviance(), np.array([0.0, 1, 3, 2, 0, 5])),
    (nn.MeanSquaredError(), np.linspace(-1, 1, 6)),
], ids=["bce", "poisson", "mse"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_one_output_losses_take_1d_logits_as_the_same_column(loss, target, weighted, rng):
    logits, weights = rng.normal(size=6), (rng.uniform(0.1, 2, 6) if weighted else None)
    column = loss.forward(logits[:, None], target, weights), loss.backward()
    flat = loss.forward(logits, target, weights), loss.backward()
    assert flat[0] == pytest.approx(column[0], rel=1e-12)
    assert flat[1].shape == logits.shape
    np.testing.assert_allclose(flat[1], column[1].ravel(), rtol=1e-12)
    numeric = numerical_gradient(lambda: loss.forward(logits, target, weights), logits)
    assert relative_error(flat[1], numeric) < TOLERANCE
    if loss.correct(logits, target) is not None:
        assert loss.correct(logits, target) == loss.correct(logits[:, None], target)


@pytest.mark.parametrize("per_batch", [False, True], ids=["lecture", "per-batch"])
def test_l2_penalty_gradient_matches_finite_differences_and_spares_the_biases(per_batch, rng):
    net = nn.Sequential([nn.Dense(4), nn.Tanh(), nn.Dense(2)], input_shape=(3,), dtype="float64", random_state=0)
    parameters, gradients, mask = net.flat_parameters()
    penalty = nn.L2(0.3, per_batch=per_batch)
    gradients[:] = 0.0
    penalty.add_gradient(parameters, gradients, mask, batch_size=8)
    numeric = numerical_gradient(lambda: penalty.value(parameters, mask, 8), parameters)
    assert relative_error(gradients, numeric) < TOLERANCE
    assert not gradients[mask == 0].any()  # biases: no penalty
    scale = 0.3 / 8 if per_batch else 0.3
    np.testing.assert_allclose(penalty.curvature(mask, 8), scale * mask)


def test_the_layers_say_which_parameters_a_penalty_applies_to():
    assert nn.Dense.regularized == ("weights",) and nn.Conv2D.regularized == ("weights",)
    net = nn.Sequential([nn.Conv2D(2, 3), nn.Flatten(), nn.Dense(2)], input_shape=(1, 4, 4))
    _, _, mask = net.flat_parameters()
    assert mask.sum() == 2 * 9 + 8 * 2 and mask.size == mask.sum() + 2 + 2  # kernels and weights, not biases
