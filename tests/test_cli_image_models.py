"""A model `neuronet train` makes from images, used from Python: a pipeline that reads the
data in the units its source stores them (digits 0–16, MNIST and photos 0–255), as flat
rows or as images, with the scaling recorded in the file."""

import gzip
import os

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import neuronet
from neuronet.datasets import mnist_5k_path
from neuronet.imagefolder import decode_image
from neuronet.persistence import load_described
from neuronet.preprocessing import ImageScaler
from command_line import private_cache, run  # noqa: F401 (a fixture)
from photos import make_photo_folder

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def trained(capsys, data, *flags):
    """(the model file, the test accuracy train printed) of a quiet run on ``data``."""
    code, out, err = run(capsys, "train", "--data", data, *flags, "--output", "model.npz", "--quiet")
    assert code == 0, err
    return "model.npz", float(out.split("test accuracy ")[1].split()[0])


def test_split(X, y):
    """The held-out rows train scores (its default seed and test size)."""
    return train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)[1::2]


test_split.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def digits_rows():
    """The test split of scikit-learn's digits as a user has them: 64 values of 0–16 a row."""
    return test_split(*load_digits(return_X_y=True))


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_a_digits_model_reads_the_raw_rows_and_images_a_user_has(model, digits_rows, capsys):
    path, accuracy = trained(capsys, "digits", "--model", model, "--epochs", 2)
    loaded = neuronet.load(path)
    X, y = digits_rows
    assert isinstance(loaded.steps[0][1], ImageScaler) and loaded.n_features_in_ == 64
    assert loaded.steps[-1][1].n_features_in_ == 64
    assert round(loaded.score(X, y), 4) == accuracy
    predicted = loaded.predict(X)
    np.testing.assert_array_equal(loaded.predict(X.reshape(-1, 1, 8, 8)), predicted)
    np.testing.assert_array_equal(loaded.predict(X.reshape(-1, 8, 8)), predicted)


def test_the_command_line_evaluates_a_digits_model_at_the_accuracy_train_printed(capsys):
    path, accuracy = trained(capsys, "digits", "--model", "mlp", "--epochs", 2)
    code, out, err = run(capsys, "evaluate", path, "digits")
    assert code == 0 and err == ""
    assert float(out.split("accuracy ")[1].split()[0]) == accuracy


@pytest.mark.parametrize("shape", [(5, 63), (5, 1, 8, 7), (5, 2, 8, 8), (5, 64, 1), (64,)])
def test_a_digits_model_refuses_another_shape_in_one_line_naming_the_one_it_reads(shape, capsys):
    path, _ = trained(capsys, "digits", "--model", "logistic", "--epochs", 2)
    with pytest.raises(ValueError) as refused:
        neuronet.load(path).predict(np.zeros(shape))
    message = str(refused.value)
    assert "\n" not in message and "the model reads 8×8 images of 1 channel" in message
    assert "rows of 64 values, or arrays of shape (n, 1, 8, 8) or (n, 8, 8)" in message


def test_a_digits_model_file_records_its_scaling_and_raw_range(capsys):
    path, _ = trained(capsys, "digits", "--model", "logistic", "--epochs", 2)
    model, _, expected = load_described(path)
    scaler = model.steps[0][1]
    assert scaler.image_shape == (1, 8, 8) and scaler.max_value == 16
    np.testing.assert_array_equal(scaler.scale_, np.full(64, 16.0))
    assert expected["range"] == [0.0, 16.0]


