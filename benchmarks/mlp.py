"""784-128-64-10 MLP on MNIST-5k: neuronet vs PyTorch (CPU) vs scikit-learn, one thread.

Same network, Adam (lr 1e-3), epochs and batch size for all three; prints ms/epoch,
test accuracy, and how many times neuronet's epoch time each library takes
(> 1: neuronet is faster). Each setting runs --repeats times; the fastest run counts.

    pip install torch==2.13.0      # CPU build, from local disk
    python benchmarks/mlp.py [--epochs 10]
"""

import argparse
import warnings

import numpy as np
from common import compare, mnist_split, one_thread, seed_everything, timed, torch_accuracy, torch_fit

from neuronet import MLPClassifier


def neuronet_run(data, batch_size, epochs):
    X_train, X_test, y_train, y_test = data
    model = MLPClassifier((128, 64), batch_size=batch_size, max_iter=epochs, tol=0, alpha=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter is reached on purpose
        _, seconds = timed(lambda: model.fit(X_train, y_train))
    return seconds / epochs, model.score(X_test, y_test)


def sklearn_run(data, batch_size, epochs):
    from sklearn.neural_network import MLPClassifier as SkMLP

    X_train, X_test, y_train, y_test = data
    model = SkMLP((128, 64), batch_size=batch_size, max_iter=epochs, tol=0, alpha=0.0, random_state=0,
                  n_iter_no_change=epochs + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, seconds = timed(lambda: model.fit(X_train, y_train))
    return seconds / epochs, model.score(X_test, y_test)


def torch_run(data, batch_size, epochs):
    import torch

    X_train, X_test, y_train, y_test = (torch.as_tensor(np.asarray(a)) for a in data)
    seed_everything(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, 10))
    seconds = torch_fit(net, X_train, y_train, 1e-3, batch_size, epochs)
    return seconds, torch_accuracy(net, X_test, y_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting; the fastest counts")
    args = parser.parse_args()
    one_thread()
    compare({"neuronet": neuronet_run, "pytorch": torch_run, "scikit-learn": sklearn_run}, mnist_split(),
            (64, 256), args.epochs, args.repeats)


if __name__ == "__main__":
    main()
