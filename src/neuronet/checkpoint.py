"""Checkpoints: the whole state of a training run in one file, to continue exactly.

A checkpoint holds what ``Trainer.state_dict()`` returns — the weights, the
optimizer's moments and step count, the epoch and the position inside it (the
shuffled order, the next minibatch, the running sums), both random generators, the
history, the divergence guard and the callbacks' state — and a fingerprint of the
run's settings and data. It is written in the one container of :mod:`neuronet.files`
(temporary file, fsync, rename), so a kill at any instant leaves the previous
checkpoint intact, and read back with the same checks.

The :class:`Checkpoint` callback does this during ``fit`` (as Keras's
``BackupAndRestore`` does): it saves as the run goes and on Ctrl-C, and with
``resume=True`` puts a saved run back before the first minibatch.
"""

from __future__ import annotations

import hashlib
import os
from numbers import Integral

import numpy as np
from scipy import sparse

from .callbacks import Callback
from .data import ArrayDataset, fingerprint_of, is_lazy, spread_rows
from .files import FORMAT_VERSION, ModelFileError, load_file, save_file, tree_from_file, tree_to_file
from .validation import Interval, StrOptions, validate_params


def _arrays(data):
    """The arrays that hold ``data``: itself, or a sparse matrix's three."""
    if sparse.issparse(data):
        data = data.tocsr()
        return [data.data, data.indices, data.indptr, np.asarray(data.shape)]
    return [] if data is None else [data]


