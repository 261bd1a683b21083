"""A saved model is one file that loads without executing code and predicts the same."""

import json
import os
import warnings

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
    assert loaded.n_iter_ == model.n_iter_
    if model.n_iter_ <= 200:  # kept exactly; a longer curve is kept as 200 of its steps (see below)
        assert loaded.loss_curve_ == model.loss_curve_
    else:
        assert len(loaded.loss_curve_) == 200 and loaded.loss_curve_[-1] == pytest.approx(model.loss_curve_[-1])


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
    assert {entry["dtype"] for name, entry in header.items() if name != "__metadata__"} <= {"F32", "F64", "I32", "I64", "U8"}


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


# --- files of format version 1 -----------------------------------------------------
DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.fixture(scope="module")
def expected_v1():
    with np.load(os.path.join(DATA, "legacy-v1-expected.npz")) as data:
        return dict(data)


def test_a_version_1_command_line_model_loads_as_a_pipeline_that_standardizes_raw_features(expected_v1):
    from sklearn.datasets import load_breast_cancer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model, extra = neuronet.load(os.path.join(DATA, "legacy-v1-mlp.npz"), with_extra=True)
    assert isinstance(model, Pipeline) and isinstance(model[0], StandardScaler) and isinstance(model[-1], MLPClassifier)
    assert extra["dataset"] == "breast-cancer" and extra["class_names"] == ["malignant", "benign"]
    X = load_breast_cancer().data[:20].astype(np.float32)
    np.testing.assert_allclose(model.predict_proba(X), expected_v1["mlp_proba"], atol=1e-6)
    assert model[-1].history_.step == "epoch" and model[-1].n_iter_ == len(model[-1].loss_curve_) == 3


def test_version_1_estimators_and_networks_load_and_predict_as_they_did(expected_v1):
    from sklearn.datasets import load_breast_cancer, load_digits

    X, y = load_breast_cancer(return_X_y=True)
    logistic = neuronet.load(os.path.join(DATA, "legacy-v1-logistic.npz"))
    assert list(logistic.classes_) == ["benign", "malignant"] and logistic.history_.step == "iteration"
    np.testing.assert_allclose(logistic.predict_proba((X - X.mean(0)) / X.std(0))[:20], expected_v1["logistic_proba"],
                               atol=1e-6)
    network = neuronet.load(os.path.join(DATA, "legacy-v1-network.npz"))
    np.testing.assert_allclose(network.forward(np.linspace(-1, 1, 12).reshape(4, 3).astype(np.float32)),
                               expected_v1["network_out"], atol=1e-6)
    cnn, extra = neuronet.load(os.path.join(DATA, "legacy-v1-cnn.npz"), with_extra=True)
    assert extra["image_shape"] == [1, 8, 8]
    images = (load_digits().images[:20] / 16.0).astype(np.float32)[:, None]
    np.testing.assert_allclose(cnn.predict_proba(images), expected_v1["cnn_proba"], atol=1e-6)


def test_a_version_1_checkpoint_is_refused_with_a_one_line_reason(tmp_path):
    import shutil

    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    checkpoint = tmp_path / "run.ckpt"
    shutil.copy(os.path.join(DATA, "legacy-v1-checkpoint.npz"), checkpoint)
    with pytest.raises(ValueError, match=r"written by an older neuronet \(file format 1\)\. Delete it") as error:
        MLPClassifier((4,), max_iter=1, tol=0, random_state=0).fit(X[:200] / 16, y[:200], checkpoint=checkpoint,
                                                                   resume=True)
    assert "\n" not in str(error.value)


# --- preprocessing travels with the model ---------------------------------------------
def test_a_pipeline_of_standardizer_and_estimator_round_trips(breast_cancer_split, tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    model = Pipeline([("scale", StandardScaler()), ("neuron", LogisticRegression(max_iter=200, random_state=0))])
    model.fit(X, y)
    neuronet.save(model, tmp_path / "pipe.npz")
    loaded = neuronet.load(tmp_path / "pipe.npz")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded[0].mean_, model[0].mean_)
    assert [name for name, _ in loaded.steps] == ["scale", "neuron"]
    meta, _ = load_file(tmp_path / "pipe.npz")
    tree = meta["tree"]
    assert [step["class"] for step in tree["preprocessing"]] == ["StandardScaler"]
    assert {key: tree["input"][key] for key in ("shape", "dtype", "n_features")} == \
        {"shape": [30], "dtype": "float32", "n_features": 30}
    low, high = tree["input"]["range"]  # raw values, before the standardizer
    assert low == pytest.approx(X.min(), abs=1e-3) and high == pytest.approx(X.max(), rel=1e-5)


