"""neuronet train: train a model on a dataset, save it, and write a report."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import replace
from datetime import datetime

import numpy as np

from .. import imagefolder
from ..augment import OPERATIONS, Augmentation
from ..callbacks import held_out_named
from ..checkpoint import progress
from ..data import CHUNK_ROWS, ArrayDataset, LazyRows, flat_rows, is_lazy, spread_rows
from ..distributed import launcher_rank, mpi_world
from ..estimators import CNNClassifier, LogisticRegression, MLPClassifier
from ..files import destination
from ..layers import Sigmoid, Softmax
from ..network import Sequential
from ..persistence import save
from ..preprocessing import ImageScaler, default_preprocessing, with_preprocessing
from ..training import TrainingInterrupted
from .common import RAW, UserError, fraction, load_data, non_negative_float, positive_float, positive_int, sizes
from .outcome import caught_warnings, learning_rate_of, outcome
from .runs import MODEL, ROOT, discard_run, new_run, newest_run

MODELS = {"logistic": LogisticRegression, "mlp": MLPClassifier, "cnn": CNNClassifier}
OPTIMIZERS = ("gd", "adam", "sgd")
HIDDEN_ACTIVATIONS = ("logistic", "tanh", "relu", "leaky_relu")


def defaults(parameter, models=tuple(MODELS), names=None):
    """Each model's default for one estimator parameter, as the estimator declares it
    (``names`` gives a model's own name for it): e.g. "0.1 logistic, 0.001 mlp"."""
    def shown(value):
        if isinstance(value, tuple):
            return ",".join(map(str, value)) or "none"
        return f"{value:g}" if isinstance(value, float) else str(value)

    names = names or {}
    return ", ".join(f"{shown(MODELS[model]().get_params()[names.get(model, parameter)])} {model}"
                     for model in models if names.get(model, parameter) in MODELS[model]().get_params())


def add(commands):
    parser = commands.add_parser(
        "train", help="train a model on a dataset, save it, and write a report",
        description="Train a model on a built-in dataset or a folder of images, print train and test accuracy, "
                    "save the model (one file, with the preprocessing it needs) and write a report folder of "
                    "figures with an index.html. Each run without --output gets a folder of its own, "
                    "neuronet-runs/run-N/, for its model, checkpoint and report (neuronet runs lists them).\n\n"
                    "Models: logistic = one sigmoid neuron, or one softmax neuron per class for more than two "
                    "(full-batch gradient descent); mlp = hidden layers "
                    "trained by backpropagation on minibatches; cnn = convolutions that share weights. "
                    "Settings left out take the defaults of the Python estimators (LogisticRegression, "
                    "MLPClassifier, CNNClassifier).",
        epilog="examples:\n  neuronet train              the first run goes to neuronet-runs/run-1/\n"
               "  neuronet train --data digits --model mlp --hidden 64\n"
               "  neuronet train --data xor --model mlp --hidden 8 --activation logistic --optimizer gd "
               "--learning-rate 1 --epochs 2000\n"
               "  neuronet train --data mnist-5k --model cnn --epochs 10\n"
               "  neuronet train --data mnist-5k --model cnn --batch-norm --residual\n"
               "  neuronet train --data spiral --model mlp --hidden 64,64 --epochs 200\n"
               "  neuronet train --data ~/dogs-vs-cats/train --model logistic --learning-rate 0.005 --epochs 2000\n"
               "  neuronet train --threshold 0.9 --output cautious.npz\n"
               "  neuronet train --resume     continues the newest run after a Ctrl-C\n"
               "  neuronet runs               lists the runs, with their train and test accuracy\n\n"
               f"memory: passes over a whole dataset (test scores, the report, evaluate) read {CHUNK_ROWS:,} samples "
               "at a\ntime (prediction fewer, for large images). Before training starts, the peak of one training "
               "batch\nand one evaluation chunk (each layer's outputs and what it keeps for backpropagation, a\n"
               "convolution's padded input and im2col columns, the gradients, the parameters and the\n"
               "optimizer's moments) is estimated: a run that would not fit in the available memory is\n"
               "refused, naming a --batch-size or --image-size that fits",
        formatter_class=RAW)
    parser.add_argument("--data", default="breast-cancer",
                        help="breast-cancer, digits, mnist-5k, moons, circles, xor, spiral, blobs, a .csv table (features "
                             "and a label column; delimiter and header recognised) or a folder of images "
                             "(default: breast-cancer)")
    parser.add_argument("--label-column", metavar="NAME|INDEX",
                        help="with a .csv table: the column of labels, a header name or an index (0 the first, "
                             "-1 the last; default: the last)")
    parser.add_argument("--model", choices=list(MODELS), default="logistic",
                        help="logistic: one sigmoid neuron (softmax regression for more than two classes); mlp: hidden "
                             "layers; cnn: convolutions (default: logistic)")
    parser.add_argument("--hidden", type=sizes, default=None, metavar="N,N",
                        help=f"hidden (dense) layer sizes (default: {defaults('hidden_layer_sizes')})")
    parser.add_argument("--learning-rate", type=positive_float, default=None, metavar="LR",
                        help="step size: learning_rate of logistic, learning_rate_init of mlp and cnn "
                             f"(default: {defaults('learning_rate_init', names={'logistic': 'learning_rate'})})")
    parser.add_argument("--epochs", type=positive_int, default=None, metavar="N",
                        help="most epochs, or gradient-descent iterations for logistic; training stops earlier "
                             f"once the cost settles (default: {defaults('max_iter')})")
    parser.add_argument("--steps-per-epoch", type=positive_int, default=None, metavar="N",
                        help="cnn: end each epoch after N minibatches drawn from a new shuffle of every training "
                             "image, so that an epoch of a folder of 100,000 photos need not be a pass over all of "
                             "them (default: a pass over all of them)")
    parser.add_argument("--tol", type=non_negative_float, default=None, metavar="TOL",
                        help="stop once the cost has settled: for logistic, when it fell by less than TOL at each "
                             f"of the last {LogisticRegression().n_iter_no_change} iterations and rose at none (0: "
                             "every iteration runs); for mlp and cnn, scikit-learn's rule, when it has not improved "
                             f"by TOL for {MLPClassifier().n_iter_no_change} epochs in a row (default: {defaults('tol')})")
    parser.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                        help=f"minibatch size (default: {defaults('batch_size')})")
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), default=None,
                        help="gd: plain gradient descent, no momentum and a constant rate, on the whole training "
                             "set at each step unless --batch-size is given (what logistic regression does); adam; "
                             f"sgd with Nesterov momentum {MLPClassifier().momentum:g} on minibatches "
                             f"(default: gd logistic, {defaults('solver', ('mlp', 'cnn'))})")
    parser.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default=None,
                        help="the hidden layers' activation of mlp and cnn: logistic (the sigmoid of the course's "
                             f"neurons), tanh, relu, leaky_relu (default: {defaults('activation', ('mlp', 'cnn'))})")
    parser.add_argument("--batch-norm", action="store_true", default=None,
                        help="cnn: a BatchNorm after each convolution, which rescales its outputs to mean 0 and "
                             "variance 1 over each minibatch (then a learned scale γ and shift β), so that training "
                             "is steadier; predictions use the averages kept while training")
    parser.add_argument("--residual", action="store_true", default=None,
                        help="cnn: each block is a residual block of two convolutions whose input is added to "
                             "what they give, y\u00a0=\u00a0x\u00a0+\u00a0F(x) (x through a 1×1 convolution where "
                             "the channels differ): the gradient reaches the first layers through the additions "
                             "undiminished")
    parser.add_argument("--augment", type=augmentations, nargs="?", const=ALL_AUGMENTATIONS, default=None,
                        metavar="CHANGES",
                        help="cnn: change each training image at random, anew every epoch, so that the network "
                             "learns what the changes leave alone rather than the photos themselves: crop (shifted by up to "
                             f"{OPERATIONS['crop']} pixels), flip (mirrored left to right), color (brightness and "
                             f"contrast ±{OPERATIONS['color']:g}); a strength as crop=8 or color=0.2 "
                             f"(alone: {ALL_AUGMENTATIONS}); test images are left as they are")
    parser.add_argument("--threshold", type=fraction, default=None, metavar="P",
                        help="logistic regression of two classes says the second where its probability exceeds P; "
                             "kept in the model file for predict and evaluate "
                             f"(default: {LogisticRegression().threshold:g})")
    parser.add_argument("--alpha", "--l2", dest="alpha", type=non_negative_float, default=None, metavar="ALPHA",
                        help=f"L2 penalty (α/2)‖W‖² on the weights (default: {defaults('alpha')})")
    parser.add_argument("--image-size", type=positive_int, default=64, metavar="PIXELS",
                        help="images from a folder are resized to PIXELS×PIXELS (default: 64); the decoded images "
                             "are cached in $NEURONET_CACHE, else $XDG_CACHE_HOME/neuronet, else ~/.cache/neuronet")
    parser.add_argument("--grayscale", action="store_true", help="read folder images as one grey channel")
    parser.add_argument("--test-size", type=fraction, default=0.2, metavar="F",
                        help="fraction held out for testing, stratified (default: 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the shuffles (default: 0)")
    parser.add_argument("--output", default=None, metavar="FILE",
                        help=f"where to write the model (default: {MODEL} in a new run folder, {ROOT}/run-N/)")
    parser.add_argument("--report", default=None, metavar="FOLDER",
                        help="where to write figures and index.html (default: beside the model, named after it: "
                             "cats.npz → cats-report/)")
    parser.add_argument("--checkpoint", default=None, metavar="FILE",
                        help="save the whole training state there after every epoch (default: only on Ctrl-C, "
                             "beside the model as MODEL.ckpt)")
    parser.add_argument("--checkpoint-every", type=positive_int, default=None, metavar="N",
                        help="with --checkpoint: also save every N minibatches")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint (same settings and data as the run that wrote it); "
                             f"without --output, the newest run's in {ROOT}/")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--distributed", action="store_true",
                        help="train one model over the processes of an MPI job: mpiexec -n 4 neuronet train … "
                             "(found by itself under mpiexec or srun; the flag makes a run without one an error)")
    parser.set_defaults(run=run)


