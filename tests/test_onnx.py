"""ONNX export, proved by ONNX Runtime: the exported graph predicts what neuronet predicts."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_multilabel_classification
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

import neuronet
from neuronet import CNNClassifier, LogisticRegression, MLPClassifier, MLPRegressor, datasets, nn
from neuronet.cli import main
from neuronet.rl import PolicyGradientAgent

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
from neuronet.export import signature, to_onnx  # noqa: E402  (needs onnx)

TOLERANCE = 1e-5
DIGIT_NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


def run(model_proto, X):
    """ONNX Runtime's outputs for X (as float32), by output name."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model_proto.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"X": np.asarray(X, dtype=np.float32)})
    return dict(zip((output.name for output in session.get_outputs()), outputs))


def fitted(estimator, X, y, *scalers):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few iterations on purpose: ConvergenceWarning
        return make_pipeline(*scalers, estimator).fit(X, y) if scalers else estimator.fit(X, y)


# --- the models of the issue, on bundled data ---------------------------------------------------
def _breast_cancer_logistic():
    X, y = load_breast_cancer(return_X_y=True)
    labels = np.array(["benign", "malignant"])[y]  # string labels
    return fitted(LogisticRegression(threshold=0.3, max_iter=300), X, labels, StandardScaler()), X


def _iris_multinomial():
    X, y = load_iris(return_X_y=True)
    return fitted(LogisticRegression(solver="newton", max_iter=20), X, y, MinMaxScaler(clip=True)), X * 1.1


def _digits_mlp():
    digits = datasets.load("digits")
    X = digits.flat * 16
    model = MLPClassifier((32,), activation="tanh", dropout=0.1, max_iter=10, random_state=0)
    return fitted(model, X, digits.y, MaxAbsScaler()), X


def _multi_label_mlp():
    X, Y = make_multilabel_classification(300, 10, n_classes=4, random_state=0)
    return fitted(MLPClassifier((16,), activation="logistic", max_iter=30, random_state=0), X, Y), X


def _digits_cnn():
    digits = datasets.load("digits")  # images, n × 1 × 8 × 8
    model = CNNClassifier(conv_filters=(4, 8), hidden_layer_sizes=(16,), max_iter=2, random_state=0)
    return fitted(model, digits.X[:600], DIGIT_NAMES[digits.y[:600]]), digits.X


def _diabetes_regressor():
    X, y = load_diabetes(return_X_y=True)
    model = MLPRegressor(hidden_layer_sizes=(16,), activation="leaky_relu", max_iter=30, random_state=0)
    return fitted(model, X, y / 100, StandardScaler()), X


def _diabetes_poisson():
    X, y = load_diabetes(return_X_y=True)
    return fitted(MLPRegressor(loss="poisson", hidden_layer_sizes=(16,), max_iter=30, random_state=0), X, y / 100), X


def top_two_gap(probabilities):
    sorted_probabilities = np.sort(probabilities, axis=1)
    return sorted_probabilities[:, -1] - sorted_probabilities[:, -2]


# Each classifier, with how far a sample's probabilities are from changing its label
CLASSIFIERS = [
    (_breast_cancer_logistic, lambda probabilities: np.abs(probabilities[:, 1] - 0.3)),  # its threshold
    (_iris_multinomial, top_two_gap),
    (_digits_mlp, top_two_gap),
    (_multi_label_mlp, lambda probabilities: np.abs(probabilities - 0.5).min(axis=1)),  # each label's own
    (_digits_cnn, top_two_gap),
]
REGRESSORS = [_diabetes_regressor, _diabetes_poisson]


def _float32_softmax_rounding(pipeline, X, probabilities):
    """How far float32 rounding alone may move softmax regression's probabilities: each logit
    z = x·w + b of n features is off by at most about (n + 1)·ε₃₂·(Σ|x_i w_i| + |b|), and a
    probability p_k = softmax(z)_k by at most 2·p_k·max|Δz|. Twenty Newton steps on iris,
    whose setosa is separable, reach logits near 2,000, where that is 1e-5 and more."""
    scaler, classifier = pipeline[0], pipeline[-1]
    magnitude = np.abs(scaler.transform(X)) @ np.abs(classifier.coef_.T) + np.abs(classifier.intercept_)
    error = (X.shape[1] + 1) * np.finfo(np.float32).eps * magnitude.max(axis=1, keepdims=True)
    return 2 * probabilities * error


def _no_rounding_slack(model, X, probabilities):
    return 0.0


