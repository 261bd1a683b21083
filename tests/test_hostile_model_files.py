"""Hostile model files: each costs bounded time and memory, gets one clear error (the API's
ModelFileError, the command line's one line), changes no file, and is never loaded with a
wrong meaning.

The forged files carry valid checksums (an attacker recomputes them); each is loaded in a
child process by the harness of ``test_hostile_harness``.
"""

import copy
import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import neuronet
from neuronet import files
from neuronet.files import ModelFileError, load_file, save_file
from test_hostile_harness import (HOSTILE_TEXT, assert_bounded, assert_one_clear_error, assert_one_cli_line, cli,
                                  leaves, run_cases, snapshot)

MODULE = "test_hostile_model_files"
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
DATA = os.path.join(os.path.dirname(__file__), "data")
BOMB_MIB = 256  # what the compressed member inflates to; the file holds about 256 KiB


# --- what the child runs -------------------------------------------------------------------


def load(path):
    neuronet.load(path)
    return "loaded"


def predict(*argv):
    return cli("predict", *argv)


def resume_from(model_file, folder):
    return cli("train", "--resume", "--checkpoint", model_file, "--output", os.path.join(folder, "never.npz"),
               "--quiet")


def save_with_meta_over_the_limit(path):
    fitted = neuronet.load(path)
    neuronet.save(fitted, path, extra={"notes": "x" * (17 << 20)})


def load_arrays(path):
    _, arrays = load_file(path)
    return sum(array.nbytes for array in arrays.values()) >> 20


# --- writing hostile files -------------------------------------------------------------------


def forge(source, target, change=None, arrays_change=None):
    """``source`` with its meta tree and arrays changed, saved with a valid checksum."""
    meta, arrays = load_file(source)
    meta = copy.deepcopy({key: value for key, value in meta.items() if key != "format_version"})
    arrays = dict(arrays)
    if change:
        change(meta["tree"])
    if arrays_change:
        arrays_change(arrays)
    save_file(target, meta, arrays)
    return str(target)


def forge_meta_text(source, target, old, new):
    """``source`` with ``old`` replaced by ``new`` in its meta's JSON text (where JSON's own
    writer would refuse: Infinity, 1e999), with the checksum recomputed."""
    meta, arrays = load_file(source)
    text = json.dumps({key: value for key, value in meta.items() if key != "format_version"})
    assert text.count(old) == 1
    text = text.replace(old, new)
    tensors = files._tensors(arrays)
    metadata = {"format": "neuronet", "format_version": "2", "meta": text, "sha256": files._checksum(text, tensors)}
    with open(target, "wb") as file:
        file.write(files._header(metadata, tensors))
        for array in tensors.values():
            file.write(array.tobytes())
    return str(target)


def forge_metadata(source, target, **changes):
    """``source`` with fields of its header's ``__metadata__`` changed (e.g. its format version)."""
    meta, arrays = load_file(source)
    tensors = files._tensors(arrays)
    metadata = {**files._metadata({k: v for k, v in meta.items() if k != "format_version"}, tensors), **changes}
    return write_header(target, metadata, tensors)


def write_header(target, metadata, tensors):
    """A version-2 file of ``tensors`` (laid out in order) under a header with ``metadata``,
    however large that header is."""
    entries, offset = {"__metadata__": metadata}, 0
    for name, array in tensors.items():
        entries[name] = {"dtype": files._code(array), "shape": list(array.shape),
                         "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(entries).encode()
    text += b" " * (-len(text) % 8)
    with open(target, "wb") as file:
        file.write(struct.pack("<Q", len(text)) + text)
        for array in tensors.values():
            file.write(array.tobytes())
    return str(target)


def zero_size_tensors(target, count):
    """A version-2 file of ``count`` empty arrays (67 bytes of header each), its metadata and
    checksum valid."""
    tensors = files._tensors({f"{index:07d}": np.zeros(0, np.float32) for index in range(count)})
    return write_header(target, files._metadata({}, tensors), tensors)


def zip_bomb(path):
    """A format-version-1 file whose one deflated member inflates to BOMB_MIB MiB of zeros."""
    header = io_bytes(lambda buffer: np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": (BOMB_MIB << 17,)}))
    meta = io_bytes(lambda buffer: np.save(buffer, np.array('{"format": "neuronet", "version": 1}')))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("meta.npy", meta, compress_type=zipfile.ZIP_STORED)
        with archive.open("weights.npy", "w") as member:
            member.write(header)
            zeros = bytes(1 << 20)
            for _ in range(BOMB_MIB):
                member.write(zeros)
    return str(path)


def io_bytes(write):
    buffer = io.BytesIO()
    write(buffer)
    return buffer.getvalue()


def version_1_with(source, target, change, meta_change=None):
    """A format-version-1 file (a zip of .npy members) with its arrays (and meta) changed and its
    checksum recomputed."""
    with np.load(source) as members:
        arrays = {name: members[name] for name in members.files if name != "meta"}
        meta = json.loads(str(members["meta"]))
    change(arrays)
    if meta_change:
        meta_change(meta)
    meta["checksum"] = files._checksum_version_1(arrays, {k: v for k, v in meta.items() if k != "checksum"})
    with zipfile.ZipFile(target, "w") as archive:
        for name, array in {"meta": np.array(json.dumps(meta)), **arrays}.items():
            archive.writestr(f"{name}.npy", io_bytes(lambda buffer, array=array: np.save(buffer, array)))
    return str(target)


# --- the files -----------------------------------------------------------------------------

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 4))
Y = np.array(["cat", "dog"] * 20)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile-models")


