"""neuronet studio: a page in the browser that trains a network live, on the library itself."""

from __future__ import annotations

import argparse
import os
import sys

from ..extras import install_command
from ..studio.lessons import LESSONS
from .common import RAW, UserError, positive_int

LESSON_LINES = "\n".join(f"  {name:<19} {title}" for name, title in LESSONS.items())
DESCRIPTION = f"""\
Start a local web page that trains a network while you watch: the decision boundary
bending, every hidden neuron's view of the input plane, the loss and accuracy falling
(or blowing up when the learning rate is too large), the size of each layer's gradient,
and for the single neuron its cost surface with the path gradient descent takes on it.

Every number on the page comes from neuronet's own forward and backward passes. Choose
the data (the 2-D sets moons, circles, xor, spiral, blobs; breast-cancer; digits;
mnist-5k; or your own with --data), the network (hidden layers, neurons, activation,
convolution blocks for images) and the training (learning rate, batch size, optimizer,
L2, dropout); play, pause, step one minibatch or one epoch. "Download model" gives the
same kind of file as `neuronet train`, which `neuronet evaluate` and `neuronet predict`
read; "Copy as Python" gives the script that trains the same network again.

"CartPole (learn from rewards)" trains the policy network of `neuronet rl cartpole` episode
by episode: its returns and their 100-episode average drawn as it learns, and the policy
playing an episode, drawn frame by frame from the environment's state; "Download model"
gives the policy, which `neuronet rl cartpole --play FILE` plays. Needs the rl extra:
{install_command('rl')}.

Lessons, chosen on the page or opened with --lesson NAME, set the page up, say what to
look at and what to try, and mark when you have seen it:
{LESSON_LINES}
The page's address holds the lesson and every setting (#lesson=…&dataset=…): share it,
and it opens the same page in another studio (a --data set needs the same --data there).

The page works offline. The server listens on 127.0.0.1 (this machine only) unless --host
says otherwise, and the address it prints carries a secret token: open that address (the
browser keeps the token as a cookie). Each tab trains in one thread, at most --max-runs of
them, and settings whose training would take more memory than --max-memory are refused.
Needs the studio extra: {install_command('studio')}."""


def add(commands):
    parser = commands.add_parser(
        "studio", help="a page in the browser that trains a network live, on neuronet itself",
        description=DESCRIPTION, formatter_class=RAW,
        epilog="examples:\n  neuronet studio\n  neuronet studio --no-browser --port 8765\n"
               "  neuronet studio --data ~/photos/cats-and-dogs --image-size 32\n"
               "  neuronet studio --data measurements.csv\n  neuronet studio --lesson step-size")
    parser.add_argument("--data", action="append", default=[], metavar="PATH",
                        help="a folder of images or a .csv table (last column: the label) to add to the page's "
                             "datasets; repeat for more. The page can choose only these and the built-in ones")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only); any other lets "
                             "anyone who can reach this machine and has the token train on it")
    parser.add_argument("--no-browser", action="store_true", help="print the address, do not open a browser")
    parser.add_argument("--max-runs", type=positive_int, default=4, metavar="N",
                        help="the most browser tabs that train at once (default: 4)")
    parser.add_argument("--lesson", choices=list(LESSONS), metavar="NAME",
                        help=f"open the page at a lesson: {', '.join(LESSONS)}")
    parser.add_argument("--max-memory", type=memory_size, default="1GB", metavar="SIZE",
                        help="the most memory one run may take, such as 500MB or 2GB (default: 1GB). Before a run "
                             "starts, the studio counts what its training holds at once: the minibatch through every "
                             "layer (each layer's outputs, kept for the backward pass; for a convolution also its "
                             "padded input, and its im2col columns of C·k·k numbers per output position where it "
                             "makes them), the parameters with their "
                             "gradients and the optimizer's state, and the data. The page refuses settings that need "
                             "more, and says so. All the runs together take at most SIZE times N (from --max-runs N)")
    parser.add_argument("--image-size", type=positive_int, default=32, metavar="PIXELS",
                        help="images from a --data folder are resized to PIXELS×PIXELS (default: 32)")
    parser.add_argument("--grayscale", action="store_true", help="read --data folder images as one grey channel")
    parser.set_defaults(run=run)


UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def memory_size(text):
    """A size with its unit, 500MB or 1.5GB (powers of 1000), in bytes."""
    number, unit = text.strip()[:-2].strip(), text.strip()[-2:].upper()
    try:
        count = float(number) * UNITS[unit]
    except (KeyError, ValueError):
        count = float("nan")
    if not 1 <= count < float("inf"):
        raise argparse.ArgumentTypeError(f"a size with its unit, such as 500MB or 2GB; got {text!r}")
    return int(count)


def _checked_paths(paths):
    for path in paths:
        if not os.path.exists(path):
            raise UserError(f"no such file or folder: {path!r}")
        if os.path.isfile(path) and not path.lower().endswith((".csv", ".tsv", ".txt")):
            raise UserError(f"{path!r} is neither a folder of images nor a .csv table")
    return paths


def run(args):
    from ..studio.catalog import Catalog

    try:
        from ..studio.server import LOOPBACK, serve
    except ImportError as error:
        raise UserError(f"the studio needs its extra ({error.name} is not installed): "
                        + install_command("studio")) from None
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {args.port}")
    catalog = Catalog(_checked_paths(args.data), image_size=args.image_size, grayscale=args.grayscale)
    if args.host not in LOOPBACK:
        print(f"WARNING: listening on {args.host}, not only on this machine: anyone who can reach it and has "
              "the token can use the studio, and the traffic is not encrypted. Use --host 127.0.0.1 unless you "
              "need this.", file=sys.stderr)
    try:
        serve(catalog, host=args.host, port=args.port, open_browser=not args.no_browser, max_runs=args.max_runs,
              lesson=args.lesson, max_memory=args.max_memory)
    except KeyboardInterrupt:
        pass
    except OSError as error:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    print("neuronet studio stopped")
    return 0
