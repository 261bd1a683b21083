"""The training loop shared by every model: minibatches, epochs, divergence, resume.

One epoch shuffles the samples (seeded), cuts them into minibatches, and for each
batch runs forward, loss, backward and one optimizer step. With ``batch_size`` equal
to the number of samples and no shuffle, an epoch is one step of full-batch gradient
descent, the lecture's algorithm.

The loop works on a network through a small contract, so it needs no particular
network class: ``logits(x, training)`` (the scores before the output activation,
which every loss takes), ``backward(grad_logits, input_grad)``, ``flat_parameters()``
(parameters, gradients and the L2 mask as three flat vectors), ``predict_logits(x)``,
``ensure_built(x)``, ``get_weights()`` / ``set_weights()``, ``output_activation``
(the final Sigmoid/Softmax layer, or None), ``get_config()``, ``dtype``, ``rng`` and
``clear_cache()`` (forget the last batch's forward pass: called when the run ends);
and, where the network has them, ``train()`` / ``eval()`` (its mode: training while the
run lasts, evaluation after it) and ``layers`` (a layer with a ``communicator``
attribute, such as BatchNorm, is given the run's communicator while it lasts).
:class:`neuronet.network.Sequential` keeps it.
"""

from __future__ import annotations

import signal
import threading
from numbers import Integral, Real

import numpy as np
from scipy import sparse

from .callbacks import EpochLogger, History, ProgressBar
from .data import (CHUNK_ROWS, ArrayDataset, Mapped, Subset, as_indices, check_dataset, chunks, index_length,
                   is_dataset, read)
from .losses import BinaryCrossEntropy, CrossEntropy
from .threads import blas_threads
from .validation import Interval, validate_params


