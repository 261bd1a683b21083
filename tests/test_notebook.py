"""In a notebook, networks and estimators show themselves as tables of their layers."""

import re
import sys
import types
from html.parser import HTMLParser

import numpy as np
import pytest
from sklearn import config_context

from neuronet import LogisticRegression, MLPClassifier, callbacks, nn

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class _Cells(HTMLParser):
    """The text of each table row's cells, and whether the page loads anything from outside."""

    def __init__(self):
        super().__init__()
        self.rows, self.outside, self.in_cell = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
            self.in_cell = True
        self.outside += [value for name, value in attrs if name in ("src", "href")]
        self.outside += [tag] if tag in ("script", "link") else []

    def handle_endtag(self, tag):
        self.in_cell = self.in_cell and tag not in ("td", "th")

    def handle_data(self, data):
        if self.in_cell:
            self.rows[-1][-1] += data


def cells(page):
    parser = _Cells()
    parser.feed(page)
    return parser


def lenet():
    return nn.Sequential([nn.Conv2D(4, 3), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(), nn.Dense(10), nn.Softmax()],
                         input_shape=(1, 8, 8), random_state=0)


def test_a_networks_html_table_holds_the_rows_and_counts_of_its_summary():
    network = lenet()
    page = network._repr_html_()
    table = cells(page)
    lines = network.summary(print_fn=None).splitlines()
    table_ends = [number for number, line in enumerate(lines) if line.startswith("─")][-1]
    printed = [re.split(r"\s{2,}", line) for line in lines[:table_ends] if not line.startswith("─")]
    assert [[cell for cell in row if cell] for row in table.rows] == printed
    assert table.rows[1] == ["0: Conv2D", "(None, 4, 6, 6)", "40", "4·1·3·3 weights + 4 bias"]
    assert table.rows[5][2] == f"{10 * (4 * 3 * 3) + 10:,}"
    assert f"Total params: {network.count_params():,}" in page and "Input shape: (None, 1, 8, 8)" in page
    assert "shared weights" in page and table.outside == []


def test_a_networks_html_escapes_what_it_shows():
    odd = type("Odd<b>&Layer", (nn.ReLU,), {})
    page = nn.Sequential([nn.Dense(2), odd()], input_shape=(3,))._repr_html_()
    assert "<b>" not in page and "Odd&lt;b&gt;&amp;Layer" in page
    assert cells(page).rows[2][0] == "1: Odd<b>&Layer"


def test_a_network_not_built_says_so_in_html():
    page = nn.Sequential([nn.Dense(2), nn.ReLU()])._repr_html_()
    assert "not built yet" in page and "<table" not in page


@pytest.fixture(scope="module")
def fitted():
    X = np.random.default_rng(0).normal(size=(40, 3))
    return MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, X[:, 0] > 0)


def test_a_fitted_estimator_shows_scikit_learns_diagram_and_its_networks_table_under_it(fitted):
    page = fitted._repr_html_()
    table = fitted.network_._repr_html_()
    assert page.endswith(table) and page.rindex('class="sk-') < page.index(table)
    assert fitted._repr_mimebundle_()["text/html"].endswith(table)
    assert [row[:3] for row in cells(page).rows[-4:]] == [["0: Dense", "(None, 5)", "20"],
                                                        ["1: ReLU", "(None, 5)", "0"],
                                                        ["2: Dense", "(None, 1)", "6"],
                                                        ["3: Sigmoid", "(None, 1)", "0"]]


@pytest.mark.parametrize("estimator", [MLPClassifier(), LogisticRegression()])
def test_an_unfitted_estimator_shows_scikit_learns_diagram_alone(estimator):
    page = estimator._repr_html_()
    assert 'class="sk-' in page and "neuronet-summary" not in page


def test_an_estimator_follows_scikit_learns_text_display_setting(fitted):
    with config_context(display="text"):
        assert not hasattr(fitted, "_repr_html_")
        assert "text/html" not in fitted._repr_mimebundle_()


# --- live learning curves -------------------------------------------------------------
class FakeNotebook:
    """Stands for IPython's display: records what is shown, and each handle's updates."""

    def __init__(self):
        self.shown, self.updates = [], []

    def __call__(self, image, display_id=False):
        assert display_id is True
        self.shown.append(image)
        return self

    def update(self, image):
        self.updates.append(image)


def train_with(callback, epochs):
    X = np.random.default_rng(0).normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    network = nn.Sequential([nn.Dense(3), nn.ReLU(), nn.Dense(2), nn.Softmax()], input_shape=(2,), random_state=0)
    return network.fit(X, y, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=epochs, callbacks=[callback],
                       random_state=0, validation_data=(X, y))