ALL_AUGMENTATIONS = ",".join(OPERATIONS)


def augmentations(text):
    """--augment's comma-separated changes, e.g. crop,flip,color, checked and kept as given."""
    try:
        Augmentation.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


# --optimizer gd of an mlp or cnn: the lecture's plain gradient descent, w ← w − η ∂J/∂w
PLAIN_GRADIENT_DESCENT = {"solver": "sgd", "momentum": 0.0, "nesterovs_momentum": False, "learning_rate": "constant"}
# Flags that shape hidden layers or minibatches, and so mean nothing to logistic regression
MINIBATCH_FLAGS = {"hidden": "--hidden", "activation": "--activation", "batch_size": "--batch-size"}


# Flags that shape a CNN's convolution blocks, and so mean nothing to logistic regression or an MLP
CNN_FLAGS = {"batch_norm": "--batch-norm", "residual": "--residual"}
# Flags of CNNClassifier's training that the other models do not have
CNN_SETTINGS = {"augment": "--augment", "steps_per_epoch": "--steps-per-epoch"}


def check_flags_apply(args, dataset):
    """Refuse, in one line, a flag that does not apply to the chosen model or data."""
    cnn_only = [flag for name, flag in CNN_FLAGS.items() if getattr(args, name, None)]
    if cnn_only and args.model != "cnn":
        raise UserError(f"{cnn_only[0]} applies to --model cnn: it changes the convolution blocks, and --model "
                        f"{args.model} has none")
    for name, flag in CNN_SETTINGS.items():
        if getattr(args, name, None) and args.model != "cnn":
            raise UserError(f"{flag} applies to --model cnn (CNNClassifier's {name}); --model {args.model} has no "
                            "such setting")
    if args.model != "logistic":
        if args.threshold is not None:
            raise UserError("--threshold applies to --model logistic (one sigmoid neuron); an mlp or cnn says the "
                            "most probable class")
        return
    given = [flag for name, flag in MINIBATCH_FLAGS.items() if getattr(args, name) is not None]
    if args.optimizer not in (None, "gd"):
        given.append(f"--optimizer {args.optimizer}")
    if given:
        raise UserError(f"{given[0]} applies to --model mlp or cnn; logistic regression is one layer trained by "
                        "full-batch gradient descent (--optimizer gd)")
    if args.threshold is not None and len(dataset.class_names) > 2:
        raise UserError(f"--threshold applies to two classes, and {dataset.name} has {len(dataset.class_names)}: "
                        "softmax regression says the most probable class")


