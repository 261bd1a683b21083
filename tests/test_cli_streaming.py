"""The command line on images read a slice at a time (a folder's image cache; here
data.LazyRows over the same arrays): evaluation and the report read a chunk at a time and
say what they say of the arrays; a run that would not fit in memory is refused before it
starts, naming settings that fit."""

import os
from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest

import neuronet
from neuronet import data, imagefolder
from neuronet.cli import common, train
from neuronet.datasets import load
from neuronet.estimators import CNNClassifier
from neuronet.preprocessing import final_estimator
from neuronet.report import Run, write_report
from command_line import private_cache, run  # noqa: F401 (a fixture)
from photos import make_photo_folder

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class Watched(data.LazyRows):
    """LazyRows that remember the most rows read at once."""

    most = 0

    def __getitem__(self, index):
        Watched.most = max(Watched.most, len(data.as_indices(index, len(self))))
        return super().__getitem__(index)


def lazily(dataset):
    return replace(dataset, X=Watched(dataset.X, np.arange(len(dataset.X))))


def test_evaluate_reads_lazy_images_a_chunk_at_a_time_and_says_the_same(capsys, monkeypatch):
    code, _, err = run(capsys, "train", "--data", "digits", "--model", "cnn", "--epochs", 1, "--quiet",
                       "--output", "digits.npz")
    assert code == 0, err
    for every in ([], ["--all"]):
        _, in_memory, _ = run(capsys, "evaluate", "digits.npz", *every)
        with monkeypatch.context() as patch:
            loaded = common.load_dataset
            patch.setattr(common, "load_dataset", lambda *args, **options: lazily(loaded(*args, **options)))
            Watched.most = 0
            code, streamed, err = run(capsys, "evaluate", "digits.npz", *every)
        assert code == 0, err
        assert streamed == in_memory
        assert 0 < Watched.most <= data.CHUNK_ROWS < (1797 if every else 1437)


def test_the_report_of_lazy_images_is_the_report_of_the_arrays(tmp_path):
    digits = load("digits")
    split = train.prepared(digits, digits.split(0.2, 0))[1]
    lazy_split = train.prepared(lazily(digits), lazily(digits).split(0.2, 0))[1]
    assert data.is_lazy(lazy_split[0]) and lazy_split[0].shape == split[0].shape
    model = CNNClassifier(image_shape=(1, 8, 8), conv_filters=(4,), max_iter=1, random_state=0).fit(*split[::2])
    facts = Run("neuronet train", datetime(2026, 1, 1), 1.0)
    Watched.most = 0
    pages = [open(write_report(tmp_path / name, model, digits, parts, facts)).read()
             for name, parts in (("arrays", split), ("lazy", lazy_split))]
    assert pages[0] == pages[1]
    assert sorted(os.listdir(tmp_path / "arrays")) == sorted(os.listdir(tmp_path / "lazy"))
    assert 0 < Watched.most <= data.CHUNK_ROWS
    assert train._accuracies(model, *lazy_split, None) == train._accuracies(model, *split, None)


def test_a_run_that_would_not_fit_in_memory_is_refused_naming_a_batch_size_that_fits(capsys, monkeypatch):
    digits = load("digits")
    model = CNNClassifier(image_shape=(1, 8, 8), batch_size=512, random_state=0)
    needed = train.memory_needed(model, (1, 8, 8), 10, 512, 1024)
    chunk_alone = train.memory_needed(model, (1, 8, 8), 10, 1, 1024).total
    available = (needed.total + chunk_alone) // 2
    monkeypatch.setattr(imagefolder, "available_memory", lambda: available)
    code, out, err = run(capsys, "train", "--data", "digits", "--model", "cnn", "--batch-size", 512, "--quiet")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert f"needs about {imagefolder.size_text(needed.total)} of memory" in err
    batch = int(err.split("--batch-size ")[1].split()[0])
    assert train.memory_needed(model, (1, 8, 8), 10, batch, 1024).total <= available
    assert train.memory_needed(model, (1, 8, 8), 10, batch + 1, 1024).total > available
    assert not os.path.exists("neuronet-runs")  # refused before a run folder was made
    monkeypatch.setattr(imagefolder, "available_memory", lambda: needed.total)
    code, _, err = run(capsys, "train", "--data", "digits", "--model", "cnn", "--batch-size", 512, "--epochs", 1,
                       "--quiet")
    assert code == 0, err
    assert len(digits.y) == 1797


