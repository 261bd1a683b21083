"""PlaneFeatures: the studio's feature inputs of a point (x₁, x₂) — x₁², x₂², x₁x₂, sin x₁,
sin x₂ — as a scikit-learn transformer that model files hold and ONNX exports."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import neuronet
from neuronet import LogisticRegression, MLPClassifier, ModelFileError, datasets
from neuronet.cli import main
from neuronet.files import load_file, save_file
from neuronet.preprocessing import PlaneFeatures

EVERY = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")


def test_each_feature_is_its_formula_of_the_point():
    x1, x2 = np.array([0.5, -2.0]), np.array([3.0, 0.25])
    made = PlaneFeatures(EVERY).fit_transform(np.column_stack([x1, x2]))
    np.testing.assert_array_equal(made, np.column_stack([x1, x2, x1**2, x2**2, x1 * x2, np.sin(x1), np.sin(x2)]))
    assert PlaneFeatures(("sin(x2)", "x1")).fit([[0, 0]]).get_feature_names_out().tolist() == ["sin(x2)", "x1"]
    assert PlaneFeatures().fit_transform(np.ones((3, 2), dtype=np.float32)).dtype == np.float32


def test_it_is_a_scikit_learn_transformer():
    features = PlaneFeatures(("x1^2", "x1*x2"))
    assert clone(features).get_params() == {"features": ("x1^2", "x1*x2")}
    assert features.fit([[1.0, 2.0]]) is features and features.n_features_in_ == 2
    with pytest.raises(NotFittedError):
        clone(features).transform([[1.0, 2.0]])


@pytest.mark.parametrize("features, words", [
    (("x3",), "are not distinct names among x1, x2, x1^2"), (("x1", "x1"), "are not distinct"),
    ((), "(at least one)"), ((2,), "are not distinct names"),
])
def test_unknown_or_repeated_features_are_refused(features, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)").replace("^", r"\^")):
        PlaneFeatures(features).fit([[0.0, 1.0]])


def test_it_reads_points_only():
    with pytest.raises(ValueError, match=r"X has 3 columns, but PlaneFeatures reads points \(x1, x2\): 2 columns"):
        PlaneFeatures().fit(np.zeros((4, 3)))


@pytest.fixture(scope="module")
def circles_model():
    """Circles, learned by one neuron on x₁² and x₂²: the features draw the circle."""
    data = datasets.load("circles")
    model = make_pipeline(StandardScaler(), PlaneFeatures(("x1^2", "x2^2")),
                          LogisticRegression(learning_rate=1.0, max_iter=300, tol=0.0, random_state=0))
    return model.fit(data.X, data.y), data


def test_one_neuron_on_squared_features_learns_the_circles(circles_model):
    model, data = circles_model
    assert model.score(data.X, data.y) > 0.95


def test_a_model_file_holds_the_features_and_predicts_the_same(circles_model, tmp_path):
    model, data = circles_model
    neuronet.save(model, tmp_path / "circles.npz")
    loaded = neuronet.load(tmp_path / "circles.npz")
    np.testing.assert_array_equal(loaded.predict_proba(data.X), model.predict_proba(data.X))
    assert loaded[1].features == ("x1^2", "x2^2")
    tree = load_file(tmp_path / "circles.npz")[0]["tree"]
    assert [step["class"] for step in tree["preprocessing"]] == ["StandardScaler", "PlaneFeatures"]
    assert tree["input"]["n_features"] == 2 and "range" not in tree["input"]  # the features have no way back


@pytest.mark.parametrize("forge, words", [
    (lambda step: step["params"].update(features=["x1^2", "x9"]), "are not distinct names among"),
    (lambda step: step["params"].update(features=["x1^2"]), "its PlaneFeatures makes 1 features of 2 columns, not 2"),
    (lambda step: step["fitted"].update(n_features_in_=3), "makes 2 features of 3 columns"),
])
def test_a_forged_feature_step_is_refused(circles_model, tmp_path, forge, words):
    model, _ = circles_model
    neuronet.save(model, tmp_path / "circles.npz")
    meta, arrays = load_file(tmp_path / "circles.npz")
    forge(meta["tree"]["preprocessing"][1])
    save_file(tmp_path / "forged.npz", meta, arrays)
    with pytest.raises(ModelFileError, match=words.replace("(", r"\(")):
        neuronet.load(tmp_path / "forged.npz")


def test_onnx_runtime_gives_the_pipelines_probabilities_from_the_points(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from neuronet.export import to_onnx

    data = datasets.load("moons")
    model = make_pipeline(StandardScaler(), PlaneFeatures(EVERY),
                          MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0))
    with pytest.warns(Warning):
        model.fit(data.X, data.y)
    session = onnxruntime.InferenceSession(to_onnx(model).SerializeToString())
    assert session.get_inputs()[0].shape[1:] == [2]
    labels, probabilities = session.run(None, {"X": data.X.astype(np.float32)})
    np.testing.assert_allclose(probabilities, model.predict_proba(data.X), atol=1e-5)
    np.testing.assert_array_equal(labels, model.predict(data.X))


def test_evaluate_and_predict_read_a_model_with_features(circles_model, tmp_path, capsys):
    model, data = circles_model
    neuronet.save(model, tmp_path / "circles.npz", extra={"class_names": ["0", "1"]})
    np.savetxt(tmp_path / "points.csv", data.X[:4], delimiter=",")
    assert main(["predict", str(tmp_path / "circles.npz"), str(tmp_path / "points.csv")]) == 0
    assert capsys.readouterr().out.count("points.csv[") == 4
