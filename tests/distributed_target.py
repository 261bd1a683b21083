"""Training runs for the MPI tests: each rank of ``mpiexec -n 2 python distributed_target.py MODE …``
runs them with ``distributed=True``; the test runs the same ones in one process.

Modes: ``dataset OUT`` (a run on a dataset object; each rank saves its weights and
every sample number it read to OUT.<rank>.npz), ``equality OUT CHECKPOINT`` (every run of RUNS, and the resume of CHECKPOINT, saved
by rank 0 to OUT), ``die CHECKPOINT PIDS`` (a run that checkpoints every 2 minibatches and
slows itself down to be killed; each rank writes its pid to PIDS.<rank>) and ``errors OUT``
(runs whose ranks disagree; each rank writes the errors it got to OUT.<rank>.json).
"""

import json
import os
import sys
import time
import warnings
from contextlib import contextmanager

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from neuronet import LogisticRegression, MLPClassifier, datasets, nn
from neuronet.callbacks import Callback



@contextmanager
def training():
    """One BLAS thread, and no warning that max_iter was reached (it is, on purpose)."""
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def data():
    digits = datasets.load("digits")
    X, y = digits.flat, digits.y
    return X[:250], y[:250], (X[250:400], y[250:400])


# 250 samples in minibatches of 25 (13 + 12 a rank), 5 epochs: 50 steps, in float64, without dropout
MLP = dict(hidden_layer_sizes=(16,), batch_size=25, max_iter=5, tol=0, alpha=1e-3, dtype="float64", random_state=0)
RUNS = {
    "sgd": lambda: MLPClassifier(solver="sgd", learning_rate_init=0.05, **MLP),
    "adam": lambda: MLPClassifier(solver="adam", learning_rate_init=0.01, **MLP),
    "logistic": lambda: LogisticRegression(max_iter=50, tol=0, alpha=1e-3, dtype="float64"),
}
SAMPLE_WEIGHT = np.linspace(0.5, 1.5, 250)  # the weighted run: sgd with these
# the resume: the adam run, checkpointed after 3 epochs, taken on to 5
RESUMED = lambda epochs: MLPClassifier(solver="adam", learning_rate_init=0.01, **{**MLP, "max_iter": epochs})  # noqa: E731


def fit(name, distributed=False, **options):
    X, y, validation = data()
    model = RUNS[name]()
    with training():
        if name == "logistic":
            return model.fit(X, y == 3, validation_data=(validation[0], validation[1] == 3), distributed=distributed)
        return model.fit(X, y, validation_data=validation, distributed=distributed, **options)


def resume(checkpoint, epochs, distributed=False):
    X, y, validation = data()
    with training():
        return RESUMED(epochs).fit(X, y, validation_data=validation, checkpoint=checkpoint, resume=True,
                                   distributed=distributed)


def outcome(model):
    """The weights as one vector, and the history as one array (metrics in name order)."""
    network = model.network_
    metrics = model.history_.history
    return {"weights": network.flat_parameters()[0].copy(), "history": np.array([metrics[k] for k in sorted(metrics)])}


# --- the killed run ----------------------------------------------------------------------
class Slow(Callback):
    """Only watches: sleeps after each minibatch (on rank 0, which the others wait for)."""

    changes_training = False

    def on_batch_end(self, batch, logs):
        time.sleep(0.02)


def dying_run(checkpoint=None, resume=False, communicator=None, slow=False):
    """10 epochs of 20 minibatches, saved every 2 minibatches; returns the network."""
    digits = datasets.load("digits")
    network = nn.Sequential([nn.Dense(32), nn.ReLU(), nn.Dense(10), nn.Softmax()], dtype="float64", random_state=3)
    callbacks = ([nn.Checkpoint(checkpoint, every=2, resume=resume)] if checkpoint else []) + ([Slow()] if slow else [])
    with training():
        nn.fit(network, digits.flat[:600], digits.y[:600], loss=nn.CrossEntropy(), optimizer=nn.SGD(0.05, momentum=0.9),
               epochs=10, batch_size=30, callbacks=callbacks, random_state=3, communicator=communicator)
    return network


# --- batch normalisation: statistics of the whole minibatch, summed over the ranks ---------------
def batch_norm_run(communicator=None):
    """3 epochs of 10 weighted minibatches (13 + 12 samples a rank) of a CNN with BatchNorm after
    its convolution and its hidden Dense layer; returns its weights and buffers, and its history."""
    digits = datasets.load("digits")
    network = nn.Sequential([nn.Conv2D(4, 3), nn.BatchNorm(), nn.ReLU(), nn.Flatten(), nn.Dense(16), nn.BatchNorm(),
                             nn.ReLU(), nn.Dense(10), nn.Softmax()], input_shape=(1, 8, 8), dtype="float64",
                            random_state=0)
    with training():
        history = nn.fit(network, digits.X[:250], digits.y[:250], loss=nn.CrossEntropy(),
                         optimizer=nn.SGD(0.05, momentum=0.9), epochs=3, batch_size=25, random_state=0,
                         sample_weight=SAMPLE_WEIGHT, validation_data=(digits.X[250:400], digits.y[250:400]),
                         communicator=communicator)
    return {**{f"array.{key}": array for key, array in network.get_weights().items()},
            **{f"history.{key}": np.array(values) for key, values in history.history.items()}}


