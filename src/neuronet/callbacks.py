"""What the training loop records and who it tells: the history, and callbacks.

The loop (:mod:`neuronet.training`) calls every callback at fixed moments of a run:
``on_train_begin``, ``on_epoch_begin``, ``on_batch_begin``, ``on_batch_end``, ``on_epoch_end``,
``on_interrupt`` (Ctrl-C) and ``on_train_end``. A callback reads the run through
``self.trainer`` (its network, optimizer, ``state_dict()`` and ``stop_training``
flag) and never the other way round, so the loop knows nothing of progress bars,
logging, early stopping or checkpoints.
"""

from __future__ import annotations

import sys
import time
import warnings
from contextlib import contextmanager
from contextvars import ContextVar
from numbers import Integral, Real

import numpy as np

from .validation import Interval, StrOptions, validate_params

_HELD_OUT = ContextVar("held_out", default="val")


@contextmanager
def held_out_named(name):
    """Within the block, progress output calls the held-out data ``name``: a fit given
    its test set as ``validation_data`` shows ``test_loss`` where the history records
    ``val_loss`` (the history's keys stay as they are)."""
    token = _HELD_OUT.set(name)
    try:
        yield
    finally:
        _HELD_OUT.reset(token)


# How progress output marks training figures not measured at the held-out figures' moment
_MEASURED = {"epoch_mean": " (epoch mean)", "before_step": " (before the step)"}


def _shown(logs, measured):
    """The epoch's metrics under the names progress output gives them: the held-out data
    named as held_out_named says, and training figures that were not measured with the
    held-out ones marked as what they are (see History.measured): "loss (epoch mean)",
    the mean over the epoch's minibatches, where the held-out figures are measured at the
    epoch's end."""
    def name(key):
        if key.startswith("val_"):
            return _HELD_OUT.get() + key.removeprefix("val")
        return key + _MEASURED.get(measured, "")

    return {name(key): value for key, value in logs.items()}


class History:
    """Per-step metrics, like Keras: ``history.history["val_loss"][epoch]``.

    ``step`` says what one entry counts: "epoch" for minibatch training, "iteration"
    for full-batch gradient descent (and Newton's method), where each step sees all
    the data once. ``measured`` says when the training figures were measured (the
    held-out ones always at the step's or the epoch's end): "epoch_mean", the mean over
    the epoch's minibatches, each before its step; "after_step", after a full-batch
    step, at the weights the held-out data is scored at; "before_step", before a
    full-batch step (scikit-learn's ``loss_curve_``); None when not known (a history
    read back from a file). ``classes`` holds the labels of the network's outputs, in
    order, when :func:`~neuronet.training.fit` took labels that were not numbers (None
    otherwise).
    """

    def __init__(self, step="epoch", measured=None):
        self.step, self.measured, self.classes = step, measured, None
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __getitem__(self, key):
        return self.history[key]

    def state_dict(self, points=None):
        """Every metric as a float64 array (``"epoch"`` too), and the step's name.

        ``points`` bounds the size (what a model file holds): a longer history is kept as
        a curve to look at, that many steps evenly spaced with the first and the last, in
        float32 (and int32 step numbers)."""
        keep, dtype, counter = np.arange(len(self.epoch)), np.float64, np.int64
        if points is not None and len(keep) > points:
            keep = np.unique(np.linspace(0, len(keep) - 1, points).round().astype(np.int64))
            dtype, counter = np.float32, np.int32
        return {"step": self.step, "epoch": np.asarray(self.epoch, dtype=counter)[keep],
                "metrics": {key: np.asarray(values, dtype=dtype)[keep] for key, values in self.history.items()}}

    def load_state_dict(self, state):
        self.step = str(state["step"])
        self.epoch = [int(e) for e in state["epoch"]]
        self.history = {str(key): [float(v) for v in values] for key, values in state["metrics"].items()}

    def __repr__(self):
        return f"History({self.step}s={len(self.epoch)}, keys={list(self.history)})"


