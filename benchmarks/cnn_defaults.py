"""Defaults that win: CNNClassifier() and MLPClassifier() with no settings, on the bundled digits.

Three bars, each on seeded stratified splits (seeds 1, 2, 3 by default; the tests use 0):

    CNN on digits    (8×8, pixels / 16, 40 % held out)    test accuracy ≥ 0.98
    CNN on MNIST-5k  (28×28, pixels / 255, 20 % held out)  test accuracy ≥ 0.97
    MLP on digits    (64 features, pixels / 16, 40 % held out)  test accuracy ≥ 0.97

and every fit under 30 s on one core (one BLAS thread). The estimators get only
random_state=seed, so that a run can be repeated. Prints one row per fit: accuracy,
fit time (wall clock, which the bar takes, and the process's CPU time, which a busy
machine inflates less), the epochs trained (below max_iter: the convergence criterion
stopped it) and whether each bar holds; exits 1 if any does not.

    python benchmarks/cnn_defaults.py [--seeds 1 2 3]
"""

import argparse
import sys

from common import fit_and_score, one_thread

from neuronet import CNNClassifier, MLPClassifier, datasets

SECONDS = 30
BARS = [  # (estimator, data set, fraction held out, images or flat rows, least test accuracy)
    (CNNClassifier, "digits", 0.4, "images", 0.98),
    (CNNClassifier, "mnist-5k", 0.2, "images", 0.97),
    (MLPClassifier, "digits", 0.4, "flat", 0.97),
]


def run_bar(estimator, data, test_size, form, seed):
    """Fit the default estimator on one split; (accuracy, wall seconds, CPU seconds, epochs, max_iter)."""
    X = data.X if form == "images" else data.flat
    return fit_and_score(estimator(random_state=seed), X, data.y, seed, test_size)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    one_thread()
    print(f"{'model':<15}{'data':<10}{'seed':>5}{'accuracy':>10}{'bar':>7}{'fit s':>8}{'cpu s':>8}{'epochs':>10}"
          "  holds")
    failures = 0
    for estimator, name, test_size, form, least in BARS:
        data = datasets.load(name)
        for seed in args.seeds:
            accuracy, seconds, cpu, epochs, max_iter = run_bar(estimator, data, test_size, form, seed)
            holds = accuracy >= least and seconds < SECONDS
            failures += not holds
            print(f"{estimator.__name__:<15}{name:<10}{seed:>5}{accuracy:>10.4f}{least:>7.2f}{seconds:>8.1f}{cpu:>8.1f}"
                  f"{f'{epochs}/{max_iter}':>10}  {'yes' if holds else 'NO'}", flush=True)
    print(f"every bar holds (accuracy, and each fit under {SECONDS} s)" if not failures else
          f"{failures} fit(s) below their bar or over {SECONDS} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