# --- a dataset object: each rank reads its share of every minibatch, and only that ------------------
class RecordingDataset:
    """The digits as a dataset object that records the sample numbers of every read."""

    def __init__(self, X, y):
        self.X, self.targets, self.reads = X, y, []

    def __len__(self):
        return len(self.X)

    def __getitem__(self, indices):
        self.reads.append(np.asarray(indices).copy())
        return self.X[indices], self.targets[indices]

    def fingerprint(self):  # what the ranks compare to know they train on the same data, as an image folder's key
        return f"digits {len(self.X)}"


def dataset_run(communicator=None):
    """2 epochs of 10 minibatches of 25 from a dataset object, scored on a validation
    dataset; returns the weights, the history and every read of either dataset."""
    X, y, (X_val, y_val) = data()
    train, held_out = RecordingDataset(X, y), RecordingDataset(X_val, y_val)
    network = nn.Sequential([nn.Dense(16), nn.ReLU(), nn.Dense(10), nn.Softmax()], dtype="float64", random_state=0)
    with training():
        history = nn.fit(network, train, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=2, batch_size=25,
                         random_state=0, validation_data=held_out, communicator=communicator)
    return {"weights": network.flat_parameters()[0].copy(),
            "history": np.array([history.history[k] for k in sorted(history.history)]),
            "reads": np.concatenate(train.reads[1:]),  # after the one sample that builds the network
            "read_counts": np.array([len(read) for read in train.reads[1:]]),
            "validation_reads": np.concatenate(held_out.reads)}


# --- ranks that disagree -------------------------------------------------------------------
class Nudge(Callback):
    """After the first epoch, moves one weight of rank 1: a fault that makes the ranks' weights drift apart."""

    def __init__(self, rank):
        self.rank = rank

    def on_epoch_end(self, epoch, logs):
        if self.rank == 1 and epoch == 0:
            self.trainer.network.flat_parameters()[0][0] += 1e-3


def disagreements(world):
    """The error each disagreeing run raised on this rank (None: none)."""
    X, y, _ = data()
    rank = world.rank

    def drifting():
        network = nn.Sequential([nn.Dense(8), nn.ReLU(), nn.Dense(10), nn.Softmax()], random_state=0)
        nn.fit(network, X, y, loss=nn.CrossEntropy(), optimizer=nn.SGD(0.05), epochs=2, callbacks=[Nudge(rank)],
               random_state=0, communicator=world)

    runs = {
        "settings": lambda: MLPClassifier(solver="sgd", learning_rate_init=0.05 * (1 + rank), **MLP).fit(
            X, y, distributed=True),
        "data": lambda: MLPClassifier(solver="sgd", **MLP).fit(X + rank, y, distributed=True),
        "drift": drifting,
    }
    errors = dict.fromkeys(runs)
    for name, run in runs.items():
        try:
            run()
        except ValueError as error:
            errors[name] = str(error)
    return errors


def main(mode, *paths):
    from neuronet.distributed import mpi_world

    world = mpi_world(required=True)
    rank = world.rank
    if mode == "equality":
        out, checkpoint = paths
        results = {name: outcome(fit(name, distributed=True)) for name in RUNS}
        results["weighted"] = outcome(fit("sgd", distributed=True, sample_weight=SAMPLE_WEIGHT))
        results["resumed"] = outcome(resume(checkpoint, 5, distributed=True))
        if rank == 0:
            np.savez(out, **{f"{name}.{part}": array for name, parts in results.items() for part, array in parts.items()})
    elif mode == "batchnorm":
        results = batch_norm_run(world)
        try:  # minibatches of one sample leave a rank without any
            nn.fit(nn.Sequential([nn.Dense(4), nn.BatchNorm()]), np.ones((4, 3)), np.ones((4, 4)),
                   loss=nn.MeanSquaredError(), optimizer=nn.SGD(0.1), batch_size=1, communicator=world)
        except ValueError as error:
            results[f"error.{rank}"] = np.array(str(error))
        if rank == 0:
            np.savez(paths[0], **results)
    elif mode == "dataset":
        np.savez(f"{paths[0]}.{rank}.npz", **dataset_run(world))
    elif mode == "die":
        checkpoint, pids = paths
        with open(f"{pids}.{rank}", "w") as file:
            file.write(str(os.getpid()))
        dying_run(checkpoint, communicator=world, slow=True)
    elif mode == "errors":
        with open(f"{paths[0]}.{rank}.json", "w") as file:
            json.dump(disagreements(world), file)


if __name__ == "__main__":
    main(*sys.argv[1:])