class TrainingDiverged(ValueError):
    """The loss became NaN/inf or kept growing: the learning rate is too large.

    ``history`` holds the epochs recorded before training stopped; ``non_finite``
    says whether the loss or the weights left the finite numbers."""

    def __init__(self, message, history=None, non_finite=False):
        super().__init__(message)
        self.history, self.non_finite = history, non_finite


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training after a minibatch; ``history`` holds the finished epochs
    and ``checkpoint`` the file to resume from (set by whoever checkpointed the run;
    None without checkpointing)."""

    def __init__(self, message, history=None, checkpoint=None):
        super().__init__(message)
        self.history, self.checkpoint = history, checkpoint


def loss_and_gradient(network, loss, x, target, penalty=None, sample_weight=None, flat=None):
    """Forward, loss, backward (chain rule): J and, in the network's gradients, ∂J/∂θ.

    J = loss(logits, target) + penalty(weights); the penalty's gradient joins the
    backpropagated one. With ``sample_weight`` the loss is a weighted average and the
    penalty counts the batch as Σ w samples. Returns (J, logits); for a NaN/inf J the
    gradients are not computed. ``flat`` is ``network.flat_parameters()``, when the
    caller has it already.
    """
    logits = network.logits(x, training=True)
    value = loss.forward(logits, target, sample_weight)
    parameters, gradients, mask = flat or network.flat_parameters()
    batch = len(logits) if sample_weight is None else float(np.sum(sample_weight))
    if penalty is not None:
        value += penalty.value(parameters, mask, batch)
    if np.isfinite(value):
        network.backward(loss.backward(), input_grad=False)
        if penalty is not None:
            penalty.add_gradient(parameters, gradients, mask, batch)
    return value, logits


def gradient_step(network, loss, optimizer, x, target, penalty=None, sample_weight=None):
    """One step of gradient descent: :func:`loss_and_gradient`, then the optimizer's
    update. Returns (J, logits); a NaN/inf J leaves the weights untouched."""
    flat = network.flat_parameters()
    value, logits = loss_and_gradient(network, loss, x, target, penalty, sample_weight, flat)
    if np.isfinite(value):
        optimizer.step(*flat)  # parameters, gradients and the mask of the weights (AdamW decays those)
    return value, logits


def traced_step(network, loss, optimizer, x, target, penalty=None):
    """One step of gradient descent on ``x`` (often one sample), kept to be read:
    :meth:`Sequential.trace <neuronet.network.Sequential.trace>` (dropout off), then the
    optimizer's update with exactly the gradients the trace shows, plus the penalty's.
    Returns the :class:`~neuronet.tracing.Trace` (the weights before the step); a
    NaN/inf cost leaves the weights untouched."""
    traced = network.trace(x, target, loss)
    parameters, gradients, mask = network.flat_parameters()
    if not np.isfinite(traced.cost):
        return traced
    for record, layer in zip(traced.layers, network.layers):
        for name, gradient in record.gradients.items():
            layer.grads[name][...] = gradient
    if penalty is not None:
        penalty.add_gradient(parameters, gradients, mask, len(traced.output))
    optimizer.step(parameters, gradients, mask)
    return traced


POSITIVE_INT = Interval(Integral, 1, None, closed="left")


class Trainer:
    """Runs the minibatch loop and keeps the whole state of a run.

    The state (epoch and position within it, network weights, optimizer moments,
    random generators, history, divergence guard, callbacks) is explicit —
    ``state_dict()`` / ``load_state_dict()`` — so that a run can be saved at any
    minibatch and continued exactly (the :class:`neuronet.checkpoint.Checkpoint`
    callback does). During ``fit``, ``data`` holds the run's (training dataset,
    validation dataset or None, sample weights or None); arrays are held as an
    :class:`~neuronet.data.ArrayDataset`, any other dataset is read a minibatch at a time.

    ``steps_per_epoch``, when given, ends each epoch after that many minibatches, drawn
    from a new shuffle of every sample (as Keras's ``steps_per_epoch``): an epoch of a
    folder of 100,000 photos need not be a pass over all of them.

    ``accumulate_gradients=True`` computes a minibatch of more than
    :data:`~neuronet.data.CHUNK_ROWS` samples a chunk at a time, J and ∇J being the
    chunks' weighted sums: full-batch gradient descent on data that does not fit in
    memory (logistic regression's; not for BatchNorm, whose statistics are the batch's).

    ``augment``, when given, is called as ``augment(x, indices, epoch)`` on every
    training minibatch (``indices``: the samples' numbers in the dataset) and returns
    the images the step trains on (:class:`neuronet.augment.Augmentation`); it must
    depend only on its seed, the samples and the epoch, so that a resumed run and the
    ranks of a distributed one augment each sample as one process would.
    """

    _parameter_constraints = {
        "epochs": [POSITIVE_INT], "batch_size": [POSITIVE_INT], "shuffle": ["boolean"],
        "divergence_patience": [POSITIVE_INT],
        "divergence_ratio": [Interval(Real, 1, None, closed="neither"), None],
        "steps_per_epoch": [POSITIVE_INT, None],
    }

    def __init__(self, network, loss, optimizer, *, epochs, batch_size, shuffle=True, penalty=None,
                 callbacks=(), random_state=None, divergence_patience=20, divergence_ratio=100.0,
                 communicator=None, measure_after_step=False, augment=None, accumulate_gradients=False,
                 steps_per_epoch=None):
        validate_params(self._parameter_constraints,
                        {"epochs": epochs, "batch_size": batch_size, "shuffle": shuffle,
                         "divergence_patience": divergence_patience, "divergence_ratio": divergence_ratio,
                         "steps_per_epoch": steps_per_epoch}, "fit")
        if steps_per_epoch is not None and not shuffle:
            raise ValueError("steps_per_epoch draws each epoch's minibatches from a new shuffle of every sample: "
                             "it needs shuffle=True")
        self.steps_per_epoch = steps_per_epoch
        self.network, self.loss, self.optimizer, self.penalty = network, loss, optimizer, penalty
        self.accumulate_gradients = bool(accumulate_gradients)
        self.epochs, self.batch_size, self.shuffle = int(epochs), int(batch_size), bool(shuffle)
        # data-parallel training over MPI (a neuronet.distributed.World; None in one process):
        # rank 0 alone runs the callbacks that only watch or save (progress output, checkpoints)
        self.communicator = communicator
        if communicator is not None and not communicator.is_root:
            callbacks = [callback for callback in callbacks if callback.changes_training]
        self.callbacks = sorted(callbacks, key=lambda callback: getattr(callback, "restores_run", False))
        self.random_state = random_state
        # a RandomState is used as it is (scikit-learn's estimators share theirs with the loop)
        self.rng = random_state if isinstance(random_state, np.random.RandomState) else np.random.default_rng(random_state)
        self.order = None  # the last epoch's order of the samples; each epoch shuffles it again
        self.divergence_patience = int(divergence_patience)
        self.divergence_ratio = divergence_ratio
        self.data = None
        self.history = History()
        self.epoch = 0
        self.position = None  # within an epoch: order, next batch, running sums
        self.stop_training = False
        self.batches_per_epoch = 1
        self.best_loss = self.last_loss = self.first_loss = np.inf
        self.best_weights, self.rising = None, 0
        self.epoch_mean_loss = None  # the last epoch's mean minibatch loss, each measured before its step
        self._interrupt_requested = False
        self._interrupt_agreed = False  # under MPI: Ctrl-C on any rank, as the last minibatch told
        # full-batch training: an epoch's training loss and accuracy are those of the weights after its step
        self.measure_after_step = bool(measure_after_step)
        # random changes of each training batch (a neuronet.augment.Augmentation without a seed takes the run's)
        self.augment = augment.with_seed(_augment_seed(random_state)) if getattr(augment, "seed", 0) is None \
            else augment

    def _check_output_activation(self):
        head, expected = self.network.output_activation, self.loss.output_activation
        if head is not None and (expected is None or not isinstance(head, expected)):
            pairs = "BinaryCrossEntropy after Sigmoid, CrossEntropy after Softmax"
            raise ValueError(f"the network ends in {type(head).__name__}, which {type(self.loss).__name__} does "
                             f"not take: losses take the logits before the output activation ({pairs}); "
                             "for a regression loss, end the network without one")

    def penalty_value(self, batch_size):
        if self.penalty is None:
            return 0.0
        parameters, _, mask = self.network.flat_parameters()
        return self.penalty.value(parameters, mask, batch_size)

    def train_step(self, x, y, sample_weight=None):
        """Forward, loss, backward, update on one minibatch; returns (loss, correct). Under
        MPI (x, y) is this rank's part of the minibatch, and both figures are the whole batch's."""
        if self.communicator is None:
            value, logits = gradient_step(self.network, self.loss, self.optimizer, x, y, self.penalty, sample_weight)
            correct = self.loss.correct(logits, y)
        else:
            value, correct, self._interrupt_agreed = self.communicator.train_step(
                self, x, y, sample_weight, self._interrupt_requested)
        return self._checked(value), correct

    def _step_in_chunks(self, data, rows, sample_weight=None):
        """:meth:`train_step` on the samples ``rows`` of ``data``, read and computed a
        chunk at a time: with W_c the weight of chunk c (its samples, or Σ w) and W = Σ W_c,
        J = Σ_c (W_c / W) J_c + penalty and ∇J = Σ_c (W_c / W) ∇J_c + ∇penalty, the
        gradient of the whole batch, then one optimizer step."""
        network, loss = self.network, self.loss
        parameters, gradients, mask = flat = network.flat_parameters()
        weights = None if sample_weight is None else sample_weight[rows]
        total = len(rows) if weights is None else float(np.sum(weights))
        summed, value_sum, correct = np.zeros_like(gradients), 0.0, 0
        for chunk in chunks(len(rows)):
            x, y = read(data, rows[chunk], network.dtype)
            chunk_weights = None if weights is None else weights[chunk]
            weight = len(x) if chunk_weights is None else float(np.sum(chunk_weights))
            if not weight:
                continue  # samples of weight 0 add nothing
            value, logits = loss_and_gradient(network, loss, x, y, None, chunk_weights, flat)
            if not np.isfinite(value):
                return self._checked(value), None
            value_sum += value * weight
            summed += gradients * gradients.dtype.type(weight / total)
            found = loss.correct(logits, y)
            correct = None if found is None or correct is None else correct + found
        gradients[...] = summed
        value = value_sum / total + self.penalty_value(total)
        if self.penalty is not None:
            self.penalty.add_gradient(parameters, gradients, mask, total)
        if np.isfinite(value):
            self.optimizer.step(*flat)
        return self._checked(value), correct

    def _checked(self, value):
        """The step's loss, once known finite (else the run diverged); the first is the
        untrained network's, the yardstick for divergence."""
        if not np.isfinite(value):
            self._diverged(f"the loss became {value}", non_finite=True)
        if self.first_loss == np.inf:
            self.first_loss = value
        return value

    def _interrupted(self):
        """Ctrl-C was pressed: here, or under MPI on any rank (every rank stops after the same minibatch)."""
        return self._interrupt_requested if self.communicator is None else self._interrupt_agreed

    # --- the divergence guard -----------------------------------------------
    def _diverged(self, what, non_finite=False):
        self.network.set_weights(self.best_weights)
        rate = self.optimizer.learning_rate
        raise TrainingDiverged(
            f"training diverged at {self.history.step} {self.epoch + 1}: {what} with learning_rate={rate:g}. "
            f"Try a smaller learning rate, e.g. {rate / 10:g}; the last good weights (best epoch, or initial) were kept.",
            self.history, non_finite,
        )

    def _watch_divergence(self, value):
        """After each epoch: NaN weights, a loss far above the untrained network's (over
        ``divergence_ratio`` times it, unless None), or a loss that keeps growing, stop the run."""
        if not np.isfinite(self.network.flat_parameters()[0]).all():
            self._diverged("the weights became NaN/inf", non_finite=True)
        ratio = self.divergence_ratio
        if ratio is not None and value > ratio * self.first_loss:
            self._diverged(f"the loss grew to {value:.4g}, over {ratio:g} times the untrained network's "
                           f"{self.first_loss:.4g},")
        if value < self.best_loss:
            self.best_loss, self.rising = value, 0
            self.best_weights = self.network.get_weights()
        elif value > self.last_loss:
            self.rising += 1
        else:
            self.rising = 0
        self.last_loss = value
        if self.rising >= self.divergence_patience and value > self.first_loss:
            self._diverged(f"the loss grew for {self.rising} {self.history.step}s in a row, to {value:.4g},")

    # --- epochs ---------------------------------------------------------------
    def run_epoch(self, data, sample_weight=None):
        """Train on every minibatch of one epoch (or of its rest, after a resume) of
        ``data``, a dataset: each minibatch is read from it as it is trained on."""
        n = len(data)
        if self.position is None:
            if self.shuffle:
                previous = self.order if self.order is not None and len(self.order) == n else np.arange(n)
                self.order = previous[self.rng.permutation(n)]
            self.position = {"order": self.order if self.shuffle else None, "batch": 0, "loss": 0.0, "correct": 0}
        position = self.position
        seen = self._samples_an_epoch(n)
        starts = self._batch_starts(seen)
        for batch, start in enumerate(starts[position["batch"]:], position["batch"]):
            end = starts[batch + 1] if batch + 1 < len(starts) else seen
            if position["order"] is None:
                index = slice(start, end)
            else:
                index = position["order"][start:end]
            if self.communicator is not None:
                index = self.communicator.share(index, n)  # this rank's part of the minibatch
            weights = None if sample_weight is None else sample_weight[index]
            for callback in self.callbacks:
                if hasattr(callback, "on_batch_begin"):  # a per-step schedule sets the rate here
                    callback.on_batch_begin(position["batch"])
            if self.accumulate_gradients and self.communicator is None and index_length(index, n) > CHUNK_ROWS:
                value, correct = self._step_in_chunks(data, as_indices(index, n), sample_weight)
            else:
                value, correct = self.train_step(*self._training_batch(data, index), weights)
            position["loss"] += value * (end - start)
            position["correct"] = None if correct is None else position["correct"] + correct
            position["batch"] += 1
            for callback in self.callbacks:
                callback.on_batch_end(position["batch"] - 1, {"loss": value})
            if self._interrupted():
                self._stop_on_interrupt()
        logs = {"loss": position["loss"] / seen}
        if position["correct"] is not None:
            logs["accuracy"] = position["correct"] / seen
        self.position = None
        self.epoch_mean_loss = logs["loss"]  # each minibatch's loss before its step (scikit-learn's loss_curve_)
        if self.measure_after_step and self.batches_per_epoch == 1:
            return self._measured_after_step(data, sample_weight)
        return logs

    def _samples_an_epoch(self, n):
        """The samples an epoch trains on: all ``n``, or ``steps_per_epoch`` minibatches' worth."""
        return n if self.steps_per_epoch is None else min(n, self.steps_per_epoch * self.batch_size)

    def _batch_starts(self, seen):
        """Where each minibatch of an epoch of ``seen`` samples starts. A last minibatch of
        one sample joins the one before it where a layer cannot train on one sample
        (BatchNorm over features: one value a channel has no variance)."""
        starts = list(range(0, seen, self.batch_size))
        one_too_few = any(getattr(layer, "needs_two_samples", False) for layer in getattr(self.network, "layers", ()))
        if one_too_few and len(starts) > 1 and seen - starts[-1] == 1:
            starts.pop()
        return starts

    def _training_batch(self, data, index):
        """The minibatch at ``index`` (a slice or sample numbers) as the step takes it:
        read from ``data`` (arrays are sliced without a copy), then augmented."""
        if not isinstance(data, ArrayDataset) or self.augment is not None:
            index = as_indices(index, len(data))
        x, y = read(data, index, self.network.dtype)
        if self.augment is not None:
            x = self.augment(x, index, self.epoch)
        return x, y

    def _measured_after_step(self, data, sample_weight=None):
        """The cost and accuracy of full-batch training at the weights its step has just
        made, J(w − η∇J(w)): the weights the validation data is scored at, so that the train
        and validation figures of an iteration describe one model. One forward pass more
        per iteration (the step's own pass saw the weights before it)."""
        logs = self.evaluate(data, sample_weight=sample_weight)
        if not np.isfinite(logs["loss"]):
            self._diverged(f"the loss became {logs['loss']}", non_finite=True)
        return logs

    def evaluate(self, X, y=None, sample_weight=None):
        """Loss (with the penalty, as in training: over Σ w samples with ``sample_weight``)
        and accuracy on (X, y), or on the dataset X, in inference mode, read and scored
        :data:`~neuronet.data.CHUNK_ROWS` samples at a time."""
        data = as_dataset(X, y)
        if self.communicator is not None:
            return self.communicator.evaluate(self, data, sample_weight)
        logits, y = self.logits_of(data)
        batch = min(self.batch_size, len(y)) if sample_weight is None else float(np.sum(sample_weight))
        logs = {"loss": self.loss.forward(logits, y, sample_weight) + self.penalty_value(batch)}
        correct = self.loss.correct(logits, y)
        if correct is not None:
            logs["accuracy"] = correct / len(y)
        return logs

    def logits_of(self, data, rows=None):
        """(logits, targets) of the samples of ``data`` at ``rows`` (all of them by
        default), read :data:`~neuronet.data.CHUNK_ROWS` at a time, or fewer where the
        network says so (``chunk_rows()``: large images): the memory of one chunk,
        whatever the size of the data."""
        rows = np.arange(len(data)) if rows is None else as_indices(rows, len(data))
        # fewer samples at once where a chunk of CHUNK_ROWS would take too much memory (large images)
        at_once = self.network.chunk_rows() if hasattr(self.network, "chunk_rows") else CHUNK_ROWS
        logits, targets = [], []
        for chunk in chunks(len(rows), at_once):
            x, y = read(data, rows[chunk], self.network.dtype)
            logits.append(self.network.predict_logits(x, batch_size=at_once))
            targets.append(y)
        if not logits:
            return np.zeros((0, 0), self.network.dtype), np.asarray(data.targets)[:0]
        return np.concatenate(logits), np.concatenate(targets)

    # --- state and Ctrl-C --------------------------------------------------------
    def settings(self):
        """What a resumed run must share with the run that wrote its checkpoint."""
        def described(thing):
            return None if thing is None else {"class": type(thing).__name__, **thing.get_config()}

        return {
            "network": self.network.get_config(), "loss": described(self.loss),
            "optimizer": described(self.optimizer), "penalty": described(self.penalty),
            "epochs": self.epochs, "batch_size": self.batch_size, "shuffle": self.shuffle,
            "random_state": _seed_setting(self.random_state),
            "callbacks": [described(c) for c in self._steering_callbacks()],
            **({} if self.steps_per_epoch is None else {"steps_per_epoch": self.steps_per_epoch}),
            **({"augment": self.augment.get_config()} if hasattr(self.augment, "get_config") else {}),
        }

    def _steering_callbacks(self):
        """The callbacks that change the course of training (not progress bars or loggers):
        those a resumed run must share, and whose state a checkpoint keeps."""
        return [callback for callback in self.callbacks if callback.changes_training]

    def state_dict(self):
        """The whole state of the run: enough to continue it exactly."""
        return {
            "epoch": self.epoch, "stop_training": self.stop_training,
            "position": None if self.position is None else dict(self.position),
            "rng": _generator_state(self.rng), "network_rng": self.network.rng.bit_generator.state, "order": self.order,
            "weights": self.network.get_weights(), "best_weights": self.best_weights,
            "optimizer": self.optimizer.state_dict(), "history": self.history.state_dict(),
            "divergence": {"best_loss": self.best_loss, "last_loss": self.last_loss,
                           "first_loss": self.first_loss, "rising": self.rising},
            "callbacks": [callback.state_dict() for callback in self._steering_callbacks()],
        }

    def load_state_dict(self, state):
        """Put back what :meth:`state_dict` gave, once it is known to be a state of this run
        (ValueError otherwise: a forged or damaged checkpoint is refused before any of it
        is restored, never half-restored or failing deep inside the loop)."""
        try:
            self._check_state(state)
            _set_generator_state(self.rng, state["rng"])
            self.network.rng.bit_generator.state = state["network_rng"]
            self.epoch, self.stop_training = state["epoch"], state["stop_training"]
            self.position, self.order = state["position"], state["order"]
            self.network.set_weights(state["weights"])
            self.best_weights = state["best_weights"]
            self.optimizer.load_state_dict(state["optimizer"])
            self.history.load_state_dict(state["history"])
            divergence = state["divergence"]
            self.best_loss, self.last_loss = float(divergence["best_loss"]), float(divergence["last_loss"])
            self.first_loss, self.rising = float(divergence["first_loss"]), int(divergence["rising"])
            for callback, callback_state in zip(self._steering_callbacks(), state["callbacks"]):
                callback.load_state_dict(callback_state)
        except (KeyError, TypeError, ValueError, IndexError, OverflowError, AttributeError) as error:
            raise ValueError(f"the checkpoint's state is damaged or not of this run: {error}") from None

    def _check_state(self, state):
        """Raise ValueError unless ``state`` has the parts of a run's state, an epoch within
        this run, orders of this data's samples, a position within an epoch, weights and
        optimizer slots of this network, a history of ``epoch`` steps and one state per
        steering callback."""
        if not isinstance(state, dict) or set(state) != _STATE_PARTS:
            raise ValueError("it does not hold the parts of a run's state")
        epoch, n = state["epoch"], None if self.data is None else len(self.data[0])
        if type(epoch) is not int or not 0 <= epoch <= self.epochs or type(state["stop_training"]) is not bool:
            raise ValueError(f"epoch {str(epoch)[:20]} is not within this run's {self.epochs}")
        _check_order(state["order"], n)
        if state["position"] is not None:
            self._check_position(state["position"], n)
        shapes = {key: array.shape for key, array in self.network.get_weights().items()}  # parameters and buffers
        for name in ("weights", "best_weights"):
            if state[name] is not None or name == "weights":
                _check_arrays(state[name], shapes, name)
        slots, flat = state["optimizer"]["slots"], self.network.flat_parameters()[0].shape
        # a slot is one value per parameter (moments, velocity), or one number (SGD's velocity_rate)
        _check_arrays(slots, {key: () if np.ndim(value) == 0 else flat for key, value in slots.items()},
                      "optimizer slots")
        history = state["history"]
        _check_arrays(history["metrics"], dict.fromkeys(history["metrics"], (epoch,)), "history")
        if np.shape(history["epoch"]) != (epoch,) or history["step"] not in ("epoch", "iteration"):
            raise ValueError(f"its history does not have the {epoch} steps done")
        divergence = state["divergence"]
        losses = [divergence[name] for name in ("best_loss", "last_loss", "first_loss")]
        if not all(isinstance(value, (int, float)) for value in losses) or type(divergence["rising"]) is not int \
                or divergence["rising"] < 0 or len(state["callbacks"]) != len(self._steering_callbacks()):
            raise ValueError("its divergence guard or callbacks are not of this run")

    def _check_position(self, position, n):
        """A position within an epoch: its order, the next batch, and the running sums."""
        if not isinstance(position, dict) or set(position) != {"order", "batch", "loss", "correct"}:
            raise ValueError("its position within the epoch is malformed")
        if (position["order"] is None) == self.shuffle:
            raise ValueError("its position's order does not match shuffle=" + str(self.shuffle))
        _check_order(position["order"], n)
        batch, correct = position["batch"], position["correct"]
        batches = self.batches_per_epoch if n is not None else batch  # unknown before fit gives the data
        if type(batch) is not int or not 0 <= batch <= batches or not (
                isinstance(position["loss"], (int, float)) and (correct is None or isinstance(correct, (int, float)))):
            raise ValueError(f"its position (batch {str(batch)[:20]}) is not within an epoch of "
                             f"{self.batches_per_epoch} batches")

    def _stop_on_interrupt(self):
        for callback in self.callbacks:
            callback.on_interrupt()
        where = f"{self.history.step} {self.epoch + 1}, batch {self.position['batch']}"
        saved = next((callback.path for callback in self.callbacks if callback.restores_run), None)
        raise TrainingInterrupted(f"training interrupted by Ctrl-C after {where}", self.history, saved)

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
    def fit(self, X, y=None, validation_data=None, sample_weight=None):
        """Train on (X, y), or on the dataset X (read a minibatch at a time); validation
        data likewise, as (X_val, y_val) or a dataset."""
        self._check_output_activation()
        data = as_dataset(X, y)
        validation_data = None if validation_data is None else as_dataset(*_pair(validation_data))
        self.network.ensure_built(read(data, np.arange(1), self.network.dtype)[0])
        self.data = (data, validation_data, sample_weight)
        self.batches_per_epoch = len(self._batch_starts(self._samples_an_epoch(len(data))))
        self.history.step = "iteration" if self.batches_per_epoch == 1 else "epoch"
        self.history.measured = ("epoch_mean" if self.batches_per_epoch > 1
                                 else "after_step" if self.measure_after_step else "before_step")
        self.best_weights = self.network.get_weights()
        if self.communicator is None:
            self._begin_callbacks()
        else:  # every rank checks that it runs the same run, then takes rank 0's state
            self.communicator.begin(self, self._begin_callbacks)
        catching, self.completed = self._catch_ctrl_c(), False
        self._enter_training(True)
        # overflow is caught as divergence; BLAS runs on the threads that this work pays for
        with np.errstate(over="ignore", invalid="ignore"), blas_threads(self.network, min(self.batch_size, len(data))):
            try:
                while self.epoch < self.epochs and not self.stop_training:
                    self._train_one_epoch(data, validation_data, sample_weight)
                self.completed = True  # neither interrupted nor diverged
            finally:
                self.network.clear_cache()  # nothing of the last batch's inputs stays in the network
                self._enter_training(False)  # fit leaves the network in evaluation mode
                if catching:
                    signal.signal(signal.SIGINT, self._previous_handler)
                for callback in self.callbacks:
                    callback.on_train_end()
        return self.history

    def _enter_training(self, training):
        """The network's mode for the run (training) or after it (evaluation), and the
        run's communicator on the layers that take one (their batch statistics summed
        over the ranks under MPI), removed after it."""
        mode = getattr(self.network, "train" if training else "eval", None)
        if mode is not None:
            mode()
        for layer in getattr(self.network, "layers", ()):
            if hasattr(layer, "communicator"):
                layer.communicator = self.communicator if training else None

    def _begin_callbacks(self):
        for callback in self.callbacks:  # a Checkpoint callback, last, may put back a saved run here
            callback.trainer = self
            callback.on_train_begin()

    def _train_one_epoch(self, data, validation_data, sample_weight=None):
        if self.position is None:
            for callback in self.callbacks:
                callback.on_epoch_begin(self.epoch)
        logs = self.run_epoch(data, sample_weight)
        if self.communicator is not None:
            self.communicator.check_weights(self.network)  # the ranks' weights must not drift apart
        if validation_data is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(validation_data).items()})
        self.history.append(self.epoch, logs)
        self._watch_divergence(logs["loss"])
        self.epoch += 1  # the epoch is done: callbacks see (and a checkpoint saves) the run after it
        for callback in self.callbacks:
            callback.on_epoch_end(self.epoch - 1, logs)


