"""What the command line reads: CSV tables as people write them, and models saved from
Python, fed the input they record (size, shape, channels, preprocessing, units)."""

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

import neuronet
from neuronet.persistence import load_described
from neuronet.tables import read_table
from command_line import private_cache, run  # noqa: F401 (a fixture)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")




@pytest.fixture(scope="module")
def digits_pipeline_file(tmp_path_factory):
    """The README's model: raw pixels 0..16 → MinMaxScaler → MLPClassifier, saved from Python."""
    X, y = load_digits(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    model = make_pipeline(MinMaxScaler(), neuronet.MLPClassifier(hidden_layer_sizes=(32,), solver="lbfgs",
                                                                  random_state=0))
    model.fit(X_train, y_train)
    path = tmp_path_factory.mktemp("models") / "digits.npz"
    neuronet.save(model, path)
    return path


# --- tables -----------------------------------------------------------------------
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_sniffed_and_a_header_row_is_kept_as_names(delimiter, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(delimiter.join(["width", "height", "kind"]) + "\n"
                    + "\n".join(delimiter.join(row) for row in [["1.5", "2", "cat"], ["3", "4e-1", "dog"]]) + "\n")
    table = read_table(path, labelled=True)
    assert table.feature_names == ["width", "height"] and table.label_name == "kind"
    np.testing.assert_array_equal(table.X, [[1.5, 2], [3, 0.4]])
    assert list(table.labels) == ["cat", "dog"]


def test_a_table_without_header_has_numbered_columns_and_the_label_column_can_be_chosen(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("0,1.5,2\n1,3,4\n")
    table = read_table(path, labelled=True, label_column=0)
    assert table.feature_names == ["column 2", "column 3"] and list(table.labels) == ["0", "1"]
    assert read_table(path, labelled=True, label_column="-1").labels.tolist() == ["2", "4"]


@pytest.mark.parametrize("text, message", [
    ("a,b,c\n1,2,3\n4,5\n", "rows.csv line 3 has 2 columns; the first row has 3"),
    ("a,b\n1,2\n3,nan\n", "rows.csv line 3, column 'b': nan; neuronet needs finite numbers"),
    ("a,b\n1,inf\n", "rows.csv line 2, column 'b': inf; neuronet needs finite numbers"),
    ("a,b\n1,2\n,4\n", "rows.csv line 3, column 'a': the field is empty"),
    ("1,2\n3,abc\n", "rows.csv line 2, column 'column 2': 'abc' is not a number"),
    ("", "rows.csv holds no rows"),
    ("a,b\n", "rows.csv has a header and no rows"),
])
def test_a_bad_table_is_one_error_naming_the_line_and_the_column(text, message, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match="rows.csv") as error:
        read_table(path)
    assert message in str(error.value)


def test_a_label_column_that_is_not_there_is_named(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no column named 'label'; its columns are a, b"):
        read_table(path, labelled=True, label_column="label")
    with pytest.raises(ValueError, match="there is no column 5"):
        read_table(path, labelled=True, label_column=5)


# --- models saved from Python ---------------------------------------------------------
@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler, MaxAbsScaler])
def test_a_pipeline_of_scalers_saves_as_arrays_and_records_the_raw_range(scaler, tmp_path):
    X, y = load_digits(return_X_y=True)
    model = make_pipeline(scaler(), neuronet.LogisticRegression(max_iter=50, tol=0)).fit(X[:300], y[:300])
    neuronet.save(model, tmp_path / "m.npz")
    loaded, _, expected = load_described(tmp_path / "m.npz")
    assert type(loaded.steps[0][1]) is scaler
    np.testing.assert_allclose(loaded.predict_proba(X[300:]), model.predict_proba(X[300:]), atol=1e-6)
    assert expected["n_features"] == 64 and expected["range"] == pytest.approx([0.0, 16.0], abs=1e-5)


def test_the_readme_model_is_evaluated_on_digits_in_the_units_it_was_trained_on(digits_pipeline_file, capsys):
    code, out, err = run(capsys, "evaluate", digits_pipeline_file, "digits")
    assert code == 0, err
    assert "trained on raw values up to 16" in err
    assert float(out.split("accuracy ")[1].split()[0]) > 0.95


def test_predict_reads_a_semicolon_table_with_a_header_and_warns_of_values_far_outside_training(
        digits_pipeline_file, capsys, tmp_path):
    X, y = load_digits(return_X_y=True)
    header = ";".join(f"pixel{k}" for k in range(64))
    np.savetxt(tmp_path / "rows.csv", X[-5:], delimiter=";", fmt="%g", header=header, comments="")
    np.savetxt(tmp_path / "bright.csv", X[-5:] * 100, delimiter=",", fmt="%g")
    code, out, err = run(capsys, "predict", digits_pipeline_file, tmp_path / "rows.csv", tmp_path / "bright.csv")
    assert code == 0, err
    predicted = [int(line.split(": ")[1].split()[0]) for line in out.splitlines() if line.startswith(str(tmp_path / "rows"))]
    assert np.mean(np.array(predicted) == y[-5:]) >= 0.8
    assert err.count("\n") == 1 and "bright.csv has values in [0, 1600], far outside the [0, 16] seen in training" in err


def test_a_table_of_the_wrong_width_is_one_line_and_the_other_files_go_on(digits_pipeline_file, capsys, tmp_path):
    np.savetxt(tmp_path / "wide.csv", np.ones((2, 65)), delimiter=",")
    np.savetxt(tmp_path / "good.csv", np.ones((2, 64)), delimiter=",")
    code, out, err = run(capsys, "predict", digits_pipeline_file, tmp_path / "wide.csv", tmp_path / "good.csv")
    assert code == 1 and out.count("good.csv[") == 2
    assert "wide.csv has 65 columns; the model expects 64 (is one of them the label? predict reads features only)" in err


def test_evaluate_reads_a_labelled_table_with_string_labels(capsys, tmp_path):
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = np.array(["malignant", "benign"])[data.target]
    rows = [",".join([*map(str, features), label]) for features, label in zip(data.data, names)]
    (tmp_path / "cancer.csv").write_text(",".join([*data.feature_names, "diagnosis"]) + "\n" + "\n".join(rows))
    (tmp_path / "first.csv").write_text("diagnosis;" + ";".join(data.feature_names) + "\n"
                                        + "\n".join(f"{label};" + ";".join(map(str, features))
                                                    for features, label in zip(data.data[:50], names[:50])))
    code, out, err = run(capsys, "train", "--data", tmp_path / "cancer.csv", "--output", "cancer.npz", "--quiet")
    assert code == 0, err
    assert "569 rows of 30 features" in out
    code, out, err = run(capsys, "evaluate", "cancer.npz", tmp_path / "first.csv", "--label-column", "diagnosis")
    assert code == 0, err
    assert "all rows (50 samples)" in out and float(out.split("accuracy ")[1].split()[0]) > 0.9
    code, _, err = run(capsys, "evaluate", "cancer.npz", tmp_path / "first.csv")
    assert code == 2 and "first.csv line 2, column 'radius error'" not in err and "is not a number" in err
    code, _, err = run(capsys, "evaluate", "cancer.npz", "breast-cancer", "--label-column", "x")
    assert code == 2 and "--label-column applies to a CSV table" in err


def test_a_cnn_trained_on_grey_digits_predicts_a_colour_photo_with_its_own_channels(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--data", "digits", "--model", "cnn", "--epochs", 1, "--output", "cnn.npz",
                       "--quiet")
    assert code == 0, err
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    code, out, err = run(capsys, "predict", "cnn.npz", tmp_path / "x.png")
    assert code == 0 and err == "" and out.startswith(str(tmp_path / "x.png"))


def test_a_policy_network_is_named_as_such_by_predict_and_evaluate(capsys, tmp_path):
    policy = neuronet.nn.Sequential([neuronet.nn.Dense(2), neuronet.nn.Softmax()], input_shape=(4,))
    neuronet.save(policy, tmp_path / "pole.npz", extra={"environment": "CartPole-v1"})
    for argv in (["predict", "pole.npz", "x.png"], ["evaluate", "pole.npz", "digits"]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "is a policy network trained by neuronet rl" in err
        assert "neuronet rl cartpole --play pole.npz" in err


def test_a_cnn_fitted_on_flat_rows_in_python_reads_digits_and_photos_from_the_command_line(capsys, tmp_path):
    X, y = load_digits(return_X_y=True)
    cnn = neuronet.CNNClassifier(image_shape=(1, 8, 8), max_iter=2, random_state=0).fit(X / 16, y)
    neuronet.save(cnn, tmp_path / "flat-cnn.npz")
    code, out, err = run(capsys, "evaluate", tmp_path / "flat-cnn.npz", "digits")
    assert code == 0, err
    assert float(out.split("accuracy ")[1].split()[0]) > 0.5
    Image.fromarray(np.zeros((30, 30), dtype=np.uint8)).save(tmp_path / "dark.png")
    code, out, err = run(capsys, "predict", tmp_path / "flat-cnn.npz", tmp_path / "dark.png")
    assert code == 0, err


# --- what a careful reader found ---------------------------------------------------------
def test_a_header_of_column_positions_beside_a_named_label_is_a_header(tmp_path):
    path = tmp_path / "frame.csv"  # pandas writes a frame whose columns have no names like this
    path.write_text("0,1,2,species\n5.1,3.5,1.4,setosa\n4.9,3.0,1.3,virginica\n")
    table = read_table(path, labelled=True)
    assert table.feature_names == ["0", "1", "2"] and list(table.labels) == ["setosa", "virginica"]


def test_a_column_named_with_digits_is_found_by_its_name(tmp_path):
    path = tmp_path / "years.csv"
    path.write_text("id,2019,score\n1,5,0.5\n2,6,0.7\n")
    assert list(read_table(path, labelled=True, label_column="2019").labels) == ["5", "6"]


@pytest.mark.parametrize("labels, names", [(["1", "1.0", "+1", "2"], ["1", "2"]), (["-0", "0.0"], ["0"]),
                                           (["1234567", "1234568"], ["1234567", "1234568"]),
                                           (["10", "9", "b", "a"], ["10", "9", "a", "b"]),
                                           (["10", "9.5"], ["9.5", "10"])])
def test_labels_written_as_numbers_are_one_class_per_value(labels, names):
    from neuronet.datasets import class_labels

    assert class_labels(labels)[0] == names


def test_a_table_labelled_with_values_that_are_not_the_models_class_names_is_refused(capsys, tmp_path):
    rows = "\n".join(f"{k},{k % 3},{label}" for k, label in enumerate(["1", "2"] * 20))
    (tmp_path / "train.csv").write_text("a,b,label\n" + rows)
    (tmp_path / "other.csv").write_text("a,b,label\n" + rows.replace(",1\n", ",0\n").replace(",2\n", ",1\n"))
    assert run(capsys, "train", "--data", tmp_path / "train.csv", "--output", "m.npz", "--quiet")[0] == 0
    code, _, err = run(capsys, "evaluate", "m.npz", tmp_path / "other.csv")
    assert code == 2 and "other.csv has labels the model does not know: ['0']" in err


def test_the_label_column_of_training_is_the_default_for_evaluate(capsys, tmp_path):
    rows = "\n".join(f"{label},{k},{k % 3}" for k, label in enumerate(["yes", "no"] * 30))
    (tmp_path / "t.csv").write_text("answer,a,b\n" + rows)
    code, out, err = run(capsys, "train", "--data", tmp_path / "t.csv", "--label-column", "answer", "--output",
                         "m.npz", "--quiet")
    assert code == 0, err
    assert "--label-column answer" in out.splitlines()[-1]
    code, out, err = run(capsys, "evaluate", "m.npz", tmp_path / "t.csv")
    assert code == 0 and "held-out test split" in out, err


def test_a_python_pipeline_with_class_indices_evaluates_on_the_named_dataset(capsys, tmp_path):
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), neuronet.LogisticRegression(max_iter=300)).fit(X, y)
    neuronet.save(model, tmp_path / "bc.npz")
    code, out, err = run(capsys, "evaluate", tmp_path / "bc.npz", "breast-cancer")
    assert code == 0, err
    assert float(out.split("accuracy ")[1].split()[0]) > 0.95


@pytest.mark.parametrize("array", [np.float64(3.0), np.array(["a", "b"])])
def test_an_npy_that_holds_no_table_of_numbers_is_one_line(array, digits_pipeline_file, capsys, tmp_path):
    np.save(tmp_path / "odd.npy", array)
    code, _, err = run(capsys, "predict", digits_pipeline_file, tmp_path / "odd.npy")
    assert code == 1 and err.count("\n") == 1 and "odd.npy: error: not a table of numbers" in err


def test_a_finished_run_resumed_into_another_output_file_writes_it(capsys, tmp_path):
    argv = ["train", "--epochs", 5, "--tol", 0, "--checkpoint", "run.ckpt", "--quiet"]
    assert run(capsys, *argv, "--output", "a.npz")[0] == 0
    code, out, _ = run(capsys, *argv, "--output", "b.npz", "--resume")
    assert code == 0 and "finished run" in out and (tmp_path / "b.npz").exists()


def test_evaluate_without_data_makes_the_training_data_again_with_its_options(capsys, tmp_path):
    from neuronet import datasets

    made = datasets.load("moons", noise=0.3, n_samples=400, random_state=3)
    X_train, X_test, y_train, y_test = made.split(0.2, 0)
    model = neuronet.MLPClassifier((8,), max_iter=300, random_state=0).fit(X_train, y_train)
    neuronet.save(model, tmp_path / "moons.npz", extra={
        "dataset": "moons", "data": "moons", "class_names": ["0", "1"], "seed": 0, "test_size": 0.2,
        "dataset_options": {"noise": 0.3, "n_samples": 400, "random_state": 3}})
    for argv in (["evaluate", tmp_path / "moons.npz"], ["evaluate", tmp_path / "moons.npz", "moons"]):
        code, out, err = run(capsys, *argv)
        assert code == 0, err
        assert f"accuracy {model.score(X_test, y_test):.4f}" in out and "held-out test split (80 samples)" in out