def build_estimator(args, dataset, n_train=None):
    """The estimator the flags ask for; every setting not given keeps the estimator's default.
    A flag that does not apply to the chosen model is a mistake, not silently ignored.
    ``n_train``, the number of training samples, is the batch of ``--optimizer gd``
    without ``--batch-size`` (default: every sample of ``dataset``)."""
    check_flags_apply(args, dataset)
    if args.model == "logistic":
        given = {"learning_rate": args.learning_rate, "threshold": args.threshold, "solver": args.optimizer}
    else:
        given = {"learning_rate_init": args.learning_rate, "hidden_layer_sizes": args.hidden,
                 "activation": args.activation, "solver": args.optimizer, "batch_size": args.batch_size}
        if args.optimizer == "gd":
            given.update(PLAIN_GRADIENT_DESCENT, batch_size=args.batch_size or n_train or len(dataset.y))
    given.update(max_iter=args.epochs, alpha=args.alpha, tol=args.tol)
    if args.model == "cnn":
        if dataset.image_shape is None:
            raise UserError(f"--model cnn needs images, and {dataset.name} is a table of features; try --model mlp")
        given["image_shape"] = dataset.image_shape
        given.update(batch_norm=getattr(args, "batch_norm", None), residual=getattr(args, "residual", None),
                     augment=getattr(args, "augment", None), steps_per_epoch=getattr(args, "steps_per_epoch", None))
    return MODELS[args.model](random_state=args.seed, **{k: v for k, v in given.items() if v is not None})


