"""Shared set-up for the benchmarks: MNIST-5k split and one BLAS thread everywhere."""

import os
import time

import numpy as np
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from neuronet import datasets


def one_thread():
    """Pin BLAS (and PyTorch, if present) to one thread so ratios are comparable."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    limiter = threadpool_limits(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    return limiter


def mnist_split(images=False):
    data = datasets.load("mnist-5k")
    X = data.X if images else data.flat
    return train_test_split(X, data.y, train_size=4000, test_size=1000, random_state=0, stratify=data.y)


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def compare(runners, data, batch_sizes, epochs, repeats):
    """Run every library at every batch size, ``repeats`` times (the fastest counts),
    and print the table."""
    rows = []
    for batch_size in batch_sizes:
        for name, run in runners.items():
            try:
                seconds, accuracy = min(run(data, batch_size, epochs) for _ in range(repeats))
            except ImportError as error:
                print(f"skipping {name}: {error}")
                continue
            rows.append(((name, f"batch {batch_size}"), seconds * 1000, accuracy))
    report(rows)


def report(rows, reference="neuronet"):
    """Print ms/epoch, accuracy and each library's time relative to neuronet's."""
    base = {key[1:]: ms for key, ms, _ in rows if key[0] == reference}
    print(f"{'library':<14}{'setting':<14}{'ms/epoch':>10}{'accuracy':>10}{'× neuronet time':>17}")
    for key, ms, accuracy in rows:
        ratio = ms / base[key[1:]] if key[1:] in base else float("nan")
        print(f"{key[0]:<14}{str(key[1]):<14}{ms:>10.1f}{accuracy:>10.3f}{ratio:>17.2f}")


def seed_everything(seed):
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def torch_fit(net, X_train, y_train, learning_rate, batch_size, epochs):
    """The same minibatch loop as neuronet's, in PyTorch: Adam, cross-entropy, reshuffled
    every epoch. Returns the seconds per epoch."""
    import torch

    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train():
        for _ in range(epochs):
            order = torch.randperm(len(X_train))
            for start in range(0, len(X_train), batch_size):
                index = order[start : start + batch_size]
                optimizer.zero_grad()
                loss_fn(net(X_train[index]), y_train[index]).backward()
                optimizer.step()

    _, seconds = timed(train)
    return seconds / epochs


def torch_accuracy(net, X_test, y_test):
    import torch

    with torch.no_grad():
        return (net(X_test).argmax(1) == y_test).float().mean().item()
