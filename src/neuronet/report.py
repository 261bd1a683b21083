"""The report folder written by ``neuronet train``: figures and an index.html.

Its first screen says what was trained on what, by which command, when and for how
long, how well (train and test accuracy), and shows the figures; below come the
settings that differ from the estimator's defaults (the full list folded away), the
per-class scores and the network. The held-out data is the test set, and every
caption, legend and heading calls it so.
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import numpy as np
from sklearn.metrics import classification_report

from . import plots
from .augment import as_augmentation
from .files import current_umask, remove_abandoned, temporary_prefix
from .layers import Conv2D

MOST_PICTURES = 64  # weight pictures of grey images in one figure
MOST_COLOUR_UNITS = 8  # units whose weights over colour images are shown (one picture per channel)
MOST_MAPS = 16  # feature maps a convolution layer shows
MOST_MISTAKES = 16


@dataclass
class Run:
    """How the model came about: what the report tells besides what it measures."""

    command: str  # the command line that trained it
    started: datetime
    seconds: float  # time spent training
    model_file: str | None = None
    method: str | None = None  # how it learned, e.g. "gradient descent on all 455 training samples at each step, …"
    problems: tuple = ()  # what went wrong, one line each (neuronet.cli.outcome): shown above everything
    train_accuracy: float | None = None  # as measured already (a pass over a large training set is not repeated)
    train_scored: int | None = None  # the training samples it was measured on, where not all of them


def write_report(folder, model, dataset, split, run, test_files=()):
    """Draw every figure that applies to this model and data, then index.html.

    ``split`` is (X_train, X_test, y_train, y_test) as the model saw them (tables
    standardized, images as flat rows or as images: as ``neuronet train`` gives them),
    with labels as class indices; X may be an array-like read a slice at a time (a
    folder's image cache), which every figure reads a chunk at a time, keeping only what
    it shows (the test set's probabilities, the few images drawn); the history's held-out entries (``val_loss``…) were
    measured on X_test. ``test_files`` names the file of each test image, where there are
    files.

    The report is written to a new folder beside ``folder`` and then moved into its
    place, so that an interrupted write leaves the previous report, or none. A
    ``folder`` that holds anything but a report is refused (ValueError).
    Returns the path of index.html.
    """
    probabilities = model.predict_proba(split[1])
    predicted = _predicted(model, split[1], probabilities)
    with _replaced_atomically(folder) as draft:
        figures = _figures(draft, model, dataset, split, probabilities, predicted, test_files)
        with open(os.path.join(draft, "index.html"), "w", encoding="utf-8") as page:
            page.write(_page(model, dataset, split, predicted, run, figures))
    return os.path.join(folder, "index.html")


def _predicted(model, X_test, probabilities):
    """The test set's predicted class indices by the model's own rule: logistic regression
    compares its score with its threshold's (one cheap product more); a network says its
    most probable class (of two, the second where its probability exceeds 0.5), which
    its probabilities tell without a second pass over the images."""
    if hasattr(model, "threshold"):
        return np.searchsorted(model.classes_, model.predict(X_test))
    if probabilities.shape[1] == 2:
        return (probabilities[:, 1] > 0.5).astype(np.intp)
    return probabilities.argmax(axis=1)


# --- the folder -----------------------------------------------------------------

def _is_report(folder):
    """A folder that holds nothing, or only what a report holds (index.html and PNGs)."""
    entries = os.listdir(folder)
    return not entries or ("index.html" in entries and all(e == "index.html" or e.endswith(".png") for e in entries))


@contextmanager
def _replaced_atomically(folder):
    """Yield a new, empty folder beside ``folder``; when the block ends without error it
    takes ``folder``'s place (the old report is removed), and otherwise it is removed."""
    folder = os.path.abspath(folder)
    parent, name = os.path.split(folder)
    if os.path.exists(folder) and not (os.path.isdir(folder) and _is_report(folder)):
        raise ValueError(f"{folder} holds files other than a report; give --report a new or empty folder")
    os.makedirs(parent, exist_ok=True)
    remove_abandoned(parent, name)  # left by a run that was killed while writing
    draft = tempfile.mkdtemp(prefix=temporary_prefix(name), suffix=".tmp", dir=parent)
    os.chmod(draft, 0o777 & ~current_umask())  # the usual permissions, not mkdtemp's 0700
    try:
        yield draft
        if os.path.exists(folder):
            old = draft[: -len(".tmp")] + ".old.tmp"
            os.rename(folder, old)
            os.rename(draft, folder)
            shutil.rmtree(old)
        else:
            os.rename(draft, folder)
    except BaseException:
        shutil.rmtree(draft, ignore_errors=True)
        raise


# --- the figures ----------------------------------------------------------------

class _Drawn(NamedTuple):
    figure: object  # a matplotlib Figure
    caption: str
    wide: bool = False  # spans the page's two columns


def _figures(folder, model, dataset, split, probabilities, predicted, test_files):
    """Draw and save every figure that applies (``predicted``: the test set's class indices);
    returns [(file name, caption, wide)]."""
    X_train, X_test, y_train, y_test = split
    names = [str(c) for c in dataset.class_names]
    figures = []

    def add(file_name, drawn):
        if drawn is not None:
            plots.save(drawn.figure, os.path.join(folder, file_name))
            figures.append((file_name, drawn.caption, drawn.wide))

    history = getattr(model, "history_", None)  # L-BFGS keeps none
    if history is not None:
        add("learning_curves.png",
            _Drawn(plots.learning_curves(history.history, f"{type(model).__name__} on {dataset.name}", history.step,
                                         "test", history.measured),
                   _curves_caption(history.measured or history.step, "val_loss" in history.history), wide=True))
    add("confusion_matrix.png",
        _Drawn(plots.confusion_matrix(y_test, predicted, names, "Confusion matrix, test set"),
               f"Rows: the true class; columns: what the model said, for the {len(y_test):,} test samples."))
    add("weights.png", _weights(model.network_, dataset, names))
    if X_train.ndim == 2 and X_train.shape[1] == 2:
        add("decision_boundary.png", _decision_boundary(model, split, names, dataset.feature_names))
    if any(isinstance(layer, Conv2D) for layer in model.network_.layers):
        image = _Images(X_test, model.network_.input_shape)[0]  # images may come as flat rows
        add("feature_maps.png", _feature_maps(model.network_, image, names[y_test[0]], names[predicted[0]]))
    if dataset.image_shape is not None:
        images = _Images(X_test, dataset.image_shape)
        add("mistakes.png", _mistakes(images, y_test, probabilities, names, test_files))
    return figures


class _Images:
    """The images of ``X`` (flat rows or images, an array or an array-like read a slice
    at a time: a folder's image cache), each read only when a figure shows it."""

    def __init__(self, X, image_shape):
        self.X, self.image_shape = X, tuple(image_shape)

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, sample):
        return np.asarray(self.X[sample : sample + 1]).reshape(self.image_shape)


def _curves_caption(measured, tested):
    """What the learning curves measure, and when (``measured`` as History.measured, or the step)."""
    if measured == "before_step":
        test = " The test set (orange) is scored after each step, one step further on." if tested else ""
        return ("Cost and accuracy per iteration on the train set (blue), measured before each iteration's step "
                f"of gradient descent (scikit-learn's loss_curve_).{test}")
    if measured in ("after_step", "iteration"):
        when = ("both measured after each iteration's step of gradient descent, at the same weights" if tested
                else "measured after each iteration's step of gradient descent")
        return f"Cost and accuracy per iteration on the train set (blue){' and the test set (orange)' * tested}: {when}."
    test = (" The test set (orange) is scored at each epoch's end, with the weights the epoch ended with: early "
            "in training the blue curve lags behind it.") if tested else ""
    return ("Cost and accuracy per epoch on the train set (blue): the mean over the epoch's minibatches, each "
            f"measured before its step, while the weights changed.{test}")


def _counted(shown, total, noun):
    """"first 64 of 256 hidden units", "all 10 classes", "the one neuron"."""
    if total == 1:
        return f"the one {noun}"
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"all {total} {plural}" if shown == total else f"first {shown} of {total} {plural}"


def _weights(network, dataset, class_names):
    """The first layer's weights: pictures over the pixels (or kernels), or bars per
    named feature for a one-layer model on a table. None where neither applies."""
    trained = [layer for layer in network.layers if "weights" in layer.params]
    weights = trained[0].params["weights"]
    one_layer = len(trained) == 1  # logistic regression: the first layer's units are the classes
    if weights.ndim == 4:  # Conv2D: (kernels, channels, height, width)
        return _weight_pictures(weights, "First-layer weights", "kernel",
                                "red: bright input there raises the map, blue lowers it")
    if dataset.image_shape is not None and weights.shape[0] == int(np.prod(dataset.image_shape)):
        pictures = weights.T.reshape(-1, *dataset.image_shape)
        if not one_layer:
            return _weight_pictures(pictures, "First-layer weights", "hidden unit",
                                    "red: a bright pixel there raises the unit's input, blue lowers it")
        if len(pictures) == 1:
            return _weight_pictures(pictures, "Weights over the pixels", "neuron",
                                    f"red pushes towards {class_names[1]}, blue towards {class_names[0]}",
                                    ["weights"])
        return _weight_pictures(pictures, "Weights over the pixels", "class",
                                "red pushes towards the picture's class, blue away from it",
                                [f"class {name}" for name in class_names])
    if one_layer and dataset.image_shape is None:
        return _feature_bars(weights, dataset.feature_names, class_names)
    return None


def _weight_pictures(pictures, what, noun, meaning, names=None):
    """Weight pictures of the first units (as many as fit), titled with how many they are."""
    units, channels = pictures.shape[:2]
    shown = min(units, MOST_PICTURES if channels == 1 else MOST_COLOUR_UNITS)
    names = names or [f"{noun.split()[-1]} {unit}" for unit in range(shown)]
    title = f"{what}: {_counted(shown, units, noun)}"
    colours = "" if channels == 1 else ", one picture per colour channel (R, G, B)"
    caption = (f"{title}{colours}. One colour scale for all: white is a zero weight, and the colour bar says what "
               "red and blue do.")
    return _Drawn(plots.weight_images(pictures[:shown], names[:shown], title, meaning), caption,
                  wide=shown * channels > 16)


def _feature_bars(weights, feature_names, class_names):
    features, outputs = weights.shape
    names = feature_names or [f"feature {index + 1}" for index in range(features)]
    if outputs == 1:
        panels = [f"red: towards {class_names[1]}, blue: towards {class_names[0]}"]
    else:
        panels = [f"class {name} (red: towards it)" for name in class_names]
    title = "The weight of each feature"
    caption = ("The weight of each feature (standardized: a weight is the push of one standard deviation). "
               "Red bars push towards the class named above them, blue bars away from it.")
    return _Drawn(plots.feature_weights(weights, names, panels, title, "weight"), caption)


def _decision_boundary(model, split, class_names, feature_names):
    X_train, X_test, y_train, y_test = split
    axes = [f"{name} (standardized)" for name in (feature_names or ["feature 1", "feature 2"])]
    fig = plots.decision_boundary(model, (X_train, y_train), (X_test, y_test), class_names, axes,
                                  "Decision boundary: where the model says each class")
    return _Drawn(fig, "The regions where the model says each class; train points are dots, test points "
                       "triangles, coloured by their true class.")


def _mistakes(X_test, y_test, probabilities, class_names, test_files):
    fig = plots.worst_mistakes(X_test, y_test, probabilities, class_names, test_files, MOST_MISTAKES,
                               "Most confident mistakes on the test set")
    if fig is None:
        return None
    wrong = int((probabilities.argmax(axis=1) != y_test).sum())
    shown = min(wrong, MOST_MISTAKES)
    files = ", and its file" if len(test_files) else ""
    return _Drawn(fig, f"The test images the model got wrong while most sure of itself ({shown} of its {wrong} "
                       f"mistakes): what it said, with its probability, what the image was{files}.", wide=shown > 4)


def _feature_maps(network, image, truth, said):
    """What each convolution layer (with its block's activation) makes of one image."""
    maps = []
    for count, (_, activation, x) in enumerate(network.convolution_maps(image), start=1):
        shown, name = min(len(x), MOST_MAPS), "" if activation is None else f" + {type(activation).__name__}"
        maps.append((f"conv {count}{name}\n{_counted(shown, len(x), 'map')}", x[:shown]))
    fig = plots.feature_maps(image, maps, f"Feature maps of one test image (a {truth}; the model said {said})")
    return _Drawn(fig, "One test image and what each convolution layer makes of it, after its activation: each "
                       "map is one kernel slid over the layer's input (bright: a strong response; each layer has its "
                       "own scale).", wide=True)


# --- the page -------------------------------------------------------------------

def _duration(seconds):
    if seconds < 60:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _shown(value):
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return str(value)


def _layers(network):
    """The layers with weights, in order: "Conv2D 8 filters → Dense 10 units"."""
    parts = []
    for layer in network.layers:
        config = layer.get_config()
        for key, noun in (("units", "unit"), ("filters", "filter")):
            if key in config:
                parts.append(f"{type(layer).__name__} {config[key]} {noun}{'s' if config[key] != 1 else ''}")
    return " → ".join(parts)


def _table(rows, header=None):
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header) if header else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>{'<tr>' + head + '</tr>' if head else ''}{body}</table>"


