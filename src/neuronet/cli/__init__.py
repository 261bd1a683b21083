"""The ``neuronet`` command: parsing and printing, one module per command.

``main`` turns every user error (see :class:`~neuronet.cli.common.UserError`) into
one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version

from ..files import ModelFileError
from . import evaluate, gradcheck, predict, rl, study, summary, train
from .common import RAW, UserError

COMMANDS = (train, evaluate, predict, summary, study, gradcheck, rl)
EPILOG = """examples:
  neuronet train                                   logistic regression on breast-cancer data
  neuronet train --data digits --model mlp         a deep network reads 8×8 digits
  neuronet train --data mnist-5k --model cnn       a convolutional network reads MNIST
  neuronet train --data ~/dogs-vs-cats/train --model logistic --learning-rate 0.005 --epochs 2000
  neuronet evaluate neuronet-runs/model.npz digits
  neuronet predict neuronet-runs/model.npz photo.jpg
  neuronet summary neuronet-runs/model.npz
  neuronet study learning-rate                     the step-size lesson, as a figure
  neuronet gradcheck neuronet-runs/model.npz       backprop against finite differences
  neuronet rl cartpole                             a policy network learns to balance a pole
"""


def _version():
    try:
        return version("neuronet")
    except PackageNotFoundError:
        return "unknown"


def make_parser():
    parser = argparse.ArgumentParser(
        prog="neuronet", description="Neural networks from first principles: train, inspect and use models.",
        epilog=EPILOG, formatter_class=RAW)
    parser.add_argument("--version", action="version", version=f"neuronet {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add(commands)
    return parser


def main(argv=None):
    parser = make_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help()
        return 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.filterwarnings("always", message="skipped .* not readable images")
            warnings.showwarning = lambda message, *rest: print(f"warning: {message}", file=sys.stderr)
            return args.run(args)
    except BrokenPipeError:  # the reader of our output went away (e.g. | head)
        return 0
    except (UserError, ModelFileError, ValueError, OSError) as error:
        print(f"neuronet {args.command}: error: {error}", file=sys.stderr)
        return 2