@pytest.fixture(scope="module")
def originals(folder):
    """A logistic regression, a pipeline with a scaler, an image model and a checkpoint."""
    logistic = neuronet.LogisticRegression(max_iter=20).fit(X, Y)
    neuronet.save(logistic, folder / "logistic.npz", extra={"class_names": ["cat", "dog"]})
    neuronet.save(make_pipeline(StandardScaler(), neuronet.MLPClassifier((3,), max_iter=5, random_state=0)).fit(X, Y),
                  folder / "pipeline.npz")
    images = RNG.uniform(size=(40, 48))
    neuronet.save(neuronet.LogisticRegression(max_iter=5).fit(images, Y), folder / "images.npz",
                  extra={"image_shape": [3, 4, 4], "image_size": 4, "class_names": ["cat", "dog"], "grayscale": False})
    neuronet.MLPClassifier((3,), max_iter=2, tol=0, random_state=0).fit(X, Y, checkpoint=folder / "run.ckpt")
    np.savetxt(folder / "rows.csv", X[:3], delimiter=",")
    return folder


def set_layer(**config):
    return lambda tree: tree["network"]["config"]["layers"][0]["config"].update(config)


def set_param(name, value):
    return lambda tree: tree["estimator"]["params"].update({name: value})


def set_extra(name, value):
    return lambda tree: tree["extra"].update({name: value})


def set_state(name, value):
    return lambda tree: tree["estimator"]["state"].update({name: value})