# The parts of Trainer.state_dict()
_STATE_PARTS = {"epoch", "stop_training", "position", "rng", "network_rng", "order", "weights", "best_weights",
                "optimizer", "history", "divergence", "callbacks"}


def as_dataset(X, y=None):
    """A dataset of (X, y): X itself when it is one (and ``y`` is None), else the arrays
    as an :class:`~neuronet.data.ArrayDataset`."""
    if is_dataset(X):
        if y is not None:
            raise ValueError("give a dataset alone (its targets are its labels), or arrays X and y")
        check_dataset(X)
        return X
    return ArrayDataset(X, y)


def _pair(validation_data):
    """Validation data as the arguments of :func:`as_dataset`: (X, y), or (dataset,)."""
    return (validation_data,) if is_dataset(validation_data) else tuple(validation_data)


def _seed_setting(seed):
    """``random_state`` as the fingerprint of a run records it: None, an int, or a
    generator's state (a resumed run needs an identically seeded generator)."""
    if seed is None or isinstance(seed, Integral):
        return None if seed is None else int(seed)
    if isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return {"generator": type(seed).__name__, "state": _generator_state(seed)}
    return type(seed).__name__


def _augment_seed(random_state):
    """The seed of an augmentation given none: the run's int seed, a RandomState's key
    (the same for the same seed, on every MPI rank), or a fresh one."""
    if isinstance(random_state, Integral):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.get_state(legacy=False)["state"]["key"][0])
    return int(np.random.SeedSequence().generate_state(1)[0])


