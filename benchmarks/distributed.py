"""Data-parallel training over MPI: how throughput scales from 1 to 2 ranks, and what
share of each step the gradient's Allreduce takes.

A CNN like benchmarks/cnn.py's (conv 8@3×3 → ReLU → maxpool 2 → conv 16@3×3 → ReLU →
maxpool 2 → dense, Adam 0.003) at global batch 128, on MNIST-5k (28×28×1, 4,000
training images) and on a synthetic set of 20,000 images of 64×64×3 (two classes of
random pixels: the work of a cats-vs-dogs step, without the photos). Each setting is
``mpiexec -n R`` (R = 1, 2), one BLAS thread a rank, timing --steps minibatches
(after one to warm up) --repeats times; the median counts. One rank is the plain
single-process loop, no MPI in it.

Columns: images/s; the speed-up over 1 rank; the speed-up the work allows: one process's
time for a step of 128 images over its time for a step of 128 / R (a step has a cost
that does not shrink with the batch); on rank 0, the share of a step spent in the
Allreduce of the flat gradient (the communication) and in the Allreduce of the batch's
four numbers that comes first (where a rank waits for the slower one).

    pip install 'neuronet[mpi]'
    python benchmarks/distributed.py [--repeats 5] [--steps 10] [--ranks 1,2]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import mnist_split, one_thread

from neuronet import nn
from neuronet.callbacks import Callback

DATASETS = ("mnist-5k", "synthetic-20k-64x64x3")


def load(name):
    """Training images (n, C, H, W) as float32 and their labels."""
    if name == "mnist-5k":
        X_train, _, y_train, _ = mnist_split(images=True)
        return np.asarray(X_train, dtype=np.float32), np.asarray(y_train)
    rng = np.random.default_rng(0)
    return rng.standard_normal((20_000, 3, 64, 64), dtype=np.float32), rng.integers(0, 2, 20_000)


def cnn(classes):
    return nn.Sequential([nn.Conv2D(8, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2),
                          nn.Conv2D(16, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2),
                          nn.Flatten(), nn.Dense(classes), nn.Softmax()], random_state=0)


class TimedComm:
    """An MPI communicator that adds up the seconds its Allreduce calls take: of the
    gradient (a large buffer) and of the batch's few numbers."""

    def __init__(self, comm):
        self.comm, self.gradient_seconds, self.numbers_seconds = comm, 0.0, 0.0

    def Allreduce(self, send, buffer):
        start = time.perf_counter()
        self.comm.Allreduce(send, buffer)
        seconds = time.perf_counter() - start
        if buffer.size > 8:
            self.gradient_seconds += seconds
        else:
            self.numbers_seconds += seconds

    def __getattr__(self, name):
        return getattr(self.comm, name)


class Clock(Callback):
    """Notes the time (and the Allreduce seconds so far) after each minibatch, on rank 0."""

    changes_training = False

    def __init__(self, comm):
        self.comm, self.marks = comm, []

    def on_batch_end(self, batch, logs):
        self.marks.append((time.perf_counter(), getattr(self.comm, "gradient_seconds", 0.0),
                           getattr(self.comm, "numbers_seconds", 0.0)))


def worker(name, steps, batch_size, repeats):
    """Run under mpiexec: rank 0 prints one JSON line per repeat."""
    from neuronet.distributed import World, mpi_world

    one_thread()
    world = mpi_world()
    comm = None if world is None else TimedComm(world.comm)
    X, y = load(name)
    X, y = X[: (steps + 1) * batch_size], y[: (steps + 1) * batch_size]  # one epoch: a warm-up step, then those timed
    for _ in range(repeats):
        clock = Clock(comm)
        nn.fit(cnn(int(y.max()) + 1), X, y, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.003), epochs=1,
               batch_size=batch_size, callbacks=[clock], random_state=0,
               communicator=None if comm is None else World(comm))
        if world is None or world.is_root:
            (start, gradient0, numbers0), (end, gradient1, numbers1) = clock.marks[0], clock.marks[-1]
            seconds = end - start
            print(json.dumps({"images_per_second": steps * batch_size / seconds,
                              "gradient_share": (gradient1 - gradient0) / seconds,
                              "numbers_share": (numbers1 - numbers0) / seconds}), flush=True)


def mpiexec():
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else "mpiexec"


def measure(name, ranks, args, batch_size=None):
    command = [mpiexec(), "-n", str(ranks), sys.executable, __file__, "--worker", name, "--steps", str(args.steps),
               "--batch-size", str(batch_size or args.batch_size), "--repeats", str(args.repeats)]
    environ = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(command, env=environ, capture_output=True, text=True, check=True)
    runs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--ranks", default="1,2")
    parser.add_argument("--worker", choices=DATASETS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.steps, args.batch_size, args.repeats)
    print(f"global batch {args.batch_size}, {args.steps} steps timed, median of {args.repeats}, one BLAS thread a rank")
    print(f"{'data':<24}{'ranks':>6}{'images/s':>10}{'speed-up':>10}{'work allows':>13}"
          f"{'gradient Allreduce':>20}{'wait + 4 numbers':>18}")
    for name in DATASETS:
        alone = None
        for ranks in (int(r) for r in args.ranks.split(",")):
            result = measure(name, ranks, args)
            alone = alone or result["images_per_second"]
            part = measure(name, 1, args, args.batch_size // ranks)["images_per_second"] if ranks > 1 else alone
            allows = ranks * part / alone  # t(B) / t(B / R), from images/s of one process at each batch
            print(f"{name:<24}{ranks:>6}{result['images_per_second']:>10.0f}{result['images_per_second'] / alone:>9.2f}×"
                  f"{allows:>12.2f}×{result['gradient_share']:>19.1%}{result['numbers_share']:>18.1%}", flush=True)


if __name__ == "__main__":
    main()
