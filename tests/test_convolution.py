"""Sharing weights: convolution and pooling, checked against slow references and
finite differences, and a CNN that reads digits."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from neuronet import CNNClassifier, datasets, nn
from neuronet.gradcheck import check_layer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def built(layer, sample_shape, seed=0):
    layer.build(sample_shape, np.random.default_rng(seed), np.float64)
    for name, param in layer.params.items():  # non-zero biases too
        param[...] = np.random.default_rng(seed + 1).normal(size=param.shape)
    return layer


def naive_convolution(x, weights, bias, stride, padding):
    """The definition, one output value at a time."""
    (sh, sw), (ph, pw) = stride, padding
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, height, width = x.shape
    filters, _, kh, kw = weights.shape
    out = np.zeros((n, filters, (height - kh) // sh + 1, (width - kw) // sw + 1))
    for s in range(n):
        for f in range(filters):
            for r in range(out.shape[2]):
                for c in range(out.shape[3]):
                    window = x[s, :, r * sh : r * sh + kh, c * sw : c * sw + kw]
                    out[s, f, r, c] = np.sum(window * weights[f]) + bias[f]
    return out


def naive_pool(x, size, stride, padding, reduce):
    (kh, kw), (sh, sw), (ph, pw) = size, stride, padding
    fill = -np.inf if reduce is np.max else 0.0
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    rows, cols = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.zeros(x.shape[:2] + (rows, cols))
    for r in range(rows):
        for c in range(cols):
            out[:, :, r, c] = reduce(x[:, :, r * sh : r * sh + kh, c * sw : c * sw + kw], axis=(2, 3))
    return out


GEOMETRIES = [  # (channels, filters, image h×w, kernel, stride, padding)
    (1, 2, (5, 5), (3, 3), (1, 1), (0, 0)),
    (2, 3, (6, 7), (3, 2), (2, 2), (1, 1)),
    (3, 1, (7, 5), (2, 3), (1, 2), (1, 0)),
    (2, 4, (4, 6), (1, 1), (2, 1), (0, 1)),
]


@pytest.mark.parametrize("channels, filters, image, kernel, stride, padding", GEOMETRIES)
def test_conv2d_forward_equals_the_direct_convolution(channels, filters, image, kernel, stride, padding, rng):
    layer = built(nn.Conv2D(filters, kernel, stride, padding), (channels, *image))
    x = rng.normal(size=(3, channels, *image))
    expected = naive_convolution(x, layer.params["weights"], layer.params["bias"], stride, padding)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels, filters, image, kernel, stride, padding", GEOMETRIES)
def test_conv2d_gradients_match_finite_differences(channels, filters, image, kernel, stride, padding, rng):
    layer = built(nn.Conv2D(filters, kernel, stride, padding), (channels, *image))
    errors = check_layer(layer, rng.normal(size=(2, channels, *image)))
    assert max(errors.values()) < 1e-6, errors


POOLS = [((2, 2), None, (0, 0), (6, 6)), ((2, 2), (1, 1), (0, 0), (5, 4)), ((3, 2), (2, 2), (1, 1), (7, 6)),
         ((2, 3), (2, 1), (1, 0), (5, 7))]


@pytest.mark.parametrize("layer_type, reduce", [(nn.MaxPool2D, np.max), (nn.AvgPool2D, np.mean)])
@pytest.mark.parametrize("size, stride, padding, image", POOLS)
def test_pooling_forward_and_gradients(layer_type, reduce, size, stride, padding, image, rng):
    layer = built(layer_type(size, stride, padding), (3, *image))
    x = rng.permutation(2 * 3 * image[0] * image[1]).reshape(2, 3, *image) / 7.0  # distinct values: no ties
    expected = naive_pool(x, size, stride or size, padding, reduce)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)
    errors = check_layer(layer, x)
    assert errors["input"] < 1e-6, errors


def test_max_pooling_sends_the_gradient_to_one_position_when_values_tie():
    layer = nn.MaxPool2D(2)
    layer.build((1, 2, 2), None, np.float64)
    layer.forward(np.zeros((1, 1, 2, 2)))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1))), [[[[1.0, 0.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu", "leaky_relu"])
def test_max_pooling_before_the_activation_gives_the_same_outputs_and_gradients(activation, rng):
    """CNNClassifier pools before its activation (a quarter of the values to activate):
    every activation it offers is non-decreasing, so the order changes nothing, ties and
    negative windows (ReLU's zeros) included."""
    from neuronet.estimators.base import ACTIVATIONS

    x = np.round(rng.normal(size=(3, 2, 6, 6)), 1)  # one decimal: many ties within a window
    x[0, 0, :2, :2] = -1.0  # a window of equal negative values
    grad = rng.normal(size=(3, 18))
    outputs, input_grads = [], []
    for order in ([nn.MaxPool2D(2), ACTIVATIONS[activation]()], [ACTIVATIONS[activation](), nn.MaxPool2D(2)]):
        # Flatten last: a network ending in a sigmoid would take it for its output activation
        network = nn.Sequential([*order, nn.Flatten()], input_shape=(2, 6, 6), dtype="float64")
        outputs.append(network.forward(x, training=True))
        input_grads.append(network.backward(grad))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(input_grads[0], input_grads[1])


def test_cnn_classifier_blocks_pool_before_the_activation_and_start_he_normal_before_a_rectifier():
    blocks = CNNClassifier(conv_filters=(4, 8)).fit(np.random.default_rng(0).random((8, 1, 8, 8)), [0, 1] * 4).network_
    kinds = [type(layer).__name__ for layer in blocks.layers]
    assert kinds[:6] == ["Conv2D", "MaxPool2D", "ReLU", "Conv2D", "MaxPool2D", "ReLU"]
    assert {layer.initializer for layer in blocks.layers if isinstance(layer, nn.Conv2D)} == {"he_normal"}


def memory_layouts(x):
    """The same batch stored four ways: N×C×H×W order, batch-last, channels-last, and a strided view."""
    batch_last = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    channels_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    strided = np.repeat(x, 2, axis=3)[..., ::2]
    return {"c_order": np.ascontiguousarray(x), "batch_last": batch_last, "channels_last": channels_last,
            "strided": strided}


@pytest.mark.parametrize("make_layer", [lambda: nn.Conv2D(3, 3, padding=1), lambda: nn.Conv2D(2, 2, stride=2),
                                        lambda: nn.MaxPool2D(2), lambda: nn.AvgPool2D(3, stride=1, padding=1)])
def test_image_layers_give_the_same_results_for_any_memory_layout(make_layer, rng):
    x, grad_seed = rng.normal(size=(4, 2, 6, 6)), rng.integers(1000)
    results = {}
    for name, stored in memory_layouts(x).items():
        layer = built(make_layer(), (2, 6, 6))
        out = layer.forward(stored, training=True)
        grad_out = np.random.default_rng(grad_seed).normal(size=out.shape)
        grad_in = layer.backward(grad_out, input_grad=True) if layer.params else layer.backward(grad_out)
        results[name] = (out, grad_in, [g.copy() for g in layer.grads.values()])
    reference = results.pop("c_order")
    for out, grad_in, grads in results.values():
        np.testing.assert_array_equal(out, reference[0])
        np.testing.assert_array_equal(grad_in, reference[1])
        for grad, expected in zip(grads, reference[2], strict=True):
            np.testing.assert_array_equal(grad, expected)


def stored_batch_last(array):
    """Samples adjacent in memory, then width, height, channels (gaps allowed: a crop)."""
    return array.strides[0] == array.itemsize and list(np.argsort(array.strides)) == [0, 3, 2, 1]


def test_image_layers_pass_batches_on_batch_last_without_copying_between_them():
    """Conv, ReLU and pooling outputs (and their gradients) are stored C×H×W×N, the order
    im2col and col2im read fastest; a layout change would cost a copy at each layer."""
    net = nn.Sequential([nn.Conv2D(4, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2), nn.Conv2D(4, 3, padding=1)],
                        input_shape=(1, 8, 8), random_state=0)
    x = np.random.default_rng(0).normal(size=(5, 1, 8, 8)).astype(np.float32)
    activations = [x]
    for layer in net.layers:
        activations.append(layer.forward(activations[-1], training=True))
    grad = np.ones_like(activations[-1])
    for layer, seen in zip(reversed(net.layers[1:]), reversed(activations[1:-1]), strict=True):
        grad = layer.backward(grad, input_grad=True) if layer.params else layer.backward(grad)
        assert grad.shape == seen.shape
        assert stored_batch_last(grad), type(layer).__name__
    assert all(stored_batch_last(out) for out in activations[1:])


def test_a_small_cnn_passes_the_gradient_check_end_to_end(rng):
    net = nn.Sequential([nn.Conv2D(2, 3, padding=1), nn.Tanh(), nn.MaxPool2D(2), nn.Conv2D(3, 2, stride=2),
                         nn.ReLU(), nn.AvgPool2D(1), nn.Flatten(), nn.Dense(3), nn.Softmax()],
                        input_shape=(2, 6, 6), dtype="float64", random_state=0)
    from neuronet.gradcheck import check_network

    errors = check_network(net, rng.normal(size=(3, 2, 6, 6)), np.array([0, 2, 1]), nn.CrossEntropy())
    assert max(errors.values()) < 1e-6, errors


def test_convolution_shares_weights_so_it_has_far_fewer_parameters():
    conv = nn.Sequential([nn.Conv2D(8, 3, padding=1), nn.Flatten()], input_shape=(1, 28, 28))
    dense = nn.Sequential([nn.Flatten(), nn.Dense(8 * 28 * 28)], input_shape=(1, 28, 28))
    assert conv.layers[1].output_shape((8, 28, 28)) == dense.output_shape  # the same 6,272 outputs
    assert conv.count_params() == 8 * 1 * 3 * 3 + 8 == 80
    assert dense.count_params() == 784 * 6272 + 6272
    assert "8·1·3·3 weights + 8 bias" in conv.summary(print_fn=None)
    assert "72 shared weights + 8 biases; a dense layer from 1×28×28 to 8×28×28 would need 4.9 M weights" \
        in conv.summary(print_fn=None)  # 784 · 6,272


def test_bad_geometry_is_a_clear_error():
    with pytest.raises(ValueError, match="does not fit"):
        nn.Sequential([nn.Conv2D(4, 5)], input_shape=(1, 3, 3))
    with pytest.raises(ValueError, match=r"expects images shaped \(channels, height, width\)"):
        nn.Sequential([nn.Conv2D(4, 3)], input_shape=(784,))
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2D(4, (3, 3, 3))


def test_cnn_reads_digits_to_98_percent(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    clf = CNNClassifier(learning_rate_init=0.005, batch_size=32, max_iter=50, tol=0, random_state=0)
    clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.98
    assert isinstance(clf.network_.layers[0], nn.Conv2D)


def test_cnn_accepts_flat_pixels_with_an_image_shape(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    flat = CNNClassifier(image_shape=(8, 8), max_iter=2, random_state=0).fit(X_train.reshape(len(X_train), -1), y_train)
    images = CNNClassifier(max_iter=2, random_state=0).fit(X_train, y_train)
    assert flat.network_.input_shape == images.network_.input_shape == (1, 8, 8)
    np.testing.assert_allclose(flat.predict_proba(X_test.reshape(len(X_test), -1)), images.predict_proba(X_test))
    with pytest.raises(ValueError, match="image_shape"):
        CNNClassifier(image_shape=(3, 8, 8)).fit(X_train.reshape(len(X_train), -1), y_train)


def test_a_small_cnn_reads_mnist_5k_to_97_percent_within_10_epochs():
    data = datasets.load("mnist-5k")
    X_train, X_test, y_train, y_test = train_test_split(data.X, data.y, train_size=4000, test_size=1000,
                                                        random_state=0, stratify=data.y)
    clf = CNNClassifier(conv_filters=(8, 16), max_iter=10, tol=0, random_state=0).fit(X_train, y_train)
    assert clf.n_iter_ <= 10
    assert clf.score(X_test, y_test) >= 0.97


@pytest.mark.parametrize("size", [1, 2, 3, 8, 11, 12, 16])
def test_max_pooling_takes_any_window_up_to_16_by_16(size, rng):
    layer = nn.MaxPool2D(size)
    layer.build((2, size, size), rng, np.float64)
    x = rng.normal(size=(3, 2, size, size))
    np.testing.assert_array_equal(layer.forward(x)[:, :, 0, 0], x.reshape(3, 2, -1).max(axis=2))
    errors = check_layer(layer, x)
    assert errors["input"] < 1e-6


def test_a_cnn_fit_names_the_row_whose_values_are_beyond_float32():
    X = np.random.default_rng(0).uniform(size=(12, 1, 8, 8))
    X[5, 0, 3, 3] = 1e300
    with pytest.raises(ValueError, match=r"^row 5 of X holds values beyond ±3.4e\+38, too large for float32"):
        CNNClassifier(max_iter=1).fit(X, np.arange(12) % 2)