def hostile_files(folder):
    """{name: (path, pattern of the one-line refusal)}"""
    logistic, pipeline = folder / "logistic.npz", folder / "pipeline.npz"
    images = folder / "images.npz"

    def claim_dense(tree):
        tree["network"]["config"]["input_shape"] = [100_000]
        tree["network"]["config"]["layers"][0]["config"]["units"] = 100_000

    def three_classes(tree):
        tree["estimator"]["state"]["classes"] = {"__strings__": ["a", "b", "c"], "shape": [3]}

    def nan_weight(arrays):
        arrays["network/weights/0/bias"] = np.array([np.nan], np.float32)

    def short_mean(arrays):
        arrays["preprocessing/0/fitted/mean_"] = arrays["preprocessing/0/fitted/mean_"][:3]

    def short_legacy_mean(arrays):
        arrays["extra/mean"] = arrays["extra/mean"][:5]

    def one_class(tree):
        tree["estimator"]["state"]["classes"] = {"__strings__": ["cat"], "shape": [1]}
        tree["extra"]["class_names"] = ["cat"]

    def integer_bias(arrays):
        arrays["network/weights/0/bias"] = arrays["network/weights/0/bias"].astype(np.int64)

    def legacy_infinite_iterations(meta):
        meta["fitted"]["n_iter_"] = float("inf")  # JSON's writer gives Infinity, as an attacker would

    cases = {
        "a zip bomb": (zip_bomb(folder / "bomb.npz"), "compressed member 'weights.npy'"),
        "a 100000×100000 Dense layer claimed by a tiny file": (
            forge(logistic, folder / "dense.npz", claim_dense),
            r"weight 0/weights has shape \(4, 1\), the architecture"),
        "units: Infinity": (forge_meta_text(logistic, folder / "infinity.npz", '"units": 1', '"units": Infinity'),
                            "Infinity is not a number JSON allows"),
        "units: 1e999": (forge_meta_text(logistic, folder / "1e999.npz", '"units": 1', '"units": 1e999'),
                         "beyond the largest float"),
        "units: 10**30": (forge(logistic, folder / "huge.npz", set_layer(units=10**30)), "claims 10{30} numbers"),
        "units: a string": (forge(logistic, folder / "string.npz", set_layer(units="1")), "units"),
        "three classes for one sigmoid unit": (forge(logistic, folder / "classes.npz", three_classes),
                                               "3 classes .* do not fit its output layer of 1 Sigmoid"),
        "threshold 2.0": (forge(logistic, folder / "threshold.npz", set_param("threshold", 2.0)),
                          "'threshold' parameter .* Got 2.0"),
        "threshold 'abc'": (forge(logistic, folder / "abc.npz", set_param("threshold", "abc")),
                            "'threshold' parameter .* Got 'abc'"),
        "a NaN weight": (forge(logistic, folder / "nan.npz", None, nan_weight), "NaN or infinity"),
        "image shape 3×40000×40000": (
            forge(images, folder / "shape.npz", set_extra("image_shape", [3, 40000, 40000])),
            "image shape .* claims 4800000000 numbers"),
        "image shape of another size": (forge(images, folder / "other.npz", set_extra("image_shape", [3, 4, 5])),
                                        "does not fit its network's input"),
        "image size 'abc'": (forge(images, folder / "size.npz", set_extra("image_size", "abc")), "image size 'abc'"),
        "one class name for two classes": (forge(logistic, folder / "names.npz", set_extra("class_names", ["cat"])),
                                           "class names .* do not name its 2 classes"),
        "a scaler's mean of 3 numbers for 4 features": (forge(pipeline, folder / "mean.npz", None, short_mean),
                                                        "StandardScaler's mean_ is not 4 finite numbers"),
        "a version-1 standardizer of 5 numbers for 30 features": (
            version_1_with(os.path.join(DATA, "legacy-v1-mlp.npz"), folder / "legacy.npz", short_legacy_mean),
            "StandardScaler reads 5 features, its network 30"),
        "a checkpoint where a model is expected": (str(folder / "run.ckpt"), "is a training checkpoint, not a model"),
        "n_features_in_ a string": (forge(pipeline, folder / "features.npz", set_state("n_features_in", "4")),
                                    "fitted n_features_in_ '4' is not an integer"),
        "n_features_in_ infinite": (
            forge(pipeline, folder / "features-inf.npz", set_state("n_features_in", {"__float__": "inf"})),
            "fitted n_features_in_ 'inf' is not an integer"),
        "n_iter_ infinite": (forge(pipeline, folder / "iter-inf.npz", set_state("n_iter", {"__float__": "inf"})),
                             "fitted n_iter_ 'inf' is not an integer"),
        "a version-1 n_iter_ of Infinity": (
            version_1_with(os.path.join(DATA, "legacy-v1-mlp.npz"), folder / "legacy-inf.npz", lambda arrays: None,
                           legacy_infinite_iterations), "fitted n_iter_ 'inf' is not an integer"),
        "a LogisticRegression of one class": (forge(logistic, folder / "one.npz", one_class),
                                              "LogisticRegression has fewer than 2 classes"),
        "a version-1 standardizer's mean without its scale": (
            version_1_with(os.path.join(DATA, "legacy-v1-mlp.npz"), folder / "no-scale.npz",
                           lambda arrays: arrays.pop("extra/scale")), "extra/mean without extra/scale"),
        "int64 weights": (forge(logistic, folder / "int64.npz", None, integer_bias),
                          r"weight 0/bias holds int64 numbers; weights are floats"),
        "format_version the number 2": (forge_metadata(logistic, folder / "number.npz", format_version=2),
                                        r"format version written as a JSON int \(2\); neuronet writes it as a string"),
        "230000 empty arrays": (zero_size_tensors(folder / "empty-arrays.npz", 230_000),
                                f"-byte header; at most {files.MAX_HEADER_BYTES} are allowed"),
        "as many empty arrays as the header limit allows": (
            zero_size_tensors(folder / "empty-arrays-max.npz", (files.MAX_HEADER_BYTES - 1024) // 67),
            "holds no state tree"),
    }
    return cases


ARRAY_MIB = 32


@pytest.fixture(scope="module")
def child(originals):
    """Every hostile case of this module, run in one child process (see test_hostile_harness):
    (the hostile files, {case: result}, the folder before, the folder after)."""
    folder = originals
    hostile = hostile_files(folder)
    (folder / "keep").mkdir()
    (folder / "keep" / "model.npz").write_bytes((folder / "logistic.npz").read_bytes())
    save_file(folder / "big.safetensors", {}, {"X": np.zeros(ARRAY_MIB << 20, np.uint8)})
    before = snapshot(folder)
    cases = {**{("load", name): (MODULE, "load", path) for name, (path, _) in hostile.items()},
             **{("predict", name): (MODULE, "predict", path, str(folder / "rows.csv"))
                for name, (path, _) in hostile.items()},
             "resume from a model": (MODULE, "resume_from", str(folder / "logistic.npz"), str(folder)),
             "fuzz metadata": (MODULE, "fuzz_metadata", [str(folder / name) for name in
                                                          ("logistic.npz", "pipeline.npz", "images.npz")], 100),
             "fuzz npy headers": (MODULE, "fuzz_version_1_npy_headers", os.path.join(DATA, "legacy-v1-network.npz"),
                                  120),
             "save over the limit": (MODULE, "save_with_meta_over_the_limit", str(folder / "keep" / "model.npz")),
             "load a large array": (MODULE, "load_arrays", str(folder / "big.safetensors"))}
    results = run_cases(list(cases.values()), case_seconds=60)
    return hostile, dict(zip(cases, results)), before, snapshot(folder)


def test_every_hostile_model_file_is_refused_in_one_line_by_the_api_in_bounded_time_and_memory(child):
    hostile, results, _, _ = child
    for name, (_, pattern) in hostile.items():
        assert_one_clear_error(results["load", name], ("ModelFileError",), pattern)
        assert_bounded(results["load", name], seconds=10, mib=40)  # the zip bomb would take 256 MiB, the Dense 37 GiB


def test_every_hostile_model_file_is_one_line_and_status_2_from_the_command_line(child):
    hostile, results, _, _ = child
    for name, (_, pattern) in hostile.items():
        assert_one_cli_line(results["predict", name], "^neuronet predict: error: .*" + pattern)
        assert_bounded(results["predict", name], seconds=10, mib=40)


def test_a_model_file_given_as_a_checkpoint_is_named_as_a_model(child):
    result = child[1]["resume from a model"]
    assert_one_cli_line(result, "is a saved model, not a training checkpoint: load a model with neuronet.load")
    assert_bounded(result, seconds=15, mib=150)


def test_hostile_model_files_change_no_file(child):
    _, _, before, after = child
    assert after == before


# --- every exception a damaged file can raise is caught ------------------------------------------


HOSTILE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 3), st.just(10**30), st.just(-(10**30)), st.floats(-1e300, 1e300),
    HOSTILE_TEXT, st.lists(st.integers(-1, 3), max_size=4), st.just({}), st.just({"a": 1}),
    st.just([[1, 2]]), st.just({"__array__": "network/weights/0/bias"}), st.just({"__float__": "nan"}),
)


