"""CNNClassifier(batch_norm=True, residual=True): the layers the options build, what they
learn, and the file, ONNX export and command line of such a model."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import neuronet
from neuronet import CNNClassifier, InvalidParameterError
from neuronet.layers import (BatchNorm, Conv2D, Dense, Flatten, GlobalAveragePooling2D, MaxPool2D, ReLU, Residual,
                             Softmax)
from command_line import private_cache, run  # noqa: F401 (a fixture)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

OPTIONS = [{}, {"batch_norm": True}, {"residual": True}, {"batch_norm": True, "residual": True}]
# The parameters of each network on MNIST (1 × 28 × 28, ten classes), counted by hand in
# CNNClassifier's docstring: the plain network, BatchNorm alone (each convolution's f biases
# become 2f of γ and β), residual blocks alone, and both (with residual blocks the head is a
# global average pooling: 64·10 + 10 weights after it, not 576·10 + 10 after Flatten)
MNIST_PARAMETERS = [29_066, 29_178, 75_018, 75_242]


@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits(return_X_y=True)
    return train_test_split((X / 16).astype(np.float32), y, test_size=0.4, random_state=0, stratify=y)


def built(X_shape=(20, 784), classes=10, **options):
    X = np.random.default_rng(0).uniform(size=X_shape).astype(np.float32)
    model = CNNClassifier(image_shape=(1, 28, 28), batch_size=10, max_iter=1, random_state=0, **options)
    return model.fit(X, np.arange(20) % classes)


def kinds(layers):
    return [type(layer) for layer in layers]


@pytest.mark.parametrize("options, parameters", zip(OPTIONS, MNIST_PARAMETERS), ids=["plain", "bn", "res", "bn+res"])
def test_the_options_build_the_layers_and_parameter_counts_the_docstring_claims(options, parameters):
    network = built(**options).network_
    assert network.count_params() == parameters
    blocks = network.layers[:-3]
    head = GlobalAveragePooling2D if options.get("residual") else Flatten
    assert kinds(network.layers[-3:]) == [head, Dense, Softmax]
    assert len(blocks) == 3 * (3 if options.get("residual") else 3 + bool(options.get("batch_norm")))
    convolutions = [Conv2D, *([BatchNorm] if options.get("batch_norm") else [])]
    if options.get("residual"):
        for index in range(3):
            block, pool, activation = blocks[3 * index : 3 * index + 3]
            assert kinds([pool, activation]) == [MaxPool2D, ReLU] and isinstance(block, Residual)
            assert kinds(block.layers) == [*convolutions, ReLU, *convolutions]
            assert isinstance(block.shortcut, Conv2D) and block.shortcut.kernel_size == (1, 1)
            assert not block.shortcut.bias
    else:
        assert kinds(blocks) == [*convolutions, MaxPool2D, ReLU] * 3
    every_conv = [layer for layer in network.layers if isinstance(layer, Conv2D)] + [
        part for block in network.layers if isinstance(block, Residual) for part in block.layers
        if isinstance(part, Conv2D)]
    assert every_conv and all(conv.bias == (not options.get("batch_norm")) for conv in every_conv)


def test_the_defaults_leave_the_plain_network_as_it_was():
    model = CNNClassifier()
    assert model.batch_norm is False and model.residual is False
    assert model.learning_rate_init == 0.005 and model.max_iter == 35
    network = built().network_
    assert kinds(network.layers) == [Conv2D, MaxPool2D, ReLU] * 3 + [Flatten, Dense, Softmax]


def test_a_short_fit_of_both_options_learns_the_digits(digits_split):
    """10 epochs on 1,078 digits: at least 98 % of the 719 held out (0.992 measured; the plain
    network's 10 epochs give 0.985)."""
    X_train, X_test, y_train, y_test = digits_split
    model = CNNClassifier(image_shape=(1, 8, 8), batch_norm=True, residual=True, max_iter=10, random_state=0)
    model.fit(X_train, y_train)
    assert not model.network_.training  # fit leaves evaluation mode: predictions use the running statistics
    assert model.score(X_test, y_test) >= 0.98
    # a prediction does not depend on the other samples of its call
    np.testing.assert_array_equal(model.predict_proba(X_test[:1]), model.predict_proba(X_test)[:1])


@pytest.fixture(scope="module")
def fitted(digits_split):
    X_train, _, y_train, _ = digits_split
    return CNNClassifier(image_shape=(1, 8, 8), conv_filters=(8, 16), batch_norm=True, residual=True, max_iter=2,
                         random_state=0).fit(X_train, y_train)


def test_save_and_load_give_the_same_predictions_and_running_statistics(fitted, digits_split, tmp_path):
    X_test = digits_split[1]
    neuronet.save(fitted, tmp_path / "model.npz")
    loaded = neuronet.load(tmp_path / "model.npz")
    assert loaded.get_params()["batch_norm"] is True and loaded.get_params()["residual"] is True
    np.testing.assert_array_equal(loaded.predict_proba(X_test), fitted.predict_proba(X_test))
    for (name, buffer), (_, again) in zip(fitted.network_.named_buffers(), loaded.network_.named_buffers()):
        np.testing.assert_array_equal(buffer, again, err_msg=name)
    assert not np.allclose(dict(fitted.network_.named_buffers())["0/1/running_var"], 1)  # statistics were kept


def test_the_onnx_export_matches_within_1e_5(fitted, digits_split):
    onnxruntime = pytest.importorskip("onnxruntime")
    X_test = np.ascontiguousarray(digits_split[1][:50])
    session = onnxruntime.InferenceSession(neuronet.to_onnx(fitted).SerializeToString())
    outputs = session.run(None, {session.get_inputs()[0].name: X_test})
    probabilities = next(output for output in outputs if np.ndim(output) == 2 and output.shape[1] == 10)
    np.testing.assert_allclose(probabilities, fitted.predict_proba(X_test), atol=1e-5)


@pytest.mark.parametrize("parameter", ["batch_norm", "residual"])
@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_value_that_is_not_a_bool_is_refused_in_one_line(parameter, value, digits_split):
    X_train, _, y_train, _ = digits_split
    with pytest.raises(InvalidParameterError, match=rf"The '{parameter}' parameter of CNNClassifier must be") as error:
        CNNClassifier(**{parameter: value}).fit(X_train[:20], y_train[:20])
    assert "\n" not in str(error.value)


def test_the_command_line_trains_both_options_and_evaluates_the_file(capsys):
    code, out, err = run(capsys, "train", "--data", "digits", "--model", "cnn", "--batch-norm", "--residual",
                         "--epochs", "2", "--output", "model.npz", "--quiet")
    assert code == 0, err
    accuracy = float(out.split("test accuracy ")[1].split()[0])
    loaded = neuronet.load("model.npz")
    assert loaded.steps[-1][1].get_params()["batch_norm"] is True and loaded.steps[-1][1].residual is True
    code, out, err = run(capsys, "evaluate", "model.npz", "digits")
    assert code == 0 and err == ""
    assert float(out.split("accuracy ")[1].split()[0]) == accuracy


@pytest.mark.parametrize("model", ["mlp", "logistic"])
@pytest.mark.parametrize("flag", ["--batch-norm", "--residual"])
def test_the_command_line_refuses_the_cnn_flags_for_another_model_in_one_line(model, flag, capsys):
    code, out, err = run(capsys, "train", "--data", "digits", "--model", model, flag, "--quiet")
    assert code != 0
    message = err.strip()
    assert message.count("\n") == 0 and f"{flag} applies to --model cnn" in message


def test_the_command_line_help_explains_both_flags(capsys):
    with pytest.raises(SystemExit):
        run(capsys, "train", "--help")
    words = " ".join(capsys.readouterr().out.split())
    assert "--batch-norm cnn: a BatchNorm after each convolution" in words
    assert "--residual cnn: each block is a residual block" in words and "y = x + F(x)" in words
