"""skops saves neuronet's models trusting neuronet's types alone: estimators, networks,
layers and optimizers hold nothing but those, NumPy arrays and Python values."""

import numpy as np
import pytest

sio = pytest.importorskip("skops.io")
pd = pytest.importorskip("pandas")

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

from neuronet import nn  # noqa: E402
from neuronet.estimators import CNNClassifier, LogisticRegression, MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning",
                                        "ignore::neuronet.diagnosis.StoppedLearningWarning")


def table(n=80, seed=0):
    """A table with a string column and two numeric ones, and labels that depend on both."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"city": rng.choice(["Bern", "Genève", "Zürich"], n),
                          "age": rng.uniform(18, 80, n), "income": rng.normal(50, 10, n)})
    labels = np.where((frame["city"] == "Bern") ^ (frame["age"] > 45), "yes", "no")
    return frame, labels


def column_pipeline():
    columns = ColumnTransformer([("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                                 ("numbers", StandardScaler(), ["age", "income"])])
    return make_pipeline(columns, MLPClassifier((8,), max_iter=30, random_state=0))


def round_trip(model):
    """The model saved and loaded by skops, trusting exactly the types it lists."""
    blob = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=blob)
    assert untrusted and all(name.startswith("neuronet.") for name in untrusted), untrusted
    return sio.loads(blob, trusted=untrusted)


rng = np.random.default_rng(1)
X, X_images = rng.normal(size=(60, 4)), rng.normal(size=(30, 1, 8, 8))
y, y_images = (X[:, 0] + X[:, 1] > 0).astype(int), rng.integers(0, 3, 30)

MODELS = {
    "mlp_adam": (lambda: MLPClassifier((6,), max_iter=20, random_state=0), X, y),
    "mlp_sgd_early_stopping": (lambda: MLPClassifier((6,), solver="sgd", early_stopping=True,
                                                     max_iter=20, random_state=0), X, y),
    "mlp_sgd": (lambda: MLPClassifier((6,), solver="sgd", max_iter=20, random_state=0), X, y),
    "mlp_lbfgs": (lambda: MLPClassifier((6,), solver="lbfgs", max_iter=20, random_state=0), X, y),
    "regressor": (lambda: MLPRegressor(hidden_layer_sizes=(6,), max_iter=20, random_state=0), X, X[:, 0]),
    "logistic": (lambda: LogisticRegression(max_iter=20), X, y),
    "cnn": (lambda: CNNClassifier(max_iter=2, batch_size=16, random_state=0), X_images, y_images),
}


@pytest.mark.parametrize("name", MODELS)
def test_skops_round_trip_trusts_neuronet_types_alone_and_predicts_identically(name):
    make, features, target = MODELS[name]
    model = make().fit(features, target)
    loaded = round_trip(model)
    assert np.array_equal(loaded.predict(features), model.predict(features))
    if hasattr(model, "predict_proba"):
        assert np.array_equal(loaded.predict_proba(features), model.predict_proba(features))


@pytest.mark.parametrize("name", ["mlp_adam", "mlp_sgd", "regressor", "cnn"])
def test_partial_fit_after_a_skops_round_trip_continues_as_the_original_does(name):
    make, features, target = MODELS[name]
    model = make().fit(features, target)
    loaded = round_trip(model)
    for each in (model, loaded):
        each.partial_fit(features, target)
    assert np.array_equal(loaded.predict(features), model.predict(features))
    assert loaded.loss_curve_ == model.loss_curve_


def test_a_column_transformer_pipeline_on_a_table_round_trips_through_skops():
    frame, labels = table()
    pipeline = column_pipeline().fit(frame, labels)
    loaded = round_trip(pipeline)
    queries, _ = table(n=40, seed=1)
    assert np.array_equal(loaded.predict(queries), pipeline.predict(queries))
    assert np.array_equal(loaded.predict_proba(queries), pipeline.predict_proba(queries))
    assert set(loaded.predict(queries)) <= {"no", "yes"}


def test_a_network_with_dropout_keeps_one_random_generator_through_skops():
    net = nn.Sequential([nn.Dense(5), nn.ReLU(), nn.Dropout(0.5), nn.Dense(1)], input_shape=(4,),
                        dtype="float64", random_state=0)
    loaded = round_trip(net)
    assert loaded.dtype == np.float64 and loaded.layers[2].rng is loaded.rng
    assert np.array_equal(loaded.forward(X, training=True), net.forward(X, training=True))


def test_a_network_pickled_with_its_dtype_as_an_object_loads():
    net = nn.Sequential([nn.Dense(3), nn.Sigmoid()], input_shape=(4,), dtype="float64", random_state=0)
    state = net.__getstate__()
    state["dtype"] = np.dtype(state.pop("dtype_name"))  # how networks were pickled before
    older = nn.Sequential.__new__(nn.Sequential)
    older.__setstate__(state)
    assert older.dtype == np.float64 and "dtype" not in vars(older)
    assert np.array_equal(older.predict(X), net.predict(X))
