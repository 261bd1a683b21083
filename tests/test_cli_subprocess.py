"""Off the README's path, as a stranger meets it: the real `neuronet` process, its exit
status and what it prints on stderr — one line for a mistake, never a traceback."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from photos import make_photo_folder


def neuronet(*argv, cwd):
    """Run `neuronet ARGV` in a fresh process: (exit status, stdout, stderr)."""
    environment = {**os.environ, "NEURONET_CACHE": os.path.join(cwd, "cache"), "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "neuronet.cli", *map(str, argv)], cwd=cwd, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


def one_line(stderr):
    return stderr.count("\n") == 1


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A working folder with a logistic model of breast cancer, trained by the command line."""
    path = tmp_path_factory.mktemp("stranger")
    code, _, err = neuronet("train", "--epochs", 50, "--output", "cancer.npz", "--checkpoint", "cancer.ckpt",
                            "--quiet", cwd=path)
    assert code == 0, err
    return path


@pytest.mark.parametrize("argv, message", [
    (["train", "--hidden", "64"], "--hidden applies to --model mlp or cnn"),
    (["train", "--data", "missing/folder"], "no such file or folder: 'missing/folder'"),
    (["train", "--data", "digits", "--rates", "1"], "unrecognized arguments: --rates 1"),
    (["study", "learning-rate", "--model", "cnn"], "--model cnn needs images"),
    (["study", "learning-rate", "--rates", ""], "give at least one learning rate"),
    (["evaluate", "cancer.npz", "digits"], "the model knows the classes ['malignant', 'benign']"),
    (["evaluate", "nothing.npz", "digits"], "no model file at 'nothing.npz'"),
])
def test_a_mistake_is_one_line_and_exit_status_2(argv, message, folder):
    code, _, err = neuronet(*argv, cwd=folder)
    assert code == 2 and message in err and (one_line(err) or "usage:" in err), err


def test_a_finished_run_resumed_says_so_and_trains_no_further(folder):
    code, out, err = neuronet("train", "--epochs", 50, "--output", "cancer.npz", "--checkpoint", "cancer.ckpt",
                              "--resume", "--quiet", cwd=folder)
    assert code == 0 and err == ""
    assert "cancer.ckpt holds a finished run (iteration 50 of 50): nothing to resume" in out


def test_predict_reads_a_table_reports_a_bad_one_in_a_line_and_exits_1(folder):
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer().data
    np.savetxt(folder / "rows.csv", X[:3], delimiter=";", fmt="%g")
    np.savetxt(folder / "short.csv", X[:3, :29], delimiter=",", fmt="%g")
    code, out, err = neuronet("predict", "cancer.npz", "short.csv", "rows.csv", "--output", "p.csv", cwd=folder)
    assert code == 1 and one_line(err) and "short.csv has 29 columns; the model expects 30" in err
    assert out.count("rows.csv[") == 3
    assert (folder / "p.csv").read_text().splitlines()[0] == "file,label,p_malignant,p_benign"


def test_photos_in_a_folder_unlabelled_and_too_large_for_memory(folder):
    make_photo_folder(folder / "test1", per_class=2, layout="flat", extras=False)
    for index, name in enumerate(sorted(os.listdir(folder / "test1"))):
        os.rename(folder / "test1" / name, folder / "test1" / f"{index + 1}.jpg")  # Kaggle's test1/: no labels
    code, _, err = neuronet("train", "--data", "test1", cwd=folder)
    assert code == 2 and one_line(err) and "no labels in" in err and "neuronet predict MODEL" in err
    make_photo_folder(folder / "pets", per_class=2, extras=False)
    code, _, err = neuronet("train", "--data", "pets", "--image-size", 40000, cwd=folder)
    assert code == 2 and one_line(err) and "need about" in err and "--image-size 64" in err


def test_a_cnn_of_grey_digits_labels_a_colour_photo_and_a_policy_network_is_named(folder):
    code, _, err = neuronet("train", "--data", "digits", "--model", "cnn", "--epochs", 1, "--output", "cnn.npz",
                            "--quiet", cwd=folder)
    assert code == 0, err
    Image.fromarray(np.full((20, 30, 3), 200, dtype=np.uint8)).save(folder / "photo.png")
    code, out, err = neuronet("predict", "cnn.npz", "photo.png", cwd=folder)
    assert code == 0 and err == "" and out.startswith("photo.png: ")
    import neuronet as library

    policy = library.nn.Sequential([library.nn.Dense(2), library.nn.Softmax()], input_shape=(4,))
    library.save(policy, folder / "pole.npz", extra={"environment": "CartPole-v1"})
    code, _, err = neuronet("predict", "pole.npz", "photo.png", cwd=folder)
    assert code == 2 and one_line(err) and "is a policy network trained by neuronet rl" in err


def test_the_cache_command_says_where_the_cache_is(folder):
    code, out, err = neuronet("cache", cwd=folder)
    assert code == 0 and err == "" and str(folder / "cache") in out