def prepared(dataset, split):
    """(the preprocessing saved with the model, the split as the model trains on it).

    A table is standardized by a ``StandardScaler`` fitted on the training rows. Images,
    which a :class:`~neuronet.datasets.Dataset` holds in [0, 1], train as flat rows, one
    a sample; the saved :class:`~neuronet.preprocessing.ImageScaler` divides the values
    as the source stores them (digits 0–16, MNIST and photos 0–255) by the largest, so
    the saved model reads the data in its own units, as rows or as images. Images read
    a slice at a time (a folder's image cache) stay so: their rows are flattened as they
    are read (:func:`~neuronet.data.flat_rows`), never a whole split at once."""
    X_train, X_test, y_train, y_test = split
    if dataset.image_shape is None:
        scaler = default_preprocessing(images=False)
        return scaler, (scaler.fit_transform(X_train), scaler.transform(X_test), y_train, y_test)
    scaler = ImageScaler(tuple(dataset.image_shape), dataset.raw_scale)
    scaler.fit(X_train[:1] if is_lazy(X_train) else X_train)  # it checks the shape: one image tells
    return scaler, (flat_rows(X_train), flat_rows(X_test), y_train, y_test)


def planned_network(model, sample_shape, n_classes):
    """The network ``model`` trains on samples of ``sample_shape`` (as the estimator shapes
    them: flat rows, or images for a CNN), built with zeros for weights: its shapes are
    what :meth:`~neuronet.network.Sequential.memory_estimate` counts."""
    n_outputs = 1 if n_classes == 2 else n_classes
    head = Sigmoid() if n_outputs == 1 else Softmax()
    network = Sequential([*model._build_layers(n_outputs, sample_shape), head], dtype=model.dtype or "float32")
    network.build(sample_shape, draw_weights=False)
    return network


