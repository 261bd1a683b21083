"""A small CNN on MNIST-5k: neuronet vs PyTorch (CPU), one thread, side by side.

conv 8@3×3 (same) → ReLU → maxpool 2 → conv 16@3×3 (same) → ReLU → maxpool 2 → dense 10,
Adam (lr 0.003), batch 64. Prints ms/epoch, test accuracy, and how many times
neuronet's epoch time PyTorch takes (> 1: neuronet is faster). Each setting runs
--repeats times; the fastest run counts.

    pip install torch==2.13.0      # CPU build, from local disk
    python benchmarks/cnn.py [--epochs 3]
"""

import argparse
import warnings

import numpy as np
from common import compare, mnist_split, one_thread, seed_everything, timed, torch_accuracy, torch_fit

from neuronet import CNNClassifier


def neuronet_run(data, batch_size, epochs):
    X_train, X_test, y_train, y_test = data
    model = CNNClassifier(conv_filters=(8, 16), batch_size=batch_size, max_iter=epochs, learning_rate_init=0.003,
                          learning_rate="constant", tol=0, alpha=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter is reached on purpose
        _, seconds = timed(lambda: model.fit(X_train, y_train))
    return seconds / epochs, model.score(X_test, y_test)


def torch_run(data, batch_size, epochs):
    import torch
    from torch import nn

    X_train, X_test, y_train, y_test = (torch.as_tensor(np.asarray(a)) for a in data)
    seed_everything(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
    seconds = torch_fit(net, X_train, y_train, 0.003, batch_size, epochs)
    return seconds, torch_accuracy(net, X_test, y_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    one_thread()
    compare({"neuronet": neuronet_run, "pytorch": torch_run}, mnist_split(images=True), (args.batch_size,),
            args.epochs, args.repeats)


if __name__ == "__main__":
    main()