@pytest.mark.parametrize("make, margin", CLASSIFIERS, ids=[make.__name__.strip("_") for make, _ in CLASSIFIERS])
def test_onnx_runtime_gives_neuronets_probabilities_and_labels(make, margin):
    rounding = _float32_softmax_rounding if make is _iris_multinomial else _no_rounding_slack
    model, X = make()
    X = X.astype(np.float32)
    outputs = run(to_onnx(model), X)
    expected = model.predict_proba(X)
    assert (np.abs(outputs["output_probability"] - expected) <= TOLERANCE + rounding(model, X, expected)).all()
    decided = margin(expected) > TOLERANCE  # the label does not hang on a float's last digits
    assert decided.mean() > 0.95
    assert np.array_equal(outputs["output_label"][decided], model.predict(X)[decided])


@pytest.mark.parametrize("make", REGRESSORS, ids=lambda make: make.__name__.strip("_"))
def test_onnx_runtime_gives_neuronets_regression_values(make):
    model, X = make()
    X = X.astype(np.float32)
    variable = run(to_onnx(model), X)["variable"]
    assert variable.shape == (len(X), 1)
    assert np.abs(variable[:, 0] - model.predict(X)).max() <= TOLERANCE


def test_the_threshold_of_logistic_regression_is_in_the_graph():
    model, X = _breast_cancer_logistic()
    X = X.astype(np.float32)
    positive = model.predict_proba(X)[:, 1]
    between = (positive > 0.3 + TOLERANCE) & (positive < 0.5 - TOLERANCE)
    assert between.any()
    assert set(run(to_onnx(model), X[between])["output_label"]) == {"malignant"}


def test_the_graph_is_checked_opset_18_with_readable_names_and_skl2onnx_outputs():
    model, _ = _breast_cancer_logistic()
    proto = to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    assert [(opset.domain, opset.version) for opset in proto.opset_import] == [("", 18)]
    assert signature(proto) == ([("X", "float32", ("batch", 30))],
                                [("output_label", "string", ("batch",)), ("output_probability", "float32", ("batch", 2))])
    names = [node.name for node in proto.graph.node]
    assert names[:4] == ["standardscaler/Sub", "standardscaler/Div", "dense_0/MatMul", "dense_0/Add"]


def test_a_model_fitted_on_images_takes_images():
    digits = datasets.load("digits")
    cnn = run(to_onnx(_digits_cnn()[0]), digits.X[:5])
    assert cnn["output_probability"].shape == (5, 10)
    mlp = fitted(MLPClassifier((16,), max_iter=5, random_state=0), digits.X, digits.y)  # flat network, images in
    with pytest.raises(ValueError, match=r"shaped \(1, \.\.\.\) .* give image_shape=\(channels, height, width\)"):
        to_onnx(mlp)
    proto = to_onnx(mlp, image_shape=(1, 8, 8))
    assert signature(proto)[0] == [("X", "float32", ("batch", 1, 8, 8))]
    assert np.abs(run(proto, digits.X)["output_probability"] - mlp.predict_proba(digits.X)).max() <= TOLERANCE


def test_to_onnx_writes_the_graph_it_returns(tmp_path):
    model, _ = _iris_multinomial()
    proto = neuronet.to_onnx(model, tmp_path / "iris.onnx")
    assert (tmp_path / "iris.onnx").read_bytes() == proto.SerializeToString()


# --- bare networks: random architectures ----------------------------------------------------------
ACTIVATIONS = [nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Softmax, lambda: nn.LeakyReLU(0.2), lambda: nn.Dropout(0.3), None]


def _axis(draw, size, max_kernel, padding_below_kernel):
    """(kernel, stride, padding) along an axis of ``size`` pixels that gives at least one window."""
    padding = draw(st.integers(0, 2))
    kernel = draw(st.integers(1, min(max_kernel, size + 2 * padding)))
    padding = min(padding, kernel - 1) if padding_below_kernel else padding
    return kernel, draw(st.integers(1, 3)), padding


def _windows(draw, shape, max_kernel, padding_below_kernel=False):
    along = [_axis(draw, size, max_kernel, padding_below_kernel) for size in shape[1:]]
    return [tuple(axis[i] for axis in along) for i in range(3)]  # kernel, stride, padding pairs


def _activation(draw):
    make = draw(st.sampled_from(ACTIVATIONS))
    return [] if make is None else [make()]


