"""The neuronet command, end to end, including what it says when the user errs."""

import os
import subprocess
import sys

import numpy as np
import pytest

from neuronet.cli import main
from command_line import private_cache, run  # noqa: F401 (a fixture)
from photos import make_photo_folder, photo




def test_train_with_no_arguments_trains_logistic_regression_on_breast_cancer(capsys, tmp_path):
    code, out, _ = run(capsys, "train")
    assert code == 0
    assert "LogisticRegression on breast-cancer" in out
    assert "iteration 50/1000 - loss" in out  # the cost, every 50 iterations
    test_accuracy = float(out.split("test accuracy ")[1].split()[0])
    assert test_accuracy >= 0.95
    assert (tmp_path / "neuronet-runs" / "run-1" / "model.npz").exists()
    report = tmp_path / "neuronet-runs" / "run-1" / "model-report"  # named after the model file
    assert {"index.html", "learning_curves.png", "confusion_matrix.png"} <= set(os.listdir(report))
    assert "next: neuronet evaluate neuronet-runs/run-1/model.npz breast-cancer" in out


def test_the_console_script_is_installed_and_helps():
    result = subprocess.run([sys.executable, "-m", "neuronet.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "examples:" in result.stdout
    for command in ("train", "runs", "evaluate", "predict", "summary", "study", "gradcheck"):
        result = subprocess.run([sys.executable, "-m", "neuronet.cli", command, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "example" in result.stdout, command


def test_cats_vs_dogs_folder_end_to_end(capsys, tmp_path):
    make_photo_folder(tmp_path / "train", per_class=40, layout="flat")
    code, out, err = run(capsys, "train", "--data", tmp_path / "train", "--model", "logistic", "--image-size", 16,
                         "--learning-rate", 0.005, "--epochs", 300, "--output", "cats.npz", "--quiet")
    assert code == 0, err
    assert "skipped 2 of 83 files" in err and "cat.broken.jpg" in err
    assert float(out.split("test accuracy ")[1].split()[0]) >= 0.9
    assert {"index.html", "weights.png", "learning_curves.png"} <= set(os.listdir(tmp_path / "cats-report"))

    code, out, _ = run(capsys, "evaluate", "cats.npz", tmp_path / "train")
    assert code == 0 and "held-out test split" in out and "precision" in out and "confusion matrix" in out

    rng = np.random.default_rng(5)
    photo("cat", rng).save(tmp_path / "kitten.jpg")
    photo("dog", rng).save(tmp_path / "puppy.png")
    code, out, _ = run(capsys, "predict", "cats.npz", tmp_path / "kitten.jpg", tmp_path / "puppy.png")
    assert code == 0
    assert "kitten.jpg: cat (" in out and "puppy.png: dog (" in out

    code, out, _ = run(capsys, "summary", "cats.npz")
    assert code == 0 and "Total params: 769" in out and "768·1 weights + 1 bias" in out  # 16·16·3 + 1


def test_mlp_and_cnn_on_a_photo_folder(capsys, tmp_path):
    make_photo_folder(tmp_path / "photos", per_class=20)
    for model in ("mlp", "cnn"):
        code, out, err = run(capsys, "train", "--data", tmp_path / "photos", "--model", model, "--image-size", 16,
                             "--epochs", 5, "--hidden", 16, "--output", f"{model}.npz", "--quiet")
        assert code == 0, err
        code, out, _ = run(capsys, "evaluate", f"{model}.npz", tmp_path / "photos", "--all")
        assert code == 0 and "all samples (41 samples)" in out


def test_predict_reads_csv_and_npy_feature_rows(capsys, tmp_path):
    run(capsys, "train", "--epochs", 100, "--quiet")
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    np.savetxt("rows.csv", X[:3], delimiter=",")
    np.save("rows.npy", X[3:5])
    code, out, _ = run(capsys, "predict", "neuronet-runs/run-1/model.npz", "rows.csv", "rows.npy")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 5
    names = ["malignant", "benign"]
    assert [line.split(": ")[1].split()[0] for line in lines] == [names[label] for label in y[:5]]


def test_study_learning_rate_draws_the_lesson(capsys, tmp_path):
    code, out, _ = run(capsys, "study", "learning-rate", "--rates", "0.0001,0.5,50", "--iterations", 200,
                       "--output", "lr.png")
    assert code == 0 and (tmp_path / "lr.png").stat().st_size > 10_000
    assert "0.0001" in out and "crawls" in out and "converges" in out and "oscillates" in out


def test_gradcheck_command(capsys, tmp_path):
    code, out, _ = run(capsys, "gradcheck")
    assert code == 0 and "worst relative error" in out and "backpropagation agrees" in out
    run(capsys, "train", "--data", "digits", "--model", "mlp", "--hidden", 8, "--epochs", 1, "--quiet")
    code, out, _ = run(capsys, "gradcheck", "neuronet-runs/run-1/model.npz", "--entries", 5)
    assert code == 0 and "layer 0 Dense    weights" in out and "layer 2 Dense" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "imagenet"], "unknown dataset 'imagenet'"),
    (["train", "--data", "missing/folder"], "no such file or folder: 'missing/folder'"),
    (["train", "--model", "cnn"], "needs images"),
    (["evaluate", "nope.npz", "digits"], "no model file at 'nope.npz'"),
    (["summary", "notes.txt"], "too short to be a neuronet file"),
])
def test_user_mistakes_are_one_clear_line_and_a_nonzero_exit(argv, message, capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    run(capsys, "train", "--epochs", 5, "--quiet")
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_model_and_data_mismatch_is_a_clear_error(capsys):
    run(capsys, "train", "--epochs", 5, "--quiet")
    code, _, err = run(capsys, "evaluate", "neuronet-runs/run-1/model.npz", "digits")
    assert code == 2 and "the model knows the classes ['malignant', 'benign']" in err


@pytest.mark.parametrize("argv", [["train", "--learning-rate", "-1"], ["train", "--epochs", "0"],
                                  ["train", "--hidden", "12,x"], ["train", "--test-size", "1.5"],
                                  ["train", "--model", "forest"], ["study", "learning-rate", "--rates", "a"]])
def test_bad_hyperparameters_are_rejected_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


@pytest.mark.parametrize("model, estimator", [("logistic", "LogisticRegression"), ("mlp", "MLPClassifier")])
def test_settings_left_out_take_the_estimators_defaults(model, estimator):
    import neuronet
    from neuronet.cli import make_parser
    from neuronet.cli.train import build_estimator

    args = make_parser().parse_args(["train", "--model", model])
    built = build_estimator(args, neuronet.datasets.load("breast-cancer"))
    assert built.get_params() == getattr(neuronet, estimator)(random_state=0).get_params()


def test_alpha_is_the_l2_flag_and_l2_its_alias():
    import neuronet
    from neuronet.cli import make_parser
    from neuronet.cli.train import build_estimator

    data = neuronet.datasets.load("breast-cancer")
    for flag in ("--alpha", "--l2"):
        args = make_parser().parse_args(["train", "--model", "mlp", flag, "0.01"])
        assert build_estimator(args, data).alpha == 0.01
    with pytest.raises(SystemExit):
        make_parser().parse_args(["train", "--alpha", "-1"])
    args = make_parser().parse_args(["train", "--tol", "0"])  # every iteration runs, as the README's cats run asks
    assert build_estimator(args, data).tol == 0


def test_evaluate_names_the_estimator_of_a_model_with_preprocessing(capsys):
    run(capsys, "train", "--epochs", 50, "--quiet")
    code, out, _ = run(capsys, "evaluate", "neuronet-runs/run-1/model.npz", "breast-cancer")
    assert code == 0 and out.startswith("LogisticRegression on breast-cancer, the held-out test split")
    code, out, _ = run(capsys, "summary", "neuronet-runs/run-1/model.npz")
    assert "input preprocessing: StandardScaler (saved with the model)" in out


@pytest.mark.parametrize("given, said", [
    (["--hidden", "64"], "--hidden applies to --model mlp or cnn"),
    (["--optimizer", "sgd"], "--optimizer sgd applies to --model mlp or cnn"),
    (["--optimizer", "adam"], "--optimizer adam applies to --model mlp or cnn"),
    (["--batch-size", "32"], "--batch-size applies to --model mlp or cnn"),
    (["--activation", "tanh"], "--activation applies to --model mlp or cnn"),
    (["--model", "mlp", "--threshold", "0.9"], "--threshold applies to --model logistic"),
    (["--data", "digits", "--threshold", "0.9"], "--threshold applies to two classes, and digits has 10"),
])
def test_a_flag_that_does_not_apply_to_the_model_is_an_error_that_says_why(given, said, capsys, tmp_path):
    code, _, err = run(capsys, "train", *given)
    assert code == 2 and said in err and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "neuronet-runs")  # refused before a run folder is made


