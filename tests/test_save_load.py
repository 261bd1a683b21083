"""A saved model is one file that loads without executing code and predicts the same."""

import json
import os

import numpy as np
import pytest

import neuronet
from neuronet import LogisticRegression, MLPClassifier, ModelFileError, nn
from neuronet.files import load_file, save_file

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def fitted(breast_cancer_split):
    X_train, X_test, y_train, _ = breast_cancer_split
    names = np.array(["benign", "malignant"])[y_train]
    return MLPClassifier((16, 8), max_iter=20, random_state=0).fit(X_train, names), X_test


@pytest.fixture
def model_path(fitted, tmp_path):
    """The fitted model's file, for tests that damage it."""
    path = tmp_path / "m.npz"
    neuronet.save(fitted[0], path)
    return path


@pytest.mark.parametrize("make", [
    lambda X, y: LogisticRegression(max_iter=50, random_state=0).fit(X, y),
    lambda X, y: LogisticRegression(solver="newton", dtype="float64").fit(X, y),
    lambda X, y: MLPClassifier((8,), activation="tanh", dropout=0.1, max_iter=5, random_state=0).fit(X, y),
], ids=["logistic-gd", "logistic-newton", "mlp"])
def test_estimator_round_trip_predicts_bit_identically(make, breast_cancer_split, tmp_path):
    X_train, X_test, y_train, _ = breast_cancer_split
    model = make(X_train, y_train)
    neuronet.save(model, tmp_path / "model.npz")
    loaded = neuronet.load(tmp_path / "model.npz")
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
    np.testing.assert_array_equal(loaded.predict(X_test), model.predict(X_test))
    assert loaded.loss_curve_ == model.loss_curve_ and loaded.n_iter_ == model.n_iter_


def test_string_classes_and_history_survive(fitted, tmp_path):
    model, X_test = fitted
    neuronet.save(model, tmp_path / "m.npz")
    loaded = neuronet.load(tmp_path / "m.npz")
    assert list(loaded.classes_) == ["benign", "malignant"]
    assert loaded.history_.history == model.history_.history
    np.testing.assert_array_equal(loaded.predict(X_test), model.predict(X_test))


def test_network_round_trip(tmp_path):
    net = nn.Sequential([nn.Dense(5), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Dense(3), nn.Softmax()],
                        input_shape=(4,), random_state=0)
    neuronet.save(net, tmp_path / "net.npz")
    loaded = neuronet.load(tmp_path / "net.npz")
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    assert loaded.get_config() == net.get_config()


def test_the_file_is_plain_arrays_with_json_metadata(fitted, tmp_path):
    model, _ = fitted
    neuronet.save(model, tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])  # a JSON header, then raw numbers
    assert header["__metadata__"]["format"] == "neuronet" and header["__metadata__"]["format_version"] == "2"
    tree = json.loads(header["__metadata__"]["meta"])["tree"]
    assert tree["kind"] == "estimator" and tree["estimator"]["class"] == "MLPClassifier"
    assert [layer["class"] for layer in tree["network"]["config"]["layers"]] == [
        "Dense", "ReLU", "Dense", "ReLU", "Dense", "Sigmoid"]
    assert {entry["dtype"] for name, entry in header.items() if name != "__metadata__"} <= {"F32", "F64", "I64", "U8"}


def test_saving_is_atomic_and_leaves_no_temporary_files(fitted, tmp_path):
    model, _ = fitted
    path = tmp_path / "m.npz"
    path.write_bytes(b"previous")
    stale = tmp_path / ".m.npz.abc123.tmp"
    stale.write_bytes(b"left by a crash")
    neuronet.save(model, path)
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_truncated_file_gives_a_clear_error(model_path):
    data = model_path.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 5):
        model_path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="too short|claims a .*-byte header|ended after|describes"):
            neuronet.load(model_path)


def test_tampered_weights_are_detected(model_path):
    data = bytearray(model_path.read_bytes())
    data[-3] ^= 0x40  # one bit of the last array
    model_path.write_bytes(data)
    with pytest.raises(ModelFileError, match="damaged or altered"):
        neuronet.load(model_path)


def test_shapes_that_do_not_match_the_architecture_are_refused(model_path):
    meta, arrays = load_file(model_path)
    arrays["network/weights/0/weights"] = arrays["network/weights/0/weights"][:, :3]
    save_file(model_path, meta, arrays)  # consistent checksum, wrong shape
    with pytest.raises(ModelFileError, match="shape"):
        neuronet.load(model_path)


def test_a_pickled_object_array_is_refused_without_running_it(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array([{"format": "neuronet"}], dtype=object))
    with pytest.raises(ModelFileError):
        neuronet.load(path)


def test_other_files_are_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    np.savez(tmp_path / "plain.npz", x=np.arange(3))
    with pytest.raises(ModelFileError, match="no file"):
        neuronet.load(tmp_path / "missing.npz")
    with pytest.raises(ModelFileError, match="too short|claims a .*-byte header"):
        neuronet.load(tmp_path / "notes.txt")
    with pytest.raises(ModelFileError, match="not a neuronet file"):
        neuronet.load(tmp_path / "plain.npz")


def test_unfitted_models_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="fit the MLPClassifier"):
        neuronet.save(MLPClassifier(), tmp_path / "m.npz")
