"""The report a learner reads: what was trained on what, how, how well, and figures that
say what they show; the test set is called the test set everywhere."""

import contextlib
import io
import os
import re
import shutil
from datetime import datetime, timezone
from html.parser import HTMLParser

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from neuronet import CNNClassifier, LogisticRegression, MLPClassifier, datasets, plots
from neuronet.callbacks import held_out_named
from neuronet.cli import main
from neuronet.report import Run, write_report
from photos import make_photo_folder

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RUN = Run("neuronet train --data example", datetime(2024, 5, 6, 7, 8, tzinfo=timezone.utc), 1.25, "model.npz")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONET_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def drawn(monkeypatch):
    """Every figure the report saves, by file name, to read its words."""
    figures = {}
    original = plots.save

    def save(fig, path):
        figures[os.path.basename(path)] = fig
        return original(fig, path)

    monkeypatch.setattr(plots, "save", save)
    return figures


def words(fig):
    """Every piece of text on a figure: titles, labels, tick labels, legends, notes."""
    return {text.get_text() for text in fig.findobj(lambda artist: hasattr(artist, "get_text")) if text.get_text()}


class Page(HTMLParser):
    """The page's visible text, its images, and the text inside <details>."""

    def __init__(self, source):
        super().__init__()
        self.text, self.folded, self.images, self.depth = [], [], [], 0
        self.feed(source)

    def handle_starttag(self, tag, attrs):
        self.depth += tag == "details"
        if tag == "img":
            self.images.append(dict(attrs)["src"])
            self.text.append("<figure>")

    def handle_endtag(self, tag):
        self.depth -= tag == "details"

    def handle_data(self, data):
        (self.folded if self.depth else self.text).append(data)

    @property
    def visible(self):
        return " ".join(" ".join(self.text).split())

    @property
    def first_screen(self):
        """The text before the first figure."""
        return self.visible.split("<figure>")[0]


def train(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


@pytest.fixture(scope="module")
def cancer():
    """Breast-cancer data standardized and split 70/30, and a briefly trained logistic regression."""
    data = datasets.load("breast-cancer")
    X = StandardScaler().fit_transform(data.X)
    split = train_test_split(X, data.y, test_size=0.3, random_state=0, stratify=data.y)
    return data, split, LogisticRegression(max_iter=50, random_state=0).fit(split[0], split[2])


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """`neuronet train --data digits --model mlp --epochs 2 --alpha 0.01`: its console output and its page."""
    model = tmp_path_factory.mktemp("runs") / "digits.npz"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", "--data", "digits", "--model", "mlp", "--epochs", "2", "--alpha", "0.01",
                     "--output", str(model)]) == 0
    report = model.parent / "digits-report"
    return out.getvalue(), str(model), report, Page((report / "index.html").read_text())


def test_learning_curves_name_the_step_they_count():
    history = {"loss": [0.7, 0.5, 0.4], "accuracy": [0.5, 0.8, 0.9]}
    for step in ("epoch", "iteration"):
        fig = plots.learning_curves(history, step=step)
        assert [ax.get_xlabel() for ax in fig.axes] == [step, step]
        assert [ax.get_title() for ax in fig.axes] == [f"Cost per {step}", f"Accuracy per {step}"]


def test_learning_curves_draw_the_history_that_fit_returns_with_its_own_step():
    from neuronet import nn

    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    for batch_size, step in ((8, "epoch"), (40, "iteration")):
        network = nn.Sequential([nn.Dense(2), nn.Softmax()], input_shape=(3,), random_state=0)
        history = network.fit(X, y, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=3,
                              batch_size=batch_size)
        fig = plots.learning_curves(history)
        assert [ax.get_xlabel() for ax in fig.axes] == [step, step]
        assert list(fig.axes[0].lines[0].get_ydata()) == history["loss"]


def test_a_cost_that_spans_decades_is_drawn_on_a_log_scale_so_late_rises_show():
    spanning = plots.learning_curves({"loss": [3.2, 0.05, 0.09, 0.04]}, step="iteration").axes[0]
    assert spanning.get_yscale() == "log" and "log scale" in spanning.get_ylabel()
    assert plots.learning_curves({"loss": [0.7, 0.5, 0.4]}).axes[0].get_yscale() == "linear"


def test_learning_curves_call_the_held_out_data_what_it_is():
    history = {"loss": [0.7, 0.5], "val_loss": [0.8, 0.6]}

    def legend(**named):
        return [text.get_text() for text in plots.learning_curves(history, **named).axes[0].get_legend().get_texts()]

    assert legend(step="iteration") == ["train", "validation"]  # one step a curve point: both after it
    assert legend(step="iteration", held_out="test") == ["train", "test"]
    assert legend(held_out="test") == ["train (mean over the epoch's minibatches)", "test (at the epoch's end)"]


