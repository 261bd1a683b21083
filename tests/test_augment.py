"""Data augmentation: each training image changed at random, anew every epoch, the same
way for the same (seed, epoch, sample) whatever batch it is in; and a CNN that overfits a
small set of stand-in photos generalises better with it."""

import time

import numpy as np
import pytest
from sklearn.base import clone

import neuronet
from neuronet import CNNClassifier, nn
from neuronet.augment import OPERATIONS, Augmentation, as_augmentation
from neuronet.cli import make_parser
from neuronet.cli.train import build_estimator
from neuronet.report import _settings
from neuronet.training import Trainer
from command_line import private_cache, run  # noqa: F401 (a fixture)
from test_optimisation import CtrlC


def images(n=24, channels=3, size=12, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).random((n, channels, size, size)).astype(dtype)


# --- what one call does ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_sample_is_changed_alike_whatever_batch_order_or_split_it_is_in(dtype):
    x = images(40, dtype=dtype)
    augmentation = Augmentation(seed=3)
    whole = augmentation(x, np.arange(40), epoch=2)
    order = np.random.default_rng(1).permutation(40)
    for parts in (2, 3, 7, 40):  # batches of another size, in shuffled order, as MPI ranks share them
        for rows in np.array_split(order, parts):
            assert np.array_equal(augmentation(x[rows], rows, epoch=2), whole[rows])


def test_the_changes_depend_on_the_epoch_and_the_seed_and_repeat_for_the_same_ones():
    x = images()
    rows = np.arange(len(x))
    first = Augmentation(seed=0)(x, rows, 0)
    assert np.array_equal(first, Augmentation(seed=0)(x, rows, 0))
    for other in (Augmentation(seed=0)(x, rows, 1), Augmentation(seed=1)(x, rows, 0)):
        changed = ~np.all(np.isclose(other, first), axis=(1, 2, 3))
        assert changed.mean() > 0.9


def test_the_output_keeps_shape_and_dtype_stays_in_range_and_the_input_is_untouched():
    for dtype in (np.float32, np.float64):
        x = images(dtype=dtype)
        before = x.copy()
        out = Augmentation(crop=3, color=0.3, seed=0)(x, np.arange(len(x)), 5)
        assert out.shape == x.shape and out.dtype == dtype
        assert out.min() >= 0 and out.max() <= 1 and not np.shares_memory(out, x)
        assert np.array_equal(x, before)


def test_the_random_numbers_are_uniform_and_independent_across_samples_and_draws():
    draws = Augmentation(seed=7).uniforms(np.arange(50_000), epoch=0)
    assert draws.shape == (50_000, 5) and draws.min() >= 0 and draws.max() < 1
    np.testing.assert_allclose(draws.mean(axis=0), 0.5, atol=0.01)
    np.testing.assert_allclose(np.corrcoef(draws.T), np.eye(5), atol=0.02)


def test_flip_alone_mirrors_about_half_of_the_images_exactly():
    x = images(200)
    out = Augmentation(crop=0, flip=True, color=0, seed=0)(x, np.arange(200), 0)
    same = np.all(out == x, axis=(1, 2, 3))
    mirrored = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    assert np.all(same | mirrored) and 70 < mirrored.sum() < 130


def test_crop_alone_is_a_window_of_the_zero_padded_image_shifted_by_at_most_crop_pixels():
    x = images(200, size=10)
    pad = 2
    out = Augmentation(crop=pad, flip=False, color=0, seed=0)(x, np.arange(200), 0)
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    shifts = []
    for image, window in zip(padded, out):
        found = [(top, left) for top in range(2 * pad + 1) for left in range(2 * pad + 1)
                 if np.array_equal(image[:, top : top + 10, left : left + 10], window)]
        assert len(found) == 1
        shifts.append(found[0])
    assert len(set(shifts)) == (2 * pad + 1) ** 2  # every shift of −2 … 2 in both directions occurs