def test_a_folder_too_large_for_memory_is_refused_naming_an_image_size_that_fits(capsys, monkeypatch, tmp_path):
    make_photo_folder(tmp_path / "photos", per_class=20)
    model = CNNClassifier(image_shape=(3, 64, 64))
    chunk = 41  # the folder's images: the evaluation chunk is no larger
    at_64 = train.memory_needed(model, (3, 64, 64), 2, 1, chunk).total
    available = at_64 * 2 // 3  # no batch size is small enough: the image size must shrink
    monkeypatch.setattr(imagefolder, "available_memory", lambda: available)
    code, _, err = run(capsys, "train", "--data", tmp_path / "photos", "--model", "cnn", "--image-size", 64, "--quiet")
    assert code == 2 and "--batch-size" not in err and "--image-size" in err
    side = int(err.split("--image-size ")[1].split()[0])
    assert train.memory_needed(model, (3, side, side), 2, 32, chunk).total <= available
    assert train.memory_needed(model, (3, side + 1, side + 1), 2, 32, chunk).total > available


def test_the_memory_estimate_counts_the_convolution_columns():
    digits_cnn = CNNClassifier(image_shape=(1, 8, 8), conv_filters=(4,), kernel_size=3)
    network = train.planned_network(digits_cnn, (1, 8, 8), 10)
    estimate = network.memory_estimate(100, 1000, optimizer_slots=2)
    columns = 1 * 3 * 3 * 8 * 8 * 4  # "same" padding: one column of 9 values per output pixel, float32
    with_columns = estimate.chunk
    network.layers[0].kept_bytes = lambda *args, **kwargs: 0
    assert with_columns - network.memory_estimate(100, 1000).chunk >= 1000 * columns
    assert estimate.parameters == network.count_params() * 4 * 4  # weights, gradients, Adam's two moments


@pytest.mark.parametrize("model", ["cnn", "mlp", "logistic"])
def test_train_on_lazy_images_reads_them_a_chunk_at_a_time_and_learns_the_same(capsys, monkeypatch, model):
    flags = ["--data", "digits", "--model", model, "--epochs", 2, "--quiet"] + (["--hidden", 16] * (model == "mlp"))
    code, in_memory, err = run(capsys, "train", *flags, "--output", "first.npz")
    assert code == 0, err
    loaded = common.load_dataset
    monkeypatch.setattr(common, "load_dataset", lambda *args, **options: lazily(loaded(*args, **options)))
    Watched.most = 0
    code, streamed, err = run(capsys, "train", *flags, "--output", "second.npz")
    assert code == 0, err
    assert streamed.replace("second", "first") == in_memory
    assert 0 < Watched.most <= data.CHUNK_ROWS < 1437
    arrays, lazy = (final_estimator(neuronet.load(name)).network_.get_weights() for name in ("first.npz", "second.npz"))
    assert all(np.array_equal(arrays[key], lazy[key]) for key in arrays)


def test_a_large_training_set_is_scored_on_samples_spread_over_it_and_says_so(tmp_path, monkeypatch, capsys):
    from neuronet.cli import main
    from neuronet.cli import train as train_command

    monkeypatch.setattr(train_command, "TRAIN_SCORED", 500)
    model = tmp_path / "model.npz"
    assert main(["train", "--data", "digits", "--model", "logistic", "--epochs", "20", "--output", str(model)]) == 0
    out = capsys.readouterr().out
    assert "train accuracy" in out and "(on 500 of 1,437 samples)" in out
    page = (tmp_path / "model-report" / "index.html").read_text(encoding="utf-8")
    assert "on 500 of 1,437 samples (spread over them)" in page