def test_an_mnist_model_reads_pixels_of_0_to_255(capsys):
    path, accuracy = trained(capsys, "mnist-5k", "--model", "mlp", "--hidden", 16, "--epochs", 1)
    with gzip.open(mnist_5k_path(), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    X, y = test_split(table[:, :-1], table[:, -1].astype(np.int64))
    loaded = neuronet.load(path)
    assert loaded.n_features_in_ == 784 and X.max() == 255
    assert round(loaded.score(X, y), 4) == accuracy
    np.testing.assert_array_equal(loaded.predict(X.reshape(-1, 1, 28, 28)), loaded.predict(X))


@pytest.mark.parametrize("model", ["logistic", "cnn"])
def test_a_photo_model_reads_the_pixels_of_its_photos_as_predict_does(model, capsys, tmp_path):
    make_photo_folder(tmp_path / "photos", per_class=12, extras=False)
    path, _ = trained(capsys, tmp_path / "photos", "--model", model, "--image-size", 16, "--epochs", 3)
    files = sorted(str(tmp_path / "photos" / kind / name) for kind in ("cat", "dog")
                   for name in os.listdir(tmp_path / "photos" / kind))
    pixels = np.stack([decode_image(file, (16, 16)) for file in files])  # uint8, (n, 3, 16, 16)
    loaded = neuronet.load(path)
    assert loaded.n_features_in_ == 3 * 16 * 16
    code, out, err = run(capsys, "predict", path, *files)
    assert code == 0, err
    said = [["cat", "dog"].index(line.split(": ")[1].split(" (")[0]) for line in out.splitlines()]
    assert loaded.predict(pixels).tolist() == said  # the model's classes are the class indices
    assert loaded.predict(pixels.reshape(len(files), -1)).tolist() == said
    with pytest.raises(ValueError, match=r"reads 16×16 images of 3 channels: rows of 768 values, or arrays of "
                                         r"shape \(n, 3, 16, 16\)$"):
        loaded.predict(pixels[:, :1])


def test_an_image_scaler_divides_by_the_largest_value_and_reads_images_or_rows():
    X = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    scaler = ImageScaler((3, 2, 2), max_value=23).fit(X)
    rows = scaler.transform(X)
    assert rows.shape == (2, 12) and rows.dtype == np.float32 and rows.max() == 1
    np.testing.assert_array_equal(scaler.transform(X.reshape(2, -1)), rows)
    np.testing.assert_allclose(scaler.inverse_transform(rows), X.reshape(2, -1), rtol=1e-6)
    with pytest.raises(ValueError, match=r"rows of 12 values, or arrays of shape \(n, 3, 2, 2\)$"):
        scaler.transform(X[:, 0])  # (n, H, W) is an image of one channel only


@pytest.mark.parametrize("image_shape", [(8, 8), (1, 0, 8), (1, 8.0, 8)])
def test_an_image_scaler_of_no_image_shape_is_refused_in_one_line(image_shape):
    with pytest.raises(ValueError, match="is not \\(channels, height, width\\), three positive integers"):
        ImageScaler(image_shape, max_value=16).fit(np.zeros((1, 64)))


def test_neuronet_export_of_a_digits_model_runs_on_the_raw_rows_in_onnx_runtime(digits_rows, capsys):
    runtime = pytest.importorskip("onnxruntime")
    path, _ = trained(capsys, "digits", "--model", "cnn", "--epochs", 1)
    code, out, err = run(capsys, "export", path, "model.onnx")
    assert code == 0, err
    assert "input   X                   float32 [batch, 64]" in out
    X, _ = digits_rows
    session = runtime.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(None, {"X": X.astype(np.float32)})
    loaded = neuronet.load(path)
    np.testing.assert_allclose(probabilities, loaded.predict_proba(X), atol=1e-5)
    assert np.mean(labels == loaded.predict(X)) > 0.99  # a label may hang on a float's last digits


@pytest.mark.parametrize("change, refusal", [
    ({"image_shape": (1, 8, 7)}, "image_shape (1, 8, 7) holds 56 values, not the 64 it was fitted for"),
    ({"max_value": -1.0}, "'max_value' parameter of ImageScaler must be a float in the range (0.0, inf)"),
])
def test_a_file_whose_image_scaler_does_not_fit_its_model_is_refused_in_one_line(change, refusal, capsys):
    path, _ = trained(capsys, "digits", "--model", "logistic", "--epochs", 2)
    model = neuronet.load(path)
    model.steps[0][1].set_params(**change)
    neuronet.save(model, "forged.npz")
    with pytest.raises(ValueError) as refused:
        neuronet.load("forged.npz")
    assert refusal in str(refused.value) and "\n" not in str(refused.value)