def memory_needed(model, sample_shape, n_classes, batch, chunk):
    """The :class:`~neuronet.network.MemoryEstimate` of training ``model`` on samples of
    ``sample_shape``: one training batch of ``batch`` samples, one evaluation chunk of
    ``chunk`` (or as many as the network scores at once, if fewer: large images) and the
    parameters with the optimizer's moments (Adam's two, momentum's one)."""
    params = model.get_params()
    slots = 2 if params.get("solver") == "adam" else 1 if params.get("momentum", 0) > 0 else 0
    network = planned_network(model, sample_shape, n_classes)
    return network.memory_estimate(batch, min(chunk, network.chunk_rows()), optimizer_slots=slots)


def check_memory(args, dataset, model, n_train):
    """Refuse, in one line and before anything starts, a run whose training batch and
    evaluation chunk would not fit in the memory this process may still take
    (:func:`neuronet.imagefolder.available_memory`), naming a --batch-size and, for a
    folder of images, an --image-size that would fit (found by the same estimate)."""
    available = imagefolder.available_memory()
    if available is None:
        return
    image = tuple(dataset.image_shape) if dataset.image_shape else None
    n_classes, chunk = len(dataset.class_names), min(CHUNK_ROWS, len(dataset.y))
    batch = _batch(model.get_params(), n_train)

    def needed(side=None, rows=batch):
        """The estimate at images of side × side pixels and batches of ``rows`` (None where
        the convolutions do not fit the images)."""
        shape = (dataset.n_features,) if image is None else (image[0], side or image[1], side or image[2])
        try:
            return memory_needed(model, shape if args.model == "cnn" else (int(np.prod(shape)),), n_classes, rows,
                                 chunk)
        except ValueError:
            return None

    def fits(estimate):
        return estimate is not None and estimate.total <= available

    estimate = needed()
    if estimate is None or fits(estimate):  # images too small for the network: fit says so
        return
    settings = []
    if args.model != "logistic":  # logistic regression takes the whole training set at each step
        rows = _largest(lambda rows: fits(needed(rows=rows)), 1, batch - 1)
        if rows:
            settings.append(f"--batch-size {rows} (about {imagefolder.size_text(needed(rows=rows).total)})")
    if dataset.files and image[1] == image[2]:
        side = _largest(lambda side: fits(needed(side)), 8, image[1] - 1)
        if side:
            settings.append(f"--image-size {side} (about {imagefolder.size_text(needed(side).total)})")
    advice = f"give {' or '.join(settings)}" if settings else "no smaller setting fits either: free some memory first"
    raise UserError(f"this run needs about {imagefolder.size_text(estimate.total)} of memory (one training batch of "
                    f"{estimate.batch_size}: {imagefolder.size_text(estimate.batch)}; one evaluation chunk of "
                    f"{estimate.chunk_rows}: {imagefolder.size_text(estimate.chunk)}; the parameters, their gradients "
                    f"and the optimizer's: {imagefolder.size_text(estimate.parameters)}), and "
                    f"{imagefolder.size_text(available)} is available: {advice}")


def _largest(fits, low, high):
    """The largest n in [low, high] for which ``fits(n)`` holds (it holds for every smaller
    n once it holds for one), or None."""
    found = None
    while low <= high:
        middle = (low + high) // 2
        if fits(middle):
            found, low = middle, middle + 1
        else:
            high = middle - 1
    return found


def _optimizer(params):
    """The --optimizer of these settings: gd (plain gradient descent, which is logistic
    regression's), adam, or sgd (with momentum)."""
    if params["solver"] == "adam":
        return "adam"
    return "sgd" if params.get("momentum", 0) > 0 else "gd"


def _batch(params, n_train):
    """The samples of one step: logistic regression takes them all."""
    batch = params.get("batch_size", n_train)
    return min(n_train, 200 if batch == "auto" else batch)


