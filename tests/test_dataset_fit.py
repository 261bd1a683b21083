"""fit on a dataset object (len, dataset[indices] -> (X, y), targets) instead of arrays:
the same weights as the arrays give, exact resumes mid-epoch, and clear refusals."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from neuronet import CNNClassifier, LogisticRegression, MLPClassifier, MLPRegressor, nn
from neuronet.data import CHUNK_ROWS, ArrayDataset, LazyRows, Subset, chunks, spread_rows
from neuronet.datasets import load
from neuronet.training import TrainingInterrupted
from test_optimisation import CtrlC


class Samples:
    """A dataset object as a user writes one: arrays behind ``__getitem__``, and every
    read counted (an image folder reads its cache so)."""

    def __init__(self, X, y):
        self.X, self.targets, self.rows_read = X, np.asarray(y), 0

    def __len__(self):
        return len(self.X)

    def __getitem__(self, indices):
        self.rows_read += len(np.atleast_1d(indices))
        return self.X[indices], self.targets[indices]


@pytest.fixture(scope="module")
def digits():
    data = load("digits")
    return data.X, data.y


def same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return wa.keys() == wb.keys() and all(np.array_equal(wa[key], wb[key]) for key in wa)


def fitted_both_ways(make, X, y, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make().fit(X, y, **options), make().fit(Samples(X, y), **options)


@pytest.mark.parametrize("make", [
    lambda: CNNClassifier(image_shape=(1, 8, 8), conv_filters=(4, 8), max_iter=2, random_state=0),
    lambda: CNNClassifier(image_shape=(1, 8, 8), conv_filters=(4,), batch_norm=True, residual=True, max_iter=2,
                          random_state=1, augment="crop,flip,color"),
    lambda: CNNClassifier(image_shape=(1, 8, 8), conv_filters=(4,), max_iter=4, early_stopping=True, random_state=0),
    lambda: MLPClassifier((16,), max_iter=3, random_state=0, dtype="float32"),
    lambda: MLPClassifier((16,), solver="sgd", max_iter=3, random_state=np.random.RandomState(2), dtype="float64"),
], ids=["cnn", "cnn-batchnorm-residual-augmented", "cnn-early-stopping", "mlp-adam", "mlp-sgd-randomstate"])
def test_an_estimator_fitted_on_a_dataset_has_the_weights_of_the_same_arrays(digits, make):
    X, y = digits
    X = X if isinstance(make(), CNNClassifier) else X.reshape(len(X), -1)
    on_arrays, on_dataset = fitted_both_ways(make, X, y)
    assert same_weights(on_arrays.network_, on_dataset.network_)
    assert on_arrays.n_iter_ == on_dataset.n_iter_ and on_arrays.loss_curve_ == on_dataset.loss_curve_
    np.testing.assert_array_equal(on_arrays._input_range, on_dataset._input_range)
    assert on_dataset.n_features_in_ == on_arrays.n_features_in_ and list(on_dataset.classes_) == list(range(10))
    np.testing.assert_array_equal(on_arrays.predict_proba(X), on_dataset.predict_proba(X))


def test_logistic_regression_on_more_samples_than_a_chunk_sums_its_gradient_chunk_by_chunk_alike(digits):
    X, y = digits
    X = X.reshape(len(X), -1)
    assert len(X) > CHUNK_ROWS  # the full batch is computed in two chunks, arrays and dataset alike
    labels = np.array(list("abcdefghij"))[y]
    on_arrays, on_dataset = fitted_both_ways(lambda: LogisticRegression(max_iter=40), X, labels)
    np.testing.assert_array_equal(on_arrays.coef_, on_dataset.coef_)
    np.testing.assert_array_equal(on_arrays.intercept_, on_dataset.intercept_)
    assert on_arrays.loss_curve_ == on_dataset.loss_curve_ and list(on_dataset.classes_) == list("abcdefghij")


def test_the_gradient_summed_over_chunks_is_the_gradient_of_the_whole_batch(digits):
    X, y = digits
    X = X.reshape(len(X), -1).astype(np.float64)
    weights = np.random.default_rng(0).uniform(0.5, 2, len(X))

    def one_step(accumulate):
        net = nn.Sequential([nn.Dense(10), nn.Softmax()], dtype="float64", random_state=0)
        history = nn.fit(net, X, y, loss=nn.CrossEntropy(), optimizer=nn.SGD(0.5), epochs=1, batch_size=len(X),
                         shuffle=False, sample_weight=weights, penalty=nn.L2(0.01), accumulate_gradients=accumulate,
                         measure_after_step=False)
        return net.flat_parameters()[0].copy(), history.history["loss"][0]

    (chunked, chunked_cost), (whole, whole_cost) = one_step(True), one_step(False)
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-14)
    assert chunked_cost == pytest.approx(whole_cost, rel=1e-13)


def test_nn_fit_on_a_dataset_reads_each_minibatch_and_equals_the_arrays(digits):
    X, y = digits
    labels = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y]

    def run(*data, **options):
        net = nn.Sequential([nn.Conv2D(4, 3), nn.ReLU(), nn.Flatten(), nn.Dense(10), nn.Softmax()],
                            input_shape=(1, 8, 8), random_state=0)
        history = nn.fit(net, *data, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=2, batch_size=64,
                         random_state=0, validation_split=0.2, **options)
        return net, history

    samples = Samples(X, labels)
    (on_arrays, history), (on_dataset, streamed) = run(X, labels), run(samples)
    assert same_weights(on_arrays, on_dataset)
    assert history.history == streamed.history and list(streamed.classes) == sorted(set(labels))
    # 1 sample to build, 2 epochs of the 80 % trained on, 2 of the 20 % scored: no other read
    assert samples.rows_read == 1 + 2 * len(X)


def test_a_run_on_a_dataset_resumes_mid_epoch_exactly(digits, tmp_path):
    X, y = digits
    path = tmp_path / "run.ckpt"

    def run(callbacks):
        net = nn.Sequential([nn.Conv2D(4, 3), nn.ReLU(), nn.Flatten(), nn.Dense(10), nn.Softmax()],
                            input_shape=(1, 8, 8), random_state=0)
        nn.fit(net, Samples(X, y), loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=3, batch_size=64,
               random_state=0, callbacks=callbacks, augment=nn.Augmentation(seed=5))
        return net

    straight = run([])
    with pytest.raises(TrainingInterrupted):
        run([CtrlC(1, 10), nn.Checkpoint(path, every=4, resume=True)])  # mid-epoch 2, at its 11th minibatch
    assert same_weights(run([nn.Checkpoint(path, resume=True)]), straight)


def test_subsets_and_lazy_rows_read_only_what_is_asked(digits):
    X, y = digits
    samples = Samples(X, y)
    part = Subset(samples, np.arange(10, 20))
    x, labels = part[np.array([0, 9])]
    np.testing.assert_array_equal(x, X[[10, 19]])
    np.testing.assert_array_equal(labels, y[[10, 19]])
    np.testing.assert_array_equal(part.targets, y[10:20])
    assert samples.rows_read == 2
    rows = LazyRows(X, np.arange(100, 0, -1))
    assert rows.shape == (100, 1, 8, 8) and len(rows) == 100
    np.testing.assert_array_equal(rows[:3], X[[100, 99, 98]])
    assert [(c.start, c.stop) for c in chunks(2500)] == [(0, 1024), (1024, 2048), (2048, 2500)]
    assert CHUNK_ROWS % 8 == 0
    np.testing.assert_array_equal(spread_rows(5), np.arange(5))
    assert len(spread_rows(10**6)) == CHUNK_ROWS


@pytest.mark.parametrize("fit, message", [
    (lambda data: MLPClassifier().fit(data, data.targets), "a dataset alone"),
    (lambda data: MLPClassifier(solver="lbfgs").fit(data), "L-BFGS takes the whole training set"),
    (lambda data: MLPClassifier().partial_fit(data, None, classes=range(10)), "partial_fit takes one minibatch"),
    (lambda data: LogisticRegression(solver="newton").fit(data), "Newton's method takes the whole training set"),
    (lambda data: LogisticRegression().fit(Samples(data.X, np.zeros(len(data.X)))), "at least 2 classes"),
    (lambda data: CNNClassifier().fit(Samples(data.X[:0], data.targets[:0])), "has no samples"),
    (lambda data: MLPRegressor().fit(Samples(data.X, data.targets[:5])), "5 targets"),
])
def test_a_dataset_that_cannot_be_trained_on_so_is_refused_in_one_line(digits, fit, message):
    X, y = digits
    with pytest.raises(ValueError, match=message) as refused:
        fit(Samples(X.reshape(len(X), -1), y))
    assert "\n" not in str(refused.value)


def test_a_dataset_holding_nan_is_refused_naming_its_samples(digits):
    X, y = digits
    X = X.copy()
    X[[3, 1500]] = np.nan
    with pytest.raises(ValueError, match=r"samples 3, 1500 of the dataset hold NaN or infinity"):
        CNNClassifier(max_iter=1).fit(Samples(X, y))


def test_array_dataset_is_the_arrays(digits):
    X, y = digits
    data = ArrayDataset(X, y)
    assert len(data) == len(X) and data.sample_shape == (1, 8, 8)
    with pytest.raises(ValueError, match="as many targets as samples"):
        ArrayDataset(X, y[:3])


def test_steps_per_epoch_ends_each_epoch_after_that_many_minibatches_of_a_new_shuffle(digits, tmp_path):
    X, y = digits
    samples = Samples(X, y)
    model = CNNClassifier(conv_filters=(4,), steps_per_epoch=5, batch_size=16, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(samples)
    assert model.n_iter_ == 3 and model.t_ == 3 * 5 * 16 and len(model.loss_curve_) == 3
    # the scan reads every sample once (and the first again); training 3 epochs × 5 minibatches × 16 (and 1
    # sample to build); the diagnosis of the fitted network the samples spread over the set
    assert samples.rows_read == len(X) + 1 + 3 * 5 * 16 + 1 + len(spread_rows(len(X)))
    path = tmp_path / "run.ckpt"

    def run(callbacks):
        net = nn.Sequential([nn.Flatten(), nn.Dense(10), nn.Softmax()], input_shape=(1, 8, 8), random_state=0)
        nn.fit(net, X, y, loss=nn.CrossEntropy(), optimizer=nn.SGD(0.1), epochs=4, batch_size=32, steps_per_epoch=7,
               random_state=0, callbacks=callbacks)
        return net

    straight = run([])
    with pytest.raises(TrainingInterrupted):
        run([CtrlC(2, 3), nn.Checkpoint(path, every=2, resume=True)])
    assert same_weights(run([nn.Checkpoint(path, resume=True)]), straight)
    with pytest.raises(ValueError, match="it needs shuffle=True"):
        nn.fit(nn.Sequential([nn.Dense(10), nn.Softmax()]), X.reshape(len(X), -1), y, loss=nn.CrossEntropy(),
               optimizer=nn.SGD(0.1), shuffle=False, steps_per_epoch=3)


def test_the_command_line_trains_a_cnn_for_steps_per_epoch_minibatches_an_epoch(tmp_path, capsys):
    from neuronet.cli import main

    model = tmp_path / "model.npz"
    assert main(["train", "--data", "digits", "--model", "cnn", "--steps-per-epoch", "4", "--epochs", "2", "--quiet",
                 "--output", str(model)]) == 0
    assert "minibatches of 32, 4 an epoch drawn from a new shuffle" in capsys.readouterr().out
    from neuronet import load

    cnn = load(model)[-1]  # after the scaling the pipeline saved with it
    assert cnn.steps_per_epoch == 4 and cnn.t_ == 2 * 4 * 32
    assert main(["train", "--data", "digits", "--model", "mlp", "--steps-per-epoch", "4"]) == 2
    assert "--steps-per-epoch applies to --model cnn" in capsys.readouterr().err


def test_the_readmes_image_folder_example_trains_from_the_cache(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    from photos import make_photo_folder

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    example, = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "ImageFolder(" in block]
    make_photo_folder(tmp_path / "dogs-vs-cats" / "train", per_class=24, extras=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEURONET_CACHE", str(tmp_path / "cache"))
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        exec(example.replace("random_state=0)", "random_state=0, max_iter=3)"), namespace)
    photos, model = namespace["photos"], namespace["model"]
    assert type(photos.images).__name__ == "CachedImages" and len(photos) == 48
    assert model.n_iter_ == 3 and model.classes_.tolist() == [0, 1]
    assert model.get_params()["augment"] == "crop,flip,color"


def test_colour_augmentation_keeps_images_outside_the_unit_range_within_their_own(digits):
    X, y = digits
    raw = X * 255  # pixels as the files store them
    model = CNNClassifier(conv_filters=(4,), max_iter=1, augment="color", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(raw, y)
    augmentation = model._augmentation()
    assert augmentation.value_range == (0.0, 255.0)
    changed = augmentation.with_seed(0)(raw[:64], np.arange(64), 0)
    assert changed.max() > 200 and changed.min() >= 0  # not clipped to [0, 1]
    assert np.abs(changed - raw[:64]).mean() < 0.2 * 255


def test_a_lazy_array_of_rows_reads_as_an_array_of_rows():
    from neuronet.data import flat_rows

    images = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    rows = flat_rows(LazyRows(images, [1, 0]))
    assert np.asarray(rows).shape == (2, 48) and rows[0].shape == (48,)
    np.testing.assert_array_equal(np.asarray(rows), images[[1, 0]].reshape(2, -1))


def test_resuming_on_changed_data_is_refused_also_for_part_of_a_dataset(digits, tmp_path):
    X, y = digits
    X = X.reshape(len(X), -1).copy()
    path = tmp_path / "run.ckpt"

    def run(samples):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            MLPClassifier((8,), max_iter=2, random_state=0, early_stopping=True).fit(
                samples, checkpoint=path, resume=True)

    run(Samples(X, y))
    X[:, 3] += 5  # the same targets, other inputs
    with pytest.raises(ValueError, match="it was made on different data"):
        run(Samples(X, y))


def test_a_dataset_that_gives_fewer_samples_than_asked_is_refused_in_one_line(digits):
    X, y = digits

    class Short(Samples):
        def __getitem__(self, indices):
            return self.X[indices][:-1], self.targets[indices][:-1]

    with pytest.raises(ValueError, match=r"Short\[indices\] gave 0 samples and 0 targets for 1 indices"):
        CNNClassifier(max_iter=1).fit(Short(X, y))


def test_a_one_epoch_run_is_told_in_the_command_lines_words(tmp_path, capsys):
    from neuronet.cli import main

    assert main(["train", "--data", "digits", "--model", "cnn", "--epochs", "1", "--steps-per-epoch", "5", "--quiet",
                 "--output", str(tmp_path / "one.npz")]) == 0
    err = capsys.readouterr().err
    assert "warning: training reached --epochs 1 before the cost settled" in err and "Stochastic Optimizer" not in err