def test_color_alone_scales_around_the_mean_and_shifts_by_at_most_color():
    x = images(50, dtype=np.float64)
    amount = 0.2
    out = Augmentation(crop=0, flip=False, color=amount, value_range=None, seed=0)(x, np.arange(50), 0)
    mean_in, mean_out = x.mean(axis=(1, 2, 3)), out.mean(axis=(1, 2, 3))
    contrast = (out - mean_out[:, None, None, None]).std(axis=(1, 2, 3)) / x.std(axis=(1, 2, 3))
    brightness = mean_out - mean_in
    assert np.all(np.abs(contrast - 1) <= amount + 1e-12) and np.all(np.abs(brightness) <= amount + 1e-12)
    expected = (x - mean_in[:, None, None, None]) * contrast[:, None, None, None] + mean_out[:, None, None, None]
    np.testing.assert_allclose(out, expected, atol=1e-12)
    assert contrast.std() > 0.05 and brightness.std() > 0.05
    clipped = Augmentation(crop=0, flip=False, color=amount, seed=0)(x, np.arange(50), 0)
    np.testing.assert_array_equal(clipped, np.clip(out, 0, 1))


def test_no_change_named_leaves_the_images_as_they_are():
    x = images()
    assert np.array_equal(Augmentation(crop=0, flip=False, color=0, seed=0)(x, np.arange(len(x)), 3), x)


def test_what_a_call_takes_is_checked():
    x = images(4)
    with pytest.raises(ValueError, match="no seed: give it one with with_seed"):
        Augmentation()(x, np.arange(4), 0)
    with pytest.raises(ValueError, match=r"images \(n, channels, height, width\)"):
        Augmentation(seed=0)(x.reshape(4, -1), np.arange(4), 0)
    with pytest.raises(ValueError, match="row numbers"):
        Augmentation(seed=0)(x, np.arange(3), 0)


# --- naming it -------------------------------------------------------------------------

def test_names_turn_the_changes_on_at_their_default_strength_and_leave_the_others_off():
    assert Augmentation.parse("crop,flip,color") == Augmentation()
    assert Augmentation.parse(["flip"]) == Augmentation(crop=0, flip=True, color=0)
    assert Augmentation.parse("crop=8, color=0.25") == Augmentation(crop=8, flip=False, color=0.25)
    assert as_augmentation(None) is None
    assert as_augmentation("crop") == as_augmentation(["crop"]) == as_augmentation(("crop",))
    seeded = Augmentation(crop=2, seed=9)
    assert as_augmentation(seeded) is seeded and as_augmentation(seeded.get_config()) == seeded


@pytest.mark.parametrize("given", ["crop,rotate", ["flip", "zoom"], "", "crop=big", "flip=2", {"crop": 2, "rot": 1},
                                   3])
def test_an_unknown_change_is_refused_in_one_line_that_lists_the_known_ones(given):
    with pytest.raises(ValueError) as refusal:
        as_augmentation(given)
    message = str(refusal.value)
    assert "\n" not in message and ("crop" in message and ("flip" in message or "color" in message))


def test_strengths_out_of_range_are_refused():
    for settings in ({"crop": -1}, {"color": 1.5}, {"flip": "yes"}, {"seed": -2}, {"value_range": (1, 0)}):
        with pytest.raises(ValueError):
            Augmentation(**settings)


def test_its_config_is_json_its_description_says_what_it_does_and_with_seed_seeds_a_copy():
    import json

    augmentation = Augmentation.parse("crop,flip,color")
    assert json.loads(json.dumps(augmentation.get_config())) == augmentation.get_config()
    assert augmentation.describe() == "random crop after 4-pixel padding, horizontal flip, brightness and contrast ±0.1"
    assert Augmentation.parse("flip").describe() == "horizontal flip"
    seeded = augmentation.with_seed(5)
    assert seeded.seed == 5 and augmentation.seed is None and seeded.get_config()["seed"] == 5
    assert set(OPERATIONS) == {"crop", "flip", "color"}


# --- in CNNClassifier ------------------------------------------------------------------

def digits(n=120):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:n] / 16).reshape(n, 1, 8, 8), y[:n]