@st.composite
def networks(draw):
    """A network of random layers ending in probabilities, and the shape of one sample."""
    layers = []
    if draw(st.booleans()):  # images of odd and even sizes through convolutions and pooling
        sample = shape = (draw(st.integers(1, 3)), draw(st.integers(3, 11)), draw(st.integers(3, 11)))
        for _ in range(draw(st.integers(1, 3))):
            kernel, stride, padding = _windows(draw, shape, 4)
            block = [nn.Conv2D(draw(st.integers(1, 4)), kernel, stride=stride, padding=padding),
                     *_activation(draw)]
            pool = draw(st.sampled_from([nn.MaxPool2D, nn.AvgPool2D, None]))
            for layer in block:
                shape = layer.output_shape(shape)
            if pool is not None:  # max pooling over padding alone would be −∞ (in neuronet too)
                kernel, stride, padding = _windows(draw, shape, 3, padding_below_kernel=pool is nn.MaxPool2D)
                block.append(pool(kernel, stride=stride, padding=padding))
                shape = block[-1].output_shape(shape)
            layers += block
        layers.append(nn.Flatten())
    else:
        sample = (draw(st.integers(1, 10)),)
    for _ in range(draw(st.integers(0, 2))):
        layers += [nn.Dense(draw(st.integers(1, 8))), *_activation(draw)]
    units = draw(st.integers(1, 4))
    layers += [nn.Dense(units), draw(st.sampled_from([nn.Softmax, nn.Sigmoid]))()]
    return nn.Sequential(layers, input_shape=sample, random_state=draw(st.integers(0, 1000))), sample


@settings(max_examples=60, deadline=None)
@given(networks(), st.integers(1, 5), st.integers(0, 1000))
def test_random_architectures_give_neuronets_outputs_in_onnx_runtime(network_and_sample, batch, seed):
    network, sample = network_and_sample
    rng = np.random.default_rng(seed)
    for parameter in network.parameters():  # biases too, not only the initial zeros
        parameter[...] = rng.normal(0, 0.5, parameter.shape)
    X = rng.normal(0, 1, (batch, *sample)).astype(np.float32)
    output = run(to_onnx(network), X)["output"]
    assert np.abs(output - network.predict(X)).max() <= TOLERANCE


# --- what cannot be exported ------------------------------------------------------------------------
class Doubled(nn.Layer):
    def forward(self, x, training=False):
        return 2 * x


def test_a_custom_layer_is_refused_by_name():
    network = nn.Sequential([nn.Dense(3), Doubled(), nn.Softmax()], input_shape=(4,))
    with pytest.raises(ValueError, match=r"^cannot export layer 1, Doubled: ONNX export knows Dense, Conv2D"):
        to_onnx(network)


def test_a_policy_agent_is_refused_and_its_policy_network_exports():
    agent = PolicyGradientAgent(4, 2, random_state=0)
    with pytest.raises(ValueError, match=r"cannot export a PolicyGradientAgent.*its policy network, \.policy"):
        to_onnx(agent)
    assert signature(to_onnx(agent.policy))[1] == [("output", "float32", ("batch", 2))]


@pytest.mark.parametrize("model, message", [
    (MLPClassifier(), "fit the MLPClassifier before exporting it"),
    (nn.Sequential([nn.Dense(2)]), "build the network"),
])
def test_what_cannot_be_exported_gets_one_clear_line(model, message):
    if hasattr(model, "steps"):
        fitted(model, *load_iris(return_X_y=True))
    with pytest.raises(ValueError, match=message) as error:
        to_onnx(model)
    assert "\n" not in str(error.value)


# --- the command line ----------------------------------------------------------------------------------
def test_neuronet_export_writes_a_graph_that_takes_the_images_the_model_was_trained_on(tmp_path, capsys):
    digits = datasets.load("digits")
    model = fitted(MLPClassifier((16,), max_iter=5, random_state=0), digits.X, digits.y)
    neuronet.save(model, tmp_path / "digits.npz", extra={"image_shape": [1, 8, 8]})  # as neuronet train records it
    assert main(["export", str(tmp_path / "digits.npz")]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'digits.onnx'}" in out
    assert "role    name                type [shape]" in out
    assert "input   X                   float32 [batch, 1, 8, 8]" in out
    assert "output  output_label        int64 [batch]" in out
    assert "output  output_probability  float32 [batch, 10]" in out
    session = onnxruntime.InferenceSession(str(tmp_path / "digits.onnx"), providers=["CPUExecutionProvider"])
    labels, _ = session.run(None, {"X": digits.X})
    assert np.array_equal(labels, model.predict(digits.X))


def test_neuronet_export_of_a_missing_model_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["export", str(tmp_path / "none.npz"), str(tmp_path / "none.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuronet export: error: no model file at") and err.count("\n") == 1
    assert not (tmp_path / "none.onnx").exists()


def test_neuronet_export_help_names_the_outputs_its_graphs_have(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "the names skl2onnx gives scikit-learn classifiers with its ZipMap, the probabilities here one tensor" \
        in help_text
    assert "output_label a classifier" in help_text and "output_probability and its probabilities" in help_text
    assert "zipmap=False" not in help_text  # skl2onnx names those label and probabilities