def _check_order(order, n):
    """An order of the samples: None, or a permutation of 0 … n − 1."""
    if order is None:
        return
    order = np.asarray(order)
    if order.ndim != 1 or order.dtype.kind not in "iu" or (n is not None and len(order) != n) or \
            not np.array_equal(np.sort(order), np.arange(len(order))):
        raise ValueError(f"its order of the samples is not a permutation of the {n} samples")


def _check_arrays(arrays, shapes, what):
    """``arrays``: a dict of numeric arrays with exactly the keys and shapes of ``shapes``."""
    if not isinstance(arrays, dict) or set(arrays) != set(shapes):
        raise ValueError(f"its {what} do not have the expected parts")
    for key, shape in shapes.items():
        if not isinstance(arrays[key], np.ndarray) or arrays[key].shape != shape or arrays[key].dtype.kind not in "fiu":
            raise ValueError(f"its {what} {key!r} has shape {np.shape(arrays[key])}, not {shape}")


def _generator_state(rng):
    return rng.bit_generator.state if isinstance(rng, np.random.Generator) else rng.get_state(legacy=False)


def _set_generator_state(rng, state):
    if isinstance(rng, np.random.Generator):
        rng.bit_generator.state = state
    else:
        rng.set_state(state)


def _validation_split(data, fraction, random_state, stratify):
    """(training part, validation part) of the dataset ``data``: arrays are split as
    they are, other datasets by the numbers of their samples, read when trained on."""
    from sklearn.model_selection import train_test_split

    targets = data.targets
    if isinstance(data, ArrayDataset):
        X, X_val, y, y_val = train_test_split(data.X, targets, test_size=fraction, random_state=random_state,
                                              stratify=targets if stratify else None)
        return ArrayDataset(X, y), (X_val, y_val)
    rows, rows_val = train_test_split(np.arange(len(data)), test_size=fraction, random_state=random_state,
                                      stratify=targets if stratify else None)
    return Subset(data, rows), Subset(data, rows_val)