def replaced(tree, path, value):
    tree = copy.deepcopy(tree)
    if not path:
        return value
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return tree


def fuzz_metadata(paths, examples):
    """Replace one value of each model's meta tree with a hostile one, save it with a valid
    checksum, load it, predict with it: a model that predicts finite probabilities, or a
    ModelFileError (a ValueError from predict), and nothing else. Returns the count of
    examples that loaded and of those refused."""
    import tempfile

    originals = [load_file(path) for path in paths]
    outcome = {"loaded": 0, "refused": 0}
    target = os.path.join(tempfile.mkdtemp(), "fuzzed.npz")

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one(data):
        meta, arrays = originals[data.draw(st.integers(0, len(originals) - 1))]
        tree = meta["tree"]
        path = data.draw(st.sampled_from(leaves(tree)))
        save_file(target, {"tree": replaced(tree, path, data.draw(HOSTILE_VALUES))}, arrays)
        try:
            model = neuronet.load(target)
        except ModelFileError as error:
            assert "\n" not in str(error)
            outcome["refused"] += 1
            return
        outcome["loaded"] += 1
        samples = np.zeros((2, *meta["tree"]["input"]["shape"]))
        try:
            outputs = model.predict_proba(samples) if hasattr(model, "predict_proba") else model.predict(samples)
        except ValueError:
            return
        assert np.isfinite(outputs).all()
        assert not hasattr(model, "predict_proba") or ((0 <= outputs) & (outputs <= 1)).all()

    one()
    return outcome


def test_any_hostile_value_in_the_metadata_gives_a_model_or_a_model_file_error(child):
    result = child[1]["fuzz metadata"]
    assert result["raised"] is None, result["message"]
    assert result["returned"]["refused"] > 30 and result["returned"]["loaded"] > 5
    assert_bounded(result, seconds=60, mib=100)


