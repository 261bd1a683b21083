"""CNNClassifier() with no settings wins on small images: enough filters, and a training
length set by the data (the MLP's convergence criterion) rather than a fixed count of epochs.
benchmarks/cnn_defaults.py holds the bars on other splits and on MNIST-5k."""

import pytest

from neuronet import CNNClassifier, nn


@pytest.fixture(scope="module")
def default_cnn_on_digits(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    return CNNClassifier(random_state=0).fit(X_train, y_train), X_test, y_test


def test_the_default_cnn_reads_held_out_digits_to_98_percent(default_cnn_on_digits):
    clf, X_test, y_test = default_cnn_on_digits
    assert clf.score(X_test, y_test) >= 0.98


def test_the_default_cnn_stops_once_the_training_loss_settles_before_max_iter(default_cnn_on_digits):
    clf, _, _ = default_cnn_on_digits
    curve = clf.loss_curve_
    assert clf.n_iter_ == len(curve) < clf.max_iter
    # each of the last n_iter_no_change + 1 epochs improved on the best loss before it by less than tol
    last = range(len(curve) - clf.n_iter_no_change - 1, len(curve))
    assert all(curve[epoch] > min(curve[:epoch]) - clf.tol for epoch in last)


def test_the_default_cnn_halves_the_image_three_times_with_16_32_and_64_filters(default_cnn_on_digits):
    clf, _, _ = default_cnn_on_digits
    assert [layer.filters for layer in clf.network_.layers if isinstance(layer, nn.Conv2D)] == [16, 32, 64]
    assert clf.coefs_[0].shape == (64 * 1 * 1, 10)  # 8×8 → 4 → 2 → 1: one value per filter reaches the output