def _class_indices(y, loss, validation_data):
    """Labels that are not numbers (strings, objects) as class indices in the order of
    ``np.unique``, for a classification loss: ``(classes, y, validation_data)``, with
    ``classes`` None where ``y`` is left as it is (numbers: class indices or 0/1 targets)."""
    if not isinstance(loss, (CrossEntropy, BinaryCrossEntropy)) or y.ndim != 1 or y.dtype.kind in "biuf":
        return None, y, validation_data
    try:
        classes, y = np.unique(y, return_inverse=True)
    except TypeError as error:
        raise ValueError(f"the class labels cannot be sorted ({error}); give labels of one type") from None
    if isinstance(loss, BinaryCrossEntropy) and len(classes) > 2:
        raise ValueError(f"BinaryCrossEntropy takes two classes, got {len(classes)}: {classes[:10].tolist()}; "
                         "use a Softmax output and CrossEntropy")
    if validation_data is not None:
        y_val = np.asarray(validation_data.targets if is_dataset(validation_data) else validation_data[1])
        unknown = np.setdiff1d(y_val, classes)
        if unknown.size:
            raise ValueError(f"validation labels {unknown[:10].tolist()} are not among the training labels")
        validation_data = Mapped(validation_data, y_map=lambda y: np.searchsorted(classes, y)) \
            if is_dataset(validation_data) else (validation_data[0], np.searchsorted(classes, y_val))
    return classes, y, validation_data