def test_logistic_regression_reads_every_bundled_multiclass_set_and_a_cnn_honours_hidden(capsys):
    code, out, _ = run(capsys, "train", "--data", "digits", "--quiet")
    assert code == 0 and float(out.split("test accuracy ")[1].split()[0]) > 0.9  # softmax regression
    import neuronet
    from neuronet.cli import make_parser
    from neuronet.cli.train import build_estimator

    args = make_parser().parse_args(["train", "--data", "digits", "--model", "cnn", "--hidden", "32"])
    cnn = build_estimator(args, neuronet.datasets.load("digits"))
    assert cnn.hidden_layer_sizes == (32,)


def test_an_empty_list_of_rates_is_an_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["study", "learning-rate", "--rates", ""])
    assert stop.value.code == 2 and "give at least one learning rate" in capsys.readouterr().err


def test_an_unlabelled_folder_says_so_in_one_line(capsys, tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "test1").mkdir()
    for number in range(1, 7):
        photo("cat" if number % 2 else "dog", rng).save(tmp_path / "test1" / f"{number}.jpg")
    for command in (["train", "--data", tmp_path / "test1"], ["evaluate", "m.npz", tmp_path / "test1"]):
        if command[0] == "evaluate":
            run(capsys, "train", "--epochs", 5, "--quiet", "--output", "m.npz")
        code, _, err = run(capsys, *command)
        assert code == 2 and "no labels in" in err and "neuronet predict" in err and err.count("\n") == 1