def small_cnn(**params):
    return CNNClassifier(conv_filters=(4,), max_iter=2, random_state=0, **params)


def test_cnn_augment_is_a_parameter_that_clone_get_params_and_set_params_keep():
    augmentation = Augmentation(crop=2, seed=1)
    model = small_cnn(augment=augmentation)
    assert model.get_params()["augment"] is augmentation
    assert clone(model).get_params()["augment"] == augmentation
    assert model.set_params(augment="flip").augment == "flip"
    assert CNNClassifier().augment is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cnn_augment_changes_training_reproducibly_and_leaves_prediction_alone():
    X, y = digits()
    plain = small_cnn().fit(X, y)
    augmented = small_cnn(augment="crop=1,flip,color").fit(X, y)
    again = small_cnn(augment="crop=1,flip,color").fit(X, y)
    weights = [m.network_.get_weights() for m in (plain, augmented, again)]
    assert not all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert all(np.array_equal(weights[1][k], weights[2][k]) for k in weights[1])
    assert np.array_equal(augmented.predict_proba(X), augmented.predict_proba(X[::-1])[::-1])  # no randomness


def test_cnn_refuses_an_unknown_change_before_training():
    X, y = digits(20)
    with pytest.raises(ValueError, match="unknown augmentation 'spin'; choose among crop, flip, color"):
        small_cnn(augment="crop,spin").fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("augment", ["crop,flip", ["crop", "color"], Augmentation(crop=2, seed=5)])
def test_a_saved_cnn_keeps_its_augmentation(tmp_path, augment):
    X, y = digits(60)
    model = small_cnn(augment=augment).fit(X, y)
    neuronet.save(model, tmp_path / "model.npz")
    loaded = neuronet.load(tmp_path / "model.npz")
    assert as_augmentation(loaded.augment) == as_augmentation(augment)
    assert np.array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_report_says_how_the_training_images_were_changed():
    X, y = digits(40)
    assert "Training images augmented: horizontal flip." in _settings(small_cnn(augment="flip"))
    assert "augmented" not in _settings(small_cnn())


# --- on the command line -------------------------------------------------------------------

def built(*argv):
    return build_estimator(make_parser().parse_args(["train", *argv]), neuronet.datasets.load("digits"))


def test_the_augment_flag_sets_cnn_augment_and_alone_names_every_change():
    assert built("--model", "cnn", "--augment", "crop,flip").augment == "crop,flip"
    assert built("--model", "cnn", "--augment").augment == "crop,flip,color"
    assert built("--model", "cnn").augment is None


def test_the_augment_flag_is_refused_for_other_models_and_unknown_changes(capsys):
    code, _, err = run(capsys, "train", "--data", "digits", "--model", "mlp", "--augment")
    assert code == 2 and "--augment applies to --model cnn" in err
    with pytest.raises(SystemExit):
        make_parser().parse_args(["train", "--model", "cnn", "--augment", "crop,spin"])
    assert "unknown augmentation 'spin'; choose among crop, flip, color" in capsys.readouterr().err


# --- what it is for: a CNN that overfits a few photos ------------------------------------------

