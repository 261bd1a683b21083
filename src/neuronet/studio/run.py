"""One tab's training run, in a thread of its own.

The run is the library's own training loop (:class:`neuronet.training.Trainer`) on the
network, loss, optimizer and penalty that the settings describe. A callback, the gate,
sits between every two minibatches: there the run takes the page's commands (play,
pause, step one minibatch or one epoch, speed, which example to show), waits while
paused, and now and then publishes a snapshot of every view. Snapshots are throttled
(at most 20 a second, and never more than a fifth of the time), so watching costs
training little; the page draws them, off the training path. At each epoch's end the run
also asks why the network might have stopped learning (:mod:`neuronet.diagnosis`, on the
live training samples); the snapshots carry what it found, for the page's banner.

Everything the thread owns (network, trainer) is touched only by the thread: a request
from outside, such as the model file, is a command answered between two minibatches.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import threading
import time
import traceback
from collections import deque
from concurrent.futures import Future

import numpy as np

from ..callbacks import Callback
from ..estimators.base import feature_range
from ..network import Sequential
from ..preprocessing import with_preprocessing
from ..training import Trainer, TrainingDiverged, traced_step
from . import views
from .lessons import verdict
from .sample import sample_message
from .script import python_script
from .settings import LIVE_SAMPLES  # live metrics on at most this many samples of each split

SNAPSHOT_INTERVAL = 1 / 20   # seconds between snapshots, at least
SNAPSHOT_SHARE = 0.2         # and snapshots take at most this share of the time
PATH_POINTS = 2000           # the single neuron's path keeps at most this many points
WITHOUT_END = 10**9          # epochs: the run goes on until the page pauses or closes it
SETTLED_DROP = 0.01          # an epoch's mean loss that falls by less than this share has settled
_run_numbers = itertools.count(1)


class Stopped(Exception):
    """The page closed the run: leave the training loop."""


class _Gate(Callback):
    """The loop's door to the page, between every two minibatches (after an epoch's last
    minibatch, once the epoch is done: its test loss measured, the epoch counted)."""

    changes_training = False

    def __init__(self, run):
        self.run = run

    def on_train_begin(self):
        self.run.between_steps()

    def on_batch_end(self, batch, logs):
        self.run.after_step()
        if batch + 1 < self.trainer.batches_per_epoch:
            self.run.between_steps()

    def on_epoch_end(self, epoch, logs):
        self.run.after_epoch(logs["loss"])
        self.run.between_steps()


class Run:
    """Train ``settings`` on its data in a thread, publishing what the page shows.

    Parameters
    ----------
    settings : Settings
    catalog : Catalog
    publish : callable
        Takes each message for the page (a JSON-safe dict); called from the run's thread.
    """

    def __init__(self, settings, catalog, publish):
        self.settings, self.catalog, self.publish = settings, catalog, publish
        self.number = next(_run_numbers)
        self.playing, self.budget, self.speed, self.example = False, 0, None, 0
        self.threshold = 0.5  # two classes: class 1 is predicted where its probability is above it
        self.steps, self.state, self.message = 0, "preparing", None
        self.trainer = self.data = self.inputs = self.live = self.grid = self.extent = None
        self.path = []
        self.features = None
        self.record = []  # every step taken, in order: ["minibatches", how many] or ["sample", which]
        self.diagnosed, self._one_class_before, self._epoch_losses = [], False, []
        self._commands, self._wake = deque(), threading.Event()
        self._picker, self.samples_stepped = None, 0
        self._stopping, self._dirty = False, True
        self._next_snapshot = self._next_step = 0.0
        self.thread = threading.Thread(target=self._main, name=f"studio run {self.number}", daemon=True)

    # --- from outside the thread ----------------------------------------------------
    def start(self):
        self.thread.start()
        return self

    def command(self, name, value=None):
        """Queue one of the page's commands: play, pause, step ("batch" or "epoch"),
        speed (steps a second, or None), example (an index into the test set), threshold
        (two classes: the probability of class 1 above which it is predicted)."""
        self._commands.append((name, value))
        self._wake.set()

    def request(self, name):
        """A Future of the thread's answer: "model" → (model, extra, file name), "python" → text."""
        answer = Future()
        self.command(name, answer)
        return answer

    def stop(self, wait=None):
        """Leave the loop after the current minibatch; with ``wait``, join the thread."""
        self.command("stop")
        if wait is not None:
            self.thread.join(wait)

    # --- the thread --------------------------------------------------------------------
    def _main(self):
        try:
            self._train_then_serve()
        finally:  # the trainer holds its callbacks, the gate holds this run: break the circle, free the memory now
            self.trainer = self.inputs = self.live = self.grid = None

    def _train_then_serve(self):
        try:
            self._prepare()
            self._train()
        except Stopped:
            return
        except TrainingDiverged as error:
            self._end("diverged", str(error))
        except (ValueError, OSError) as error:
            self._end("error", str(error))
        except Exception as error:  # a bug: the page gets one line, the terminal the traceback
            traceback.print_exc(file=sys.stderr)
            self._end("error", f"training stopped: {type(error).__name__}: {error}")
        try:
            self._serve()
        except Stopped:
            return

    def _train(self):
        """Train until the page stops the run (the minibatch loop, paused between steps)."""
        self.trainer.fit(self.inputs["train"], self.data.y_train, validation_data=(self.inputs["test"], self.data.y_test))

    def _prepare(self):
        settings = self.settings
        self.data = data = self.catalog.prepare(settings.recipe)
        self.features = settings.plane_features()  # x₁², sin x₁, …: the network's inputs, made of the points
        if self.features is not None:
            self.data = data = dataclasses.replace(data, X_train=self.features.transform(data.X_train),
                                                   X_test=self.features.transform(data.X_test))
        network = settings.build_network(data.n_classes, data.sample_shape)
        self.inputs = {"train": settings.network_inputs(data.X_train), "test": settings.network_inputs(data.X_test)}
        self.trainer = Trainer(network, settings.build_loss(data.n_classes), settings.build_optimizer(),
                               epochs=WITHOUT_END, batch_size=settings.batch_size_for(len(data.y_train)),
                               shuffle=not settings.neuron, penalty=settings.build_penalty(), callbacks=[_Gate(self)],
                               random_state=settings.recipe.seed)
        live = slice(0, LIVE_SAMPLES)
        self.live = {"train": (self.inputs["train"][live], data.y_train[live]),
                     "test": (self.inputs["test"][live], data.y_test[live])}
        self.grid = None
        if data.kind == "plane":
            self.extent = views.plane_extent(np.vstack([data.raw_train, data.raw_test]))
            self.grid = data.scaler.transform(views.plane_grid(self.extent))
            self.grid = (self.grid if self.features is None else self.features.transform(self.grid)).astype(network.dtype)
        if self._has_lesson():
            self._note_path()  # where gradient descent starts
        self.state = "paused"
        self.publish(self._ready())

    def _ready(self):
        """What stays the same for the whole run: the data, the network's shape, its size."""
        data, network = self.data, self.trainer.network
        message = {"type": "ready", "run": self.number, "dataset": data.name, "description": data.description,
                   "kind": data.kind, "classes": data.class_names, "model": self.settings.kind(),
                   "train_samples": len(data.y_train), "test_samples": len(data.y_test),
                   "live_samples": {split: len(y) for split, (_, y) in self.live.items()},
                   "batches_per_epoch": -(-len(data.y_train) // self.trainer.batch_size),
                   "batch_size": self.trainer.batch_size, "summary": network.summary(print_fn=None),
                   "parameters": network.count_params(), "layers": views.drawn_columns(network),
                   "image_shape": list(data.image_shape) if data.image_shape else None,
                   "features": list(self.settings.features) if self.settings.features else None}
        if data.kind == "plane":
            message["points"] = {"extent": self.extent,
                                 "train": np.round(data.raw_train, 4).tolist(), "train_labels": data.y_train.tolist(),
                                 "test": np.round(data.raw_test, 4).tolist(), "test_labels": data.y_test.tolist()}
        return message

    def _serve(self):
        """After the loop ended (divergence, error): answer requests until the page closes the run."""
        while True:
            self._take_commands()
            self._wait(None)

    def _end(self, state, message):
        """The loop ended: a diverged run shows its last good weights; an error only says why."""
        self.state, self.message, self.playing, self.budget = state, message, False, 0
        if state == "diverged":
            self._publish_snapshot()
        else:
            self.publish(self._bare_snapshot())

    def _bare_snapshot(self):
        return {"type": "snapshot", "run": self.number, "state": self.state, "message": self.message}

    # --- the gate ------------------------------------------------------------------------
    def after_step(self):
        self.steps += 1
        self._dirty = True
        if self.record and self.record[-1][0] == "minibatches":
            self.record[-1][1] += 1
        else:
            self.record.append(["minibatches", 1])
        if self._has_lesson():
            self._note_path()

    def after_epoch(self, loss):
        """At an epoch's end, diagnose the network on the live training samples (one
        inference pass over them; see :func:`views.diagnoses`). One class for every sample
        counts once it has held at two epoch ends in a row and the epoch's mean loss fell by
        less than ``SETTLED_DROP`` between them: a network that has just started, or is
        still learning, may predict one class for a while."""
        losses = self._epoch_losses
        losses.append(float(loss))
        X, y = self.live["train"]
        found = views.diagnoses(self.trainer.network, X, y, self.data.class_names, self.settings, losses)
        one_class = any(finding["kind"] == "one_class" for finding in found)
        settled = len(losses) > 1 and not losses[-1] < (1 - SETTLED_DROP) * losses[-2]
        self.diagnosed = [finding for finding in found
                          if finding["kind"] != "one_class" or (self._one_class_before and settled)]
        self._one_class_before = one_class
        self._dirty = True

    def _has_lesson(self):
        """One sigmoid neuron on two features: its cost surface over (w₁, w₂) can be drawn."""
        return self.settings.neuron and self.data.n_classes == 2 and self.data.sample_shape == (2,)

    def between_steps(self):
        """Take the page's commands; publish when due; wait while paused or paced."""
        while True:
            self._take_commands()
            now = time.perf_counter()
            running = self.playing or self.budget > 0
            if self._dirty and (not running or now >= self._next_snapshot):
                self._publish_snapshot()
                continue
            if not running:
                self._wait(None)
            elif self.playing and self.speed and now < self._next_step:
                self._wait(self._next_step - now)
            else:
                break
        if self.budget:
            self.budget -= 1
        self._next_step = max(now, self._next_step) + (1 / self.speed if self.speed else 0)

    def _wait(self, timeout):
        self._wake.wait(timeout)
        self._wake.clear()

    def _take_commands(self):
        while self._commands:
            name, value = self._commands.popleft()
            getattr(self, f"_on_{name}")(value)
        if self._stopping:
            raise Stopped

    def _on_stop(self, _):
        self._stopping = True

    def _on_play(self, _):
        if self.state in ("paused", "playing"):
            self.playing, self.budget, self.state = True, 0, "playing"
            self._dirty = True

    def _on_pause(self, _):
        if self.state == "playing":
            self.playing, self.budget, self.state = False, 0, "paused"
            self._dirty = True

    def _on_step(self, unit):
        if self.state not in ("paused", "playing"):
            return
        self.playing, self.state = False, "paused"
        self.budget = 1 if unit == "batch" else self._batches_left_in_epoch()
        self._dirty = True

    def _batches_left_in_epoch(self):
        """To the end of this epoch; a whole epoch when one has just ended."""
        done = self.trainer.position["batch"] if self.trainer.position else 0
        return self.trainer.batches_per_epoch - done

    def _on_speed(self, steps_per_second):
        self.speed = steps_per_second

    def _on_example(self, index):
        self.example, self._dirty = index, True

    def _on_threshold(self, threshold):
        self.threshold, self._dirty = threshold, True

    def _on_model(self, answer):
        self._answer(answer, self._fitted_model)

    def _on_python(self, answer):
        self._answer(answer, lambda: python_script(self.settings, self.data, self.trainer.epoch, self.steps,
                                                   self.file_name(), self.record))

    def _on_sample(self, index):
        """One gradient step on one training sample (``index``, or the next of a seeded
        random draw) with the run's optimizer, published number by number (see :mod:`.sample`)."""
        if self.state not in ("paused", "playing"):
            return
        self.playing, self.budget, self.state, self._dirty = False, 0, "paused", True
        n = len(self.data.y_train)
        if index is None:
            if self._picker is None:
                self._picker = np.random.default_rng(self.settings.recipe.seed)
            index = int(self._picker.integers(n))
        if index >= n:
            self.publish({"type": "error", "run": self.number,
                          "message": f"no training sample {index}: this run has {n} (0 to {n - 1})"})
            return
        trainer, x, target = self.trainer, self.inputs["train"][index], self.data.y_train[index]
        with np.errstate(over="ignore", invalid="ignore"):
            traced = traced_step(trainer.network, trainer.loss, trainer.optimizer, x, target, trainer.penalty)
            after = trainer.loss.forward(trainer.network.predict_logits(x[None]), np.asarray(target)[None])
        if np.isfinite(traced.cost):
            self.record.append(["sample", index])
            self.samples_stepped += 1
            self.steps += 1
            if self._has_lesson():
                self._note_path()
        raw = self.data.raw_train[index]
        shown = ({"image": views.pixels(raw), "shape": list(self.data.image_shape)} if self.data.kind == "images"
                 else {"values": [views.significant(v) for v in np.ravel(raw)]})
        self.publish({**sample_message(trainer.network, traced, index=index, target=target,
                                       class_name=self.data.class_names[int(target)], cost_after=after,
                                       optimizer=trainer.optimizer, penalty=trainer.penalty, raw=shown),
                      "run": self.number})

    preparing = "the run is still preparing its data"

    def _can_answer(self):
        """Whether the run has something to give (a download, a script) yet."""
        return self.trainer is not None

    def _answer(self, answer, compute):
        if not self._can_answer():
            answer.set_exception(ValueError(self.message or self.preparing))
            return
        try:
            answer.set_result(compute())
        except (ValueError, OSError) as error:
            answer.set_exception(error)

    # --- what the run has learned, as the estimator it is --------------------------------
    def _fitted_model(self):
        """(model, extra, file name): the estimator the settings describe, holding a copy
        of the trained network and the run's history, behind the data's preprocessing."""
        trainer, data, settings = self.trainer, self.data, self.settings
        network = Sequential.from_config(trainer.network.get_config())
        network.set_weights(trainer.network.get_weights())
        history = trainer.history.state_dict()
        losses = [float(v) for v in history["metrics"].get("loss", [])]
        state = {"network": network, "classes": np.arange(data.n_classes), "n_features_in": data.X_train.shape[1],
                 "n_iter": max(1, trainer.epoch), "history": history, "input_range": feature_range(data.X_train)}
        if not settings.neuron:
            state.update(label_type="binary" if data.n_classes == 2 else "multiclass",
                         t=self._samples_seen(), loss_curve=losses)
        estimator = settings.estimator(trainer.epoch, data.image_shape).set_fitted_state(state)
        model = with_preprocessing([data.scaler, self.features], estimator)
        return model, data.extra, self.file_name()

    def file_name(self):
        return f"{self.data.name}-{self.settings.kind()}.npz"

    def _samples_seen(self):
        n, trainer = len(self.data.y_train), self.trainer
        within = min(trainer.position["batch"] * trainer.batch_size, n) if trainer.position else 0
        return trainer.epoch * n + within + self.samples_stepped

    # --- snapshots -----------------------------------------------------------------------
    def _note_path(self):
        layer = self.trainer.network.layers[0]
        self.path.append(layer.params["weights"][:, 0].astype(float).tolist())
        if len(self.path) > PATH_POINTS:
            self.path = self.path[::2]

    def _publish_snapshot(self):
        started = time.perf_counter()
        self.publish(self._snapshot())
        spent = time.perf_counter() - started
        self._next_snapshot = started + max(SNAPSHOT_INTERVAL, spent / SNAPSHOT_SHARE)
        self._dirty = False

    def _snapshot(self):
        trainer, data, network = self.trainer, self.data, self.trainer.network
        train, test = (trainer.evaluate(*self.live[split]) for split in ("train", "test"))
        message = {**self._bare_snapshot(), "step": self.steps, "epoch": trainer.epoch,
                   "learning_rate": trainer.optimizer.learning_rate,
                   "metrics": {"loss": views.number(train["loss"]), "accuracy": views.number(train["accuracy"]),
                               "test_loss": views.number(test["loss"]),
                               "test_accuracy": views.number(test["accuracy"])},
                   "gradients": views.gradient_sizes(network) if self.steps else [],
                   "weights": views.drawn_weights(network), "diagnoses": self.diagnosed}
        threshold = self.threshold if data.n_classes == 2 else 0.5
        if threshold != 0.5:  # the accuracies at the page's threshold, and at 0.5 for comparison
            message["at_half"] = {key: message["metrics"][key] for key in ("accuracy", "test_accuracy")}
            message["metrics"].update(accuracy=views.accuracy_at(network, *self.live["train"], threshold),
                                      test_accuracy=views.accuracy_at(network, *self.live["test"], threshold))
        message["threshold"] = threshold
        message.update(views.evaluation_views(network, *self.live["test"], data.raw_test, data.class_names,
                                              data.kind == "images", threshold))
        if self.grid is not None:
            message["plane"] = views.plane_views(network, self.grid)
        if data.kind == "images":
            message["units"] = views.unit_images(network, data.image_shape)
            example = min(self.example, len(data.y_test) - 1)
            message["example"] = {"index": example, "image": views.pixels(data.raw_test[example]),
                                  "label": data.class_names[data.y_test[example]],
                                  "maps": views.feature_maps(network, self.inputs["test"][example])}
        if self.settings.neuron:
            message["lesson"] = self._lesson()
        return message

    def _lesson(self):
        """The single neuron's cost surface and path, and what its cost curve shows so far."""
        shows = verdict(self.trainer.history.history.get("loss", []), self.state == "diverged")
        if not self._has_lesson():
            return {"surface": None, "outcome": shows}
        layer = self.trainer.network.layers[0]
        weights, bias = layer.params["weights"][:, 0], float(layer.params["bias"][0])
        path = np.asarray(self.path, dtype=np.float64).reshape(-1, 2)
        with np.errstate(over="ignore", invalid="ignore"):
            surface = views.cost_surface(self.data.X_train, self.data.y_train, weights, bias,
                                         self.trainer.penalty.alpha, path)
        return {"surface": surface, "outcome": shows}