class Callback:
    """Hooks called by the loop; ``self.trainer`` gives access to the network,
    optimizer and ``stop_training``.

    A callback that changes the course of training (early stopping, a learning-rate
    schedule) keeps ``changes_training = True``: a resumed run must have the same
    ones. A callback that only watches (a progress bar, a logger) sets it to False.
    A callback that remembers something across epochs returns it from ``state_dict``
    (JSON-safe values and arrays), so that a resumed run carries on exactly.
    """

    trainer = None
    changes_training = True
    restores_run = False  # a callback that puts a saved run back (Checkpoint) runs after all others

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass

    def get_config(self):
        """Settings that a resumed run must share (part of the checkpoint's fingerprint)."""
        return {}

    def on_train_begin(self): ...
    def on_epoch_begin(self, epoch): ...
    def on_batch_begin(self, batch): ...       # before the minibatch's step (batch: its index in the epoch)
    def on_batch_end(self, batch, logs): ...
    def on_epoch_end(self, epoch, logs): ...  # trainer.epoch already counts this epoch as done
    def on_interrupt(self): ...                # Ctrl-C: training stops after this minibatch
    def on_train_end(self): ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    optionally put back the weights of the best epoch."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best_weights=True):
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.restore_best_weights = restore_best_weights
        self.sign = 1.0 if "acc" in monitor else -1.0  # maximise accuracies, minimise losses

    def get_config(self):
        return {"monitor": self.monitor, "patience": self.patience, "min_delta": self.min_delta,
                "restore_best_weights": bool(self.restore_best_weights)}

    def on_train_begin(self):
        self.best, self.best_epoch, self.best_weights, self.wait = -np.inf, None, None, 0

    def on_epoch_end(self, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, but the logs have {sorted(logs)}; "
                             "give validation data or monitor 'loss'")
        score = self.sign * logs[self.monitor]
        if score > self.best + self.min_delta:
            self.best, self.best_epoch, self.wait = score, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.trainer.network.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.trainer.stop_training = True

    def on_train_end(self):
        if self.restore_best_weights and self.best_weights is not None:
            self.trainer.network.set_weights(self.best_weights)

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "best_weights": self.best_weights}

    def load_state_dict(self, state):
        self.best, self.best_epoch, self.wait = float(state["best"]), state["best_epoch"], int(state["wait"])
        self.best_weights = state["best_weights"]


class StopWhenSettled(Callback):
    """Gradient descent's stopping rule: stop once the cost has fallen by less than
    ``tol`` at each of the last ``n_iter_no_change`` steps, and has not risen at any of
    them. A rise is never taken for convergence: it is counted (``rises``, and the
    first one, ``first_rise`` = (step, cost before, cost after)) for the warning that a
    learning rate overshoots.

    A rise is an increase beyond the cost's rounding (8 units in the last place of the
    network's dtype); the first step compares with the untrained network's cost.
    """

    def __init__(self, tol, n_iter_no_change):
        self.tol, self.n_iter_no_change = float(tol), int(n_iter_no_change)

    def get_config(self):
        return {"tol": self.tol, "n_iter_no_change": self.n_iter_no_change}

    def on_train_begin(self):
        self.rises, self.first_rise, self.settling, self.last_fall = 0, None, 0, None

    def on_epoch_end(self, epoch, logs):
        costs = self.trainer.history.history["loss"]
        before = costs[-2] if len(costs) > 1 else self.trainer.first_loss
        cost = logs["loss"]
        self.last_fall = float(before - cost)
        if cost - before > 8 * np.finfo(self.trainer.network.dtype).eps * abs(before):
            self.rises += 1
            self.first_rise = self.first_rise or (epoch + 1, float(before), float(cost))
            self.settling = 0
        else:  # fell, or rose within rounding: settled if by less than tol (never, for tol = 0)
            self.settling = self.settling + 1 if self.tol > 0 and before - cost < self.tol else 0
        if self.settled:
            self.trainer.stop_training = True

    @property
    def settled(self):
        """The cost has fallen by less than ``tol``, without rising, ``n_iter_no_change`` times in a row."""
        return self.settling >= self.n_iter_no_change

    def state_dict(self):
        return {"rises": self.rises, "first_rise": None if self.first_rise is None else list(self.first_rise),
                "settling": self.settling, "last_fall": self.last_fall}

    def load_state_dict(self, state):
        self.rises, self.settling = int(state["rises"]), int(state["settling"])
        self.last_fall = None if state["last_fall"] is None else float(state["last_fall"])
        self.first_rise = None if state["first_rise"] is None else tuple(state["first_rise"])


