"""784-128-64-10 MLP on MNIST-5k: neuronet vs PyTorch (CPU) vs scikit-learn, one thread.

Same network, optimizer (Adam, lr 1e-3; or ``--solver sgd``: momentum 0.9, Nesterov,
lr 0.01), epochs and batch size for all three, float32 data; prints ms/epoch, test
accuracy, how many times neuronet's epoch time each library takes (> 1: neuronet is
faster), and each library's step time ÷ the floor: the time of the step's 8 bare
matrix products (Z = X·W forward; Xᵀ·∂L/∂Z, and ∂L/∂Z·Wᵀ above the first layer,
backward), timed in the same run. Each setting runs --repeats times; the fastest counts.

Then prediction: ``predict_proba`` of the fitted estimator (input validation included)
against PyTorch's ``no_grad`` softmax, per call at batch 1 and per sample at batch 1,000.

``--profile`` also runs one fit at the first batch size under a clock per phase (batch
gathering, forward, loss, backward, optimizer, callbacks, divergence guard, progress
bar) and prints where the time beyond the floor goes. ``--threads 1 2`` runs the
training table on 1, then 2 BLAS threads, and prints each library's speed-up.

    pip install torch==2.13.0      # CPU build, from local disk
    python benchmarks/mlp.py [--epochs 10] [--solver sgd] [--threads 1 2] [--profile]
"""

import argparse
import warnings

import numpy as np
from common import (blas_threads, compare, compare_prediction, compare_threads, dense_step_products, floor_seconds,
                    mnist_split, profile_fit, seed_everything, steps_per_epoch, timed, torch_accuracy, torch_fit,
                    torch_predictor)

from neuronet import MLPClassifier

SIZES = (784, 128, 64, 10)
LEARNING_RATES = {"adam": 1e-3, "sgd": 0.01}


def neuronet_model(solver, batch_size, epochs, verbose=False):
    return MLPClassifier(SIZES[1:-1], solver=solver, learning_rate_init=LEARNING_RATES[solver], batch_size=batch_size,
                         max_iter=epochs, tol=0, alpha=0.0, random_state=0, verbose=verbose)


def quietly(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter is reached on purpose
        return fit()


def neuronet_run(solver):
    def run(data, batch_size, epochs):
        X_train, X_test, y_train, y_test = data
        model = neuronet_model(solver, batch_size, epochs)
        _, seconds = timed(lambda: quietly(lambda: model.fit(X_train, y_train)))
        return seconds / epochs, model.score(X_test, y_test)

    return run


def sklearn_run(solver):
    def run(data, batch_size, epochs):
        from sklearn.neural_network import MLPClassifier as SkMLP

        X_train, X_test, y_train, y_test = data
        model = SkMLP(SIZES[1:-1], solver=solver, learning_rate_init=LEARNING_RATES[solver], batch_size=batch_size,
                      max_iter=epochs, tol=0, alpha=0.0, random_state=0, n_iter_no_change=epochs + 1)
        _, seconds = timed(lambda: quietly(lambda: model.fit(X_train, y_train)))
        return seconds / epochs, model.score(X_test, y_test)

    return run


def torch_net():
    import torch

    seed_everything(0)
    return torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                               torch.nn.ReLU(), torch.nn.Linear(64, 10))


def torch_run(solver):
    def run(data, batch_size, epochs):
        import torch

        X_train, X_test, y_train, y_test = (torch.as_tensor(np.asarray(a)) for a in data)
        net = torch_net()
        seconds = torch_fit(net, X_train, y_train, LEARNING_RATES[solver], batch_size, epochs, solver)
        return seconds, torch_accuracy(net, X_test, y_test)

    return run


def floor(batch_size):
    return floor_seconds(dense_step_products(batch_size, SIZES))


def prediction(data, repeats):
    """predict_proba of a fitted float32 MLPClassifier against PyTorch's no_grad inference."""
    X_train, X_test, y_train, _ = data
    model = quietly(lambda: neuronet_model("adam", 64, 2).fit(X_train, y_train))
    predictors = {"neuronet predict_proba": model.predict_proba}
    try:
        predictors["pytorch no_grad"] = torch_predictor(torch_net())
    except ImportError as error:
        print(f"skipping pytorch: {error}")
    compare_prediction(predictors, np.ascontiguousarray(X_test, dtype=np.float32), repeats * 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting; the fastest counts")
    parser.add_argument("--solver", choices=sorted(LEARNING_RATES), default="adam")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="BLAS (and PyTorch) threads; several: each in turn, and the speed-ups")
    parser.add_argument("--profile", action="store_true", help="where a fit's time goes, phase by phase")
    args = parser.parse_args()
    data = mnist_split()
    runners = {"neuronet": neuronet_run(args.solver), "pytorch": torch_run(args.solver),
               "scikit-learn": sklearn_run(args.solver)}
    print(args.solver)
    compare_threads(lambda: compare(runners, data, args.batch_sizes, args.epochs, args.repeats, floor), args.threads)
    blas_threads(args.threads[0])  # prediction and the profile: on the first number of threads
    prediction(data, args.repeats)
    if args.profile:
        batch_size = args.batch_sizes[0]
        model = neuronet_model(args.solver, batch_size, args.epochs, verbose="progress")
        profile_fit(lambda: quietly(lambda: model.fit(data[0], data[2])), steps_per_epoch(batch_size) * args.epochs,
                    floor(batch_size))


if __name__ == "__main__":
    main()
