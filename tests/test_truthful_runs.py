"""A failed run never looks like success: a cost that rose or never settled is said, in
Python as a ConvergenceWarning and on the command line as one line with the remedy, and
train and test figures put side by side describe the same weights."""

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from neuronet import LogisticRegression
from command_line import private_cache, run  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _convergence_warnings(fit):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit()
    return model, [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def test_a_cost_that_rises_is_never_taken_for_convergence_and_is_said_once(cancer):
    X, y = cancer
    model, caught = _convergence_warnings(lambda: LogisticRegression(learning_rate=50).fit(X, y))
    assert model.n_iter_ == model.max_iter  # it oscillates: never settled, never stopped after 2 iterations
    assert len(caught) == 1
    message = str(caught[0].message)
    assert re.search(r"the cost rose at \d+ of 1000 iterations \(first at iteration 1: 0\.6931 → ", message), message
    assert "learning_rate=50 is likely too large" in message and "neuronet study learning-rate" in message
    assert caught[0].filename == __file__  # it points at the user's call


def test_gradient_descent_stops_only_after_n_iter_no_change_iterations_that_each_fell_by_less_than_tol(cancer):
    X, y = cancer
    model, caught = _convergence_warnings(
        lambda: LogisticRegression(learning_rate=1.0, tol=1e-4, n_iter_no_change=5, max_iter=5000).fit(X, y))
    assert not caught and model.n_iter_ < 5000
    falls = -np.diff(model.loss_curve_)
    assert (falls[-5:] < 1e-4).all() and (falls[-5:] >= 0).all()
    assert not (falls[-6:] < 1e-4).all() or model.n_iter_ == 6  # the first moment the rule held


def test_a_run_stopped_at_max_iter_says_the_cost_was_still_falling(cancer):
    X, y = cancer
    _, caught = _convergence_warnings(lambda: LogisticRegression(max_iter=20).fit(X, y))
    assert len(caught) == 1
    assert re.search(r"stopped at max_iter=20 .* still falling \(.* in the last iteration, to 0\.\d+\)",
                     str(caught[0].message))


def test_tol_zero_runs_every_iteration_and_a_rise_is_still_said(cancer):
    X, y = cancer
    model, caught = _convergence_warnings(lambda: LogisticRegression(learning_rate=50, tol=0, max_iter=50).fit(X, y))
    assert model.n_iter_ == 50 and "the cost rose" in str(caught[0].message)


def test_train_and_validation_figures_of_an_iteration_describe_the_same_weights(cancer):
    X, y = cancer
    for iterations in (1, 7):
        model = LogisticRegression(max_iter=iterations, tol=0).fit(X, y, validation_data=(X, y))
        history = model.history_.history
        assert history["loss"] == history["val_loss"]
        assert history["accuracy"] == history["val_accuracy"]
        assert history["accuracy"][-1] == model.score(X, y)  # the last point is the model that was returned


def test_the_drop_ins_keep_scikit_learns_loss_curve_measured_before_each_step(cancer):
    from neuronet import MLPClassifier

    X, y = cancer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((5,), batch_size=len(X), max_iter=3, random_state=0).fit(X, y)
    untrained = MLPClassifier((5,), batch_size=len(X), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        untrained.fit(X, y)
    assert model.loss_curve_[0] == untrained.loss_curve_[0]  # the cost before the first step


def _report_page(out):
    return open(re.search(r"report written to (\S+)", out).group(1), encoding="utf-8").read()


def test_the_command_line_says_a_learning_rate_overshoots_in_one_line_and_the_report_shows_it(capsys):
    code, out, err = run(capsys, "train", "--learning-rate", "50", "--quiet")
    assert code == 0
    lines = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1, err
    assert "--learning-rate 50 overshoots; try --learning-rate 5" in lines[0]
    assert "neuronet study learning-rate" in lines[0]
    page = _report_page(out)
    assert 'class="problems"' in page and "--learning-rate 50 overshoots" in page


def test_the_command_line_says_what_python_warns_with_the_runs_numbers(capsys):
    code, out, err = run(capsys, "train", "--data", "xor", "--model", "mlp", "--hidden", "4", "--quiet")
    assert code == 0
    assert re.search(r"warning: the cost was still falling at the last epoch \(0\.\d+, down .* in that epoch\): "
                     r"give --epochs more than 200 or a larger --learning-rate", err), err
    assert "still falling" in _report_page(out)


def test_a_run_that_settles_prints_no_warning_and_its_report_none(capsys):
    code, out, err = run(capsys, "train", "--epochs", "20000", "--learning-rate", "1", "--quiet")
    assert code == 0 and "warning" not in err, err
    assert 'class="problems"' not in _report_page(out)


def test_a_minibatch_loss_that_rose_is_named_with_the_learning_rate(capsys):
    code, out, err = run(capsys, "train", "--data", "moons", "--model", "mlp", "--optimizer", "sgd",
                         "--learning-rate", "2", "--epochs", "30", "--quiet")
    assert code == 0
    lines = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1, err  # not also "give more epochs or a larger rate": that remedy does not apply
    assert re.search(r"warning: the training loss rose from its lowest, .* at epoch \d+, to .* at the last: "
                     r"--learning-rate 2 likely overshoots; try --learning-rate 0.2", lines[0]), err


def test_a_rate_that_blows_up_is_an_error_that_names_it(capsys):
    code, _, err = run(capsys, "train", "--data", "moons", "--model", "mlp", "--optimizer", "sgd",
                       "--learning-rate", "20", "--epochs", "30", "--quiet")
    assert code == 2 and "training diverged" in err and "learning_rate=20" in err


def test_a_dead_network_is_named_on_the_command_line_and_atop_the_report_with_flags_to_try(capsys):
    code, out, err = run(capsys, "train", "--data", "circles", "--model", "mlp", "--hidden", "8,8,8,8,8",
                         "--optimizer", "sgd", "--learning-rate", "0.3", "--batch-size", "10", "--quiet")
    assert code == 0 and "train accuracy 0.5000" in out
    dead = [line for line in err.splitlines() if "never fire" in line]
    assert len(dead) == 1, err
    assert re.search(r"warning: 8 of 8 units in layer 5 never fire .* MLPClassifier predicts class \d for every "
                     r"sample: try a smaller --learning-rate than 0.3, --activation leaky_relu or --optimizer adam",
                     dead[0]), dead[0]
    page = _report_page(out)
    assert page.index('class="problems"') < page.index('class="facts"') and "never fire" in page


def test_a_full_batch_drop_in_measures_train_and_test_after_each_step_and_keeps_scikit_learns_loss_curve(capsys):
    code, out, err = run(capsys, "train", "--model", "mlp", "--optimizer", "gd", "--epochs", "3")
    assert code == 0
    assert re.search(r"iteration 3/3 - loss \S+ - accuracy \S+ - test_loss", out + err)
    assert "both measured after each iteration's step" in _report_page(out).replace("&#x27;", "'")


def test_a_full_batch_drop_in_whose_loss_rose_is_named_with_the_learning_rate(capsys):
    code, out, err = run(capsys, "train", "--data", "moons", "--model", "mlp", "--hidden", "8", "--activation",
                         "logistic", "--optimizer", "gd", "--learning-rate", "50", "--quiet")
    assert code == 0  # scikit-learn's rule stops it after 12 iterations that did not improve: no convergence warning
    assert re.search(r"warning: the training loss rose from its lowest, .* at iteration 1, to .* at the last: "
                     r"--learning-rate 50 likely overshoots", err), err


def test_history_says_when_its_training_figures_were_measured(cancer):
    from neuronet import MLPClassifier

    X, y = cancer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert LogisticRegression(max_iter=2).fit(X, y).history_.measured == "after_step"
        full_batch = MLPClassifier((4,), max_iter=2, batch_size=len(X), random_state=0).fit(X, y)
        assert full_batch.history_.measured == "after_step"
        assert full_batch.loss_curve_[1] == full_batch.history_.history["loss"][0]  # before step 2 = after step 1
        assert full_batch.loss_curve_[0] != full_batch.history_.history["loss"][0]
        assert MLPClassifier((4,), max_iter=2).fit(X, y).history_.measured == "epoch_mean"


def test_a_single_iteration_is_worded_on_the_command_line_with_how_far_it_fell(capsys):
    code, _, err = run(capsys, "train", "--epochs", "1", "--quiet")
    assert code == 0
    assert re.search(r"warning: the cost was still falling at the last iteration \(0\.\d+, down 0\.\d+ in that "
                     r"iteration\): give --epochs more than 1 or a larger --learning-rate", err), err