class LearningRateScheduler(Callback):
    """Set the learning rate from a schedule: ``schedule(k, learning_rate)`` (a function, or
    a schedule from :mod:`neuronet.optimizers`: ``CosineDecay``, ``StepDecay``,
    ``ExponentialDecay``, ``WarmUp``, ``OneCycle``).

    ``per="epoch"`` (the default): k is the epoch, and the rate is set at each epoch's
    start, as Keras's callback does. ``per="step"``: k is the number of optimizer steps
    taken so far in the run (epochs done × minibatches an epoch + the minibatch), and the
    rate is set before every minibatch, as PyTorch's ``scheduler.step()`` after each
    ``optimizer.step()`` does. Either way a schedule of k alone gives a resumed run the
    rates of an uninterrupted one.
    """

    _parameter_constraints = {"per": [StrOptions({"epoch", "step"})]}

    def __init__(self, schedule, per="epoch"):
        validate_params(self._parameter_constraints, {"per": per}, "LearningRateScheduler")
        if not callable(schedule):
            raise ValueError(f"LearningRateScheduler takes a schedule, a function of (step, rate), got {schedule!r}")
        self.schedule, self.per = schedule, per

    def get_config(self):
        config = getattr(self.schedule, "get_config", None)
        name = type(self.schedule).__name__ if config else getattr(self.schedule, "__name__", "custom")
        return {"schedule": name, **(config() if config else {}), **({"per": "step"} if self.per == "step" else {})}

    def _set(self, step):
        optimizer = self.trainer.optimizer
        optimizer.learning_rate = float(self.schedule(step, optimizer.learning_rate))

    def on_epoch_begin(self, epoch):
        if self.per == "epoch":
            self._set(epoch)

    def on_batch_begin(self, batch):
        if self.per == "step":
            self._set(self.trainer.epoch * self.trainer.batches_per_epoch + batch)


