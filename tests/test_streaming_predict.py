"""Prediction in bounded memory: a whole batch goes through the network data.CHUNK_ROWS
samples at a time, bitwise as at once, and an array-like read a slice at a time (an image
cache; here data.LazyRows) is never read whole."""

import tracemalloc

import numpy as np
import pytest
from sklearn.datasets import load_digits

from neuronet import data, nn
from neuronet.estimators import CNNClassifier, LogisticRegression, MLPClassifier
from neuronet.network import ROWS_PER_BLOCK, _batch_invariant
from neuronet.threads import blas_threads

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def mlp(n_in, hidden, n_out, seed=0):
    return nn.Sequential([nn.Dense(hidden), nn.ReLU(), nn.Dense(n_out), nn.Softmax()], input_shape=(n_in,),
                         dtype="float32", random_state=seed)


def all_at_once(network, x):
    """predict_batch_invariant as it was: every block of the batch at once."""
    x = np.ascontiguousarray(x, dtype=network.dtype)
    with blas_threads(network, ROWS_PER_BLOCK):
        y = _batch_invariant(network.layers, x)
    network.clear_cache()
    return y[: len(x)]


def test_chunked_prediction_is_bitwise_the_whole_batch_at_once():
    network = mlp(20, 64, 3)
    x = np.random.default_rng(0).normal(size=(5000, 20)).astype(np.float32)
    predicted = network.predict_batch_invariant(x)
    pieces = np.concatenate([network.predict_batch_invariant(x[part]) for part in data.chunks(len(x))])
    assert predicted.shape == (5000, 3) and predicted.dtype == np.float32
    assert np.array_equal(predicted, pieces)
    assert np.array_equal(predicted, all_at_once(network, x))
    assert np.array_equal(network.predict_batch_invariant(x[:0]), all_at_once(network, x[:0]))


def test_chunked_prediction_reads_a_lazy_array_a_chunk_at_a_time():
    network = mlp(20, 64, 3)
    source = np.random.default_rng(1).normal(size=(500, 20)).astype(np.float32)
    rows = np.random.default_rng(2).integers(0, 500, size=3000)
    read = []

    class Watched(data.LazyRows):
        def __getitem__(self, index):
            read.append(len(data.as_indices(index, len(self))))
            return super().__getitem__(index)

    lazy = Watched(source, rows)
    assert np.array_equal(network.predict_batch_invariant(lazy), network.predict_batch_invariant(source[rows]))
    assert max(read) <= data.CHUNK_ROWS
    assert np.array_equal(network.predict(lazy, batch_size=256), network.predict(source[rows], batch_size=256))
    assert np.array_equal(network.predict_logits(lazy), network.predict_logits(source[rows]))
    assert max(read) <= data.CHUNK_ROWS


def test_peak_memory_of_a_large_prediction_is_that_of_one_chunk():
    """40,000 rows through 2,048 units: the hidden activations of the whole batch are
    40,000 × 2,048 × 4 bytes = 328 MB; one chunk's are 8 MB."""
    network = mlp(8, 2048, 2)
    source = np.random.default_rng(0).normal(size=(1000, 8)).astype(np.float32)
    lazy = data.LazyRows(source, np.arange(40_000) % 1000)
    network.predict_batch_invariant(source[:8])  # built, BLAS warmed up
    tracemalloc.start()
    try:
        predicted = network.predict_batch_invariant(lazy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert predicted.shape == (40_000, 2)
    one_chunk = data.CHUNK_ROWS * 2048 * 4
    assert peak < 8 * one_chunk < 40_000 * 2048 * 4 / 4, peak


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def lazy_and_array(X, n=2500, seed=0):
    rows = np.random.default_rng(seed).integers(0, len(X), size=n)
    return data.LazyRows(X, rows), X[rows]


@pytest.mark.parametrize("make", [
    lambda: MLPClassifier((16,), max_iter=3, random_state=0),
    lambda: CNNClassifier(conv_filters=(4,), max_iter=1, random_state=0),
    lambda: LogisticRegression(max_iter=20),
])
def test_estimators_answer_a_lazy_array_as_the_array_itself(digits, make):
    X, y = digits
    images = X.reshape(-1, 1, 8, 8)
    model = make().fit(images if isinstance(make(), CNNClassifier) else X, y)
    source = images if isinstance(model, CNNClassifier) else X
    lazy, whole = lazy_and_array(source)
    labels = y[lazy.rows]
    assert np.array_equal(model.predict(lazy), model.predict(whole))
    assert np.array_equal(model.predict_proba(lazy), model.predict_proba(whole))
    assert model.score(lazy, labels) == model.score(whole, labels)
    if isinstance(model, LogisticRegression):
        np.testing.assert_allclose(model.decision_function(lazy), model.decision_function(whole), rtol=1e-12)


def test_each_chunk_of_a_lazy_array_is_checked(digits):
    X, y = digits
    model = MLPClassifier((8,), max_iter=2, random_state=0).fit(X, y)
    damaged = np.repeat(X, 2, axis=0)
    damaged[3000, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict(data.LazyRows(damaged, np.arange(len(damaged))))