def training_method(model, n_train):
    """How ``model`` learns, in words: "gradient descent on all 455 training samples at
    each step, learning rate 0.1", "Adam on minibatches of 200, learning rate 0.001"."""
    params = model.get_params()
    optimizer, batch = _optimizer(params), _batch(params, n_train)
    name = {"gd": "gradient descent", "adam": "Adam"}.get(optimizer) or \
        f"SGD with {'Nesterov ' if params['nesterovs_momentum'] else ''}momentum {params['momentum']:g}"
    on = f"all {n_train} training samples at each step" if batch == n_train else f"minibatches of {batch}"
    if params.get("steps_per_epoch"):
        on += f", {params['steps_per_epoch']} an epoch drawn from a new shuffle"
    schedule = params["learning_rate"]
    return f"{name} on {on}, learning rate {learning_rate_of(params):g}" + (
        f" ({schedule} schedule)" if schedule not in (learning_rate_of(params), "constant") else "")


def key_settings(model, n_train):
    """What ``neuronet runs`` shows of a run's settings, in the command line's words:
    "hidden 64 relu, adam, batch 200, lr 0.001, 200 epochs"."""
    params = model.get_params()
    layers = [f"threshold {params['threshold']:g}"] if params.get("threshold", 0.5) != 0.5 else []
    if "conv_filters" in params:
        layers.append("conv " + ",".join(map(str, params["conv_filters"])))
        layers += [words for name, words in (("residual", "residual"), ("batch_norm", "batch-norm")) if params.get(name)]
        if params.get("augment") is not None:
            layers.append(f"augment {params['augment']}")
        if params.get("steps_per_epoch") is not None:
            layers.append(f"{params['steps_per_epoch']} steps an epoch")
    if params.get("hidden_layer_sizes"):
        layers.append("hidden " + ",".join(map(str, params["hidden_layer_sizes"])))
    if "activation" in params:
        layers.append(params["activation"])
    batch = _batch(params, n_train)
    steps = f"{model.n_iter_} {model.history_.step}{'s' if model.n_iter_ != 1 else ''}"
    return ", ".join([*([" ".join(layers)] if layers else []), _optimizer(params),
                      "full batch" if batch == n_train else f"batch {batch}", f"lr {learning_rate_of(params):g}", steps])


def _recipe(args, dataset, model=None, n_train=None, started=None, accuracies=None):
    """What the model file records of its data, for evaluate and predict, and of its run
    (when it started, its key settings, its train and test accuracy), for neuronet runs."""
    recipe = {"dataset": dataset.name,
              "data": os.path.abspath(args.data) if os.path.exists(args.data) else args.data,
              "class_names": [str(c) for c in dataset.class_names], "seed": args.seed, "test_size": args.test_size,
              "image_size": args.image_size if dataset.files else None, "grayscale": args.grayscale,
              "image_shape": list(dataset.image_shape) if dataset.image_shape else None,
              "label_column": args.label_column}
    if started is not None:
        recipe.update(started=started.isoformat(timespec="seconds"), settings=key_settings(model, n_train))
    if accuracies is not None:
        recipe.update(train_accuracy=float(accuracies[0]), test_accuracy=float(accuracies[1]))
    return recipe


def announce_resume(checkpoint, model):
    """Say what resuming from ``checkpoint`` will do. Returns the line to print instead of
    training when the run there is already finished (fit still checks it is this run)."""
    if not os.path.exists(checkpoint):
        print(f"no checkpoint at {checkpoint}: starting from the beginning")
        return None
    run = progress(checkpoint)
    step, done, planned, wanted = run["step"], run["done"], run["planned"], model.max_iter
    if run["stopped"]:
        return (f"{checkpoint} holds a finished run: it stopped at {step} {done} of {planned} because the cost had "
                f"settled, so more {step}s would not change it")
    if wanted > planned:
        cosine = model.get_params().get("learning_rate") == "cosine"
        print(f"resuming from {checkpoint}: extending the run from {planned} to {wanted} {step}s"
              + (", with the cosine schedule laid over the new total" if cosine else ""))
        return None
    if done >= planned:
        return (f"{checkpoint} holds a finished run ({step} {done} of {planned}): nothing to resume; to train "
                f"longer, give --epochs more than {planned}")
    print(f"resuming from {checkpoint} ({step} {done} of {planned} done)")
    return None