def test_predict_reads_folders_keeps_going_past_bad_files_and_writes_a_table(capsys, tmp_path):
    make_photo_folder(tmp_path / "train", per_class=20, layout="flat")
    run(capsys, "train", "--data", tmp_path / "train", "--image-size", 16, "--epochs", 50, "--output", "cats.npz",
        "--quiet")
    rng = np.random.default_rng(1)
    (tmp_path / "new" / "deeper").mkdir(parents=True)
    photo("cat", rng).save(tmp_path / "new" / "1.jpg")
    photo("dog", rng).save(tmp_path / "new" / "deeper" / "2.png")
    (tmp_path / "new" / "broken.jpg").write_bytes(b"not a picture")
    code, out, err = run(capsys, "predict", "cats.npz", tmp_path / "new", "missing.jpg", "--output", "preds.csv")
    assert code == 1  # two inputs failed, and said so; the others were labelled
    assert "broken.jpg: error: not a readable image" in err and "missing.jpg: error: no such file" in err
    assert "1.jpg: cat (" in out and "2.png: dog (" in out
    lines = (tmp_path / "preds.csv").read_text().splitlines()
    assert lines[0] == "file,label,p_cat,p_dog" and len(lines) == 3


def test_predict_skips_a_bad_table_and_reads_the_next(capsys, tmp_path):
    run(capsys, "train", "--epochs", 50, "--quiet")
    from sklearn.datasets import load_breast_cancer

    (tmp_path / "notes.txt").write_text("hello")
    np.save("rows.npy", load_breast_cancer().data[:2])
    code, out, err = run(capsys, "predict", "neuronet-runs/run-1/model.npz", "notes.txt", "rows.npy")
    assert code == 1 and "notes.txt: error: not a table of numbers" in err and err.count("\n") == 1
    assert out.count("rows.npy[") == 2


def test_the_learning_rate_study_says_what_it_trains_on_many_classes(capsys):
    code, out, _ = run(capsys, "study", "learning-rate", "--data", "digits", "--rates", "0.1", "--iterations", 20,
                       "--output", "lr.png")
    assert code == 0 and "class 0 against the rest" in out


def test_the_learning_rate_study_trains_an_mlp_or_a_cnn_and_each_study_writes_a_new_figure(capsys, tmp_path):
    code, out, _ = run(capsys, "study", "learning-rate", "--data", "digits", "--model", "cnn", "--rates", "0.1,1000",
                       "--iterations", 2)
    assert code == 0
    assert "A convolutional network (softmax over 10 classes) on digits, 2 epochs of minibatch gradient descent" in out
    assert "diverges" in out
    code, out, _ = run(capsys, "study", "learning-rate", "--data", "digits", "--model", "cnn", "--rates", "0.1",
                       "--iterations", 1)
    assert code == 0
    assert sorted(os.listdir(tmp_path / "neuronet-runs")) == ["learning-rate-digits-cnn-2.png",
                                                              "learning-rate-digits-cnn.png"]
    code, _, err = run(capsys, "study", "learning-rate", "--model", "cnn")
    assert code == 2 and "--model cnn needs images" in err


def test_a_folder_too_large_for_memory_at_the_asked_size_is_refused_before_decoding(capsys, tmp_path):
    make_photo_folder(tmp_path / "photos", per_class=3, layout="subfolders")
    code, _, err = run(capsys, "train", "--data", tmp_path / "photos", "--image-size", 40000)
    assert code == 2 and err.count("\n") == 1
    assert "images at 40000×40000 need about" in err and "give a smaller image size (--image-size 64" in err
