"""A small CNN on MNIST-5k: neuronet vs PyTorch (CPU), one thread, side by side.

conv 8@3×3 (same) → maxpool 2 → ReLU → conv 16@3×3 (same) → maxpool 2 → ReLU → dense 10
(CNNClassifier's order, the same function as ReLU → maxpool; PyTorch's network is built
in the same order), Adam (lr 0.003), batches of 64 and 256. Prints ms/epoch, test accuracy, how many times
neuronet's epoch time PyTorch takes (> 1: neuronet is faster), and each library's step
time ÷ the floor: the time of the step's 8 bare matrix products as neuronet forms them
(im2col: W·cols forward, cols·∂L/∂Zᵀ in blocks of 8,192 positions and, above the first
convolution, Wᵀ·∂L/∂Z backward; the dense layer's three), timed in the same run. Each
setting runs --repeats times; the fastest run counts.

Then prediction: ``predict_proba`` against PyTorch's ``no_grad`` softmax, per call at
batch 1 and per sample at batch 1,000. ``--profile`` prints where a fit's time goes,
phase by phase, at the first batch size; ``--threads 1 2`` runs the training table on
1, then 2 BLAS threads, and prints each library's speed-up.

    pip install torch==2.13.0      # CPU build, from local disk
    python benchmarks/cnn.py [--epochs 3] [--batch-sizes 64 256] [--threads 1 2] [--profile]
"""

import argparse
import warnings

import numpy as np
from common import (blas_threads, compare, compare_prediction, compare_threads, dense_step_products, floor_seconds,
                    mnist_split, profile_fit, seed_everything, steps_per_epoch, timed, torch_accuracy, torch_fit,
                    torch_predictor)

from neuronet import CNNClassifier

# (channels in, filters, image side) of each 3×3 "same" convolution; each is followed by a 2×2 pooling
CONVOLUTIONS = ((1, 8, 28), (8, 16, 14))
POSITIONS_PER_BLOCK = 8192  # as neuronet.layers.conv computes ∂L/∂W


def neuronet_model(batch_size, epochs, verbose=False):
    return CNNClassifier(conv_filters=(8, 16), batch_size=batch_size, max_iter=epochs, learning_rate_init=0.003,
                         learning_rate="constant", tol=0, alpha=0.0, random_state=0, verbose=verbose)


def quietly(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter is reached on purpose
        return fit()


def neuronet_run(data, batch_size, epochs):
    X_train, X_test, y_train, y_test = data
    model = neuronet_model(batch_size, epochs)
    _, seconds = timed(lambda: quietly(lambda: model.fit(X_train, y_train)))
    return seconds / epochs, model.score(X_test, y_test)


def torch_net():
    from torch import nn

    seed_everything(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(16 * 7 * 7, 10))


def torch_run(data, batch_size, epochs):
    import torch

    X_train, X_test, y_train, y_test = (torch.as_tensor(np.asarray(a)) for a in data)
    net = torch_net()
    seconds = torch_fit(net, X_train, y_train, 0.003, batch_size, epochs)
    return seconds, torch_accuracy(net, X_test, y_test)


def floor(batch_size):
    products = []
    for index, (channels, filters, side) in enumerate(CONVOLUTIONS):
        rows, positions = channels * 9, side * side * batch_size
        products.append(((filters, rows), (rows, positions), False, False))
        for start in range(0, positions, POSITIONS_PER_BLOCK):
            block = min(POSITIONS_PER_BLOCK, positions - start)
            products.append(((rows, block), (block, filters), False, True))
        if index:
            products.append(((rows, filters), (filters, positions), True, False))
    channels, filters, side = CONVOLUTIONS[-1]
    products += dense_step_products(batch_size, (filters * (side // 2) ** 2, 10))
    products.append(((batch_size, 10), (10, filters * (side // 2) ** 2), False, True))  # ∂L/∂X, to the convolutions
    return floor_seconds(products, repeats=20)


def prediction(data, repeats):
    """predict_proba of a fitted CNNClassifier against PyTorch's no_grad inference."""
    X_train, X_test, y_train, _ = data
    model = quietly(lambda: neuronet_model(64, 1).fit(X_train, y_train))
    predictors = {"neuronet predict_proba": model.predict_proba}
    try:
        predictors["pytorch no_grad"] = torch_predictor(torch_net())
    except ImportError as error:
        print(f"skipping pytorch: {error}")
    compare_prediction(predictors, np.ascontiguousarray(X_test, dtype=np.float32), repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="BLAS (and PyTorch) threads; several: each in turn, and the speed-ups")
    parser.add_argument("--profile", action="store_true", help="where a fit's time goes, phase by phase")
    args = parser.parse_args()
    data = mnist_split(images=True)
    runners = {"neuronet": neuronet_run, "pytorch": torch_run}
    print("adam")
    compare_threads(lambda: compare(runners, data, args.batch_sizes, args.epochs, args.repeats, floor), args.threads)
    blas_threads(args.threads[0])  # prediction and the profile: on the first number of threads
    prediction(data, args.repeats)
    if args.profile:
        batch_size = args.batch_sizes[0]
        model = neuronet_model(batch_size, args.epochs, verbose="progress")
        profile_fit(lambda: quietly(lambda: model.fit(data[0], data[2])), steps_per_epoch(batch_size) * args.epochs,
                    floor(batch_size))


if __name__ == "__main__":
    main()
