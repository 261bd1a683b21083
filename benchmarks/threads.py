"""BLAS threads that help: neuronet's choice of threads (neuronet.threads) against one
thread and against OpenBLAS's default of every core.

Each fit runs in a worker process of its own, at one of three settings of the threads:

    choice     nothing set: neuronet picks the count from the sizes of the work
    one        OPENBLAS_NUM_THREADS=1 (and OMP_, MKL_): one thread, whatever the work
    all cores  OPENBLAS_NUM_THREADS=<cores>: OpenBLAS's default, neuronet leaves it alone

Side by side in one run:

1. Two fits at once (two workers told to start together), and one alone, of
     cnn-digits   CNNClassifier(image_shape=(1, 8, 8), max_iter=5, tol=0) on the 1,797 digits
     mlp-mnist    MLPClassifier((100,), batch_size=200, max_iter=20, tol=0) on 4,000 MNIST-5k images
   Bar: with two at once, the slower fit at neuronet's choice ≤ 1.2× the slower at one thread.
2. Alone, mlp-2048: MLPClassifier((2048, 2048), batch_size=1024, max_iter=1, tol=0) on the
   4,000 MNIST-5k images, at the choice and at one thread, interleaved. Bar: one thread's
   time ÷ the choice's ≥ 1.4×.
3. What choosing costs: ``predict_proba`` of the fitted mlp-mnist model on one row, µs per
   call, at the choice (the count is lowered and put back on every call) and at one thread
   (neuronet only looks).

Every time is the median of --repeats, the settings interleaved within each repetition.

    python benchmarks/threads.py [--repeats 5]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

from sklearn.exceptions import ConvergenceWarning

SETTINGS = ("choice", "one", "all cores")
PAIRED = ("cnn-digits", "mlp-mnist")
ALONE = "mlp-2048"
PAIR_BAR, ALONE_BAR = 1.2, 1.4
ENVIRONMENT = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# --- the worker: one process, one workload, one setting of the threads ------------------------------------
def workload(name):
    """(the estimator, X, y) of a workload."""
    from common import mnist_split

    from neuronet import CNNClassifier, MLPClassifier, datasets

    if name == "cnn-digits":
        data = datasets.load("digits")
        return CNNClassifier(image_shape=(1, 8, 8), max_iter=5, tol=0, random_state=0), data.X, data.y
    X, _, y, _ = mnist_split()
    if name == "mlp-mnist":
        return MLPClassifier((100,), batch_size=200, max_iter=20, tol=0, random_state=0), X, y
    return MLPClassifier((2048, 2048), batch_size=1024, max_iter=1, tol=0, random_state=0), X, y


def worker(name):
    """Answer each line of standard input: "fit" with the seconds of one fit, "predict" with
    the µs per call of predict_proba on one row."""
    model, X, y = workload(name)
    warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is reached on purpose
    print("ready", flush=True)
    for command in sys.stdin:
        start = time.perf_counter()
        if command.strip() == "fit":
            model.fit(X, y)
            answer = time.perf_counter() - start
        else:
            row, calls = X[:1], 2000
            for _ in range(calls):
                model.predict_proba(row)
            answer = (time.perf_counter() - start) / calls * 1e6
        print(json.dumps(answer), flush=True)


# --- the parent ------------------------------------------------------------------------------------------
class Worker:
    """A worker process for ``name`` at ``setting`` of the threads."""

    def __init__(self, name, setting, cores):
        env = {key: value for key, value in os.environ.items() if key not in ENVIRONMENT}
        if setting != "choice":
            env.update(dict.fromkeys(ENVIRONMENT, "1" if setting == "one" else str(cores)))
        self.process = subprocess.Popen([sys.executable, __file__, "--worker", name], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdout.readline().strip() == "ready"

    def send(self, command):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def answer(self):
        return json.loads(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def together(workers, command="fit"):
    """Start ``command`` in every worker at once; their answers."""
    for each in workers:
        each.send(command)
    answers = [each.answer() for each in workers]
    time.sleep(0.3)  # let OpenBLAS's idle threads stop spinning before the next measurement
    return answers


def paired(name, repeats, cores):
    """{setting: (median seconds alone, median seconds of the slower of two at once)}."""
    workers = {setting: (Worker(name, setting, cores), Worker(name, setting, cores)) for setting in SETTINGS}
    alone, pairs = {s: [] for s in SETTINGS}, {s: [] for s in SETTINGS}
    for _ in range(repeats):
        for setting, pair in workers.items():
            alone[setting] += together(pair[:1])
            pairs[setting].append(max(together(pair)))
    for pair in workers.values():
        for each in pair:
            each.close()
    return {s: (statistics.median(alone[s]), statistics.median(pairs[s])) for s in SETTINGS}


def alone_and_prediction(repeats, cores):
    """{setting: median fit seconds} of mlp-2048, and {setting: µs per predict_proba call} of mlp-mnist."""
    fits, calls = {"choice": [], "one": []}, {}
    workers = {setting: Worker(ALONE, setting, cores) for setting in fits}
    for _ in range(repeats):
        for setting, each in workers.items():
            fits[setting] += together([each])
    for setting, each in workers.items():
        each.close()
        small = Worker("mlp-mnist", setting, cores)
        together([small])
        calls[setting] = statistics.median(together([small], "predict")[0] for _ in range(repeats))
        small.close()
    return {s: statistics.median(fits[s]) for s in fits}, calls


def blas_kernel():
    from threadpoolctl import threadpool_info

    import numpy  # noqa: F401 (loads its BLAS)

    return ", ".join(sorted({f"{i['internal_api']} {i['version']} {i.get('architecture')}"
                             for i in threadpool_info() if i["user_api"] == "blas"}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", choices=(*PAIRED, ALONE), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{cores} cores, {blas_kernel()}; median of {args.repeats}, settings interleaved")
    print(f"\n{'workload':<13}{'threads':<11}{'alone s':>9}{'two at once s':>15}{'× alone':>9}")
    holds = True
    for name in PAIRED:
        times = paired(name, args.repeats, cores)
        for setting, (alone, pair) in times.items():
            print(f"{name:<13}{setting:<11}{alone:>9.2f}{pair:>15.2f}{pair / alone:>9.2f}", flush=True)
        ratio = times["choice"][1] / times["one"][1]
        holds &= ratio <= PAIR_BAR
        print(f"{'':<13}two at once, choice ÷ one thread: {ratio:.2f}× (bar ≤ {PAIR_BAR}×)", flush=True)
    fits, calls = alone_and_prediction(args.repeats, cores)
    gain = fits["one"] / fits["choice"]
    holds &= gain >= ALONE_BAR
    print(f"\n{ALONE}, alone: one thread {fits['one']:.2f} s, choice {fits['choice']:.2f} s: "
          f"{gain:.2f}× from the choice (bar ≥ {ALONE_BAR}×)")
    print(f"mlp-mnist predict_proba, one row: {calls['choice']:.1f} µs/call at the choice, "
          f"{calls['one']:.1f} µs/call at one thread")
    print("every bar holds" if holds else "a bar does not hold")
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
