"""Whole scikit-learn pipelines ending in a neuronet estimator, converted by skl2onnx with
neuronet's registered converters and run by ONNX Runtime."""

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import neuronet
from neuronet import CNNClassifier, LogisticRegression, MLPClassifier, MLPRegressor, SequenceClassifier, datasets

pd = pytest.importorskip("pandas")
onnxruntime = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")
from neuronet.export import signature  # noqa: E402  (needs onnx; registers the converters)

TOLERANCE = 1e-5


def run(proto, feeds):
    """ONNX Runtime's outputs for the inputs ``feeds`` (name → array), by output name."""
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip((output.name for output in session.get_outputs()), session.run(None, feeds)))


def fitted(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few iterations on purpose: ConvergenceWarning
        return model.fit(X, y)


def rentals(n=400, seed=0):
    """A table of bike rentals as the bike-sharing example has them: a string column and
    numeric ones, and whether the hour was busy."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"season": rng.choice(["spring", "summer", "fall", "winter"], n),
                          "weather": rng.choice(["clear", "misty", "rain"], n),
                          "temp": rng.normal(20, 6, n), "hour": rng.integers(0, 24, n).astype(float)})
    busy = (table.season == "summer") & (table.weather != "rain") | (table.temp > 25) | table.hour.between(7, 9)
    return table, np.where(busy, "busy", "quiet")


def rental_pipeline(table, labels):
    encode = ColumnTransformer([("categories", OneHotEncoder(handle_unknown="ignore"), ["season", "weather"]),
                                ("numbers", StandardScaler(), ["temp", "hour"])])
    return fitted(make_pipeline(encode, MLPClassifier((16,), max_iter=300, random_state=0)), table, labels)


def columns(table):
    """One input a column, as skl2onnx makes them for a DataFrame: N × 1 each."""
    return {name: table[[name]].to_numpy() for name in table.columns}


def probabilities_of(outputs, classes):
    """The probabilities, from one N × K tensor or from ZipMap's list of {class: p}."""
    probabilities = outputs.get("probabilities", outputs.get("output_probability"))
    if isinstance(probabilities, list):
        return np.array([[row[label] for label in classes] for row in probabilities])
    return probabilities


# --- the bar: a ColumnTransformer on a table of strings and numbers --------------------------------
@pytest.mark.parametrize("zipmap", [False, True])
def test_a_column_transformer_pipeline_gives_its_probabilities_in_onnx_runtime(zipmap):
    table, labels = rentals()
    pipeline = rental_pipeline(table, labels)
    proto = skl2onnx.to_onnx(pipeline, table[:1], options={id(pipeline[-1]): {"zipmap": zipmap}})
    assert [value.name for value in proto.graph.input] == ["season", "weather", "temp", "hour"]
    outputs = run(proto, columns(table))
    assert list(outputs) == (["output_label", "output_probability"] if zipmap else ["label", "probabilities"])
    probabilities = probabilities_of(outputs, pipeline.classes_)
    assert np.abs(probabilities - pipeline.predict_proba(table)).max() <= TOLERANCE
    assert np.array_equal(outputs.get("label", outputs.get("output_label")), pipeline.predict(table))


def test_the_readmes_column_transformer_example_runs_and_agrees():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    example, = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "skl2onnx.to_onnx" in block]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(example, {})  # its last line asserts the agreement


def test_an_unseen_category_is_ignored_in_onnx_as_in_the_pipeline():
    table, labels = rentals()
    pipeline = rental_pipeline(table, labels)
    proto = skl2onnx.to_onnx(pipeline, table[:1], options={id(pipeline[-1]): {"zipmap": False}})
    snow = rentals(20, seed=1)[0].assign(weather="snow")
    assert np.abs(run(proto, columns(snow))["probabilities"] - pipeline.predict_proba(snow)).max() <= TOLERANCE


# --- each estimator, alone and after a scaler ----------------------------------------------------------
def _logistic():
    X, y = load_breast_cancer(return_X_y=True)
    return LogisticRegression(threshold=0.3, max_iter=300), X, np.array(["benign", "malignant"])[y]


