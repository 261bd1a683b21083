"""How to install one of neuronet's optional extras (rl, onnx, studio, mpi), worded for
the copy of neuronet that is running. It imports nothing heavy: the command line's help
and its messages use it."""

from __future__ import annotations

import shlex
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path


def install_command(extra):
    """The pip command that adds the extra ``extra`` to this copy of neuronet.

    Where neuronet is installed (from an index, a wheel or a checkout, editable or not)
    it is ``pip install 'neuronet[rl]'``: pip finds the installed package and installs
    what the extra adds. A source tree run without being installed (``PYTHONPATH=src``)
    is installed from that tree, with the extra: ``pip install '/path/to/neuronet[rl]'``.
    """
    try:
        distribution("neuronet")
    except PackageNotFoundError:
        tree = Path(__file__).resolve().parents[2]  # src/neuronet/extras.py → the tree's root
        if (tree / "pyproject.toml").is_file():
            return "pip install " + shlex.quote(f"{tree}[{extra}]")
    return f"pip install 'neuronet[{extra}]'"