def _digest(arrays):
    """SHA-256 of the arrays' dtypes, shapes and values."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _digested(settings):
    """The settings with each array (a random generator's state) replaced by its digest."""
    if isinstance(settings, dict):
        return {key: _digested(value) for key, value in settings.items()}
    if isinstance(settings, (list, tuple)):
        return [_digested(value) for value in settings]
    return f"sha256:{_digest([settings])[:16]}" if isinstance(settings, np.ndarray) else settings


def _data_digest(dataset):
    """SHA-256 of a dataset's samples and targets: of its arrays when it holds them in memory; of
    its own ``fingerprint()`` (an image folder's cache key) and its targets when it has
    one; else of its targets and of :data:`~neuronet.data.CHUNK_ROWS` samples spread
    over it (one read of a chunk, whatever the size of the data)."""
    if isinstance(dataset, ArrayDataset) and not is_lazy(dataset.X):
        return _digest(_arrays(dataset.X) + [dataset.targets])
    targets = np.asarray(dataset.targets)
    own = fingerprint_of(dataset.X if isinstance(dataset, ArrayDataset) else dataset)
    if own is not None:
        return _digest([np.frombuffer(own.encode(), np.uint8), targets])
    return _digest([targets, np.asarray(dataset[spread_rows(len(dataset))][0])])


def fingerprint(settings, data, validation_data=None, sample_weight=None):
    """What must match for a resume: the run's settings (``Trainer.settings()``, arrays
    in them by their digest) and a hash of its data (datasets, see ``Trainer.data``)."""
    digests = [_data_digest(part) for part in (data, validation_data) if part is not None]
    digests.append(_digest(_arrays(sample_weight)))
    json_view = tree_to_file(_digested(settings))[0]["tree"]  # as the settings will read back from the file
    return {"settings": json_view, "data": _digest([np.frombuffer("".join(digests).encode(), np.uint8)])}


def save(path, state, run_fingerprint):
    """Write a trainer's ``state_dict()`` and the run's fingerprint to ``path``."""
    meta, arrays = tree_to_file({"state": state})
    save_file(path, {"kind": "checkpoint", "fingerprint": run_fingerprint, **meta}, arrays)


def _shown(value, width=60):
    text = repr(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def _differences(saved, current, prefix=""):
    """(where, saved, current) for each setting that differs, down to the leaves."""
    if isinstance(saved, dict) and isinstance(current, dict):
        for key in sorted(set(saved) | set(current)):
            yield from _differences(saved.get(key), current.get(key), f"{prefix}{key}.")
    elif isinstance(saved, list) and isinstance(current, list) and len(saved) == len(current):
        for index, (then, now) in enumerate(zip(saved, current)):
            yield from _differences(then, now, f"{prefix}{index}.")
    elif isinstance(saved, list) and isinstance(current, list):
        yield prefix.rstrip("."), f"{len(saved)} entries", f"{len(current)} entries"
    elif saved != current:
        yield prefix.rstrip("."), saved, current


def _refusals(saved, current):
    """The differences that make the resumed run another run, one line each. The number
    of epochs may be raised (and a schedule laid over it, where a setting repeats it)."""
    extending = isinstance(current.get("epochs"), int) and current["epochs"] > saved.get("epochs", current["epochs"])
    for where, then, now in _differences(saved, current):
        if extending and where.split(".")[-1] == "epochs" and (then, now) == (saved["epochs"], current["epochs"]):
            continue
        yield f"{where}: {_shown(then)} then, {_shown(now)} now"


def _read(path):
    """(fingerprint, state) of the checkpoint at ``path``, once it is known to be one: a
    model file, a checkpoint of an older format or a malformed one is refused in one line."""
    meta, arrays = load_file(path)
    if meta.get("kind") != "checkpoint":
        what = "a saved model" if "tree" in meta or meta.get("kind") in ("estimator", "network") else "a neuronet file"
        raise ModelFileError(f"{path!r} is {what}, not a training checkpoint: load a model with neuronet.load or "
                             "give it to neuronet predict or evaluate; resume from the checkpoint a run wrote "
                             "(its --checkpoint, or MODEL.ckpt beside the model)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"cannot resume from {path!r}: it was written by an older neuronet (file format "
                         f"{meta.get('format_version')}). Delete it to start afresh")
    saved = meta.get("fingerprint")
    if not (isinstance(saved, dict) and isinstance(saved.get("settings"), dict)
            and isinstance(saved["settings"].get("epochs"), int) and isinstance(saved.get("data"), str)):
        raise ModelFileError(f"{path!r} is a training checkpoint without a valid fingerprint of its run")
    state = tree_from_file({key: value for key, value in meta.items() if key not in ("kind", "fingerprint")},
                           arrays)["state"]
    if not isinstance(state, dict):
        raise ModelFileError(f"{path!r} is a training checkpoint without a valid state")
    return saved, state


def progress(path):
    """How far the run saved in ``path`` got: {"done", "planned", "stopped", "step"} —
    the epochs (or iterations) done and planned, and whether a callback stopped it
    (early stopping); the run is finished when it stopped or did all it planned."""
    saved, state = _read(path)
    done, stopped, step = state.get("epoch"), state.get("stop_training"), (state.get("history") or {}).get("step")
    if type(done) is not int or not 0 <= done <= saved["settings"]["epochs"] or type(stopped) is not bool \
            or step not in ("epoch", "iteration"):
        raise ModelFileError(f"{path!r} is a training checkpoint whose progress is damaged (epoch {str(done)[:20]} of "
                             f"{saved['settings']['epochs']})")
    return {"done": done, "planned": saved["settings"]["epochs"], "stopped": stopped, "step": step}


def load(path, run_fingerprint):
    """The state saved in ``path``, for ``Trainer.load_state_dict`` (which checks it).

    Refuses (ValueError) a checkpoint of another format version, or made with other
    settings or other data."""
    saved, state = _read(path)
    changes = list(_refusals(saved["settings"], run_fingerprint["settings"]))
    if changes:
        raise ValueError(f"cannot resume from {path!r}: it was made with other settings:\n  " + "\n  ".join(changes)
                         + "\nResume with the same settings (only the number of epochs may be raised), or delete "
                           "the checkpoint to start afresh")
    if saved["data"] != run_fingerprint["data"]:
        raise ValueError(f"cannot resume from {path!r}: it was made on different data. Resume with the same "
                         "data, or delete the checkpoint to start afresh")
    return state


class Checkpoint(Callback):
    """Save the whole state of the run to ``path`` as training goes; continue from it.

    Parameters
    ----------
    path : path
        The checkpoint file (written atomically: a crash leaves the previous one).
    every : "epoch", int or None, default "epoch"
        Save after every epoch; or every N minibatches and after every epoch; or
        (None) only on Ctrl-C. A checkpoint is always saved on Ctrl-C.
    resume : bool
        Continue from ``path`` if it exists. It is refused (ValueError) if it was made
        with other settings (network, loss, optimizer, penalty, batch size, seed,
        steering callbacks) or on other data. The number of epochs may be raised: the
        run goes on to the new total (a cosine schedule is laid over it). A run that
        finished is saved as finished: resuming it trains no further.

    The trainer runs it after every other callback (``restores_run``), so that it
    saves their state after they have acted and puts it back after they have reset.
    """

    changes_training = False
    restores_run = True
    _parameter_constraints = {"every": [Interval(Integral, 1, None, closed="left"), StrOptions({"epoch"}), None],
                              "resume": ["boolean"]}

    def __init__(self, path, every="epoch", resume=False):
        validate_params(self._parameter_constraints, {"every": every, "resume": resume}, "Checkpoint")
        self.path = os.fspath(path)
        self.every = int(every) if isinstance(every, Integral) else every
        self.resume = bool(resume)

    def save(self):
        save(self.path, self.trainer.state_dict(), self.fingerprint)

    def on_train_begin(self):
        self.fingerprint = fingerprint(self.trainer.settings(), *self.trainer.data)
        if self.resume and os.path.exists(self.path):
            self.trainer.load_state_dict(load(self.path, self.fingerprint))

    def on_batch_end(self, batch, logs):
        if isinstance(self.every, int) and (batch + 1) % self.every == 0:
            self.save()

    def on_epoch_end(self, epoch, logs):
        if self.every is not None:
            self.save()

    def on_interrupt(self):
        self.save()

    def on_train_end(self):
        if self.trainer.completed and (self.every is not None or os.path.exists(self.path)):
            self.save()  # the finished run: resuming it again trains no further