def fuzz_version_1_npy_headers(path, examples):
    """Flip single bits in the .npy headers of a format-version-1 file: the same model, or a
    ModelFileError, and nothing else (NumPy's header parser raises SyntaxError,
    tokenize.TokenError and more on such bytes). Returns how many were refused."""
    import tempfile

    raw = open(path, "rb").read()
    headers = [index for start in range(len(raw)) if raw.startswith(b"\x93NUMPY", start)
               for index in range(start, start + 128)]
    target = os.path.join(tempfile.mkdtemp(), "flipped.npz")
    refused = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True)
    @given(where=st.sampled_from(headers), bit=st.integers(0, 7))
    def one(where, bit):
        damaged = bytearray(raw)
        damaged[where] ^= 1 << bit
        with open(target, "wb") as file:
            file.write(damaged)
        try:
            neuronet.load(target)
        except ModelFileError as error:
            assert "\n" not in str(error)
            refused.append(where)

    one()
    return len(refused)


def test_a_flipped_bit_in_a_version_1_npy_header_gives_a_model_file_error_or_the_same_model(child):
    result = child[1]["fuzz npy headers"]
    assert result["raised"] is None, result["message"]
    assert result["returned"] > 60  # most flips are refused; the rest hit bytes the reader does not use
    assert_bounded(result, seconds=60, mib=60)


# --- what save writes, load reads --------------------------------------------------------------


def test_a_long_logistic_run_with_validation_data_saves_a_file_that_loads(tmp_path):
    model = neuronet.LogisticRegression(max_iter=3000, tol=0).fit(X, Y, validation_data=(X, Y))
    neuronet.save(model, tmp_path / "long.npz")
    loaded = neuronet.load(tmp_path / "long.npz")
    assert loaded.n_iter_ == 3000 and len(loaded.history_.epoch) == 200
    assert os.path.getsize(tmp_path / "long.npz") < 12_000  # four curves of 200 steps, whatever the run's length
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def header_bytes(path):
    with open(path, "rb") as file:
        return struct.unpack("<Q", file.read(8))[0]


def test_an_mlp_trained_for_many_epochs_writes_headers_of_the_size_of_a_short_run_and_keeps_its_curves(tmp_path):
    """loss_curve_ and validation_scores_ are tensors in the model file and the checkpoint, not JSON lists."""
    headers, models = [], []
    for epochs in (10, 1000):
        model = neuronet.MLPClassifier((2,), max_iter=epochs, tol=0, n_iter_no_change=epochs, batch_size=20,
                                       early_stopping=True, validation_fraction=0.5, random_state=0)
        model.fit(X, Y, checkpoint=tmp_path / f"{epochs}.ckpt")
        neuronet.save(model, tmp_path / f"{epochs}.npz")
        headers.append([header_bytes(tmp_path / f"{epochs}.{kind}") for kind in ("npz", "ckpt")])
        models.append(model)
    assert all(long < short + 200 for long, short in zip(*headers))  # as JSON, the curves took 40 bytes an epoch
    loaded = neuronet.load(tmp_path / "1000.npz")
    assert loaded.loss_curve_ == models[1].loss_curve_ and len(loaded.loss_curve_) == 1000
    assert loaded.validation_scores_ == models[1].validation_scores_ and type(loaded.validation_scores_) is list


def test_metadata_over_the_readers_limit_is_refused_by_the_writer_and_the_old_file_kept(child):
    result = child[1]["save over the limit"]
    assert_one_clear_error(result, ("ValueError",), f"more than a file may \\({files.MAX_HEADER_BYTES}\\)")
    assert_bounded(result, seconds=10, mib=120)  # the 17 MB of notes, as text and as JSON


def test_an_array_larger_than_a_member_cap_loads_with_memory_of_its_own_size(child):
    result = child[1]["load a large array"]  # the image cache of ~87k images at 64 px is one 1.07 GB array
    assert result["returned"] == ARRAY_MIB
    assert_bounded(result, seconds=10, mib=ARRAY_MIB + 24)  # the data, read once, every array a view of it


def test_the_largest_network_a_file_may_describe_saves_and_loads_within_half_the_header_limit(tmp_path):
    """1,000 layers of the longest configuration (Conv2D): the header limit leaves room."""
    layers = [neuronet.nn.Conv2D(1, 3, padding=1) for _ in range(999)] + [neuronet.nn.Flatten()]
    network = neuronet.nn.Sequential(layers).build((1, 4, 4))
    neuronet.save(network, tmp_path / "deep.npz")
    with open(tmp_path / "deep.npz", "rb") as file:
        assert struct.unpack("<Q", file.read(8))[0] < files.MAX_HEADER_BYTES // 2
    assert len(neuronet.load(tmp_path / "deep.npz").layers) == 1000