def _settings(model):
    """The settings that differ from the estimator's defaults, then all of them."""
    name = type(model).__name__
    params = {key: value for key, value in model.get_params().items() if key != "verbose"}
    defaults = type(model)().get_params()
    changed = [(key, _shown(value), _shown(defaults[key])) for key, value in params.items()
               if repr(value) != repr(defaults[key])]
    every = _table([(key, _shown(value)) for key, value in params.items()], ("setting", "value"))
    listed = (_table(changed, ("setting", "value", f"default of {name}()")) if changed
              else f"<p>Every setting is the default of {name}().</p>")
    augmented = as_augmentation(params.get("augment"))
    listed += "" if augmented is None else f"<p>Training images augmented: {html.escape(augmented.describe())}.</p>"
    return f"{listed}<details><summary>All {len(params)} settings of {name}</summary>{every}</details>"


def _first_screen(model, split, predicted, run):
    """The facts above the figures: command, accuracies, date, time spent, network, file."""
    X_train, _, y_train, y_test = split
    train_accuracy = model.score(X_train, y_train) if run.train_accuracy is None else run.train_accuracy
    steps = model.n_iter_
    step = model.history_.step if hasattr(model, "history_") else "iteration"
    facts = [
        ("train accuracy", f"<strong>{train_accuracy:.4f}</strong> on "
                           + (f"{len(y_train):,} samples" if run.train_scored in (None, len(y_train))
                              else f"{run.train_scored:,} of {len(y_train):,} samples (spread over them)")),
        ("test accuracy", f"<strong>{np.mean(predicted == y_test):.4f}</strong> on {len(y_test):,} samples"),
        ("date", html.escape(f"{run.started:%Y-%m-%d %H:%M} {run.started.tzname() or ''}".strip())),
        ("training", html.escape(f"{_duration(run.seconds)}, {steps} {step}{'s' if steps != 1 else ''}"
                                 + (f" of {run.method}" if run.method else ""))),
        ("network", html.escape(f"{model.network_.count_params():,} parameters: {_layers(model.network_)}")),
    ]
    if run.model_file:
        facts.append(("model file", f"<code>{html.escape(run.model_file)}</code>"))
    rows = [("command", f"<code>{html.escape(run.command)}</code>", ' class="wide"')]
    rows += [(key, value, "") for key, value in facts]
    return "".join(f'<div{wide}><span class="key">{key}</span><span>{value}</span></div>' for key, value, wide in rows)


