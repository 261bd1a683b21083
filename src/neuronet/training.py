"""The training loop shared by every model: minibatches, epochs, history, callbacks.

One epoch shuffles the samples (seeded), cuts them into minibatches, and for each
batch runs forward, loss, backward and one optimizer step. With ``batch_size`` equal
to the number of samples and no shuffle, an epoch is one step of full-batch gradient
descent, the lecture's algorithm.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm


class TrainingDiverged(ValueError):
    """The loss became NaN/inf or kept growing: the learning rate is too large.

    ``history`` holds the epochs recorded before training stopped."""

    def __init__(self, message, history=None):
        super().__init__(message)
        self.history = history


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training after a minibatch; ``history`` holds the finished epochs
    and ``checkpoint`` the file to resume from (None without checkpointing)."""

    def __init__(self, message, history=None, checkpoint=None):
        super().__init__(message)
        self.history, self.checkpoint = history, checkpoint


class History:
    """Per-epoch metrics, like Keras: ``history.history["val_loss"][epoch]``."""

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __getitem__(self, key):
        return self.history[key]

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


# --- callbacks ---------------------------------------------------------------
class Callback:
    """Hooks called by the loop; ``self.trainer`` gives access to the network,
    optimizer and ``stop_training``. A callback that remembers something across
    epochs returns it from ``state_dict`` (JSON-safe values and arrays), so that a
    resumed run carries on exactly."""

    trainer = None

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass

    def on_train_begin(self): ...
    def on_epoch_begin(self, epoch): ...
    def on_batch_end(self, batch, logs): ...
    def on_epoch_end(self, epoch, logs): ...
    def on_train_end(self): ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    optionally put back the weights of the best epoch."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best_weights=True):
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.restore_best_weights = restore_best_weights
        self.sign = 1.0 if "acc" in monitor else -1.0  # maximise accuracies, minimise losses

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


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, learning_rate)``."""

    def __init__(self, schedule):
        self.schedule = schedule

    def on_epoch_begin(self, epoch):
        optimizer = self.trainer.optimizer
        optimizer.learning_rate = float(self.schedule(epoch, optimizer.learning_rate))


def cosine_decay(initial_rate, epochs):
    """Schedule η_e = η₀ · ½ (1 + cos(π e / E)): large steps first, then ever finer ones."""
    return lambda epoch, rate: initial_rate * 0.5 * (1 + np.cos(np.pi * epoch / epochs))


class ProgressBar(Callback):
    """A tqdm bar over all the minibatches of the run, with the epoch's metrics."""

    def on_train_begin(self):
        t = self.trainer
        self.bar = tqdm(total=t.epochs * t.batches_per_epoch, initial=t.epoch * t.batches_per_epoch,
                        unit="batch", dynamic_ncols=True, leave=True)

    def on_epoch_begin(self, epoch):
        self.bar.set_description(f"epoch {epoch + 1}/{self.trainer.epochs}")

    def on_batch_end(self, batch, logs):
        self.bar.update(1)

    def on_epoch_end(self, epoch, logs):
        self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)

    def on_train_end(self):
        self.bar.close()


class EpochLogger(Callback):
    """One line of metrics every ``every`` epochs (verbose=2)."""

    def __init__(self, every=1):
        self.every = max(1, int(every))

    def on_epoch_begin(self, epoch):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs):
        last = epoch + 1 == self.trainer.epochs or self.trainer.stop_training
        if (epoch + 1) % self.every == 0 or epoch == 0 or last:
            metrics = " - ".join(f"{k} {v:.6g}" for k, v in logs.items())
            step = "iteration" if self.trainer.batches_per_epoch == 1 else "epoch"
            print(f"{step} {epoch + 1}/{self.trainer.epochs} - {metrics} - "
                  f"{time.perf_counter() - self.started:.2f}s", flush=True)


# --- the loop ------------------------------------------------------------------
def gradient_step(network, loss, optimizer, x, target, penalty=0.0):
    """One step of gradient descent: forward, loss, backward (chain rule), update.

    A loss fused with the network's final Sigmoid/Softmax is fed the logits.
    Returns (loss value, network output); a NaN/inf loss leaves the weights untouched.
    """
    logits = loss.output_activation is not None
    out = network.forward(x, training=True, logits=logits)
    value = loss.forward(out, target) + penalty
    if np.isfinite(value):
        network.backward(loss.backward(), logits=logits, input_grad=False)
        optimizer.step(network.flat_parameters())
    return value, out


def _positive_int(value, name):
    try:
        whole = int(value)
    except (TypeError, ValueError):
        whole = None
    if isinstance(value, (str, bool)) or whole is None or whole != value or whole < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return whole