def stand_in_photos(n, rng, size=20):
    """Colour photos of three kinds of thing — a ring, a cross, a filled square — of random
    size and colour, at a random place, over a noisy background of random tint: what a
    photo shows does not depend on where it is or on a mirror."""
    labels = rng.integers(0, 3, n)
    yy, xx = np.mgrid[0:size, 0:size]
    photos = np.empty((n, 3, size, size), dtype=np.float32)
    for i, label in enumerate(labels):
        radius = rng.uniform(3, 5)
        dy, dx = yy - rng.uniform(radius + 1, size - radius - 1), xx - rng.uniform(radius + 1, size - radius - 1)
        shape = [np.abs(np.hypot(dy, dx) - radius) < 1,
                 ((np.abs(dy) < 1) & (np.abs(dx) < radius)) | ((np.abs(dx) < 1) & (np.abs(dy) < radius)),
                 (np.abs(dy) < 0.75 * radius) & (np.abs(dx) < 0.75 * radius)][label]
        background = rng.uniform(0.2, 0.5, (3, 1, 1)) + rng.normal(0, 0.08, (3, size, size))
        photos[i] = np.where(shape, rng.uniform(0.6, 1.0, (3, 1, 1)), background)
    return np.clip(photos, 0, 1), labels


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_augmentation_lifts_the_test_accuracy_of_a_cnn_that_overfits_a_few_photos():
    rng = np.random.default_rng(0)
    X_train, y_train = stand_in_photos(90, rng)  # 30 photos of each kind
    X_test, y_test = stand_in_photos(600, rng)
    started = time.perf_counter()
    scores = {}
    for augment in (None, "crop,flip,color"):
        model = CNNClassifier(conv_filters=(8, 16), batch_size=16, max_iter=150, n_iter_no_change=150,
                              augment=augment, random_state=0).fit(X_train, y_train)
        scores[augment] = (model.score(X_train, y_train), model.score(X_test, y_test))
    seconds = time.perf_counter() - started
    (train, test), (_, augmented_test) = scores[None], scores["crop,flip,color"]
    assert train == 1.0 and test < 0.8  # without augmentation: every training photo learned, ~30 % of new ones wrong
    assert augmented_test > 0.95 and augmented_test > test + 0.15
    assert seconds < 30


# --- in the training loop ----------------------------------------------------------------------

def conv_net():
    return nn.Sequential([nn.Conv2D(4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Dense(10), nn.Softmax()],
                         input_shape=(1, 8, 8), random_state=0)


class Recording(Augmentation):
    """An Augmentation that remembers which rows it changed, epoch by epoch."""

    def __call__(self, x, indices, epoch):
        self.__dict__.setdefault("seen", []).append((epoch, np.array(indices)))
        return super().__call__(x, indices, epoch)


@pytest.mark.parametrize("shuffle", [True, False])
def test_the_loop_changes_every_training_sample_once_an_epoch_by_its_row(shuffle):
    X, y = digits(50)
    augmentation = Recording(crop=1, seed=0)
    nn.fit(conv_net(), X, y, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=2, batch_size=16,
           shuffle=shuffle, random_state=0, augment=augmentation)
    seen = augmentation.seen
    for epoch in (0, 1):
        rows = np.concatenate([rows for e, rows in seen if e == epoch])
        assert np.array_equal(np.sort(rows), np.arange(50)) and rows.dtype.kind == "i"


def test_an_unseeded_augmentation_takes_the_runs_seed_and_is_recorded_in_its_settings():
    trainer = Trainer(conv_net(), nn.CrossEntropy(), nn.Adam(0.01), epochs=1, batch_size=8, random_state=4,
                         augment=Augmentation.parse("flip"))
    assert trainer.augment.seed == 4 and trainer.settings()["augment"]["seed"] == 4
    assert "augment" not in Trainer(conv_net(), nn.CrossEntropy(), nn.Adam(0.01), epochs=1, batch_size=8).settings()


def test_a_run_resumed_mid_epoch_sees_the_same_augmented_images_and_ends_with_the_same_weights(tmp_path):
    X, y = digits(60)

    def train(network, callbacks):
        return nn.fit(network, X, y, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=3, batch_size=16,
                      random_state=0, augment=Augmentation(crop=2, color=0.2), callbacks=callbacks)

    straight = conv_net()
    train(straight, [])
    path = tmp_path / "run.ckpt"
    with pytest.raises(nn.TrainingInterrupted):
        train(conv_net(), [CtrlC(1, 1), nn.Checkpoint(path, resume=True)])
    resumed = conv_net()
    train(resumed, [nn.Checkpoint(path, resume=True)])
    for key, value in straight.get_weights().items():
        assert np.array_equal(resumed.get_weights()[key], value)


def test_the_docstring_examples_hold():
    import doctest

    from neuronet import augment

    failed, attempted = doctest.testmod(augment)
    assert attempted > 0 and failed == 0