def is_png(image):
    return image._repr_png_().startswith(b"\x89PNG")


def test_live_curves_draw_once_and_redraw_the_same_output_in_place(monkeypatch):
    notebook = FakeNotebook()
    monkeypatch.setattr(callbacks, "_notebook_display", lambda: notebook)
    train_with(callbacks.LiveCurves(every=0), epochs=3)
    assert len(notebook.shown) == 1 and len(notebook.updates) == 3  # epochs 2 and 3, and the end
    assert all(is_png(image) for image in notebook.shown + notebook.updates)


def test_live_curves_wait_between_redraws_and_draw_the_last_state_at_the_end(monkeypatch):
    notebook = FakeNotebook()
    monkeypatch.setattr(callbacks, "_notebook_display", lambda: notebook)
    train_with(callbacks.LiveCurves(every=3600), epochs=4)
    assert len(notebook.shown) == 1 and len(notebook.updates) == 1


def test_live_curves_plot_losses_and_accuracies_under_their_shown_names():
    history = callbacks.History(measured="epoch_mean")
    for epoch in range(3):
        history.append(epoch, {"loss": 1 / (epoch + 1), "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.4})
    figure = callbacks.curves_figure(history)
    losses, accuracies = figure.axes
    assert [line.get_label() for line in losses.lines] == ["loss (epoch mean)", "val_loss"]
    assert [line.get_label() for line in accuracies.lines] == ["accuracy (epoch mean)", "val_accuracy"]
    assert list(losses.lines[0].get_xdata()) == [1, 2, 3] and losses.get_xlabel() == "epoch"


def test_live_curves_outside_a_notebook_draw_nothing_and_say_so_once(monkeypatch):
    monkeypatch.setattr(callbacks, "_notebook_display", lambda: None)
    live = callbacks.LiveCurves()
    with pytest.warns(UserWarning, match="Jupyter notebook only") as said:
        train_with(live, epochs=2)
        train_with(live, epochs=2)
    assert len(said) == 1


def test_live_curves_find_no_notebook_in_plain_python():
    assert callbacks._notebook_display() is None


def test_live_curves_find_a_notebook_in_a_kernel_whose_shell_derives_from_ipykernels(monkeypatch):
    kernel_shell = type("HostedShell", (type("ZMQInteractiveShell", (), {}),), {})()
    ipython = types.SimpleNamespace(get_ipython=lambda: kernel_shell)
    show = types.SimpleNamespace(display=object())
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", show)
    assert callbacks._notebook_display() is show.display
    monkeypatch.setattr(ipython, "get_ipython", lambda: type("TerminalInteractiveShell", (), {})())
    assert callbacks._notebook_display() is None


def test_an_mlp_with_verbose_plot_draws_its_curves_instead_of_printing(monkeypatch, capsys):
    notebook = FakeNotebook()
    monkeypatch.setattr(callbacks, "_notebook_display", lambda: notebook)
    X = np.random.default_rng(0).normal(size=(40, 3))
    MLPClassifier((4,), max_iter=3, verbose="plot", random_state=0).fit(X, X[:, 0] > 0)
    assert len(notebook.shown) == 1 and is_png(notebook.shown[0])
    assert capsys.readouterr().out == ""


def test_verbose_takes_no_other_word():
    with pytest.raises(ValueError, match="verbose"):
        MLPClassifier(verbose="plots").fit(np.zeros((4, 2)), [0, 1, 0, 1])


FIGURES_IN = """
import sys, matplotlib
matplotlib.use("svg")  # the backend the session chose (a notebook's is the inline one)
import neuronet.plots as plots
plots.save(plots.episode_returns([10.0, 20.0, 30.0], window=2), sys.argv[1])
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""


def test_figures_leave_the_sessions_backend_alone_and_are_written_headless(tmp_path):
    import os
    import subprocess

    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    environment.pop("DISPLAY", None)
    path = tmp_path / "returns.png"
    done = subprocess.run([sys.executable, "-c", FIGURES_IN, str(path)], capture_output=True, text=True,
                          env=environment, check=True)
    assert done.stdout.split() == ["svg", "False"]
    assert path.read_bytes().startswith(b"\x89PNG")


def test_a_figure_of_plots_shows_itself_in_a_notebook_as_a_png():
    from neuronet import plots

    figure = plots.episode_returns([10.0, 20.0, 30.0], window=2)
    assert figure._repr_png_().startswith(b"\x89PNG")