def fit(network, X, y=None, *, loss, optimizer, epochs=10, batch_size=32, shuffle=True, penalty=None,
        validation_split=0.0, validation_data=None, callbacks=(), verbose=0, random_state=None, print_every=1,
        sample_weight=None, communicator=None, measure_after_step=True, divergence_ratio=100.0, augment=None,
        accumulate_gradients=False, steps_per_epoch=None):
    """Train ``network`` on (X, y) and return its :class:`~neuronet.callbacks.History`.

    Parameters
    ----------
    X, y : arrays, or a dataset and None
        The samples and their targets; or, for data that does not fit in memory, one
        dataset object (:mod:`neuronet.data`: ``len``, ``dataset[indices] -> (X, y)``
        and ``targets``, such as :class:`neuronet.datasets.ImageFolder`), read one
        minibatch at a time. The weights are the same either way, for the same data
        and seed.
    loss : Loss
        Every loss takes the network's logits: a final Sigmoid/Softmax is the link to
        probabilities, used by prediction and skipped in training.
    optimizer : Optimizer
    epochs, batch_size : int
    shuffle : bool
        Reshuffle (seeded by ``random_state``) every epoch.
    penalty : L2, optional
        A penalty on the weights (:mod:`neuronet.regularizers`), added to the cost.
    validation_split : float
        Fraction of (X, y) held out, at random and stratified for class labels.
    validation_data : (X_val, y_val), optional
    callbacks : list of Callback
        E.g. ``EarlyStopping``, or ``Checkpoint("run.ckpt", resume=True)`` to save the
        whole state of the run as it goes and continue it exactly after a crash.
    steps_per_epoch : int, optional
        End each epoch after this many minibatches, drawn from a new shuffle of every
        sample; by default an epoch is a pass over all of them.
    accumulate_gradients : bool
        Compute a minibatch larger than :data:`~neuronet.data.CHUNK_ROWS` samples a chunk
        at a time, summing the gradients (see :class:`Trainer`).
    augment : callable, optional
        ``augment(x, indices, epoch)`` on each training minibatch, such as
        :class:`neuronet.augment.Augmentation` (see :class:`Trainer`).
    verbose : 0, 1 or 2
        0 silent, 1 a progress bar, 2 one line every ``print_every`` epochs.
    sample_weight : array of shape (n,), optional
        Each sample's weight in the loss (a weighted average over every minibatch).
    communicator : neuronet.distributed.World, optional
        Train data-parallel over the processes of an MPI job (every one calls ``fit``
        with the same arguments): see :mod:`neuronet.distributed`.
    measure_after_step : bool
        What the history's training ``loss`` and ``accuracy`` measure. With minibatches,
        always the mean over the epoch's minibatches, each measured before its step
        while the weights change (as Keras and scikit-learn record them). In full-batch
        training (``batch_size`` ≥ the samples) True measures them after the step, at
        the weights the validation data is scored at (the lecture's cost curve: one
        model per iteration), for one more forward pass an iteration; False keeps the
        cost before the step, as scikit-learn's ``loss_curve_``.
    divergence_ratio : float or None
        A loss over this many times the untrained network's stops the run as diverged
        (:class:`TrainingDiverged`); None leaves that to NaN/inf and to a loss that
        grows for 20 epochs in a row.
    augment : neuronet.augment.Augmentation, optional
        Random changes of each training batch of images (crops, flips, colour), new in
        every epoch; unseeded, it takes the seed of ``random_state``.

    X may be a scipy sparse matrix (a Dense first layer multiplies it as it is).
    Ctrl-C stops training after the current minibatch with :class:`TrainingInterrupted`.

    Class labels for CrossEntropy and BinaryCrossEntropy are class indices (0/1 for
    BinaryCrossEntropy), or any labels that are not numbers (e.g. strings), which are
    taken in sorted order, as ``np.unique`` gives them: output k is ``history.classes[k]``,
    so ``history.classes[network.predict(X).argmax(axis=1)]`` (or, for a Sigmoid output,
    ``history.classes[(network.predict(X)[:, 0] > 0.5).astype(int)]``) gives labels back.
    """
    if is_dataset(X) and y is None:
        targets = check_dataset(X)
        labels, _, validation_data = _class_indices(targets, loss, validation_data)
        data = X if labels is None else Mapped(X, y_map=lambda y: np.searchsorted(labels, y))
    else:
        X = X.astype(network.dtype) if sparse.issparse(X) else np.asarray(X, dtype=network.dtype)
        labels, y, validation_data = _class_indices(np.asarray(y), loss, validation_data)
        if X.shape[0] == 0 or X.shape[0] != len(y):
            raise ValueError(f"need as many targets as samples and at least one of each; got {X.shape[0]} samples "
                             f"and {len(y)} targets")
        data = ArrayDataset(X, y)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=network.dtype)
    validate_params({"validation_split": [Interval(Real, 0, 1, closed="left")]},
                    {"validation_split": validation_split}, "fit")
    if validation_split and validation_data is None:
        classes = network.output_activation is not None and np.ndim(data.targets) == 1
        if sample_weight is not None:
            raise ValueError("validation_split with sample_weight: give validation_data instead")
        data, validation_data = _validation_split(data, validation_split, random_state, stratify=classes)
    elif validation_data is not None and not is_dataset(validation_data):
        validation_data = (np.asarray(validation_data[0], dtype=network.dtype), np.asarray(validation_data[1]))
    callbacks = list(callbacks)  # the progress report goes after the callbacks that may stop the run
    if verbose == 1:
        callbacks.append(ProgressBar())
    elif verbose >= 2:
        callbacks.append(EpochLogger(print_every))
    trainer = Trainer(network, loss, optimizer, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                      penalty=penalty, callbacks=callbacks, random_state=random_state, communicator=communicator,
                      measure_after_step=measure_after_step, divergence_ratio=divergence_ratio, augment=augment,
                      accumulate_gradients=accumulate_gradients, steps_per_epoch=steps_per_epoch)
    trainer.history.classes = labels
    return trainer.fit(data, validation_data=validation_data, sample_weight=sample_weight)
