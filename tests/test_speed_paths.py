"""The fast paths compute what the plain ones do: batch-invariant float32 prediction, the
fast input check of predict, and the convolution that works through a batch in chunks."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

import neuronet
from neuronet import nn
from neuronet.gradcheck import check_layer
from neuronet.layers import conv
from neuronet.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Softmax, Tanh
from neuronet.optimizers import SGD

SPLITS = (1, 3, 8, 9, 50)


def networks():
    """A softmax MLP, a sigmoid one with tanh, and a small CNN, float32, with inputs."""
    rng = np.random.default_rng(0)
    mlp = nn.Sequential([Dense(64), ReLU(), Dense(32), ReLU(), Dense(10), Softmax()], input_shape=(64,),
                        random_state=0)
    binary = nn.Sequential([Dense(30), Tanh(), Dense(1), Sigmoid()], input_shape=(13,), random_state=0)
    cnn = nn.Sequential([Conv2D(4, 3, padding=1), ReLU(), MaxPool2D(2), Conv2D(6, 3, padding=1), ReLU(),
                         MaxPool2D(2), Flatten(), Dense(10), Softmax()], input_shape=(1, 12, 12), random_state=0)
    return {"mlp": (mlp, rng.random((120, 64), dtype=np.float32)),
            "binary": (binary, rng.standard_normal((120, 13)).astype(np.float32)),
            "cnn": (cnn, rng.random((60, 1, 12, 12), dtype=np.float32))}


def in_pieces(predict, X, size):
    return np.concatenate([predict(X[start : start + size]) for start in range(0, len(X), size)])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", ["mlp", "binary", "cnn"])
def test_batch_invariant_prediction_gives_each_sample_the_same_bits_whatever_the_split(kind, threads):
    network, X = networks()[kind]
    with threadpool_limits(threads):
        whole = network.predict_batch_invariant(X)
        for size in SPLITS:
            assert np.array_equal(in_pieces(network.predict_batch_invariant, X, size), whole)
        order = np.random.default_rng(1).permutation(len(X))
        assert np.array_equal(network.predict_batch_invariant(X[order]), whole[order])
    assert whole.dtype == np.float32


@pytest.mark.parametrize("kind", ["mlp", "binary", "cnn"])
def test_batch_invariant_prediction_is_the_forward_pass(kind):
    network, X = networks()[kind]
    np.testing.assert_allclose(network.predict_batch_invariant(X), network.predict(X.astype(np.float64)),
                               rtol=1e-5, atol=1e-6)


def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16, y[:400]


def fitted_float32_estimators():
    X, y = digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few epochs: not converged, on purpose
        return [neuronet.MLPClassifier((16,), max_iter=3, random_state=0, dtype="float32").fit(X, y),
                neuronet.MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0, dtype="float32").fit(X, y),
                neuronet.CNNClassifier(image_shape=(1, 8, 8), conv_filters=(4,), max_iter=1, random_state=0).fit(X, y)]


@pytest.mark.parametrize("threads", [1, 2])
def test_float32_estimators_predict_each_sample_alike_whatever_the_split(threads):
    X, _ = digits()
    for model in fitted_float32_estimators():
        predict = model.predict_proba if hasattr(model, "predict_proba") else model.predict
        with threadpool_limits(threads):
            whole = predict(X)
            for size in SPLITS:
                assert np.array_equal(in_pieces(predict, X, size), whole), type(model).__name__
            assert np.array_equal(predict(X.astype(np.float32)), whole)  # float32 models predict in float32
        assert whole.dtype == np.float64 and predict(X[:5].astype(np.float32)).dtype == np.float32  # as X


def test_plain_arrays_and_lists_get_the_same_predictions():
    X, _ = digits()
    for model in fitted_float32_estimators():
        predict = model.predict_proba if hasattr(model, "predict_proba") else model.predict
        assert np.array_equal(predict(X), predict(X.tolist()))
        assert np.array_equal(predict(X), predict(np.asfortranarray(X)))


def test_the_fast_input_check_refuses_what_validation_refuses():
    X, _ = digits()
    for model in fitted_float32_estimators():
        with pytest.raises(ValueError, match="NaN"):
            model.predict(np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X))
        with pytest.raises(ValueError, match="features"):
            model.predict(X[:, :10])


def test_a_sample_that_overflows_float32_is_answered_in_float64_and_the_others_are_unchanged():
    X, _ = digits()
    model = fitted_float32_estimators()[0]
    extreme = X.copy()
    extreme[3] *= 1e39  # beyond float32's range: the row alone is computed in float64
    probabilities = model.predict_proba(extreme)
    assert probabilities.dtype == np.float64 and np.isfinite(probabilities).all()
    others = np.delete(np.arange(len(X)), 3)
    assert np.array_equal(probabilities[others], model.predict_proba(X)[others])


def convolution(stride, padding, kernel):
    layer = Conv2D(4, kernel, stride=stride, padding=padding)
    layer.build((3, 11, 9), np.random.default_rng(1), np.float64)
    return layer


GEOMETRIES = [(1, 1, 3), (2, 0, 3), (1, 2, 5), (2, 1, (3, 2))]


@pytest.mark.parametrize("stride, padding, kernel", GEOMETRIES)
def test_a_convolution_in_chunks_computes_what_the_whole_batch_at_once_does(monkeypatch, stride, padding, kernel):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 11, 9))
    results = []
    for chunk_bytes in (1 << 30, 1 << 10):
        monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
        layer = convolution(stride, padding, kernel)
        z = layer.forward(x, training=True)
        grad_x = layer.backward(np.random.default_rng(2).standard_normal(z.shape))
        results.append((len(layer._chunks), z, grad_x, layer.grads["weights"].copy(), layer.grads["bias"].copy()))
    (one, *whole), (many, *chunked) = results
    assert one == 1 and many > 1
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride, padding, kernel", GEOMETRIES)
def test_chunked_convolution_gradients_match_finite_differences(monkeypatch, stride, padding, kernel):
    monkeypatch.setattr(conv, "CHUNK_BYTES", 1 << 10)
    x = np.random.default_rng(0).standard_normal((3, 3, 11, 9))
    errors = check_layer(convolution(stride, padding, kernel), x)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("stride, padding, kernel", GEOMETRIES)
def test_a_convolution_image_by_image_computes_what_the_batched_one_does(stride, padding, kernel):
    layer = convolution(stride, padding, kernel)
    x = np.random.default_rng(0).standard_normal((5, 3, 11, 9))
    np.testing.assert_allclose(layer.forward_image_by_image(x), layer.forward(x), rtol=1e-12, atol=1e-12)


# between many channels a convolution works channels-last: (channels in, filters, kernel, padding, bias)
CHANNELS_LAST = [(1, 16, 3, 1, False), (16, 16, 3, 1, False), (16, 20, (3, 2), (2, 0), True), (17, 16, 1, 0, True),
                 (16, 16, 5, 2, True), (16, 18, 3, 0, True)]


def convolution_of(channels, filters, kernel, padding, bias):
    layer = Conv2D(filters, kernel, padding=padding, bias=bias)
    layer.build((channels, 7, 6), np.random.default_rng(1), np.float64)
    if bias:
        layer.params["bias"][...] = np.random.default_rng(3).standard_normal(filters)
    return layer


@pytest.mark.parametrize("channels, filters, kernel, padding, bias", CHANNELS_LAST)
def test_a_channels_last_convolution_computes_what_the_batch_last_one_does(monkeypatch, channels, filters, kernel,
                                                                         padding, bias):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, channels, 7, 6))
    results = []
    for many in (conv.MANY_CHANNELS, 10**6):  # channels-last, then batch-last
        monkeypatch.setattr(conv, "MANY_CHANNELS", many)
        layer = convolution_of(channels, filters, kernel, padding, bias)
        assert layer.works_channels_last(channels) == (many < 10**6)
        z = layer.forward(x, training=True)
        grad_x = layer.backward(np.random.default_rng(2).standard_normal(z.shape))
        results.append((z, grad_x, *[grad.copy() for grad in layer.grads.values()]))
    for ours, reference in zip(*results, strict=True):
        np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)
    assert all(conv.in_memory_order(array, channels_last=True).flags.c_contiguous for array in results[0][:2])


@pytest.mark.parametrize("channels, filters, kernel, padding, bias", CHANNELS_LAST)
def test_channels_last_convolution_gradients_match_finite_differences(monkeypatch, channels, filters, kernel, padding,
                                                                      bias):
    monkeypatch.setattr(conv, "IMAGE_CHUNK_BYTES", 1 << 10)  # several runs of images
    x = np.random.default_rng(0).standard_normal((3, channels, 7, 6))
    layer = convolution_of(channels, filters, kernel, padding, bias)
    assert layer.works_channels_last(channels)
    errors = check_layer(layer, x)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("channels, filters, kernel, padding, bias", CHANNELS_LAST)
def test_image_by_image_convolution_between_many_channels_is_batch_invariant(channels, filters, kernel, padding, bias):
    """In float32 each image's numbers are bitwise those it gets alone, and they agree
    with the batched forward pass."""
    layer = convolution_of(channels, filters, kernel, padding, bias)
    layer.params = {name: value.astype(np.float32) for name, value in layer.params.items()}
    x = np.random.default_rng(0).standard_normal((9, channels, 7, 6)).astype(np.float32)
    whole = layer.forward_image_by_image(x)
    np.testing.assert_array_equal(whole[4:5], layer.forward_image_by_image(x[4:5]))
    np.testing.assert_array_equal(whole[:3], layer.forward_image_by_image(x[:3]))
    np.testing.assert_allclose(whole, layer.forward(x), rtol=1e-5, atol=1e-5)


def test_a_convolution_works_channels_last_only_between_many_channels_at_stride_1():
    assert Conv2D(16, 3, padding=1).works_channels_last(16) and Conv2D(16, 3).works_channels_last(1)
    assert not Conv2D(8, 3, padding=1).works_channels_last(16)  # few filters
    assert not Conv2D(16, 3, padding=1).works_channels_last(8)  # few channels (but one)
    assert not Conv2D(16, 3, stride=2).works_channels_last(16)
    assert not Conv2D(16, 3, padding=3).works_channels_last(16)  # padding of a whole kernel


@pytest.mark.parametrize("nesterov", [True, False])
def test_sgd_with_momentum_steps_by_its_formula_to_the_last_bit(nesterov):
    rng = np.random.default_rng(0)
    parameters = rng.standard_normal(1000).astype(np.float32)
    expected, velocity = parameters.copy(), np.zeros_like(parameters)
    optimizer = SGD(0.05, momentum=0.9, nesterov=nesterov)
    for _ in range(5):
        gradients = rng.standard_normal(1000).astype(np.float32)
        optimizer.step(parameters, gradients)
        velocity = velocity * np.float32(0.9) + gradients  # v ← μ v + g
        expected -= (gradients + np.float32(0.9) * velocity if nesterov else velocity) * np.float32(0.05)
    assert np.array_equal(parameters, expected)


def test_the_training_step_runs_its_vector_work_on_numpys_blas_alone():
    """SciPy ships its own OpenBLAS, with its own pool of threads: one of its routines in
    every step kept that pool spinning against NumPy's, and the default MLP (L2 through
    SciPy's axpy) trained 20 times slower on 2 threads than on 1. The modules a step runs
    through use none of SciPy's linear algebra."""
    import importlib
    import inspect

    for name in ("training", "network", "optimizers", "regularizers", "losses", "layers.dense", "layers.conv",
                 "layers.pooling", "layers.activations", "estimators.mlp"):
        source = inspect.getsource(importlib.import_module(f"neuronet.{name}"))
        assert "scipy.linalg" not in source and "get_blas_funcs" not in source, name