def run(args):
    """Train as one process, or as one rank of an MPI job (see :mod:`neuronet.distributed`)."""
    try:
        world = mpi_world(required=args.distributed)
    except ValueError as error:
        if launcher_rank() in (None, 0):
            raise UserError(str(error)) from None
        return 2  # the launcher's first process says it
    if world is None:
        return train(args, None)
    try:
        with _silent(not world.is_root):
            return train(args, world)
    except BaseException as error:
        status = 130 if isinstance(error, KeyboardInterrupt) else 2 if isinstance(error, (UserError, ValueError,
                                                                                            OSError)) else 1
        if not world.failed_together():  # the other ranks would wait for this one for ever
            world.end_job_at_exit(status)
        if world.is_root or status == 1:
            raise
        return status  # rank 0 says it


@contextmanager
def _silent(silent):
    """Within the block, nothing printed (stdout and stderr) if ``silent``: under MPI the
    ranks but 0 train and say nothing."""
    if not silent:
        yield
        return
    with open(os.devnull, "w") as sink, redirect_stdout(sink), redirect_stderr(sink):
        yield


# The most training samples the final train accuracy is measured on: a training set of more
# (a folder of 100,000 photos) is scored on this many spread over it, and says so
TRAIN_SCORED = 10_000


def _accuracies(model, X_train, X_test, y_train, y_test, world):
    """Train and test accuracy, predicted a chunk at a time (the estimators read an
    array-like read a slice at a time chunk by chunk). Under MPI each rank predicts its
    share of the rows, gathered on rank 0 (the others get None)."""
    if world is None:
        return model.score(X_train, y_train), model.score(X_test, y_test)
    predicted = [world.gather_rows(model.predict, X) for X in (X_train, X_test)]
    return (np.mean(predicted[0] == y_train), np.mean(predicted[1] == y_test)) if world.is_root else None


def default_checkpoint(model_file):
    """The checkpoint beside a model file: model.npz → model.ckpt."""
    return os.path.splitext(model_file)[0] + ".ckpt"


def _model_file(args, world):
    """Where this run's model goes: --output; else, with --resume, the newest run's model
    file; else a new run folder's (made by rank 0 alone under MPI)."""
    if args.output:
        return args.output

    def choose():
        return os.path.join(_run_to_resume(args.checkpoint) if args.resume else new_run(), MODEL)

    return choose() if world is None else world.from_root(choose)


def _run_to_resume(checkpoint):
    """The newest run's folder, refused in one line when there is none or it holds nothing to resume."""
    folder = newest_run()
    if folder is None:
        raise UserError(f"no run to resume in {ROOT}/: train one first (Ctrl-C keeps a run's state to resume), "
                        "or name a run's files with --output and --checkpoint")
    checkpoint = checkpoint or default_checkpoint(os.path.join(folder, MODEL))
    if not os.path.exists(checkpoint):
        raise UserError(f"the newest run, {folder}, has no checkpoint to resume ({checkpoint}): a run keeps one when "
                        "Ctrl-C stops it, or after every epoch with --checkpoint; start a new run without --resume")
    return folder


def _resume_command(args, model_file, world):
    """The command that continues this run, naming its model file."""
    words = [word for word in args.argv if word != "--resume"]
    command = shlex.join(["neuronet", *words, *([] if args.output else ["--output", model_file]), "--resume"])
    return command if world is None else f"mpiexec -n {world.size} {command}"