class Trainer:
    """Runs the minibatch loop and keeps the whole state of a run.

    The state (epoch and position within it, network weights, optimizer moments,
    random generators, history, callbacks) is explicit so that a run can be saved to a
    checkpoint at any minibatch and continued exactly (see :mod:`neuronet.checkpoint`).
    """

    def __init__(self, network, loss, optimizer, *, epochs, batch_size, shuffle=True,
                 callbacks=(), random_state=None, divergence_patience=20,
                 checkpoint=None, checkpoint_every="epoch"):
        self.network, self.loss, self.optimizer = network, loss, optimizer
        self.epochs, self.batch_size = _positive_int(epochs, "epochs"), _positive_int(batch_size, "batch_size")
        self.shuffle = shuffle
        if checkpoint_every not in (None, "epoch"):
            checkpoint_every = _positive_int(checkpoint_every, "checkpoint_every (minibatches, 'epoch' or None)")
        self.callbacks = list(callbacks)
        self.random_state = random_state
        self.rng = np.random.default_rng(random_state)
        self.divergence_patience = divergence_patience
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.history = History()
        self.epoch = 0
        self.position = None  # within an epoch: order, next batch, running sums
        self.stop_training = False
        self.batches_per_epoch = 1
        self.best_loss = self.last_loss = self.first_loss = np.inf
        self.best_weights, self.rising = None, 0
        self._interrupt_requested = False

    def _check_head(self):
        head, fused = self.network.layers[-1], self.loss.output_activation
        from .network import OUTPUT_ACTIVATIONS

        if isinstance(head, OUTPUT_ACTIVATIONS) and fused is not None and not isinstance(head, fused):
            raise ValueError(f"the network ends in {type(head).__name__}, which does not match "
                             f"{type(self.loss).__name__} (it expects {fused.__name__})")

    def _penalty(self):
        decay = self.optimizer.weight_decay
        if not decay:
            return 0.0
        _, params, _, weights = self.network.flat_parameters()[0]
        return 0.5 * decay * float(np.dot(params * weights, params))

    def train_step(self, x, y):
        """Forward, loss, backward, update on one minibatch; returns (loss, correct)."""
        value, out = gradient_step(self.network, self.loss, self.optimizer, x, y, self._penalty())
        if not np.isfinite(value):
            self._diverged(f"the loss became {value}")
        if self.first_loss == np.inf:
            self.first_loss = value  # the untrained network's loss: the yardstick for divergence
        return value, self.loss.correct(out, y)

    # --- the divergence guard -----------------------------------------------
    def _diverged(self, what):
        self.network.set_weights(self.best_weights)
        rate = self.optimizer.learning_rate
        raise TrainingDiverged(
            f"training diverged at epoch {self.epoch + 1}: {what} with learning_rate={rate:g}. "
            f"Try a smaller learning rate, e.g. {rate / 10:g}; the last good weights (best epoch, or initial) were kept.",
            self.history,
        )

    def _watch_divergence(self, value):
        """After each epoch: NaN weights, a loss far above the untrained network's, or a
        loss that keeps growing, stop the run."""
        if not all(np.isfinite(p).all() for p in self.network.parameters()):
            self._diverged("the weights became NaN/inf")
        if value > 100 * self.first_loss:
            self._diverged(f"the loss grew to {value:.4g}, over 100 times the untrained network's {self.first_loss:.4g},")
        if value < self.best_loss:
            self.best_loss, self.rising = value, 0
            self.best_weights = self.network.get_weights()
        elif value > self.last_loss:
            self.rising += 1
        else:
            self.rising = 0
        self.last_loss = value
        if self.rising >= self.divergence_patience and value > self.first_loss:
            self._diverged(f"the loss grew for {self.rising} epochs in a row, to {value:.4g},")

    # --- epochs ---------------------------------------------------------------
    def run_epoch(self, X, y):
        """Train on every minibatch of one epoch (or of its rest, after a resume)."""
        n = len(X)
        if self.position is None:
            order = self.rng.permutation(n) if self.shuffle else None
            self.position = {"order": order, "batch": 0, "loss": 0.0, "correct": 0}
        position = self.position
        for start in range(position["batch"] * self.batch_size, n, self.batch_size):
            if position["order"] is None:
                xb, yb = X[start : start + self.batch_size], y[start : start + self.batch_size]
            else:
                index = position["order"][start : start + self.batch_size]
                xb, yb = X[index], y[index]
            value, correct = self.train_step(xb, yb)
            position["loss"] += value * len(xb)
            position["correct"] = None if correct is None else position["correct"] + correct
            position["batch"] += 1
            for callback in self.callbacks:
                callback.on_batch_end(position["batch"] - 1, {"loss": value})
            if self._interrupt_requested:
                self._stop_on_interrupt()
            every = self.checkpoint_every
            if self.checkpoint and isinstance(every, int) and position["batch"] % every == 0:
                self.save_checkpoint()
        logs = {"loss": position["loss"] / n}
        if position["correct"] is not None:
            logs["accuracy"] = position["correct"] / n
        self.position = None
        return logs

    def evaluate(self, X, y):
        out = self.network.predict(X, batch_size=2048, logits=self.loss.output_activation is not None)
        logs = {"loss": self.loss.forward(out, y) + self._penalty()}
        correct = self.loss.correct(out, y)
        if correct is not None:
            logs["accuracy"] = correct / len(X)
        return logs

    # --- checkpoints and Ctrl-C -------------------------------------------------
    def save_checkpoint(self):
        from .checkpoint import save_checkpoint

        save_checkpoint(self.checkpoint, self, self._fingerprint)

    def _stop_on_interrupt(self):
        if self.checkpoint:
            self.save_checkpoint()
        where = f"epoch {self.epoch + 1}, batch {self.position['batch']}"
        raise TrainingInterrupted(f"training interrupted by Ctrl-C after {where}", self.history, self.checkpoint)

    def _request_interrupt(self, signum, frame):
        self._interrupt_requested = True
        signal.signal(signal.SIGINT, self._previous_handler)  # a second Ctrl-C stops at once

    def _catch_ctrl_c(self):
        """Turn Ctrl-C into "stop after this minibatch" (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        self._previous_handler = signal.signal(signal.SIGINT, self._request_interrupt)
        return True

    # --- the run ----------------------------------------------------------------
    def fit(self, X, y, validation_data=None, resume=False):
        self._check_head()
        self.network._ensure_built(X[:1])
        self.batches_per_epoch = -(-len(X) // self.batch_size)
        self.best_weights = self.network.get_weights()
        callback_states = None
        if self.checkpoint:
            from .checkpoint import fingerprint, load_checkpoint

            self._fingerprint = fingerprint(self, X, y, validation_data)
            if resume and os.path.exists(self.checkpoint):
                callback_states = load_checkpoint(self.checkpoint, self, self._fingerprint)
        for callback in self.callbacks:
            callback.trainer = self
            callback.on_train_begin()
        for callback, state in zip(self.callbacks, callback_states or []):
            callback.load_state_dict(state)
        catching = self._catch_ctrl_c()
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught as divergence
            try:
                while self.epoch < self.epochs and not self.stop_training:
                    self._train_one_epoch(X, y, validation_data)
            finally:
                if catching:
                    signal.signal(signal.SIGINT, self._previous_handler)
                for callback in self.callbacks:
                    callback.on_train_end()
        return self.history

    def _train_one_epoch(self, X, y, validation_data):
        if self.position is None:
            for callback in self.callbacks:
                callback.on_epoch_begin(self.epoch)
        logs = self.run_epoch(X, y)
        if validation_data is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(*validation_data).items()})
        self.history.append(self.epoch, logs)
        self._watch_divergence(logs["loss"])
        for callback in self.callbacks:
            callback.on_epoch_end(self.epoch, logs)
        self.epoch += 1
        if self.checkpoint and self.checkpoint_every is not None:
            self.save_checkpoint()


def fit(network, X, y, *, loss, optimizer, epochs=10, batch_size=32, shuffle=True,
        validation_split=0.0, validation_data=None, callbacks=(), verbose=0,
        random_state=None, print_every=1, checkpoint=None, checkpoint_every="epoch", resume=False):
    """Train ``network`` on (X, y) and return its :class:`History`.

    Parameters
    ----------
    loss : Loss
        Classification losses take the logits: a final Sigmoid/Softmax is skipped
        in training (fused into the loss) and kept for prediction.
    optimizer : Optimizer
    epochs, batch_size : int
    shuffle : bool
        Reshuffle (seeded by ``random_state``) every epoch.
    validation_split : float
        Fraction of (X, y) held out, at random and stratified for class labels.
    validation_data : (X_val, y_val), optional
    callbacks : list of Callback
    verbose : 0, 1 or 2
        0 silent, 1 a progress bar, 2 one line every ``print_every`` epochs.
    checkpoint : path, optional
        Where to save the whole state of the run (atomically): always on Ctrl-C, and
        after every epoch (``checkpoint_every="epoch"``), or every N minibatches
        (``checkpoint_every=N``, and at each epoch's end), or never (None).
    resume : bool
        Continue from ``checkpoint`` if it exists (refused if the settings or the data
        differ from the run that wrote it).

    Ctrl-C stops training after the current minibatch with :class:`TrainingInterrupted`.
    """
    X = np.asarray(X, dtype=network.dtype)
    y = np.asarray(y)
    if len(X) == 0 or len(X) != len(y):
        raise ValueError(f"need as many targets as samples and at least one of each; got {len(X)} samples "
                         f"and {len(y)} targets")
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    if validation_split and validation_data is None:
        stratify = y if loss.output_activation is not None and y.ndim == 1 else None
        X, X_val, y, y_val = train_test_split(X, y, test_size=validation_split, random_state=random_state,
                                              stratify=stratify)
        validation_data = (X_val, y_val)
    elif validation_data is not None:
        validation_data = (np.asarray(validation_data[0], dtype=network.dtype), np.asarray(validation_data[1]))
    callbacks = list(callbacks)
    if verbose == 1:
        callbacks.insert(0, ProgressBar())
    elif verbose >= 2:
        callbacks.insert(0, EpochLogger(print_every))
    trainer = Trainer(network, loss, optimizer, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                      callbacks=callbacks, random_state=random_state, checkpoint=checkpoint,
                      checkpoint_every=checkpoint_every)
    return trainer.fit(X, y, validation_data, resume=resume)
