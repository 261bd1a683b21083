"""The ``neuronet`` command: parsing and printing, one module per command.

``neuronet --help`` lists the commands from :data:`COMMANDS` without importing them;
only the module of the command named on the command line is imported, and it builds
that command's whole parser. So asking for help never waits for scikit-learn,
matplotlib or the like.

``main`` turns every user error (see :class:`~neuronet.cli.common.UserError`) into
one line on stderr and exit status 2, and Ctrl-C at any moment into one line and exit
status 130.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from contextlib import contextmanager
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

# Every command: (name, its module in neuronet.cli, the one-line help of `neuronet --help`).
# The module's add(commands) builds the command's parser and is imported only when needed.
COMMANDS = (
    ("train", "train", "train a model on a dataset, save it, and write a report"),
    ("runs", "runs", "the runs kept in neuronet-runs/: when, data, model, settings, train and test accuracy"),
    ("evaluate", "evaluate", "accuracy, per-class precision/recall and confusion matrix of a saved model"),
    ("predict", "predict", "label images or feature rows with a saved model"),
    ("summary", "summary", "a saved model's layers and parameter counts"),
    ("export", "export", "write a saved model as an ONNX file, to run it anywhere with ONNX Runtime"),
    ("study", "study", "experiments that teach: study learning-rate"),
    ("gradcheck", "gradcheck", "check backpropagation against finite differences"),
    ("rl", "rl", "deep reinforcement learning: a policy network learns CartPole from rewards"),
    ("studio", "studio", "a page in the browser that trains a network live, on neuronet itself"),
    ("cache", "cache", "where decoded photos are cached, and their size (--clear empties it)"),
)
EPILOG = """examples:
  neuronet train                                   logistic regression on breast-cancer, saved in neuronet-runs/run-1/
  neuronet train --data digits --model mlp         a deep network reads 8×8 digits (the next run: run-2/)
  neuronet train --data xor --model mlp --hidden 8 --activation logistic --optimizer gd --learning-rate 1 --epochs 2000
                                                   the course's chapter 4 network: sigmoid neurons, plain gradient descent
  neuronet train --data mnist-5k --model cnn       a convolutional network reads MNIST
  neuronet train --data ~/dogs-vs-cats/train --model logistic --learning-rate 0.005 --epochs 2000
  neuronet runs                                    every run kept, with its train and test accuracy
  neuronet evaluate neuronet-runs/run-2/model.npz  the held-out test split of the data it was trained on
  neuronet predict neuronet-runs/run-1/model.npz rows.csv
  neuronet summary neuronet-runs/run-2/model.npz
  neuronet study learning-rate                     the step-size lesson, as a figure
  neuronet gradcheck neuronet-runs/run-2/model.npz backprop against finite differences
  neuronet rl cartpole                             a policy network learns to balance a pole
  neuronet cache                                   where decoded photos are kept, and their size
"""


def _version():
    try:
        return version("neuronet")
    except PackageNotFoundError:
        return "unknown"


def make_parser(full=None):
    """The parser of ``neuronet``: the commands named in ``full`` (default: every one) get
    their whole parser, which imports their module; the others are listed by name and help."""
    parser = argparse.ArgumentParser(
        prog="neuronet", description="Neural networks from first principles: train, inspect and use models.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"neuronet {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, summary in COMMANDS:
        if full is None or name in full:
            import_module(f"{__name__}.{module}").add(commands)
        else:
            commands.add_parser(name, help=summary)
    return parser


def named_command(argv):
    """The command on the command line, as a list of at most one name: the first word that
    is not an option (``neuronet`` itself takes no option with a value)."""
    return [word for word in argv if not word.startswith("-")][:1]


INTERRUPTED = "neuronet: interrupted by Ctrl-C"


@contextmanager
def _ctrl_c_ends_at_once():
    """While the command's modules load, Ctrl-C ends the process at once (nothing is being
    written yet): a KeyboardInterrupt raised inside a compiled module's initialisation can
    be lost, or turned into an ImportError, by that module."""
    def end(signum, frame):
        os.write(2, f"{INTERRUPTED}\n".encode())  # stderr, unbuffered: safe inside a signal handler
        os._exit(130)

    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield  # Ctrl-C is not ours to handle here: a thread, or a parent that ignores it
        return
    previous = signal.signal(signal.SIGINT, end)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        with _ctrl_c_ends_at_once():
            parser = make_parser(full=named_command(argv))
            args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        args.argv = argv
        return _run(args)
    except KeyboardInterrupt as stop:  # Ctrl-C, at any step; training says where it stopped
        print(f"neuronet: {stop}" if str(stop) else INTERRUPTED, file=sys.stderr)
        return 130


def _run(args):
    """Run the parsed command; its user errors become one line and exit status 2."""
    from .common import UserError  # here, not at the top: it loads the datasets, which --help does not need

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.filterwarnings("always", message="skipped .* not readable images")
            warnings.filterwarnings("always", message="could not write the image cache")
            warnings.showwarning = lambda message, *rest: print(f"warning: {message}", file=sys.stderr)
            return args.run(args)
    except BrokenPipeError:  # the reader of our output went away (e.g. | head)
        return 0
    except (UserError, ValueError, OSError) as error:  # a damaged model file is a ModelFileError, a ValueError
        print(f"neuronet {args.command}: error: {error}", file=sys.stderr)
        return 2