def test_preprocessing_other_than_the_supported_kinds_is_refused(breast_cancer_split, tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    X_train, _, y_train, _ = breast_cancer_split
    model = make_pipeline(PolynomialFeatures(), LogisticRegression(max_iter=5)).fit(X_train, y_train)
    with pytest.raises(ValueError, match="cannot save a PolynomialFeatures step: model files hold StandardScaler, "
                                         "MinMaxScaler, MaxAbsScaler, ImageScaler, PlaneFeatures preprocessing; save a "
                                         "pipeline "
                                         r"with other steps with skops \(skops.io.dump\)"):
        neuronet.save(model, tmp_path / "pipe.npz")


def test_a_model_trained_by_the_command_line_predicts_raw_features_in_python(tmp_path, monkeypatch):
    from sklearn.datasets import load_breast_cancer

    from neuronet.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "200", "--quiet", "--output", "m.npz"]) == 0
    X, y = load_breast_cancer(return_X_y=True)
    model = neuronet.load(tmp_path / "m.npz")
    assert model.score(X, y) > 0.95  # the raw measurements: the saved StandardScaler does the rest


@pytest.mark.parametrize("dtype", ["float64", np.float64, np.dtype("f8"), "double"])
def test_a_dtype_given_in_any_numpy_spelling_trains_and_saves(dtype, breast_cancer_split, tmp_path):
    X_train, _, y_train, _ = breast_cancer_split
    model = LogisticRegression(max_iter=5, dtype=dtype).fit(X_train, y_train)
    neuronet.save(model, tmp_path / "m.npz")
    assert neuronet.load(tmp_path / "m.npz").network_.dtype == np.float64


def test_a_checkpoint_loaded_as_a_model_says_what_it_is(tmp_path):
    with pytest.raises(ModelFileError, match="is a training checkpoint, not a model"):
        neuronet.load(os.path.join(DATA, "legacy-v1-checkpoint.npz"))


def test_a_logistic_model_file_is_small_and_has_the_usual_permissions(breast_cancer_split, tmp_path):
    X_train, _, y_train, _ = breast_cancer_split
    model = LogisticRegression(max_iter=1000, tol=0, random_state=0).fit(X_train, y_train)  # 1,000 history entries
    neuronet.save(model, tmp_path / "m.npz")
    _, arrays = load_file(tmp_path / "m.npz")
    assert arrays["estimator/state/history/metrics/loss"].shape == (200,)  # a curve of float32, 200 steps of 1,000
    assert arrays["estimator/state/history/metrics/loss"].dtype == np.float32
    numbers = sum(array.nbytes for array in arrays.values())
    assert os.path.getsize(tmp_path / "m.npz") < numbers + 8_000  # a small JSON header besides them
    mask = os.umask(0o022)
    os.umask(mask)
    assert os.stat(tmp_path / "m.npz").st_mode & 0o777 == 0o666 & ~mask


def test_a_logistic_model_file_stays_small_and_keeps_its_curve_to_look_at(breast_cancer_split, tmp_path):
    X_train, X_test, y_train, y_test = breast_cancer_split
    model = LogisticRegression(max_iter=1000, tol=0).fit(X_train, y_train, validation_data=(X_test, y_test))
    neuronet.save(model, tmp_path / "neuron.npz")
    assert os.path.getsize(tmp_path / "neuron.npz") < 10_000  # 31 parameters and four curves of 1,000 steps
    loaded = neuronet.load(tmp_path / "neuron.npz")
    curve = loaded.history_
    assert len(curve.epoch) == 200 and curve.epoch[0] == 0 and curve.epoch[-1] == 999  # first and last kept
    np.testing.assert_allclose(curve.history["val_loss"], np.asarray(model.history_.history["val_loss"])[curve.epoch],
                               rtol=1e-6)
    assert loaded.n_iter_ == 1000