def test_progress_output_calls_the_held_out_data_validation_unless_the_caller_names_it(capsys):
    X, y = datasets.load("moons").X, datasets.load("moons").y
    fit = lambda: LogisticRegression(max_iter=1, verbose=2).fit(X[:300], y[:300], validation_data=(X[300:], y[300:]))
    fit()
    assert "val_loss" in capsys.readouterr().out
    with held_out_named("test"):
        fit()
    out = capsys.readouterr().out
    assert "test_loss" in out and "test_accuracy" in out and "val_" not in out


@pytest.mark.parametrize("model, step", [(LogisticRegression(max_iter=400, random_state=0), "iteration"),
                                         (LogisticRegression(solver="newton", random_state=0), "iteration"),
                                         (MLPClassifier(max_iter=3, random_state=0), "epoch")],
                         ids=["gradient-descent", "newton", "mlp"])
def test_the_report_counts_gradient_descent_in_iterations_and_minibatch_training_in_epochs(
        model, step, tmp_path, drawn, cancer):
    data, split, _ = cancer
    model.fit(split[0], split[2])
    index = write_report(tmp_path / "report", model, data, split, RUN)
    assert {f"Cost per {step}", step} <= words(drawn["learning_curves.png"])
    assert f"{model.n_iter_} {step}" in Page(open(index).read()).first_screen


def test_the_first_screen_says_what_was_trained_on_what_by_which_command_when_and_how_well(digits_run):
    out, model, report, page = digits_run
    first = page.first_screen
    train_accuracy, test_accuracy = re.search(r"train accuracy (\S+)\s+test accuracy (\S+)", out).groups()
    assert "MLPClassifier on digits" in first and "1,797 handwritten digits" in first
    assert f"neuronet train --data digits --model mlp --epochs 2 --alpha 0.01 --output {model}" in first
    assert re.search(r"date \d{4}-\d\d-\d\d \d\d:\d\d", first)
    assert re.search(r"training [\d.]+ s, 2 epochs", first)
    assert f"train accuracy {train_accuracy} on 1,437 samples" in first
    assert f"test accuracy {test_accuracy} on 360 samples" in first
    assert "7,510 parameters" in first
    assert all((report / image).stat().st_size > 0 for image in page.images)
    assert {"learning_curves.png", "confusion_matrix.png", "weights.png", "mistakes.png"} <= set(page.images)
    assert "First-layer weights: first 64 of 100 hidden units" in page.visible


def test_settings_list_what_differs_from_the_defaults_and_fold_away_the_rest(digits_run):
    page = digits_run[3]
    settings = page.visible.split("Settings")[1].split("The network")[0]
    for changed in ("max_iter", "alpha", "random_state"):
        assert changed in settings
    assert "beta_1" not in settings and "momentum" not in settings  # left at their defaults
    folded = " ".join(page.folded)
    every = [name for name in MLPClassifier().get_params() if name != "verbose"]
    assert f"All {len(every)} settings of MLPClassifier" in folded and all(name in folded for name in every)


def test_the_held_out_data_of_neuronet_train_is_the_test_set_in_console_figures_and_page(capsys, tmp_path, drawn):
    out, err = train(capsys, "train", "--data", "moons", "--model", "mlp", "--epochs", 3, "--output", "moons.npz")
    assert "test_loss" in err + out and "val_" not in err + out
    page = Page(open(tmp_path / "moons-report" / "index.html").read())
    assert "validation" not in page.visible and "held-out" not in page.visible  # (validation_fraction: folded away)
    assert "train set (blue): the mean over the epoch's minibatches" in page.visible
    assert "The test set (orange) is scored at each epoch's end" in page.visible
    legend = {text.get_text() for ax in drawn["learning_curves.png"].axes for text in ax.get_legend().get_texts()}
    assert legend == {"train (mean over the epoch's minibatches)", "test (at the epoch's end)"}
    boundary = {text.get_text() for text in drawn["decision_boundary.png"].axes[0].get_legend().get_texts()}
    assert boundary == {"0 (train)", "1 (train)", "0 (test)", "1 (test)"}


def test_logistic_regression_on_a_table_draws_a_bar_per_named_feature(tmp_path, drawn, cancer):
    data, split, model = cancer
    write_report(tmp_path / "report", model, data, split, RUN)
    labels = words(drawn["weights.png"])
    assert set(data.feature_names) <= labels
    assert "red: towards benign, blue: towards malignant" in labels