class ReduceLROnPlateau(Callback):
    """Divide the learning rate when ``monitor`` stops improving, as PyTorch's and Keras's
    ``ReduceLROnPlateau``.

    After each epoch: the monitored value is better than the best so far when it is below
    best · (1 − τ) (``mode="min"``; above best · (1 + τ) for "max"; best ∓ τ with
    ``threshold_mode="abs"``), τ = ``threshold``. After more than ``patience`` epochs in a
    row that are not better, the rate becomes::

        η ← max(η · factor, min_lr)       (unless that changes η by less than ``eps``)

    and the next ``cooldown`` epochs count no bad epochs. ``mode="auto"`` maximises a
    monitored accuracy and minimises anything else. The best value, the bad epochs and
    the cooldown are saved in a checkpoint (the rate is the optimizer's), so a resumed run
    reduces the rate at the same epochs as an uninterrupted one.
    """

    _parameter_constraints = {
        "monitor": [str], "factor": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 0, None, closed="left")], "mode": [StrOptions({"auto", "min", "max"})],
        "threshold": [Interval(Real, 0, None, closed="left")], "threshold_mode": [StrOptions({"rel", "abs"})],
        "cooldown": [Interval(Integral, 0, None, closed="left")], "min_lr": [Interval(Real, 0, None, closed="left")],
        "eps": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, mode="auto", threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        validate_params(self._parameter_constraints,
                        {"monitor": monitor, "factor": factor, "patience": patience, "mode": mode,
                         "threshold": threshold, "threshold_mode": threshold_mode, "cooldown": cooldown,
                         "min_lr": min_lr, "eps": eps}, "ReduceLROnPlateau")
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.threshold, self.threshold_mode = float(threshold), threshold_mode
        self.cooldown, self.min_lr, self.eps = int(cooldown), float(min_lr), float(eps)
        self.on_train_begin()

    def get_config(self):
        return {"monitor": self.monitor, "factor": self.factor, "patience": self.patience, "mode": self.mode,
                "threshold": self.threshold, "threshold_mode": self.threshold_mode, "cooldown": self.cooldown,
                "min_lr": self.min_lr, "eps": self.eps}

    def on_train_begin(self):
        self.best = np.inf if self.mode == "min" else -np.inf
        self.bad_epochs, self.cooldown_left = 0, 0

    def _better(self, value):
        sign = 1.0 if self.mode == "max" else -1.0
        if self.threshold_mode == "rel":  # PyTorch's bound best · (1 ∓ τ)
            bound = self.best * (1.0 + sign * self.threshold)
        else:
            bound = self.best + sign * self.threshold
        return value > bound if self.mode == "max" else value < bound

    def step(self, value):
        """Take one epoch's monitored ``value``; the new learning rate is the optimizer's."""
        value = float(value)
        if self._better(value):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            optimizer = self.trainer.optimizer
            rate = max(optimizer.learning_rate * self.factor, self.min_lr)
            if optimizer.learning_rate - rate > self.eps:
                optimizer.learning_rate = rate
            self.cooldown_left, self.bad_epochs = self.cooldown, 0

    def on_epoch_end(self, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(f"ReduceLROnPlateau monitors {self.monitor!r}, but the logs have {sorted(logs)}; "
                             "give validation data or monitor 'loss'")
        self.step(logs[self.monitor])

    def state_dict(self):
        return {"best": float(self.best), "bad_epochs": self.bad_epochs, "cooldown_left": self.cooldown_left}

    def load_state_dict(self, state):
        self.best, self.bad_epochs = float(state["best"]), int(state["bad_epochs"])
        self.cooldown_left = int(state["cooldown_left"])


def redraws_in_place(stream):
    """Whether a bar redrawn in place reads well on ``stream``: in a notebook (tqdm's
    widget) or on a terminal, not in a pipe or a file, where each redraw ("\\r")
    would stay in the text."""
    import tqdm.auto  # noqa: F401  (first, so that choosing the notebook's bar warns nothing)
    from tqdm import autonotebook, std

    try:
        return autonotebook.tqdm is not std.tqdm or stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def epoch_line(trainer, epoch, logs, seconds):
    """One epoch in words, every number labelled:
    "epoch 3/20 - loss (epoch mean) 0.284123 - test_loss 0.301234 - time 1.23 s"."""
    metrics = "".join(f" - {key} {value:.6g}" for key, value in _shown(logs, trainer.history.measured).items())
    return f"{trainer.history.step} {epoch + 1}/{trainer.epochs}{metrics} - time {seconds:.2f} s"


class EpochLogger(Callback):
    """One labelled line of metrics (``epoch_line``) every ``every`` epochs, the first
    and the last included (verbose=2), on ``stream`` (standard output by default)."""

    changes_training = False

    def __init__(self, every=1, stream=None):
        self.every = max(1, int(every))
        self.stream = stream

    def on_train_begin(self):
        self.started = time.perf_counter()  # a resumed run may begin inside an epoch

    def on_epoch_begin(self, epoch):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs):
        last = epoch + 1 == self.trainer.epochs or self.trainer.stop_training
        if (epoch + 1) % self.every == 0 or epoch == 0 or last:
            print(epoch_line(self.trainer, epoch, logs, time.perf_counter() - self.started), file=self.stream,
                  flush=True)