def test_loading_a_model_draws_no_random_weights(breast_cancer_split, tmp_path, monkeypatch):
    from neuronet.layers import conv, dense

    X_train, X_test, y_train, _ = breast_cancer_split
    model = MLPClassifier((8,), max_iter=5, random_state=0).fit(X_train, y_train)
    neuronet.save(model, tmp_path / "m.npz")
    generators = []
    for module in (dense, conv):
        initialize = module.initialize
        monkeypatch.setattr(module, "initialize", lambda *args, _draw=initialize: generators.append(args[4])
                            or _draw(*args))
    loaded = neuronet.load(tmp_path / "m.npz")
    assert generators and all(rng is None for rng in generators)  # zeros hold the place of the stored weights
    np.testing.assert_array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))


def _warnings_and_refusal(model, frame):
    """The warnings predicting from the frame and from its bare values give, and whether
    the frame with its columns reversed is refused."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.predict(frame)
        model.predict(frame.to_numpy())
    try:
        model.predict(frame[frame.columns[::-1]])
        refused = False
    except ValueError as error:
        refused = "feature names" in str(error)
    return [str(warning.message) for warning in caught], refused


@pytest.mark.parametrize("on_the_estimator", [False, True], ids=["scaler", "scaler-and-estimator"])
def test_a_saved_pipeline_checks_a_dataframes_columns_as_the_original_does(on_the_estimator, tmp_path):
    from sklearn.datasets import load_diabetes
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    scaler = StandardScaler().set_output(transform="pandas" if on_the_estimator else "default")
    model = make_pipeline(scaler, neuronet.MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    neuronet.save(model, tmp_path / "pipe.nn")
    loaded = neuronet.load(tmp_path / "pipe.nn")
    assert list(loaded[0].feature_names_in_) == list(X.columns) and loaded[0].feature_names_in_.dtype == object
    assert hasattr(loaded[-1], "feature_names_in_") == on_the_estimator
    said, refused = _warnings_and_refusal(loaded, X)
    assert (said, refused) == _warnings_and_refusal(model, X)
    assert said == ["X does not have valid feature names, but StandardScaler was fitted with feature names"]
    assert refused


def test_a_logistic_regression_fitted_on_a_dataframe_keeps_its_column_checks(tmp_path):
    import pandas as pd

    X = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 3)), columns=["width", "height", "depth"])
    model = LogisticRegression(max_iter=2).fit(X, np.arange(20) % 2)
    neuronet.save(model, tmp_path / "model.nn")
    loaded = neuronet.load(tmp_path / "model.nn")
    assert list(loaded.feature_names_in_) == ["width", "height", "depth"]
    assert _warnings_and_refusal(loaded, X) == _warnings_and_refusal(model, X)


@pytest.mark.parametrize("where", ["scaler", "estimator"])
@pytest.mark.parametrize("names, reason", [
    ({"__strings__": ["a"] * 3, "shape": [3]}, "{}'s feature names are not 4 strings"),
    ([1, 2, 3, 4], "{}'s feature names are not 4 strings"),
    ({"__strings__": ["a", "b", "c", "d" * 1001], "shape": [4]}, "{} has a feature name of more than 1000 characters"),
])
def test_feature_names_in_a_file_are_bounded(where, names, reason, tmp_path):
    import pandas as pd
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 4)), columns=list("abcd"))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2)).fit(X, np.arange(20) % 2)
    neuronet.save(model, tmp_path / "pipe.nn")
    meta, arrays = load_file(tmp_path / "pipe.nn")
    tree = meta["tree"]
    owner = tree["preprocessing"][0] if where == "scaler" else tree["estimator"]["state"]
    owner["feature_names_in"] = names
    reason = reason.format("StandardScaler" if where == "scaler" else "LogisticRegression")
    save_file(tmp_path / "forged.nn", meta, arrays)
    with pytest.raises(ModelFileError, match=reason):
        neuronet.load(tmp_path / "forged.nn")


def test_a_preprocessing_output_other_than_pandas_or_polars_is_refused(tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.random.default_rng(0).normal(size=(20, 4))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2)).fit(X, np.arange(20) % 2)
    neuronet.save(model, tmp_path / "pipe.nn")
    meta, arrays = load_file(tmp_path / "pipe.nn")
    meta["tree"]["preprocessing"][0]["output"] = "spreadsheet"
    save_file(tmp_path / "forged.nn", meta, arrays)
    with pytest.raises(ModelFileError, match="its preprocessing output 'spreadsheet' is not one of pandas, polars"):
        neuronet.load(tmp_path / "forged.nn")
