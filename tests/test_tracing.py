"""Sequential.trace: one pass's numbers, layer by layer, equal to the hand computation,
to training's own gradients, and to finite differences."""

import numpy as np
import pytest

from neuronet import nn
from neuronet.gradcheck import numerical_gradient, relative_error


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture
def two_layers():
    return nn.Sequential([nn.Dense(3), nn.Sigmoid(), nn.Dense(1), nn.Sigmoid()], input_shape=(2,),
                         dtype="float64", random_state=1)


def test_one_sample_equals_the_chain_rule_by_hand(two_layers):
    x, y = np.array([0.5, -1.5]), 1.0
    (W1, b1), (W2, b2) = two_layers.layers[0].params.values(), two_layers.layers[2].params.values()
    z1 = x @ W1 + b1
    a1 = sigmoid(z1)
    z2 = a1 @ W2 + b2
    y_hat = sigmoid(z2)
    cost = -(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))
    delta2 = y_hat - y
    delta1 = (W2 @ delta2) * a1 * (1 - a1)

    steps = two_layers.trace(x, [y], nn.BinaryCrossEntropy())

    assert [layer.name for layer in steps.layers] == ["Dense", "Sigmoid", "Dense", "Sigmoid"]
    np.testing.assert_allclose(steps.layers[0].output[0], z1, rtol=1e-12)
    np.testing.assert_allclose(steps.layers[1].output[0], a1, rtol=1e-12)
    np.testing.assert_allclose(steps.layers[2].output[0], z2, rtol=1e-12)
    np.testing.assert_allclose(steps.output[0], y_hat, rtol=1e-12)
    assert steps.cost == pytest.approx(cost.item(), rel=1e-12)
    np.testing.assert_allclose(steps.layers[3].grad_input[0], delta2, rtol=1e-12)
    assert steps.layers[3].grad_output is None  # the loss gives ∂J/∂z at once
    np.testing.assert_allclose(steps.layers[2].gradients["weights"], np.outer(a1, delta2), rtol=1e-12)
    np.testing.assert_allclose(steps.layers[2].gradients["bias"], delta2, rtol=1e-12)
    np.testing.assert_allclose(steps.layers[1].grad_input[0], delta1, rtol=1e-12)
    np.testing.assert_allclose(steps.layers[0].gradients["weights"], np.outer(x, delta1), rtol=1e-12)
    np.testing.assert_allclose(steps.layers[0].gradients["bias"], delta1, rtol=1e-12)
    np.testing.assert_allclose(steps.layers[0].parameters["weights"], W1)


def test_a_batch_agrees_with_finite_differences_and_changes_nothing():
    rng = np.random.default_rng(0)
    net = nn.Sequential([nn.Conv2D(2, 3), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(), nn.Dense(3), nn.Softmax()],
                        input_shape=(1, 6, 6), dtype="float64", random_state=0)
    x, y = rng.normal(size=(4, 1, 6, 6)), np.array([0, 2, 1, 2])
    before = {key: value.copy() for key, value in net.get_weights().items()}

    steps = net.trace(x, y, nn.CrossEntropy())
    assert not net.flat_parameters()[1].any(), "the gradients are zeroed after the trace"
    assert all(not hasattr(layer, name) for layer in net.layers for name in layer.cache)

    def cost():
        return nn.CrossEntropy().forward(net.logits(x), y)
    for layer in steps.layers:
        for name, gradient in layer.gradients.items():
            numeric = numerical_gradient(cost, net.layers[layer.index].params[name])
            assert relative_error(gradient, numeric) < 1e-7, (layer.name, name)
    assert steps.layers[0].grad_output.shape == (4, 2, 4, 4)
    assert all(np.array_equal(value, before[key]) for key, value in net.get_weights().items())


def test_dropout_is_off_and_a_wrong_shape_is_refused():
    net = nn.Sequential([nn.Dense(4), nn.ReLU(), nn.Dropout(0.5), nn.Dense(2), nn.Softmax()], input_shape=(3,),
                        dtype="float64", random_state=0)
    x = np.ones((2, 3))
    np.testing.assert_array_equal(net.trace(x, [0, 1], nn.CrossEntropy()).output, net.predict(x))
    with pytest.raises(ValueError, match=r"expects samples shaped \(3,\)"):
        net.trace(np.ones((2, 5)), [0, 1], nn.CrossEntropy())


@pytest.mark.parametrize("optimizer", [lambda: nn.SGD(0.1, momentum=0.9), lambda: nn.Adam(0.01)])
def test_a_traced_step_is_the_gradient_step_on_that_sample_and_shows_its_gradients(optimizer):
    from neuronet.training import gradient_step, traced_step

    def network():
        return nn.Sequential([nn.Dense(3), nn.Tanh(), nn.Dense(2), nn.Softmax()], input_shape=(4,), random_state=0)

    x, y = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32), np.array([0, 1, 1, 0, 1, 0])
    traced_net, stepped_net = network(), network()
    traced_opt, stepped_opt = optimizer(), optimizer()
    for index in (2, 5):
        traced = traced_step(traced_net, nn.CrossEntropy(), traced_opt, x[index], y[index], nn.L2(0.01))
        gradient_step(stepped_net, nn.CrossEntropy(), stepped_opt, x[index:index + 1], y[index:index + 1], nn.L2(0.01))
        for (key, ours, gradient), (_, theirs, _) in zip(traced_net.named_parameters(), stepped_net.named_parameters()):
            np.testing.assert_array_equal(ours, theirs, err_msg=key)
            layer, name = key.split("/")  # the step took the traced ∂J/∂θ, plus the penalty's α·W
            penalty = 0.01 * traced.layers[int(layer)].parameters[name] * (name == "weights")
            np.testing.assert_allclose(gradient, traced.layers[int(layer)].gradients[name] + penalty, rtol=1e-5)


def test_a_traced_step_with_a_non_finite_cost_leaves_the_weights():
    from neuronet.training import traced_step

    net = nn.Sequential([nn.Dense(1), nn.Sigmoid()], input_shape=(2,), random_state=0)
    before = net.get_weights()
    with np.errstate(invalid="ignore"):
        traced = traced_step(net, nn.BinaryCrossEntropy(), nn.SGD(1.0), np.array([np.inf, 1.0]), 1)
    assert not np.isfinite(traced.cost)
    for key, value in net.get_weights().items():
        np.testing.assert_array_equal(value, before[key])
