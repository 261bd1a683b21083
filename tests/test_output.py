"""What neuronet prints reads well wherever it goes: progress in a log file, labelled
numbers, a folder's files in the order a person expects, one line for one bad file."""

import importlib.util
import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from neuronet import nn
from neuronet.callbacks import redraws_in_place
from neuronet.cli.predict import inputs
from command_line import private_cache, run  # noqa: F401 (a fixture)

EPOCH_LINE = (r"epoch {}/3 - loss \(epoch mean\) \S+ - accuracy \(epoch mean\) \S+ - val_loss \S+ - val_accuracy \S+ "
              r"- time \d+\.\d\d s")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_bar_is_redrawn_only_on_a_terminal():
    closed = io.StringIO()
    closed.close()
    assert redraws_in_place(Terminal())
    assert not any(redraws_in_place(stream) for stream in (io.StringIO(), closed, object()))


def test_progress_to_a_pipe_or_a_file_is_one_labelled_line_per_epoch(capsys):
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    net = nn.Sequential([nn.Dense(4), nn.ReLU(), nn.Dense(1), nn.Sigmoid()], input_shape=(3,))
    nn.fit(net, X[:30], y[:30], loss=nn.BinaryCrossEntropy(), optimizer=nn.SGD(0.1), epochs=3, batch_size=10,
           validation_data=(X[30:], y[30:]), verbose=1)
    shown = capsys.readouterr()
    assert "\r" not in shown.err and shown.out == ""
    lines = shown.err.splitlines()
    assert len(lines) == 3 and all(re.fullmatch(EPOCH_LINE.format(n), line) for n, line in zip((1, 2, 3), lines))


def test_the_epoch_logger_labels_every_number_the_time_too(capsys):
    X, y = np.eye(4), np.arange(4) % 2
    net = nn.Sequential([nn.Dense(1), nn.Sigmoid()], input_shape=(4,))
    nn.fit(net, X, y, loss=nn.BinaryCrossEntropy(), optimizer=nn.SGD(0.1), epochs=2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert [re.sub(r"\d+\.?\d*(e-?\d+)?", "N", line) for line in lines] == \
           ["iteration N/N - loss N - accuracy N - time N s"] * 2


def test_predict_lists_a_folder_in_natural_order(tmp_path):
    for name in ("10.jpg", "2.jpg", "img10.jpg", "img2.jpg", "b.jpg", "A.jpg", "a.png", ".hidden.jpg", "sub10/1.jpg",
                 "Sub2/10.jpg", "Sub2/9.JPG", "sub10/deeper/3.jpg", ".git/x.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    listed = [path.removeprefix(str(tmp_path) + "/") for path in inputs([str(tmp_path)])]
    assert listed == ["2.jpg", "10.jpg", "A.jpg", "a.png", "b.jpg", "img2.jpg", "img10.jpg",
                      "Sub2/9.JPG", "Sub2/10.jpg", "sub10/1.jpg", "sub10/deeper/3.jpg"]


@pytest.fixture
def cancer_model(capsys):
    """A logistic regression on breast-cancer, saved as model.npz, and two of its rows."""
    from sklearn.datasets import load_breast_cancer

    assert run(capsys, "train", "--epochs", 20, "--quiet", "--output", "model.npz")[0] == 0
    return load_breast_cancer().data[:2].copy()


def test_an_error_while_predicting_one_file_names_it_and_the_others_go_on(capsys, cancer_model):
    np.save("good.npy", cancer_model)
    cancer_model[1, 3] = np.nan  # read without fault; the prediction refuses it
    np.save("gaps.npy", cancer_model)
    code, out, err = run(capsys, "predict", "model.npz", "gaps.npy", "good.npy")
    assert code == 1 and err == "gaps.npy: error: Input X contains NaN.\n"
    assert [line.split(":")[0] for line in out.splitlines()] == ["good.npy[0]", "good.npy[1]"]


def test_predict_labels_the_probability_it_prints(capsys, cancer_model):
    np.save("rows.npy", cancer_model)
    code, out, _ = run(capsys, "predict", "model.npz", "rows.npy")
    assert code == 0 and re.fullmatch(r"(rows\.npy\[\d\]: \w+ \(probability \d+\.\d%\)\n){2}", out)


def test_an_installed_neuronet_gains_an_extra_by_its_name_and_a_source_tree_from_its_folder(monkeypatch):
    from importlib.metadata import PackageNotFoundError

    import neuronet.extras

    monkeypatch.setattr(neuronet.extras, "distribution", lambda name: object())
    assert neuronet.extras.install_command("rl") == "pip install 'neuronet[rl]'"

    def not_installed(name):
        raise PackageNotFoundError(name)

    # the module as it lies in this checkout's source tree (the installed copy may be elsewhere)
    tree = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("tree_extras", tree / "src" / "neuronet" / "extras.py")
    in_tree = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(in_tree)
    monkeypatch.setattr(in_tree, "distribution", not_installed)
    assert in_tree.install_command("rl") == f"pip install '{tree}[rl]'"


def hide(monkeypatch, missing, *reimported):
    """As if the package ``missing`` (and every module of it already imported) were not
    installed, with the modules ``reimported`` to import afresh."""
    for module in [name for name in sys.modules if name == missing or name.startswith(missing + ".")] + [missing]:
        monkeypatch.setitem(sys.modules, module, None)
    for module in reimported:
        monkeypatch.delitem(sys.modules, module, raising=False)


def test_a_missing_gymnasium_says_how_to_install_reinforcement_learning(monkeypatch):
    from neuronet import rl
    from neuronet.extras import install_command

    hide(monkeypatch, "gymnasium")
    with pytest.raises(ValueError, match=re.escape(f"needs gymnasium: {install_command('rl')}")):
        rl.make_env()


def test_a_missing_onnx_says_how_to_install_the_export(monkeypatch):
    from neuronet.extras import install_command

    hide(monkeypatch, "onnx", "neuronet.export", "neuronet.export.graph", "neuronet.export.model")
    with pytest.raises(ImportError, match=re.escape(f"needs the onnx package: {install_command('onnx')}")):
        importlib.import_module("neuronet.export")


def test_a_missing_starlette_says_how_to_install_the_studio(capsys, monkeypatch):
    from neuronet.extras import install_command

    hide(monkeypatch, "starlette", "neuronet.studio.server")
    code, _, err = run(capsys, "studio", "--no-browser", "--port", "70000")  # never a server, whatever happens
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("neuronet studio: error: the studio needs its extra (starlette")
    assert err.endswith(f" is not installed): {install_command('studio')}\n")


def test_reinforcement_learning_in_a_pipe_says_its_progress_in_labelled_lines(capsys):
    pytest.importorskip("gymnasium")
    code, _, err = run(capsys, "rl", "cartpole", "--episodes", 100, "--output", "pole.npz")
    assert code == 0 and "\r" not in err
    lines = [re.sub(r"\b\d+\.?\d*\b", "N", line) for line in err.splitlines()]
    assert lines == ["episode N/N - return N - avg100 N"] * 2
