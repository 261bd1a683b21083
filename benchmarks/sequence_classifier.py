"""SequenceClassifier(cell="lstm"), or another cell (--cell transformer), with its default
parameters reads MNIST-5k row by row.

Each image is a sequence of 28 steps (its rows, top to bottom) of 28 pixels (in [0, 1],
as neuronet.datasets gives them). 20 % of the 5,000 images are held out, stratified, by
split seed s; the estimator gets only random_state=s. Bar: test accuracy ≥ 0.95, each fit
within 5 minutes on one core (BLAS pinned to one thread). Prints one row per seed: the
accuracy, the fit's wall-clock and CPU seconds, and the epochs trained; exits 1 if a bar
does not hold.

    python benchmarks/sequence_classifier.py [--seeds 0 1 2] [--cell lstm|gru|rnn|transformer]
"""

import argparse
import sys

from common import fit_and_score, one_thread

from neuronet import SequenceClassifier, datasets

SECONDS, LEAST = 300, 0.95


def run(X, y, seed, cell):
    return fit_and_score(SequenceClassifier(cell=cell, random_state=seed), X, y, seed, test_size=0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cell", default="lstm")
    args = parser.parse_args()
    one_thread()
    data = datasets.load("mnist-5k")
    X = data.X.reshape(len(data.X), 28, 28)  # one image: 28 steps (rows) of 28 pixels
    print(f"{'cell':<12}{'seed':>5}{'accuracy':>10}{'bar':>7}{'fit s':>8}{'cpu s':>8}{'epochs':>9}  holds")
    failures = 0
    for seed in args.seeds:
        accuracy, seconds, cpu, epochs, max_iter = run(X, data.y, seed, args.cell)
        holds = accuracy >= LEAST and seconds <= SECONDS
        failures += not holds
        print(f"{args.cell:<12}{seed:>5}{accuracy:>10.4f}{LEAST:>7.2f}{seconds:>8.1f}{cpu:>8.1f}"
              f"{f'{epochs}/{max_iter}':>9}  {'yes' if holds else 'NO'}", flush=True)
    print(f"every bar holds (accuracy ≥ {LEAST}, each fit within {SECONDS} s)" if not failures else
          f"{failures} fit(s) below the bar or over {SECONDS} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
