"""BLAS threads chosen from the sizes of the work: one thread where more do not pay, every
core where they do, one count per model for prediction, and the user's choice left alone."""

import numpy as np
import pytest
import threadpoolctl
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from neuronet import CNNClassifier, MLPClassifier, nn, threads
from neuronet.losses import CrossEntropy
from neuronet.optimizers import SGD

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CORES = 4  # the cores the tests pretend to have, so that they run alike on any machine


def mlp(hidden, n_inputs, dtype="float32"):
    layers = [layer for units in hidden for layer in (nn.Dense(units), nn.ReLU())]
    return nn.Sequential([*layers, nn.Dense(10), nn.Softmax()], input_shape=(n_inputs,), dtype=dtype,
                         random_state=0)


def digits_cnn():
    return nn.Sequential([nn.Conv2D(16, 3, padding=1), nn.MaxPool2D(2), nn.ReLU(), nn.Conv2D(32, 3, padding=1),
                          nn.MaxPool2D(2), nn.ReLU(), nn.Conv2D(64, 3, padding=1), nn.MaxPool2D(2), nn.ReLU(),
                          nn.Flatten(), nn.Dense(10), nn.Softmax()], input_shape=(1, 8, 8), random_state=0)


@pytest.fixture
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16).astype(np.float32), y[:400]


@pytest.fixture
def machine(monkeypatch):
    """A machine of CORES cores whose BLAS runs at its default, nothing set in the environment."""
    for name in threads.ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "cores", lambda: CORES)
    with threadpool_limits(CORES, user_api="blas"):
        yield


def blas_counts():
    return {library.num_threads for library in threads.controller().lib_controllers}


def recording(owner, name, monkeypatch):
    """The BLAS thread counts at every call of ``owner.name`` from now on (a list it fills)."""
    seen, real = [], getattr(owner, name)

    def recorded(*args, **kwargs):
        seen.append(blas_counts())
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return seen


def fit_counts(network, X, y, batch_size):
    """The BLAS thread counts seen by each backward pass of one epoch of ``network``."""
    with pytest.MonkeyPatch.context() as patch:
        seen = recording(nn.Sequential, "backward", patch)
        network.fit(X, y, loss=CrossEntropy(), optimizer=SGD(0.1), epochs=1, batch_size=batch_size)
    return set().union(*seen)


# --- the rule --------------------------------------------------------------------------------------
def test_the_work_is_the_largest_matrix_product_of_a_forward_pass():
    assert threads.largest_product(mlp((100,), 784), 200) == 2 * 200 * 784 * 100
    # the third convolution of the digits CNN: 64 filters × 32·3·3 columns × 2·2 positions of 32 images
    assert threads.largest_product(digits_cnn(), 32) == 2 * 64 * (32 * 9) * (2 * 2) * 32


def test_small_work_gets_one_thread_and_large_work_every_core():
    assert threads.threads_for(mlp((100,), 784), 200, CORES) == 1  # MNIST's MLP at batch 200
    assert threads.threads_for(digits_cnn(), 32, CORES) == 1  # the digits CNN at batch 32
    assert threads.threads_for(mlp((2048, 2048), 784), 1024, CORES) == CORES
    assert threads.threads_for(mlp((2048, 2048), 784), 1024, 64) > 1


