"""Training survives interruptions, bad learning rates and hostile files."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import neuronet
from neuronet import CNNClassifier, LogisticRegression, MLPClassifier, ModelFileError, TrainingDiverged, datasets, nn

HERE = os.path.dirname(__file__)
ONE_THREAD = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def weights(model):
    return [p.copy() for p in model.network_.parameters()]


def assert_identical(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


# --- kill and resume ---------------------------------------------------------
@pytest.fixture(scope="module")
def uninterrupted():
    sys.path.insert(0, HERE)
    import kill_target

    return weights(kill_target.train())


@pytest.mark.parametrize("trial", range(3))
def test_a_killed_run_resumes_to_the_same_weights(trial, uninterrupted, tmp_path):
    import kill_target

    checkpoint = tmp_path / "run.ckpt"
    child = subprocess.Popen([sys.executable, os.path.join(HERE, "kill_target.py"), str(checkpoint)], env=ONE_THREAD)
    started = time.monotonic()
    while not checkpoint.exists() and child.poll() is None and time.monotonic() - started < 60:
        time.sleep(0.01)  # wait for training to be under way
    time.sleep(np.random.default_rng(trial).uniform(0.0, 0.4))  # then kill it at a random moment
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL, "the run ended before the kill; the test needs a longer run"
    if checkpoint.exists():  # whatever instant the kill hit, the checkpoint on disk is whole
        from neuronet.files import load_file

        assert load_file(checkpoint)[0]["kind"] == "checkpoint"
    resumed = kill_target.train(checkpoint, resume=True)
    assert_identical(weights(resumed), uninterrupted)
    assert resumed.n_iter_ == kill_target.SETTINGS["max_iter"]


def test_resuming_with_other_settings_or_data_is_refused(tmp_path):
    X, y = datasets.load("digits").flat, datasets.load("digits").y
    path = tmp_path / "run.ckpt"
    MLPClassifier((16,), max_iter=2, tol=0, random_state=0).fit(X, y, checkpoint=path)
    with pytest.raises(ValueError, match=r"other settings:\n  optimizer.learning_rate: 0.001 then, 0.01 now"):
        MLPClassifier((16,), learning_rate_init=0.01, max_iter=2, tol=0, random_state=0).fit(X, y, checkpoint=path,
                                                                                        resume=True)
    with pytest.raises(ValueError, match="different data"):
        MLPClassifier((16,), max_iter=2, tol=0, random_state=0).fit(X[::-1], y[::-1], checkpoint=path, resume=True)


def test_checkpoint_files_are_written_atomically(tmp_path):
    X, y = datasets.load("digits").flat, datasets.load("digits").y
    path = tmp_path / "run.ckpt"
    (tmp_path / ".run.ckpt.old.tmp").write_bytes(b"left over by a killed run")
    MLPClassifier((16,), max_iter=2, tol=0, random_state=0).fit(X, y, checkpoint=path, checkpoint_every=10)
    assert sorted(os.listdir(tmp_path)) == ["run.ckpt"]
    with pytest.raises(ModelFileError, match="not a training checkpoint"):
        MLPClassifier((16,), max_iter=2, tol=0, random_state=0).fit(X, y, checkpoint=_a_model_file(tmp_path), resume=True)


def _a_model_file(folder):
    path = folder / "model.npz"
    neuronet.save(LogisticRegression(max_iter=2).fit(np.eye(2), [0, 1]), path)
    return path


# --- Ctrl-C ------------------------------------------------------------------
def _train_command(output):
    return [sys.executable, "-m", "neuronet.cli", "train", "--data", "digits", "--model", "mlp", "--hidden", "64",
            "--epochs", "60", "--batch-size", "16", "--output", str(output)]


def test_ctrl_c_saves_the_model_and_a_checkpoint_and_resume_finishes_the_run(tmp_path):
    child = subprocess.Popen(_train_command(tmp_path / "model.npz"), env=ONE_THREAD, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "epoch 3/60" not in seen and child.poll() is None:
        seen += child.stderr.read(1)  # the progress bar
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    err = seen + err
    assert child.returncode == 130
    assert "interrupted by Ctrl-C" in err and "Nothing learned is lost" in err
    assert "--resume" in err and "Traceback" not in err
    assert (tmp_path / "model.npz").exists() and (tmp_path / "model.ckpt").exists()
    assert neuronet.load(tmp_path / "model.npz")[-1].n_iter_ >= 2

    resumed = subprocess.run(_train_command(tmp_path / "model.npz") + ["--resume", "--quiet"], env=ONE_THREAD,
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout
    straight = subprocess.run(_train_command(tmp_path / "straight.npz") + ["--quiet"], env=ONE_THREAD, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0
    resumed_model, straight_model = (neuronet.load(tmp_path / name)[-1] for name in ("model.npz", "straight.npz"))
    assert_identical(weights(resumed_model), weights(straight_model))


# --- divergence -----------------------------------------------------------------
@pytest.mark.parametrize("optimizer", [nn.SGD(1e6), nn.SGD(1e6, momentum=0.9), nn.SGD(1e6, momentum=0.9, nesterov=True),
                                       nn.Adam(1e6)], ids=["sgd", "momentum", "nesterov", "adam"])
def test_every_optimizer_stops_with_a_clear_error_and_keeps_finite_weights(optimizer):
    data = datasets.load("digits")
    net = nn.Sequential([nn.Dense(32), nn.ReLU(), nn.Dense(10), nn.Softmax()], random_state=0)
    with pytest.raises(TrainingDiverged, match=r"learning_rate=1e\+06.*smaller learning rate, e.g. 100000"):
        net.fit(data.flat, data.y, loss=nn.CrossEntropy(), optimizer=optimizer, epochs=50, random_state=0)
    assert all(np.isfinite(p).all() for p in net.parameters())


@pytest.mark.parametrize("make", [
    lambda: LogisticRegression(learning_rate=1e39, max_iter=20),
    lambda: MLPClassifier((16,), solver="sgd", learning_rate_init=1e8, max_iter=20),
    lambda: MLPClassifier((16,), learning_rate_init=1e8, max_iter=20),
    lambda: CNNClassifier(learning_rate_init=1e8, max_iter=3),
], ids=["logistic", "mlp-sgd", "mlp-adam", "cnn"])
def test_estimators_stop_on_divergence_with_their_last_good_weights(make):
    data = datasets.load("digits")
    X, y = (data.X, data.y) if "CNN" in repr(make()) else (data.flat, data.y % 2 if "Logistic" in repr(make()) else data.y)
    model = make()
    with pytest.raises(TrainingDiverged, match="learning_rate="):
        model.fit(X, y)
    assert all(np.isfinite(p).all() for p in model.network_.parameters())
    assert np.isfinite(model.predict_proba(X[:5])).all()


# --- determinism -------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: LogisticRegression(max_iter=50, random_state=3),
    lambda: MLPClassifier((32,), dropout=0.2, max_iter=5, random_state=3),
    lambda: CNNClassifier(conv_filters=(4,), max_iter=2, random_state=3),
], ids=["logistic", "mlp", "cnn"])
def test_same_data_settings_and_seed_give_bit_identical_weights(make):
    data = datasets.load("digits")
    X, y = (data.X, data.y % 2) if isinstance(make(), LogisticRegression) else (data.X, data.y)
    X = X.reshape(len(X), -1) if not isinstance(make(), CNNClassifier) else X
    with threadpool_limits(1):
        assert_identical(weights(make().fit(X, y)), weights(make().fit(X, y)))


# --- hostile files ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    data = datasets.load("digits")
    model = MLPClassifier((8,), max_iter=2, random_state=0).fit(data.flat, data.y)
    path = tmp_path_factory.mktemp("model") / "model.npz"
    neuronet.save(model, path)
    return path, model, data.flat[:20]


def _write_zip(path, members):
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)


def test_a_zip_bomb_member_is_refused_before_it_is_read(tmp_path):
    import io
    import zipfile

    path = tmp_path / "bomb.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.npy", header.getvalue() + b"\0" * 8_000_000)  # 8 MB of zeros, 8 GB promised
    with pytest.raises(ModelFileError, match="compressed member"):  # refused before anything is inflated
        neuronet.load(path)


def test_a_wrong_format_version_is_refused(model_file, tmp_path):
    path, _, _ = model_file
    data = path.read_bytes()
    assert data.count(b'"format_version": "2"') == 1
    (tmp_path / "future.npz").write_bytes(data.replace(b'"format_version": "2"', b'"format_version": "9"'))
    with pytest.raises(ModelFileError, match="format version '9'"):
        neuronet.load(tmp_path / "future.npz")


@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=3))
def test_load_survives_truncation_and_byte_flips(model_file, tmp_path, cut, flips):
    path, model, X = model_file
    data = bytearray(path.read_bytes())
    data = data[: max(1, int(len(data) * (0.3 + 0.7 * cut)))] if cut < 0.5 else data
    for where, mask in flips:
        data[int(where * (len(data) - 1))] ^= mask
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(data))
    try:
        loaded = neuronet.load(damaged)
    except ModelFileError as error:
        assert str(error)
    else:  # only a change that touched nothing that matters may load, and then it predicts the same
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


ARRAYS = st.one_of(
    st.builds(lambda shape, fill: np.full(shape, fill),
              st.tuples(st.integers(0, 6), st.integers(0, 4)),
              st.sampled_from([0.0, 1.0, -3.5, np.nan, np.inf, -np.inf, 1e300, 1e-300, 7])),
    st.builds(lambda n, seed: np.random.default_rng(seed).normal(size=(n, 3)), st.integers(1, 8), st.integers(0, 99)),
    st.builds(lambda n: np.array([["a", "b"]] * n), st.integers(1, 4)),
    st.builds(lambda n: np.empty((n, 2), dtype=object), st.integers(1, 3)),
    st.builds(lambda n: np.ones((n, 2, 2, 2)), st.integers(1, 4)),
    st.just(np.array(3.0)), st.just([[1, 2], [3]]),
)
LABELS = st.one_of(
    st.builds(lambda n, k: np.arange(n) % k, st.integers(0, 8), st.integers(1, 3)),
    st.builds(lambda n: np.array(["x", "y"] * n), st.integers(0, 4)),
    st.builds(lambda n: np.linspace(0, 1, n), st.integers(0, 8)),
    st.just(np.array([np.nan, 1.0, 0.0])), st.just(None),
)


@settings(max_examples=150, deadline=5000)
@given(X=ARRAYS, y=LABELS, which=st.sampled_from(["logistic", "newton", "mlp", "cnn"]), X_new=ARRAYS)
def test_malformed_input_gives_a_result_or_a_value_error(X, y, which, X_new):
    make = {"logistic": lambda: LogisticRegression(max_iter=3), "newton": lambda: LogisticRegression(solver="newton"),
            "mlp": lambda: MLPClassifier((4,), max_iter=2), "cnn": lambda: CNNClassifier(conv_filters=(2,), max_iter=1)}
    model = make[which]()
    try:
        model.fit(X, y)
    except ValueError as error:
        assert str(error)
        return
    for data in (X, X_new):
        try:
            proba = model.predict_proba(data)
        except ValueError as error:
            assert str(error)
            continue
        assert proba.shape == (len(data), len(model.classes_)) and np.isfinite(proba).all()


class ScaledSquaredError(nn.MeanSquaredError):
    """A loss with a setting of its own, which a resume must respect."""

    def __init__(self, scale):
        self.scale = scale

    def forward(self, output, target, sample_weight=None):
        return self.scale * super().forward(output, target, sample_weight)

    def backward(self):
        return self.scale * super().backward()

    def get_config(self):
        return {"scale": self.scale}


def test_the_resume_fingerprint_holds_the_loss_settings(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))

    def train(scale, resume=False):
        net = nn.Sequential([nn.Dense(4), nn.Tanh(), nn.Dense(1)], input_shape=(3,), random_state=0)
        return net.fit(X, y, loss=ScaledSquaredError(scale), optimizer=nn.SGD(0.01), epochs=2, batch_size=8,
                       callbacks=[nn.Checkpoint(tmp_path / "run.ckpt", resume=resume)], random_state=0)

    train(1.0)
    with pytest.raises(ValueError, match=r"other settings:\n  loss.scale: 1.0 then, 2.0 now"):
        train(2.0, resume=True)
    assert len(train(1.0, resume=True).epoch) == 2


def _assert_same_state(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same_state(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same_state(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_the_trainer_state_round_trips_through_its_state_dict_and_a_checkpoint_file(tmp_path):
    from neuronet import checkpoint
    from neuronet.training import Trainer

    X, y = np.random.default_rng(1).normal(size=(30, 2)), np.arange(30) % 2

    def trainer(epochs):
        net = nn.Sequential([nn.Dense(3), nn.ReLU(), nn.Dense(1), nn.Sigmoid()], input_shape=(2,), random_state=0)
        return Trainer(net, nn.BinaryCrossEntropy(), nn.Adam(0.05), epochs=epochs, batch_size=8, random_state=3,
                       penalty=nn.L2(0.01), callbacks=[nn.EarlyStopping("loss", patience=10)])

    trained = trainer(3)
    trained.fit(X, y)
    fingerprint = checkpoint.fingerprint(trained.settings(), *trained.data)
    checkpoint.save(tmp_path / "state.ckpt", trained.state_dict(), fingerprint)
    restored = trainer(3)
    restored.load_state_dict(checkpoint.load(tmp_path / "state.ckpt", fingerprint))
    _assert_same_state(restored.state_dict(), trained.state_dict())
    assert restored.epoch == 3 and len(restored.history.epoch) == 3


def test_newton_interrupted_on_its_converging_iteration_resumes_to_the_same_fit(tmp_path, breast_cancer_split,
                                                                               monkeypatch):
    from neuronet.estimators import base as estimators

    X, _, y, _ = breast_cancer_split
    straight = LogisticRegression(solver="newton", alpha=0.01, dtype="float64").fit(X, y)

    class CtrlC(nn.Callback):
        """Presses Ctrl-C during the iteration on which Newton's method converges."""

        changes_training = False

        def on_batch_end(self, batch, logs):
            if self.trainer.epoch == straight.n_iter_ - 1:
                self.trainer._interrupt_requested = True

    loop = estimators.fit
    monkeypatch.setattr(estimators, "fit", lambda *args, callbacks=(), **kwargs: loop(
        *args, callbacks=[*callbacks, CtrlC()], **kwargs))
    with pytest.raises(neuronet.TrainingInterrupted) as stop:
        LogisticRegression(solver="newton", alpha=0.01, dtype="float64").fit(X, y, checkpoint=tmp_path / "run.ckpt")
    assert stop.value.checkpoint == str(tmp_path / "run.ckpt")
    monkeypatch.undo()
    resumed = LogisticRegression(solver="newton", alpha=0.01, dtype="float64").fit(
        X, y, checkpoint=tmp_path / "run.ckpt", resume=True)
    assert resumed.n_iter_ == straight.n_iter_
    np.testing.assert_array_equal(resumed.coef_, straight.coef_)
