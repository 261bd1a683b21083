"""The lecture's settings on the command line: sigmoid hidden neurons, plain gradient
descent, logistic regression's threshold, and what weight sharing saves."""

import numpy as np
import pytest

import neuronet
from neuronet.cli import make_parser
from neuronet.cli.train import build_estimator
from command_line import private_cache, run  # noqa: F401 (a fixture)

DIGITS = neuronet.datasets.load("digits")


def built(*argv, data=DIGITS, n_train=None):
    return build_estimator(make_parser().parse_args(["train", *map(str, argv)]), data, n_train)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("activation", ["logistic", "tanh", "relu", "leaky_relu"])
def test_activation_sets_the_hidden_layers_of_mlp_and_cnn(model, activation):
    assert built("--model", model, "--activation", activation).activation == activation


def test_an_activation_outside_the_list_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        make_parser().parse_args(["train", "--model", "mlp", "--activation", "softmax"])
    assert "invalid choice: 'softmax'" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_optimizer_gd_is_plain_gradient_descent_on_the_whole_training_set(model):
    estimator = built("--model", model, "--optimizer", "gd", n_train=1437)
    assert {key: estimator.get_params()[key] for key in ("solver", "momentum", "nesterovs_momentum",
                                                           "learning_rate", "batch_size")} == {
        "solver": "sgd", "momentum": 0.0, "nesterovs_momentum": False, "learning_rate": "constant",
        "batch_size": 1437}
    assert built("--model", model, "--optimizer", "gd", "--batch-size", 32, n_train=1437).batch_size == 32


def test_optimizer_gd_is_what_logistic_regression_does():
    breast_cancer = neuronet.datasets.load("breast-cancer")
    assert built("--optimizer", "gd", data=breast_cancer).get_params() == \
        neuronet.LogisticRegression(random_state=0).get_params()


def test_gradient_descent_is_named_so_on_the_console_in_the_report_and_in_the_listing(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "--data", "xor", "--model", "mlp", "--hidden", 4, "--activation", "logistic",
                       "--optimizer", "gd", "--learning-rate", 1, "--epochs", 5, "--quiet")
    assert code == 0
    assert "gradient descent on all 320 training samples at each step, learning rate 1" in out
    report = (tmp_path / "neuronet-runs" / "run-1" / "model-report" / "index.html").read_text()
    assert "5 iterations of gradient descent on all 320 training samples at each step" in report
    model = neuronet.load(tmp_path / "neuronet-runs" / "run-1" / "model.npz")
    assert model[-1].activation == "logistic" and model[-1].solver == "sgd" and model[-1].momentum == 0
    code, out, _ = run(capsys, "runs")
    assert "hidden 4 logistic, gd, full batch, lr 1, 5 iterations" in out


def test_other_optimizers_are_named_with_their_batches(capsys):
    code, out, _ = run(capsys, "train", "--data", "xor", "--model", "mlp", "--hidden", 4, "--optimizer", "sgd",
                       "--batch-size", 32, "--epochs", 1, "--quiet")
    assert code == 0 and "SGD with Nesterov momentum 0.9 on minibatches of 32, learning rate 0.001" in out
    code, out, _ = run(capsys, "train", "--data", "xor", "--model", "mlp", "--hidden", 4, "--epochs", 1, "--quiet")
    assert code == 0 and "Adam on minibatches of 200, learning rate 0.001" in out


def _labels(out):
    return [line.split(": ")[1].split()[0] for line in out.strip().splitlines()]


def test_a_threshold_is_kept_in_the_model_file_and_changes_labels_on_the_command_line_as_in_python(capsys, tmp_path):
    from sklearn.datasets import load_breast_cancer

    for threshold, name in ((0.5, "even.npz"), (0.9, "cautious.npz")):
        code, _, _ = run(capsys, "train", "--epochs", 100, "--threshold", threshold, "--output", name, "--quiet")
        assert code == 0
    even, cautious = neuronet.load(tmp_path / "even.npz"), neuronet.load(tmp_path / "cautious.npz")
    assert cautious[-1].threshold == 0.9
    X = load_breast_cancer().data
    p = cautious.predict_proba(X)[:, 1]
    between = X[(p > 0.5) & (p < 0.9)][:5]  # benign by 0.5, malignant by 0.9
    assert len(between) > 0
    np.save("rows.npy", between)
    names = np.array(["malignant", "benign"])
    for model, name in ((even, "even.npz"), (cautious, "cautious.npz")):
        code, out, _ = run(capsys, "predict", name, "rows.npy")
        assert code == 0 and _labels(out) == list(names[model.predict(between)])
    assert set(names[cautious.predict(between)]) == {"malignant"} and set(names[even.predict(between)]) == {"benign"}


def test_evaluate_and_the_report_use_the_threshold_as_train_does(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "--epochs", 100, "--threshold", 0.99, "--quiet")
    test_accuracy = out.split("test accuracy ")[1].split()[0]
    code, out, _ = run(capsys, "evaluate", "neuronet-runs/run-1/model.npz")
    assert code == 0 and f"accuracy {test_accuracy}" in out
    report = (tmp_path / "neuronet-runs" / "run-1" / "model-report" / "index.html").read_text()
    assert f"<strong>{test_accuracy}</strong> on 114 samples" in report
    code, out, _ = run(capsys, "runs")
    assert "threshold 0.99, gd, full batch" in out


def test_summary_of_a_cnn_sets_each_convolutions_shared_weights_beside_a_dense_layers(capsys):
    code, _, _ = run(capsys, "train", "--data", "digits", "--model", "cnn", "--epochs", 1, "--quiet")
    assert code == 0
    code, out, _ = run(capsys, "summary", "neuronet-runs/run-1/model.npz")
    assert code == 0
    # 16 filters of 1·3·3 on 1×8×8 images, padded to keep the size: a dense layer would need 64 · 1,024 weights
    assert "0: Conv2D  144 shared weights + 16 biases; a dense layer from 1×8×8 to 16×8×8 would need 66 k weights" \
        in out
    assert "3: Conv2D  4,608 shared weights + 32 biases; a dense layer from 16×4×4 to 32×4×4 would need 131 k" \
        in out
