"""Checkpoints: the whole state of a training run in one file, to continue exactly.

A checkpoint holds what ``Trainer.state_dict()`` returns — the weights, the
optimizer's moments and step count, the epoch and the position inside it (the
shuffled order, the next minibatch, the running sums), both random generators, the
history, the divergence guard and the callbacks' state — and a fingerprint of the
run's settings and data. It is written in the one container of :mod:`neuronet.files`
(temporary file, fsync, rename), so a kill at any instant leaves the previous
checkpoint intact, and read back with the same checks.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .files import FORMAT_VERSION, ModelFileError, load_file, save_file, tree_from_file, tree_to_file


def fingerprint(settings, X, y, validation_data=None):
    """What must match for a resume: the run's settings (JSON-safe) and a hash of its data."""
    digest = hashlib.sha256()
    for array in (X, y, *(validation_data or ())):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    json_view = tree_to_file(settings)[0]["tree"]  # as the settings will read back from the file
    return {"settings": json_view, "data": digest.hexdigest()}


def save(path, state, run_fingerprint):
    """Write a trainer's ``state_dict()`` and the run's fingerprint to ``path``."""
    meta, arrays = tree_to_file({"state": state})
    save_file(path, {"kind": "checkpoint", "fingerprint": run_fingerprint, **meta}, arrays)


def _differences(saved, current, prefix=""):
    if isinstance(saved, dict) and isinstance(current, dict):
        for key in sorted(set(saved) | set(current)):
            yield from _differences(saved.get(key), current.get(key), f"{prefix}{key}.")
    elif saved != current:
        yield f"{prefix.rstrip('.')}: {saved!r} then, {current!r} now"


def load(path, run_fingerprint):
    """The state saved in ``path``, for ``Trainer.load_state_dict``.

    Refuses (ValueError) a checkpoint of another format version, or made with other
    settings or other data."""
    meta, arrays = load_file(path)
    if meta.get("kind") != "checkpoint":
        raise ModelFileError(f"{path!r} is a neuronet file but not a training checkpoint")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"cannot resume from {path!r}: it was written by an older neuronet (file format "
                         f"{meta.get('format_version')}). Delete it to start afresh")
    saved = meta["fingerprint"]
    changes = list(_differences(saved["settings"], run_fingerprint["settings"]))
    if changes:
        raise ValueError(f"cannot resume from {path!r}: it was made with other settings ({'; '.join(changes[:4])}). "
                         "Resume with the same settings, or delete the checkpoint to start afresh")
    if saved["data"] != run_fingerprint["data"]:
        raise ValueError(f"cannot resume from {path!r}: it was made on different data. Resume with the same "
                         "data, or delete the checkpoint to start afresh")
    return tree_from_file({key: value for key, value in meta.items() if key not in ("kind", "fingerprint")},
                          arrays)["state"]