def _problems(lines):
    """What went wrong in training, above the facts: a run that did not learn must not
    look like one that did."""
    if not lines:
        return ""
    return ('<div class="problems" role="alert">'
            + "".join(f"<p><strong>Warning:</strong> {html.escape(line)}</p>" for line in lines) + "</div>")


def _figure(content, caption, wide=False):
    return f'<figure{" class=wide" if wide else ""}>{content}<figcaption>{html.escape(caption)}</figcaption></figure>'


def _panels(figures, scores):
    """The figures, with the per-class scores beside the confusion matrix."""
    panels = [_figure(f'<img src="{html.escape(name)}" alt="{html.escape(caption)}">', caption, wide)
              for name, caption, wide in figures]
    beside_confusion = [name for name, _, _ in figures].index("confusion_matrix.png") + 1
    panels.insert(beside_confusion, _figure(
        f"<pre>{html.escape(scores)}</pre>", "Per class, on the test set: precision (of the samples the model called "
        "this class, the fraction that were), recall (of the samples of this class, the fraction it found) and their "
        "harmonic mean, f1."))
    return "".join(panels)


def _page(model, dataset, split, predicted, run, figures):
    names = [str(c) for c in dataset.class_names]
    scores = classification_report(split[3], predicted, labels=np.arange(len(names)), target_names=names,
                                   zero_division=0)
    title = html.escape(f"{type(model).__name__} on {dataset.name}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>neuronet: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 1.2em auto; padding: 0 1em; color: #222; }}
h1 {{ margin: 0 0 0.2em; }} .what {{ margin: 0 0 0.8em; color: #444; }}
.facts {{ display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 0.25em 2em; margin-bottom: 1em; }}
.facts div {{ display: grid; grid-template-columns: 8.5em minmax(0, 1fr); }} .facts .wide {{ grid-column: 1 / -1; }}
.key {{ color: #555; font-weight: 600; }}
.problems {{ background: #fff4e5; border-left: 4px solid #e8590c; padding: 0.5em 1em; margin: 0 0 1em; }}
.problems p {{ margin: 0.25em 0; }}
code {{ background: #f3f3f3; padding: 0 0.25em; overflow-wrap: anywhere; }}
.figures {{ display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); grid-auto-flow: dense; gap: 1em 1.5em;
  align-items: start; }}
figure {{ margin: 0; }} figure.wide {{ grid-column: 1 / -1; }}
img {{ max-width: 100%; border: 1px solid #ddd; }} figcaption {{ color: #555; font-size: 0.92em; }}
table {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: 0.15em 1.2em 0.15em 0; }}
th {{ color: #555; font-weight: 600; }} pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
details {{ margin-top: 0.6em; }} summary {{ cursor: pointer; color: #245; }}
</style></head><body>
<h1>{title}</h1>
<p class="what">{html.escape(dataset.description)}</p>
{_problems(run.problems)}<div class="facts">{_first_screen(model, split, predicted, run)}</div>
<div class="figures">{_panels(figures, scores)}</div>
<h2>Settings</h2>{_settings(model)}
<h2>The network</h2><pre>{html.escape(model.network_.summary(print_fn=None))}</pre>
</body></html>
"""
