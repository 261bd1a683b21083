"""Resuming a run: a finished run stays finished, its epochs may be extended, and any other
change is refused one line per difference."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from neuronet import MLPClassifier, nn
from neuronet.checkpoint import progress
from neuronet.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16, y[:400]


def mlp(max_iter, **settings):
    return MLPClassifier(hidden_layer_sizes=(16,), max_iter=max_iter, random_state=0, tol=0, **settings)


def test_a_finished_run_is_saved_as_finished_and_resuming_it_trains_no_further(digits, tmp_path):
    X, y = digits
    first = mlp(3).fit(X, y, checkpoint=tmp_path / "run.ckpt")
    assert progress(tmp_path / "run.ckpt") == {"done": 3, "planned": 3, "stopped": False, "step": "epoch"}
    again = mlp(3).fit(X, y, checkpoint=tmp_path / "run.ckpt", resume=True)
    for a, b in zip(first.coefs_, again.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_raising_the_epochs_of_a_finished_run_continues_it_as_if_asked_for_at_the_start(solver, digits, tmp_path):
    X, y = digits
    mlp(3, solver=solver).fit(X, y, checkpoint=tmp_path / "run.ckpt")
    extended = mlp(5, solver=solver).fit(X, y, checkpoint=tmp_path / "run.ckpt", resume=True)
    straight = mlp(5, solver=solver).fit(X, y)
    assert extended.n_iter_ == 5 and len(extended.loss_curve_) == 5
    for a, b in zip(extended.coefs_, straight.coefs_):
        np.testing.assert_array_equal(a, b)


def test_a_resume_with_other_settings_lists_each_difference_on_its_own_short_line(digits, tmp_path):
    X, y = digits
    mlp(3).fit(X, y, checkpoint=tmp_path / "run.ckpt")
    changed = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, batch_size=50, random_state=0, tol=0)
    with pytest.raises(ValueError) as refusal:
        changed.fit(X, y, checkpoint=tmp_path / "run.ckpt", resume=True)
    lines = str(refusal.value).splitlines()
    assert "  batch_size: 200 then, 50 now" in lines
    assert "  network.layers.0.config.units: 16 then, 8 now" in lines
    assert "  epochs: 3 then, 2 now" in lines  # lowering the epoch count is another run
    assert all(len(line) < 140 for line in lines)


def test_a_schedule_that_repeats_the_epoch_count_may_be_extended_with_it(digits, tmp_path):
    X, y = digits
    mlp(3, learning_rate="cosine").fit(X, y, checkpoint=tmp_path / "run.ckpt")
    extended = mlp(6, learning_rate="cosine").fit(X, y, checkpoint=tmp_path / "run.ckpt", resume=True)
    assert extended.n_iter_ == 6


def test_the_command_line_says_a_finished_run_is_finished_and_extends_one_in_a_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--data", "digits", "--model", "mlp", "--hidden", "8", "--output", "d.npz",
            "--checkpoint", "d.ckpt", "--quiet"]
    assert main([*argv, "--epochs", "2"]) == 0
    capsys.readouterr()
    assert main([*argv, "--epochs", "2", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "d.ckpt holds a finished run (epoch 2 of 2): nothing to resume; to train longer, give --epochs more " \
           "than 2" in out and "train accuracy" not in out
    assert main([*argv, "--epochs", "3", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resuming from d.ckpt: extending the run from 2 to 3 epochs" in out and "train accuracy" in out


def test_logistic_regression_speaks_of_iterations_when_resumed(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--data", "breast-cancer", "--epochs", "20", "--tol", "0", "--output", "b.npz",
            "--checkpoint", "b.ckpt", "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 0
    assert "(iteration 20 of 20)" in capsys.readouterr().out


def test_the_progress_bar_ends_full_when_early_stopping_ends_the_run(capsys, terminal):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    network = nn.Sequential([nn.Dense(1), nn.Sigmoid()], input_shape=(2,))
    network.fit(X, y, loss=nn.BinaryCrossEntropy(), optimizer=nn.SGD(1e-9), epochs=50, batch_size=64, verbose=1,
                callbacks=[nn.EarlyStopping(monitor="loss", patience=1, min_delta=1.0)])
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "100%" in last
