"""Checkpoints: the whole state of a training run in one file, to continue exactly.

A checkpoint holds the weights, the optimizer's moments and step count, the epoch
and the position inside it (the shuffled order, the next minibatch, the running
sums), both random generators, the history, the divergence guard and the callbacks'
state, and a fingerprint of the settings and the data. It is written like a model
file (temporary file, fsync, rename), so a kill at any instant leaves the previous
checkpoint intact, and read with the same checks.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .io import ModelFileError, json_safe, load_arrays, save_arrays


def fingerprint(trainer, X, y, validation_data=None):
    """What must match for a resume: the run's settings and a hash of its data."""
    digest = hashlib.sha256()
    for array in (X, y, *(validation_data or ())):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    optimizer = trainer.optimizer
    settings = {
        "network": trainer.network.get_config(),
        "loss": type(trainer.loss).__name__,
        "optimizer": {"type": type(optimizer).__name__, **optimizer.get_config()},
        "epochs": trainer.epochs, "batch_size": trainer.batch_size, "shuffle": bool(trainer.shuffle),
        "random_state": trainer.random_state if isinstance(trainer.random_state, (int, type(None))) else "custom",
        "callbacks": [type(c).__name__ for c in trainer.callbacks if type(c).__name__ not in ("ProgressBar", "EpochLogger")],
    }
    return {"settings": json_safe(settings), "data": digest.hexdigest()}


def _callback_states(trainer):
    meta, arrays = [], {}
    for index, callback in enumerate(trainer.callbacks):
        plain = {}
        for name, value in callback.state_dict().items():
            if isinstance(value, dict):  # a dict of arrays, e.g. best weights
                plain[name] = {"arrays": sorted(value)}
                arrays.update({f"callback{index}/{name}/{key}": array for key, array in value.items()})
            else:
                plain[name] = json_safe(value)
        meta.append(plain)
    return meta, arrays


def save_checkpoint(path, trainer, run_fingerprint):
    position = trainer.position
    callbacks, arrays = _callback_states(trainer)
    arrays.update({f"weights/{k}": v for k, v in trainer.network.get_weights().items()})
    arrays.update({f"best/{k}": v for k, v in trainer.best_weights.items()})
    optimizer = trainer.optimizer.state_dict()
    arrays.update({f"optimizer/{k}": v for k, v in optimizer["slots"].items()})
    if position is not None and position["order"] is not None:
        arrays["order"] = position["order"]
    meta = {
        "kind": "checkpoint", "fingerprint": run_fingerprint, "epoch": trainer.epoch,
        "stop_training": trainer.stop_training,
        "position": None if position is None else {k: position[k] for k in ("batch", "loss", "correct")},
        "rng": trainer.rng.bit_generator.state, "network_rng": trainer.network.rng.bit_generator.state,
        "history": trainer.history.history, "history_epochs": trainer.history.epoch,
        "divergence": {"best_loss": trainer.best_loss, "last_loss": trainer.last_loss,
                       "first_loss": trainer.first_loss, "rising": trainer.rising},
        "optimizer": {"iterations": optimizer["iterations"], "learning_rate": optimizer["learning_rate"]},
        "callbacks": callbacks,
    }
    save_arrays(path, json_safe(meta), arrays)


def _differences(saved, current, prefix=""):
    if isinstance(saved, dict) and isinstance(current, dict):
        for key in sorted(set(saved) | set(current)):
            yield from _differences(saved.get(key), current.get(key), f"{prefix}{key}.")
    elif saved != current:
        yield f"{prefix.rstrip('.')}: {saved!r} then, {current!r} now"


def load_checkpoint(path, trainer, run_fingerprint):
    """Put the saved run's state into ``trainer``; returns the callbacks' states.

    Refuses (ValueError) a checkpoint made with other settings or other data."""
    meta, arrays = load_arrays(path)
    if meta.get("kind") != "checkpoint":
        raise ModelFileError(f"{path!r} is a neuronet file but not a training checkpoint")
    saved = meta["fingerprint"]
    changes = list(_differences(saved["settings"], run_fingerprint["settings"]))
    if changes:
        raise ValueError(f"cannot resume from {path!r}: it was made with other settings ({'; '.join(changes[:4])}). "
                         "Resume with the same settings, or delete the checkpoint to start afresh")
    if saved["data"] != run_fingerprint["data"]:
        raise ValueError(f"cannot resume from {path!r}: it was made on different data. Resume with the same "
                         "data, or delete the checkpoint to start afresh")
    _restore(trainer, meta, arrays)
    return [
        {name: ({key: arrays[f"callback{index}/{name}/{key}"] for key in value["arrays"]}
                if isinstance(value, dict) and "arrays" in value else value)
         for name, value in state.items()}
        for index, state in enumerate(meta["callbacks"])
    ]


def _prefixed(arrays, prefix):
    return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}


def _restore(trainer, meta, arrays):
    trainer.network.set_weights(_prefixed(arrays, "weights/"))
    trainer.best_weights = _prefixed(arrays, "best/")
    trainer.optimizer.load_state_dict({**meta["optimizer"], "slots": _prefixed(arrays, "optimizer/")})
    trainer.epoch, trainer.stop_training = int(meta["epoch"]), bool(meta["stop_training"])
    trainer.rng.bit_generator.state = meta["rng"]
    trainer.network.rng.bit_generator.state = meta["network_rng"]
    trainer.history.history = {k: list(v) for k, v in meta["history"].items()}
    trainer.history.epoch = list(meta["history_epochs"])
    divergence = meta["divergence"]
    trainer.best_loss, trainer.last_loss = float(divergence["best_loss"]), float(divergence["last_loss"])
    trainer.first_loss, trainer.rising = float(divergence["first_loss"]), int(divergence["rising"])
    position = meta["position"]
    trainer.position = None if position is None else {**position, "order": arrays.get("order")}