def _mlp():
    X, y = load_iris(return_X_y=True)
    return MLPClassifier((8,), max_iter=200, random_state=0), X, y


def _cnn():
    digits = datasets.load("digits")  # flat rows of 64 pixels, read by the network as 1 × 8 × 8 images
    return CNNClassifier(conv_filters=(4,), hidden_layer_sizes=(16,), max_iter=3, random_state=0), \
        digits.flat[:500] * 16, digits.y[:500]


def _sequence():
    digits = datasets.load("digits")  # flat rows of 64 pixels, read by the network as 8 steps (rows) of 8
    return SequenceClassifier(units=8, n_steps=8, max_iter=3, random_state=0), digits.flat[:500] * 16, digits.y[:500]


def _regressor():
    X, y = load_diabetes(return_X_y=True)
    return MLPRegressor(hidden_layer_sizes=(16,), max_iter=50, random_state=0), X, y / 100


@pytest.mark.parametrize("make", [_logistic, _mlp, _cnn, _sequence, _regressor], ids=lambda make: make.__name__.strip("_"))
@pytest.mark.parametrize("scaled", [False, True], ids=["alone", "after_a_scaler"])
def test_each_estimator_converts_through_skl2onnx(make, scaled):
    estimator, X, y = make()
    model = fitted(make_pipeline(StandardScaler(), estimator) if scaled else estimator, X, y)
    X = X.astype(np.float32)
    regressor = isinstance(estimator, MLPRegressor)
    proto = skl2onnx.to_onnx(model, X[:1], options=None if regressor else {id(estimator): {"zipmap": False}})
    outputs = run(proto, {"X": X})
    if regressor:
        assert outputs["variable"].shape == (len(X), 1)
        assert np.abs(outputs["variable"][:, 0] - model.predict(X)).max() <= TOLERANCE
    else:
        assert np.abs(outputs["probabilities"] - model.predict_proba(X)).max() <= TOLERANCE
        assert np.mean(outputs["label"] == model.predict(X)) > 0.99  # a label may hang on a float's last digit


@pytest.mark.parametrize("make", [_logistic, _mlp, _cnn, _sequence], ids=lambda make: make.__name__.strip("_"))
def test_each_classifier_takes_skl2onnxs_zipmap_by_default(make):
    estimator, X, y = make()
    model = fitted(make_pipeline(StandardScaler(), estimator), X, y)
    X = X.astype(np.float32)
    outputs = run(skl2onnx.to_onnx(model, X[:1]), {"X": X})
    assert list(outputs) == ["output_label", "output_probability"]
    assert isinstance(outputs["output_probability"], list)  # one {class: probability} map a row
    probabilities = probabilities_of(outputs, model.classes_)
    assert np.abs(probabilities - model.predict_proba(X)).max() <= TOLERANCE


def test_a_cnn_converts_from_images():
    estimator, X, y = _cnn()
    images = X.reshape(-1, 1, 8, 8)
    model = fitted(estimator, images, y)
    proto = skl2onnx.to_onnx(model, images[:1].astype(np.float32), options={id(model): {"zipmap": False}})
    assert signature(proto)[0] == [("X", "float32", (0, 1, 8, 8))]  # 0: any number of images
    probabilities = run(proto, {"X": images.astype(np.float32)})["probabilities"]
    assert np.abs(probabilities - model.predict_proba(images)).max() <= TOLERANCE


def test_a_multi_label_classifier_is_refused_by_skl2onnx_in_one_line():
    X, _ = load_iris(return_X_y=True)
    model = fitted(MLPClassifier((4,), max_iter=5, random_state=0), X, np.column_stack([X[:, 0] > 5, X[:, 1] > 3]))
    with pytest.raises(ValueError, match=r"^skl2onnx cannot convert a multi-label MLPClassifier: neuronet.to_onnx"):
        skl2onnx.to_onnx(model, X[:1].astype(np.float32), options={id(model): {"zipmap": False}})


