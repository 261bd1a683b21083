"""A training run used by the kill test: the same in a child process and in the test."""

import sys

from threadpoolctl import threadpool_limits

from neuronet import MLPClassifier, datasets

SETTINGS = dict(hidden_layer_sizes=(64, 32), dropout=0.1, max_iter=20, batch_size=32, tol=0, random_state=7)


def data():
    digits = datasets.load("digits")
    return digits.flat, digits.y


def train(checkpoint=None, resume=False):
    with threadpool_limits(1):
        X, y = data()
        return MLPClassifier(**SETTINGS).fit(X, y, checkpoint=checkpoint, resume=resume, checkpoint_every=5)


if __name__ == "__main__":
    train(sys.argv[1])