def train(args, world):
    from ..report import Run, write_report  # matplotlib: loaded only when a report is drawn

    if args.output:
        destination(args.output)  # a folder, a device or a FIFO is refused now, not once training is done

    def read():
        return load_data(args.data, args.image_size, args.grayscale, args.label_column)

    dataset = read() if world is None else world.root_first(read)  # rank 0 alone writes the image cache
    scaler, (X_train, X_test, y_train, y_test) = prepared(dataset, dataset.split(args.test_size, args.seed))
    n_train = len(X_train)
    model = build_estimator(args, dataset, n_train)
    check_memory(args, dataset, model, n_train)
    method = training_method(model, n_train)
    print(f"Training {type(model).__name__} on {dataset.name}: {dataset.description}")
    print(f"  {n_train} training and {len(X_test)} test samples (seed {args.seed})\n  {method}")
    if not args.quiet:
        model.set_params(verbose=2 if args.model == "logistic" else "progress")
    saved = with_preprocessing([scaler], model)
    output = _model_file(args, world)  # a new run folder only now: a run that failed to start leaves none
    checkpoint = args.checkpoint or default_checkpoint(output)
    if args.resume:
        finished = announce_resume(checkpoint, model) if world is None else world.from_root(
            lambda: announce_resume(checkpoint, model))
    else:
        finished = None
    every = (args.checkpoint_every or "epoch") if args.checkpoint else None
    started, clock = datetime.now().astimezone(), time.perf_counter()

    def recipe(accuracies=None):
        return _recipe(args, dataset, model, n_train, started, accuracies)

    try:
        with held_out_named("test"), caught_warnings() as caught:
            if is_lazy(X_train):  # a folder's image cache: read a minibatch (and a test chunk) at a time
                model.fit(ArrayDataset(X_train, y_train), validation_data=ArrayDataset(X_test, y_test),
                          checkpoint=checkpoint, resume=args.resume, checkpoint_every=every,
                          distributed=world is not None)
            else:
                model.fit(X_train, y_train, validation_data=(X_test, y_test), checkpoint=checkpoint,
                          resume=args.resume, checkpoint_every=every, distributed=world is not None)
    except TrainingInterrupted as stop:
        if world is not None and not world.is_root:
            return 130
        save(saved, output, extra=recipe())
        print(f"\n{stop}. Nothing learned is lost: the model so far is in {output}, the training state in "
              f"{checkpoint}.\nTo continue: {_resume_command(args, output, world)}", file=sys.stderr)
        return 130
    except Exception:  # diverged, say: a run folder made for this run and left empty is no run
        if not (args.output or args.resume) and (world is None or world.is_root):
            discard_run(os.path.dirname(output))
        raise
    seconds = time.perf_counter() - clock
    scored = spread_rows(len(y_train), TRAIN_SCORED)  # of a large training set, samples spread over it
    X_scored = X_train if len(scored) == len(y_train) else \
        LazyRows(X_train, scored) if is_lazy(X_train) else X_train[scored]
    accuracies = None if finished else _accuracies(model, X_scored, X_test, y_train[scored], y_test, world)
    if world is not None and not world.is_root:
        return 0  # rank 0 saves the model and writes the report
    if finished:  # the same run (fit checked), already done: the report is as it left it
        if not os.path.exists(output):
            save(saved, output, extra=recipe())
        print(f"{finished}. The model is in {output}")
        return 0
    train_accuracy, test_accuracy = accuracies
    on = "" if len(scored) == len(y_train) else f" (on {len(scored):,} of {len(y_train):,} samples)"
    print(f"train accuracy {train_accuracy:.4f}{on}   test accuracy {test_accuracy:.4f}")
    problems = outcome(model, caught)
    sys.stdout.flush()  # each warning after the accuracies it qualifies, also when both streams go to one file
    for line in problems:
        print(f"warning: {line}", file=sys.stderr)
    save(saved, output, extra=recipe(accuracies))
    print(f"model saved to {output}")
    run_facts = Run(shlex.join(["neuronet", *args.argv]), started, seconds, output, method, problems,
                    train_accuracy=train_accuracy, train_scored=len(scored))
    test_files = replace(dataset, X=dataset.files).split(args.test_size, args.seed)[1] if dataset.files else ()
    report = args.report or os.path.splitext(os.path.abspath(output))[0] + "-report"
    index = write_report(report, model, dataset, (X_train, X_test, y_train, y_test), run_facts, test_files)
    print(f"report written to {index}")
    print(f"next: neuronet evaluate {shlex.quote(output)} {shlex.quote(args.data)}   |   "
          f"neuronet summary {shlex.quote(output)}" + ("" if args.model != "logistic" else "   |   " + shlex.join(
              ["neuronet", "train", "--data", args.data, "--model", "mlp"]
              + (["--label-column", args.label_column] if args.label_column else []))))
    return 0