def test_an_operator_set_below_18_is_refused_in_one_line():
    estimator, X, y = _mlp()
    model = fitted(estimator, X, y)
    with pytest.raises(ValueError, match=r"^neuronet's estimators convert to ONNX operator set 18 or later, not 17"):
        skl2onnx.to_onnx(model, X[:1].astype(np.float32), target_opset=17)


# --- neuronet.to_onnx hands the steps it does not know to skl2onnx -----------------------------------------
def test_neuronet_to_onnx_hands_a_one_hot_encoder_to_skl2onnx_and_keeps_its_names():
    X, y = load_iris(return_X_y=True)
    X = np.column_stack([np.round(X[:, 0]), X[:, 1:]])  # a coded column, then measurements
    encode = ColumnTransformer([("codes", OneHotEncoder(handle_unknown="ignore"), [0])], remainder=StandardScaler())
    model = fitted(make_pipeline(encode, MLPClassifier((8,), max_iter=200, random_state=0)), X, y)
    proto = neuronet.to_onnx(model)
    assert signature(proto) == ([("X", "float32", (0, 4))],  # 0: any number of rows
                                [("output_label", "int64", (0,)), ("output_probability", "float32", (0, 3))])
    outputs = run(proto, {"X": X.astype(np.float32)})
    assert np.abs(outputs["output_probability"] - model.predict_proba(X)).max() <= TOLERANCE
    assert np.array_equal(outputs["output_label"], model.predict(X))


def test_a_pca_step_is_converted_by_skl2onnx():
    X, y = load_iris(return_X_y=True)
    model = fitted(make_pipeline(PCA(2), MLPClassifier((4,), max_iter=50, random_state=0)), X, y)
    probabilities = run(neuronet.to_onnx(model), {"X": X.astype(np.float32)})["output_probability"]
    assert np.abs(probabilities - model.predict_proba(X)).max() <= TOLERANCE


def test_without_skl2onnx_a_scaler_pipeline_exports_and_other_steps_say_what_to_install():
    code = ("import sys, warnings; sys.modules['skl2onnx'] = None; warnings.simplefilter('ignore')\n"
            "import neuronet\n"
            "from sklearn.datasets import load_iris\n"
            "from sklearn.pipeline import make_pipeline\n"
            "from sklearn.preprocessing import OneHotEncoder, StandardScaler\n"
            "X, y = load_iris(return_X_y=True)\n"
            "for step in StandardScaler(), OneHotEncoder():\n"
            "    model = make_pipeline(step, neuronet.MLPClassifier((4,), max_iter=5)).fit(X, y)\n"
            "    try:\n"
            "        print([output.name for output in neuronet.to_onnx(model).graph.output])\n"
            "    except ValueError as error:\n"
            "        print(error)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    exported, refused = result.stdout.splitlines()
    assert exported == "['output_label', 'output_probability']"
    assert refused.startswith("cannot export the pipeline step 'onehotencoder', a OneHotEncoder: neuronet exports "
                              "StandardScaler, MinMaxScaler, MaxAbsScaler, ImageScaler, and skl2onnx the other steps: "
                              "pip install")


def test_neuronet_to_onnx_sends_a_pipeline_that_picks_columns_by_name_to_skl2onnx():
    pipeline = rental_pipeline(*rentals())
    with pytest.raises(ValueError, match=r"^this pipeline picks its columns by name .* convert it with "
                                         r"skl2onnx\.to_onnx\(model, X\[:1\]\)"):
        neuronet.to_onnx(pipeline)


def test_a_step_skl2onnx_cannot_convert_is_one_line():
    X, y = load_iris(return_X_y=True)
    model = fitted(make_pipeline(FunctionTransformer(np.log1p), MLPClassifier((4,), max_iter=5)), X, y)
    with pytest.raises(ValueError, match=r"^skl2onnx cannot convert this pipeline: .*FunctionTransformer") as error:
        neuronet.to_onnx(model)
    assert "\n" not in str(error.value)
