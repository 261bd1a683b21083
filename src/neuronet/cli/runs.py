"""neuronet runs: the runs of ``neuronet train`` and ``neuronet rl``, one folder each.

Without ``--output``, every run gets a folder of its own, ``neuronet-runs/run-N/``
(N = 1, 2, …), holding its model (``model.npz``), its checkpoint and its report, so that
no run replaces another. N is allocated atomically: ``os.mkdir`` of ``run-N`` either
creates the folder or fails because it exists, so of the processes that try the same N
exactly one gets it, and the others go on to N + 1.

``neuronet-runs/latest`` names the newest run (the largest N): a symbolic link to
``run-N``, replaced atomically (``os.replace`` of a temporary link); where the file system
cannot hold symbolic links, a small text file that holds ``run-N``. neuronet itself finds
the newest run by its number, so the pointer is for people and scripts
(``cd neuronet-runs/latest``).
"""

from __future__ import annotations

import math
import os
import re
import threading
from contextlib import suppress

from ..persistence import load_described
from ..preprocessing import final_estimator
from .common import RAW

ROOT = "neuronet-runs"
LATEST = "latest"
MODEL = "model.npz"  # every run's model file, in its folder
_RUN = re.compile(r"run-([1-9][0-9]*)")


def add(commands):
    parser = commands.add_parser(
        "runs", help="the runs kept in neuronet-runs/: when, data, model, settings, train and test accuracy",
        description="List the runs that neuronet train and neuronet rl kept in their own folders "
                    "(neuronet-runs/run-N/, the oldest first; neuronet-runs/latest names the newest), each "
                    "as its model file records it. A run whose model file is missing or unreadable is listed "
                    "as such.",
        epilog="examples:\n  neuronet runs\n  neuronet evaluate neuronet-runs/run-2/model.npz\n"
               "  neuronet train --resume        continues the newest run", formatter_class=RAW)
    parser.add_argument("--folder", default=ROOT, help=f"where the runs are (default: {ROOT})")
    parser.set_defaults(run=run)


# --- the folders -----------------------------------------------------------------------
def run_folders(root=ROOT):
    """{N: path of run-N} for every run folder under ``root``, in order of N."""
    try:
        names = os.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    numbers = sorted(int(found[1]) for found in map(_RUN.fullmatch, names) if found)
    return {number: os.path.join(root, f"run-{number}") for number in numbers
            if os.path.isdir(os.path.join(root, f"run-{number}"))}


def newest_run(root=ROOT):
    """The folder of the run with the largest number, or None when there is none."""
    folders = run_folders(root)
    return folders[max(folders)] if folders else None


def new_run(root=ROOT):
    """Create the next run folder, ``root/run-N`` with N one more than the largest so far
    (the next free one when another process takes N first), point ``latest`` at the
    newest run, and return the new folder's path."""
    os.makedirs(root, exist_ok=True)
    number = max(run_folders(root), default=0) + 1
    while True:
        folder = os.path.join(root, f"run-{number}")
        try:
            os.mkdir(folder)
        except FileExistsError:
            number += 1
            continue
        _point_latest(root)
        return folder


def discard_run(folder, root=ROOT):
    """Remove the run folder ``folder`` if nothing was written in it (a run that failed
    before saving), and point ``latest`` at the newest run left (none: no ``latest``)."""
    try:
        os.rmdir(folder)
    except OSError:
        return  # it holds something (a checkpoint): it stays a run, and listed as such
    if newest_run(root) is None:
        with suppress(FileNotFoundError):
            os.remove(os.path.join(root, LATEST))
    else:
        _point_latest(root)


def _point_latest(root):
    """Point ``latest`` at the newest run, and look again once it is written: a run made
    meanwhile by another process is pointed at, by this one or by its maker, whichever
    writes last."""
    while True:
        newest = newest_run(root)
        _replace_link(os.path.join(root, LATEST), os.path.basename(newest))
        if newest_run(root) == newest:
            return


def _replace_link(path, target):
    """``path`` becomes a symbolic link to ``target`` (a text file holding it where links
    cannot be made), replacing what was there in one step."""
    temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with suppress(FileNotFoundError):
        os.remove(temporary)  # left by a process of the same number that died in between
    try:
        os.symlink(target, temporary, target_is_directory=True)
    except (OSError, NotImplementedError):
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(f"{target}\n")
    os.replace(temporary, path)


# --- the listing -----------------------------------------------------------------------
HEADER = ("run", "started", "data", "model", "settings", "train acc", "test acc")


def run(args):
    folders = run_folders(args.folder)
    if not folders:
        print(f"no runs in {args.folder}/ yet: neuronet train (or neuronet rl cartpole) makes the first")
        return 0
    rows = [_row(folder) for folder in folders.values()]
    _print_table([HEADER, *rows])
    print(f"{len(rows)} run{'s' if len(rows) != 1 else ''}; the newest, {os.path.basename(newest_run(args.folder))}, "
          f"is also {os.path.join(args.folder, LATEST)}")
    return 0


def _row(folder):
    """One run as a table row, read from its model file by the checked, bounded reader
    (nothing in a file is run as code); (name, what is wrong) when it cannot be read."""
    name, path = os.path.basename(folder), os.path.join(folder, MODEL)
    if not os.path.exists(path):
        return (name, f"no {MODEL}: still training, or stopped before saving")
    try:
        model, extra, _ = load_described(path)
    except (ValueError, OSError) as error:  # a damaged file is a ModelFileError, a ValueError
        return (name, f"{MODEL} unreadable: {' '.join(str(error).split())[:160]}")
    kind = "policy network" if extra.get("environment") else type(final_estimator(model)).__name__
    return (name, _when(extra.get("started")), _text(extra.get("dataset") or extra.get("environment")), kind,
            _text(extra.get("settings")), _accuracy(extra.get("train_accuracy")),
            _accuracy(extra.get("test_accuracy")))


def _text(value):
    return value[:80] if isinstance(value, str) and value else "-"


def _when(value):
    """An ISO time as "2025-01-31 14:03" (the minute it started)."""
    return value[:16].replace("T", " ") if isinstance(value, str) and len(value) >= 16 else "-"


def _accuracy(value):
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return f"{value:.4f}" if is_number else "-"


def _print_table(rows):
    """Rows in aligned columns; a row of two cells (a run that cannot be read) says its
    second cell across the others."""
    full = [row for row in rows if len(row) == len(HEADER)]
    widths = [max(len(row[i]) for row in full) for i in range(len(HEADER))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
