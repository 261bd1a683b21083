"""The report's figures: learning curves label their steps by what a step is."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from neuronet import LogisticRegression, MLPClassifier, datasets, plots
from neuronet.report import write_report

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_learning_curves_name_the_step_they_count():
    history = {"loss": [0.7, 0.5, 0.4], "accuracy": [0.5, 0.8, 0.9]}
    for step in ("epoch", "iteration"):
        fig = plots.learning_curves(history, step=step)
        assert [ax.get_xlabel() for ax in fig.axes] == [step, step]
        assert [ax.get_title() for ax in fig.axes] == [f"Cost per {step}", f"Accuracy per {step}"]


@pytest.mark.parametrize("model, step", [(LogisticRegression(max_iter=400, random_state=0), "iteration"),
                                         (LogisticRegression(solver="newton", random_state=0), "iteration"),
                                         (MLPClassifier(max_iter=3, random_state=0), "epoch")],
                         ids=["gradient-descent", "newton", "mlp"])
def test_the_report_counts_gradient_descent_in_iterations_and_minibatch_training_in_epochs(
        model, step, tmp_path, monkeypatch):
    drawn = []
    original = plots.learning_curves
    monkeypatch.setattr(plots, "learning_curves", lambda *args: drawn.append(args[2]) or original(*args))
    data = datasets.load("breast-cancer")
    split = train_test_split(StandardScaler().fit_transform(data.X), data.y, test_size=0.3, random_state=0, stratify=data.y)
    model.fit(split[0], split[2])
    index = write_report(str(tmp_path), model, data, split, {"model": type(model).__name__})
    assert drawn == [step]
    assert (tmp_path / "learning_curves.png").stat().st_size > 0
    assert np.isfinite(model.history_.history["loss"]).all() and index.endswith("index.html")