def test_float64_work_counts_twice():
    rows = int(threads.FLOPS_PER_THREAD // (2 * 784 * 100)) + 1  # just above one thread's share in float64
    assert threads.threads_for(mlp((100,), 784), rows, CORES) == 1
    assert threads.threads_for(mlp((100,), 784, dtype="float64"), rows, CORES) == 2


def test_a_network_whose_layers_it_cannot_read_keeps_every_core():
    assert threads.threads_for(object(), 200, CORES) == CORES
    assert threads.threads_for(nn.Sequential([nn.Dense(3)]), 200, CORES) == CORES  # not built


# --- fits and predictions -----------------------------------------------------------------------------
def test_a_small_fit_runs_on_one_thread_and_the_default_comes_back(machine, digits, monkeypatch):
    X, y = digits
    assert fit_counts(mlp((16,), 64), X, y, 32) == {1}
    assert blas_counts() == {CORES}


def test_scikit_learn_style_fits_run_on_one_thread_for_small_work(machine, digits, monkeypatch):
    X, y = digits
    seen = recording(nn.Sequential, "backward", monkeypatch)
    for model in (MLPClassifier((16,), max_iter=2), MLPClassifier((16,), solver="lbfgs", max_iter=3),
                  CNNClassifier(image_shape=(1, 8, 8), conv_filters=(4,), max_iter=1)):
        seen.clear()
        model.fit(X, y)
        assert seen and all(counts == {1} for counts in seen), type(model).__name__
    assert blas_counts() == {CORES}


def test_prediction_runs_on_one_count_whatever_the_batch(machine, digits, monkeypatch):
    X, _ = digits
    network = mlp((16,), 64)
    monkeypatch.setattr(threads, "FLOPS_PER_THREAD", threads.largest_product(network, 8) / 2)  # 2 threads pay
    seen = recording(network.layers[1], "forward", monkeypatch)
    for rows in (1, 9, 400):
        network.predict_batch_invariant(X[:rows])
    assert seen == [{2}] * 3
    assert blas_counts() == {CORES}


def test_float32_predictions_stay_bitwise_batch_invariant_with_the_choice(machine, digits):
    X, y = digits
    model = MLPClassifier((16,), max_iter=2, random_state=0, dtype="float32").fit(X, y)
    whole = model.predict_proba(X)
    pieces = np.concatenate([model.predict_proba(X[start : start + 7]) for start in range(0, len(X), 7)])
    assert np.array_equal(pieces, whole)


def test_a_resumed_run_ends_as_the_uninterrupted_one_with_the_choice(machine, digits, tmp_path):
    X, y = digits
    model = lambda max_iter: MLPClassifier((16,), max_iter=max_iter, tol=0, random_state=0)  # noqa: E731
    model(2).fit(X, y, checkpoint=tmp_path / "run.ckpt")
    resumed = model(4).fit(X, y, checkpoint=tmp_path / "run.ckpt", resume=True)
    straight = model(4).fit(X, y)
    for a, b in zip(resumed.coefs_, straight.coefs_):
        np.testing.assert_array_equal(a, b)


# --- the user's choice stands ---------------------------------------------------------------------
@pytest.mark.parametrize("name", threads.ENVIRONMENT)
def test_a_thread_count_set_in_the_environment_is_left_alone(name, machine, digits, monkeypatch):
    monkeypatch.setenv(name, str(CORES))
    X, y = digits
    assert fit_counts(mlp((16,), 64), X, y, 32) == {CORES}


@pytest.mark.parametrize("enclosing", [CORES - 1, 1])
def test_an_enclosing_limit_is_never_changed_nor_raised(enclosing, machine, digits, monkeypatch):
    X, y = digits
    monkeypatch.setattr(threads, "FLOPS_PER_THREAD", 1.0)  # every work pays for every core
    with threadpool_limits(enclosing, user_api="blas"):
        assert fit_counts(mlp((16,), 64), X, y, 32) == {enclosing}
        assert blas_counts() == {enclosing}


def test_a_scope_inside_another_runs_on_the_outer_count_when_the_outer_lowered_it(machine, digits, monkeypatch):
    X, y = digits
    small = mlp((16,), 64)
    with threads.blas_threads(mlp((2048, 2048), 784), 1024):  # every core pays here: nothing lowered
        assert blas_counts() == {CORES}
        with threads.blas_threads(small, 32):
            assert blas_counts() == {1}
        assert blas_counts() == {CORES}
    with threads.blas_threads(small, 32):
        monkeypatch.setattr(threads, "FLOPS_PER_THREAD", 1.0)  # alone, this fit would run on every core
        assert fit_counts(small, X, y, 32) == {1}
    assert blas_counts() == {CORES}


def test_the_controller_is_made_once_and_reused(machine, digits, monkeypatch):
    made = []

    class Counted(threadpoolctl.ThreadpoolController):
        def __init__(self):
            made.append(self)
            super().__init__()

    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", Counted)
    threads.controller.cache_clear()
    try:
        X, y = digits
        model = MLPClassifier((16,), max_iter=2).fit(X, y)
        for rows in (1, 10, 100):
            model.predict_proba(X[:rows])
        assert len(made) == 1 and threads.controller() is threads.controller()
    finally:
        threads.controller.cache_clear()