def test_weight_pictures_share_one_colour_scale_centred_at_zero_with_a_colour_bar():
    weights = np.random.default_rng(0).normal(size=(5, 1, 4, 4))
    weights[2, 0, 0, 0] = -9.0
    fig = plots.weight_images(weights, [f"unit {u}" for u in range(5)], "weights", "red raises, blue lowers")
    images = [image for ax in fig.axes for image in ax.get_images()]
    assert len(images) == 5 and all(image.get_clim() == (-9.0, 9.0) for image in images)
    assert all(image.get_cmap().name == plots.SIGNED for image in images)
    assert "weight (white: 0)" in words(fig)  # the colour bar's label


def test_a_convolutional_network_shows_one_image_through_each_convolution_layer(tmp_path, drawn):
    data = datasets.load("digits")
    split = train_test_split(data.X[:300], data.y[:300], test_size=0.3, random_state=0, stratify=data.y[:300])
    model = CNNClassifier(image_shape=data.image_shape, conv_filters=(4, 20), max_iter=1, random_state=0)
    model.fit(split[0], split[2])
    write_report(tmp_path / "report", model, data, split, RUN)
    labels = words(drawn["feature_maps.png"])
    assert {"input", "conv 1 + ReLU\nall 4 maps", "conv 2 + ReLU\nfirst 16 of 20 maps"} <= labels
    assert "First-layer weights: all 4 kernels\nred: bright input there raises the map, blue lowers it" in words(
        drawn["weights.png"])


def test_the_worst_mistakes_on_a_photo_folder_name_their_files(capsys, tmp_path, drawn):
    make_photo_folder(tmp_path / "photos", per_class=12, extras=False)
    for index in range(5):  # mislabelled photos: some of the test set must be wrong
        shutil.move(tmp_path / "photos" / "cat" / f"{index:03d}.jpg", tmp_path / "photos" / "dog" / f"c{index}.jpg")
        shutil.move(tmp_path / "photos" / "dog" / f"{index + 5:03d}.jpg", tmp_path / "photos" / "cat" / f"d{index}.jpg")
    train(capsys, "train", "--data", "photos", "--image-size", 12, "--test-size", 0.5, "--epochs", 30,
          "--output", "photos.npz", "--quiet")
    panels = [ax for ax in drawn["mistakes.png"].axes if ax.get_images()]
    assert panels
    for ax in panels:
        truth = ax.get_title().split("was ")[1]
        file_name = ax.get_xlabel()
        assert file_name.startswith(f"{truth}/") and (tmp_path / "photos" / file_name).exists()


def test_an_interrupted_report_leaves_the_previous_one_whole(tmp_path, monkeypatch, cancer):
    data, split, model = cancer
    folder = tmp_path / "report"
    write_report(folder, model, data, split, RUN)
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)}
    original, calls = plots.save, []

    def interrupted(fig, path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(fig, path)

    monkeypatch.setattr(plots, "save", interrupted)
    other = LogisticRegression(max_iter=5, random_state=0).fit(split[0], split[2])  # whose figures differ
    with pytest.raises(KeyboardInterrupt):
        write_report(folder, other, data, split, RUN)
    assert {name: (folder / name).read_bytes() for name in os.listdir(folder)} == before
    assert sorted(os.listdir(tmp_path)) == ["report"]  # no half-written folder beside it
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        write_report(tmp_path / "fresh", model, data, split, RUN)
    assert sorted(os.listdir(tmp_path)) == ["report"]


def test_a_report_leaves_another_live_writers_draft_alone_and_clears_a_dead_ones(tmp_path, cancer):
    import socket

    data, split, model = cancer
    live = tmp_path / f".report.{socket.gethostname()}.{os.getpid()}.abcd.tmp"  # this process: alive
    dead = tmp_path / f".report.{socket.gethostname()}.999999999.abcd.tmp"  # no such process
    live.mkdir(), dead.mkdir()
    write_report(tmp_path / "report", model, data, split, RUN)
    assert live.is_dir() and not dead.exists()


def test_a_folder_that_holds_other_files_is_not_replaced_by_a_report(tmp_path, cancer):
    data, split, model = cancer
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds files other than a report"):
        write_report(tmp_path, model, data, split, RUN)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def _backend_after_importing_plots(backend):
    """matplotlib's backend once neuronet.plots is imported, in a fresh Python whose
    MPLBACKEND is ``backend`` (None: unset)."""
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env.update({"MPLBACKEND": backend} if backend else {})
    script = "import neuronet.plots, matplotlib; print(matplotlib.get_backend())"
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_plots_in_a_notebook_keeps_its_inline_figures_showing():
    pytest.importorskip("matplotlib_inline")
    inline = "module://matplotlib_inline.backend_inline"
    assert _backend_after_importing_plots(inline) == inline