class ProgressBar(EpochLogger):
    """Progress on standard error: on a terminal or in a notebook, a tqdm bar over all
    the minibatches of the run with the epoch's metrics; in a pipe or a file, where the
    bar's redraws would garble the text, the EpochLogger's line for every epoch."""

    def __init__(self):
        super().__init__(every=1)

    def on_train_begin(self):
        super().on_train_begin()
        self.bar, self.stream = None, sys.stderr
        self.draws = redraws_in_place(self.stream)

    def _done(self):
        """Minibatches of the run done so far (a resumed run counts those before it)."""
        t = self.trainer
        return t.epoch * t.batches_per_epoch + (t.position["batch"] if t.position else 0)

    def _progress(self):
        """The bar, made when first needed, once a resumed run's state is back."""
        if self.bar is None:
            from tqdm.auto import tqdm

            t = self.trainer
            self.bar = tqdm(total=t.epochs * t.batches_per_epoch, initial=self._done(), unit="batch",
                            dynamic_ncols=True, leave=True, desc=f"{t.history.step} {t.epoch + 1}/{t.epochs}",
                            file=self.stream)
        return self.bar

    def on_epoch_begin(self, epoch):
        super().on_epoch_begin(epoch)
        if self.draws:
            self._progress().set_description(f"{self.trainer.history.step} {epoch + 1}/{self.trainer.epochs}")

    def on_batch_end(self, batch, logs):
        if self.draws:
            bar = self._progress()
            bar.update(self._done() - bar.n)

    def on_epoch_end(self, epoch, logs):
        if self.draws:
            shown = _shown(logs, self.trainer.history.measured)
            self._progress().set_postfix({k: f"{v:.4f}" for k, v in shown.items()}, refresh=False)
        else:
            super().on_epoch_end(epoch, logs)

    def on_train_end(self):
        if self.bar is None:
            return
        if self.trainer.stop_training:  # stopped early, as planned: the run is complete
            self.bar.total = self.bar.n
            self.bar.refresh()
        self.bar.close()


def _notebook_display():
    """IPython's ``display`` when this runs in a Jupyter kernel (its shell is, or derives
    from, ipykernel's ZMQInteractiveShell), else None (a plain Python, a terminal
    IPython, no IPython imported)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if not any(kind.__name__ == "ZMQInteractiveShell" for kind in type(shell).__mro__):
        return None
    from IPython.display import display

    return display


class _Png:
    """PNG bytes that notebooks show as an image (IPython reads ``_repr_png_``)."""

    def __init__(self, data):
        self.data = data

    def _repr_png_(self):
        return self.data


class LiveCurves(Callback):
    """Learning curves redrawn in the notebook's cell while training runs: the loss and,
    when the run measures it, the accuracy, on the training data and the held-out data,
    step by step. A redraw comes at most every ``every`` seconds, and once at the end.

    Outside a Jupyter notebook it draws nothing, and says why once (a warning). The
    figure is drawn with matplotlib's Agg canvas, not pyplot, and shown as a PNG, so the
    notebook's own matplotlib settings stay as they are.
    """

    changes_training = False

    def __init__(self, every=0.5):
        self.every = float(every)
        self.warned = False

    def on_train_begin(self):
        self.display, self.handle, self.drawn = _notebook_display(), None, None
        if self.display is None and not self.warned:
            self.warned = True
            warnings.warn("LiveCurves draws in a Jupyter notebook only; no curves are drawn here "
                          "(see the run's History, or neuronet.plots, for the curves)", stacklevel=2)

    def on_epoch_end(self, epoch, logs):
        if self.display is not None and (self.drawn is None or time.monotonic() - self.drawn >= self.every):
            self._draw()

    def on_train_end(self):
        if self.display is not None and self.trainer.history.epoch:
            self._draw()

    def _draw(self):
        image = _Png(_png(curves_figure(self.trainer.history)))
        if self.handle is None:
            self.handle = self.display(image, display_id=True)
        else:
            self.handle.update(image)
        self.drawn = time.monotonic()


def curves_figure(history):
    """The history's curves as a matplotlib Figure (no pyplot): losses on the left,
    accuracies (if any) on the right, each metric under the name progress output gives it."""
    from matplotlib.figure import Figure

    groups = [[key for key in history.history if ("acc" in key) == accuracy] for accuracy in (False, True)]
    groups = [keys for keys in groups if keys]
    figure = Figure(figsize=(4.5 * len(groups), 3.2), layout="constrained")
    steps = np.asarray(history.epoch) + 1
    for axes, keys in zip(figure.subplots(1, len(groups), squeeze=False)[0], groups):
        for key, name in zip(keys, _shown(dict.fromkeys(keys, 0.0), history.measured)):
            axes.plot(steps, history.history[key], label=name)
        axes.set_xlabel(history.step)
        axes.legend()
    return figure


def _png(figure):
    from io import BytesIO

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()
