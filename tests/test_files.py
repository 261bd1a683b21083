"""neuronet.files: the checked container (safetensors layout) for models, checkpoints
and the image cache, and its reader of format-version-1 files."""

import io
import json
import math
import os
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuronet import files
from neuronet.files import ModelFileError, load_file, save_file, tree_from_file, tree_to_file

DATA = Path(__file__).parent / "data"
LEGACY = {"legacy-v1-cnn.npz": "estimator", "legacy-v1-logistic.npz": "estimator",
          "legacy-v1-mlp.npz": "estimator", "legacy-v1-network.npz": "network"}


def every_dtype():
    """For each supported dtype: a matrix, a 0-d array and an empty array."""
    arrays = {}
    for code, dtype in files.DTYPES.items():
        values = (np.arange(12) % 2 if dtype == bool else np.arange(12) * 3 - 5 * (dtype.kind != "u"))
        arrays[f"{code}/matrix"] = values.astype(dtype).reshape(3, 4)
        arrays[f"{code}/scalar"] = np.array(values[7], dtype=dtype)
        arrays[f"{code}/empty"] = np.zeros((0, 3), dtype=dtype)
    return arrays


def assert_same_arrays(loaded, expected):
    assert sorted(loaded) == sorted(expected)
    for name, array in expected.items():
        assert loaded[name].dtype == array.dtype.newbyteorder("=")
        assert loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)


def header_of(path):
    """The JSON header of a file we wrote, and the length of its length-plus-header."""
    raw = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), 8 + length


# --- round trips -------------------------------------------------------------------


def test_files_round_trip_every_supported_dtype(tmp_path):
    arrays = every_dtype()
    save_file(tmp_path / "all.nn", {"note": "every dtype"}, arrays)
    meta, loaded = load_file(tmp_path / "all.nn")
    assert meta == {"note": "every dtype", "format_version": 2}
    assert_same_arrays(loaded, arrays)
    assert all(array.flags.writeable for array in loaded.values())


def test_files_round_trip_of_non_contiguous_and_big_endian_arrays_gives_little_endian_arrays(tmp_path):
    matrix = np.arange(24, dtype=np.float64).reshape(4, 6)
    arrays = {"transposed": matrix.T, "strided": matrix[::2, 1::3], "big_endian": matrix.astype(">f8"),
              "big_endian_ints": np.arange(5, dtype=">i4")[::-1], "fortran": np.asfortranarray(matrix)}
    save_file(tmp_path / "odd.nn", {}, arrays)
    _, loaded = load_file(tmp_path / "odd.nn")
    assert_same_arrays(loaded, arrays)
    assert all(array.dtype.byteorder in "<|=" for array in loaded.values())


def test_files_layout_is_safetensors_with_a_padded_header_and_aligned_contiguous_tensors(tmp_path):
    arrays = {"b": np.ones(3, np.float32), "a": np.zeros((2, 2), np.uint8), "c": np.array(1.5)}
    save_file(tmp_path / "layout.nn", {"k": [1, 2]}, arrays)
    header, data_start = header_of(tmp_path / "layout.nn")
    assert data_start % 8 == 0
    assert header["__metadata__"]["format"] == "neuronet" and header["__metadata__"]["format_version"] == "2"
    assert json.loads(header["__metadata__"]["meta"]) == {"k": [1, 2]}
    assert [name for name in header if name != "__metadata__"] == ["c", "b", "a"]  # widest dtype first
    assert [header[name]["data_offsets"] for name in "cba"] == [[0, 8], [8, 20], [20, 24]]
    assert header["c"] == {"dtype": "F64", "shape": [], "data_offsets": [0, 8]}
    assert os.path.getsize(tmp_path / "layout.nn") == data_start + 24


def test_files_a_tensor_at_an_odd_offset_comes_back_aligned(tmp_path):
    save_file(tmp_path / "odd.nn", {}, {"a": np.ones(3, np.uint8), "b": np.arange(4.0)})
    _, loaded = load_file(tmp_path / "odd.nn")
    assert loaded["b"].flags.aligned and loaded["b"].flags.writeable
    np.testing.assert_array_equal(loaded["b"], np.arange(4.0))


@pytest.mark.parametrize("meta, arrays, message", [
    ({"loss": math.nan}, {}, "JSON-serialisable"),
    ({"model": object()}, {}, "JSON-serialisable"),
    ([1, 2], {}, "must be a dict"),
    ({}, {"labels": np.array(["a", "b"])}, "'labels'"),
    ({}, {"things": np.array([object()], dtype=object)}, "'things'"),
    ({}, {"z": np.zeros(2, np.complex128)}, "'z'"),
    ({}, {"__metadata__": np.zeros(2)}, "not allowed"),
    ({}, {3: np.zeros(2)}, "not allowed"),
])
def test_files_save_refuses_what_the_format_cannot_hold(tmp_path, meta, arrays, message):
    with pytest.raises(ValueError, match=message):
        save_file(tmp_path / "refused.nn", meta, arrays)
    assert not os.path.exists(tmp_path / "refused.nn")


def test_files_atomic_write_leaves_the_old_file_when_the_writer_raises(tmp_path):
    path = tmp_path / "model.nn"
    save_file(path, {"generation": 1}, {"w": np.ones(3)})

    def failing_write(file):
        file.write(b"half a file")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        files.write_atomically(path, failing_write)
    meta, arrays = load_file(path)
    assert meta["generation"] == 1
    np.testing.assert_array_equal(arrays["w"], np.ones(3))
    assert os.listdir(tmp_path) == ["model.nn"]


def test_files_saved_without_following_links_replace_the_link_and_keep_its_target(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"kept")
    os.symlink(outside, tmp_path / "entry.safetensors")
    save_file(tmp_path / "entry.safetensors", {"generation": 1}, {"w": np.ones(3)}, follow_links=False)
    assert outside.read_bytes() == b"kept" and not os.path.islink(tmp_path / "entry.safetensors")
    assert load_file(tmp_path / "entry.safetensors")[0]["generation"] == 1


# --- the official safetensors package ----------------------------------------------


def test_files_we_write_are_read_by_safetensors_with_equal_arrays_and_our_metadata(tmp_path):
    safetensors = pytest.importorskip("safetensors")
    import safetensors.numpy

    arrays = every_dtype()
    save_file(tmp_path / "ours.safetensors", {"kind": "network"}, arrays)
    assert_same_arrays(safetensors.numpy.load_file(tmp_path / "ours.safetensors"), arrays)
    with safetensors.safe_open(tmp_path / "ours.safetensors", framework="np") as file:
        metadata = file.metadata()
    assert metadata["format"] == "neuronet" and metadata["format_version"] == "2"
    assert json.loads(metadata["meta"]) == {"kind": "network"}


def test_files_reads_a_safetensors_file_that_carries_neuronet_metadata(tmp_path):
    pytest.importorskip("safetensors")
    import safetensors.numpy

    arrays = every_dtype()
    meta = {"kind": "network", "sizes": [3, 4]}
    safetensors.numpy.save_file(arrays, tmp_path / "theirs.safetensors", metadata=files._metadata(meta, arrays))
    loaded_meta, loaded = load_file(tmp_path / "theirs.safetensors")
    assert loaded_meta == {**meta, "format_version": 2}
    assert_same_arrays(loaded, arrays)


def test_files_refuses_a_safetensors_file_without_neuronet_metadata(tmp_path):
    pytest.importorskip("safetensors")
    import safetensors.numpy

    safetensors.numpy.save_file({"w": np.ones(3, np.float32)}, tmp_path / "plain.safetensors")
    with pytest.raises(ModelFileError, match="not a neuronet file"):
        load_file(tmp_path / "plain.safetensors")


# --- nested state -------------------------------------------------------------------


def assert_same_tree(restored, original):
    """``restored`` is ``original`` as JSON sees it: tuples as lists, NumPy scalars as
    Python numbers, arrays equal with their dtype."""
    if isinstance(original, dict):
        assert isinstance(restored, dict) and list(restored) == list(original)
        for key in original:
            assert_same_tree(restored[key], original[key])
    elif isinstance(original, (list, tuple)):
        assert isinstance(restored, list) and len(restored) == len(original)
        for restored_item, original_item in zip(restored, original):
            assert_same_tree(restored_item, original_item)
    elif isinstance(original, np.ndarray):
        assert restored.shape == original.shape and restored.dtype.kind == original.dtype.kind
        np.testing.assert_array_equal(restored, original)
    elif isinstance(original, float) and math.isnan(original):
        assert isinstance(restored, float) and math.isnan(restored)
    else:
        original = original.item() if isinstance(original, np.generic) else original
        assert type(restored) is type(original) and restored == original


def test_files_tree_round_trip_keeps_nested_arrays_strings_non_finite_floats_and_rng_state(tmp_path):
    rng = np.random.default_rng(12345)
    state = {
        "step": np.int64(7), "learning_rate": np.float32(0.5), "done": np.bool_(False), "name": "adam",
        "losses": [1.0, math.nan, math.inf, -math.inf, np.float64(math.nan)],
        "input_shape": (1, 8, 8), "nothing": None,
        "optimizer": {"slots": {"m": np.arange(6.0).reshape(2, 3), "v": [np.ones(2, np.float32), np.array(3)]}},
        "labels": np.array([["cat", "dog"], ["émeu", ""]]), "no_labels": np.array([], dtype=str).reshape(0, 2),
        "rng": rng.bit_generator.state,
    }
    assert state["rng"]["state"]["state"] >= 2 ** 64  # PCG64 keeps 128-bit integers
    meta, arrays = tree_to_file(state)
    assert sorted(arrays) == ["optimizer/slots/m", "optimizer/slots/v/0", "optimizer/slots/v/1"]
    json.dumps(meta, allow_nan=False)  # the JSON part stays standard
    save_file(tmp_path / "state.nn", meta, arrays)
    restored = tree_from_file(*load_file(tmp_path / "state.nn"))
    assert_same_tree(restored, state)
    generator = np.random.default_rng()
    generator.bit_generator.state = restored["rng"]
    np.testing.assert_array_equal(generator.random(5), rng.random(5))


@pytest.mark.parametrize("tree", [
    {"model": object()}, {1: "integer key"}, {"things": np.array([None], dtype=object)},
    {"raw": b"bytes"}, {"z": 1j}, {"when": np.datetime64("2024-01-01")}, {"set": {1, 2}},
    {"sneaky": {"__array__": "weights"}},
])
def test_files_tree_refuses_objects_and_reserved_keys(tree):
    with pytest.raises(ValueError, match="cannot store"):
        tree_to_file(tree)


def test_files_tree_from_file_refuses_a_reference_to_a_missing_array():
    with pytest.raises(ModelFileError, match="malformed"):
        tree_from_file({"tree": {"w": {"__array__": "missing"}}}, {})


# --- hostile and damaged files --------------------------------------------------------


def neuronet_metadata(**changes):
    return {"format": "neuronet", "format_version": "2", "meta": "{}", "sha256": "0" * 64, **changes}


def entry(shape, begin, end, dtype="F32"):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def write_raw(path, header, data=b"", header_length=None):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    length = len(text) if header_length is None else header_length
    path.write_bytes(struct.pack("<Q", length) + text + data)


def with_entries(**entries):
    return {"__metadata__": neuronet_metadata(), **entries}


HOSTILE = {
    "empty file": (b"", "too short"),
    "five bytes": (b"\x05\0\0\0\0", "too short"),
    "header length 2**63": (with_entries(), b"", 2 ** 63, "claims a 9223372036854775808-byte header"),
    "header longer than the file": (with_entries(), b"", files.MAX_HEADER_BYTES, "but holds only"),
    "header over the limit": (with_entries(), b"", files.MAX_HEADER_BYTES + 8, "at most 1048576 are allowed"),
    "header not UTF-8": (b'{"\xff": 1}', b"", None, "not valid JSON"),
    "header not JSON": (b"{'a': 1}", b"", None, "not valid JSON"),
    "header not an object": (b"[1, 2]", b"", None, "not a JSON object"),
    "NaN in the header": (b'{"__metadata__": {}, "w": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 4]}}',
                          b"\0" * 4, None, "NaN is not a number JSON allows"),
    "deeply nested header": (b"[" * 200_000, b"", None, "not valid JSON"),
    "a key given twice": (b'{"__metadata__": {}, "__metadata__": {}}', b"", None, "same key twice"),
    "no neuronet metadata": ({"w": entry([1], 0, 4)}, b"\0" * 4, None, "not a neuronet file"),
    "another format": ({"__metadata__": neuronet_metadata(format="other")}, b"", None, "not a neuronet file"),
    "a newer format version": ({"__metadata__": neuronet_metadata(format_version="3")}, b"", None,
                               "format version '3'"),
    "the format version a number": ({"__metadata__": neuronet_metadata(format_version=2)}, b"", None,
                                    r"format version written as a JSON int \(2\); neuronet writes it as a string"),
    "unknown dtype": (with_entries(w=entry([2], 0, 4, dtype="BF16")), b"\0" * 4, None, "unsupported dtype"),
    "unknown entry": (with_entries(__code__=entry([1], 0, 4)), b"\0" * 4, None, "unknown header entry"),
    "offsets overlapping": (with_entries(a=entry([2], 0, 8), b=entry([2], 4, 12)), b"\0" * 12, None, "overlaps"),
    "a gap between arrays": (with_entries(a=entry([2], 0, 8), b=entry([2], 12, 20)), b"\0" * 20, None, "gap"),
    "shape product overflow": (with_entries(w=entry([2 ** 40, 2 ** 40], 0, 8)), b"\0" * 8, None, "need"),
    "a claim larger than the file": (with_entries(w=entry([2 ** 40, 2 ** 40], 0, 2 ** 82)), b"\0" * 8, None,
                                     "describes 4835703278458516698824704 bytes of arrays but holds 8"),
    "negative dimension": (with_entries(w=entry([-1, 2], 0, 8)), b"\0" * 8, None, "non-negative integers"),
    "bool dimension": (with_entries(w=entry([True, 2], 0, 8)), b"\0" * 8, None, "non-negative integers"),
    "float dimension": (with_entries(w=entry([2.0], 0, 8)), b"\0" * 8, None, "non-negative integers"),
    "too many dimensions": (with_entries(w=entry([1] * 65, 0, 4)), b"\0" * 4, None, "at most 64"),
    "bool offsets": (with_entries(w=entry([1], False, True, dtype="U8")), b"\0", None, "two non-negative"),
    "data beyond the arrays": (with_entries(w=entry([1], 0, 4)), b"\0" * 5, None, "describes 4 bytes"),
    "meta not an object": ({"__metadata__": neuronet_metadata(meta="[1]")}, b"", None, "not a JSON object"),
    "meta with NaN": ({"__metadata__": neuronet_metadata(meta='{"x": NaN}')}, b"", None, "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_files_hostile_file_is_refused_without_allocating_from_its_claims(tmp_path, case):
    *contents, message = HOSTILE[case]
    path = tmp_path / "hostile.nn"
    if len(contents) == 1:
        path.write_bytes(contents[0])
    else:
        write_raw(path, *contents)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=message) as caught:
            load_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert peak < 4 << 20  # a few MiB at most, whatever the file claims


@pytest.fixture
def valid_file(tmp_path):
    path = tmp_path / "valid.nn"
    save_file(path, {"kind": "network"}, {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(2)})
    return path


def test_files_missing_file_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="no file at"):
        load_file(tmp_path / "absent.nn")


def test_files_truncated_data_is_refused(valid_file):
    valid_file.write_bytes(valid_file.read_bytes()[:-3])
    with pytest.raises(ModelFileError, match="holds 37"):
        load_file(valid_file)


def test_files_one_flipped_data_byte_fails_the_checksum(valid_file):
    raw = bytearray(valid_file.read_bytes())
    raw[-5] ^= 0x40
    valid_file.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="damaged or altered: its arrays do not match their checksum"):
        load_file(valid_file)


def test_files_bool_array_with_other_bytes_is_refused(tmp_path):
    save_file(tmp_path / "bools.nn", {}, {"mask": np.array([0, 2], np.uint8).view(bool)})
    with pytest.raises(ModelFileError, match="bytes other than 0 and 1"):
        load_file(tmp_path / "bools.nn")


FUZZ_ARRAYS = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([True, False]),
               "n": np.array(-3, np.int16)}


def _fuzz_bytes():
    buffer = io.BytesIO()
    tensors = files._tensors(FUZZ_ARRAYS)
    buffer.write(files._header(files._metadata({"kind": "fuzz"}, tensors), tensors))
    for array in tensors.values():
        buffer.write(array.tobytes())
    return buffer.getvalue()


FUZZ_BYTES = _fuzz_bytes()


@settings(max_examples=60, deadline=None)
@given(flips=st.lists(st.tuples(st.integers(0, len(FUZZ_BYTES) - 1), st.integers(1, 255)), max_size=3),
       keep=st.integers(0, len(FUZZ_BYTES)))
def test_files_random_damage_gives_the_same_arrays_or_a_model_file_error(tmp_path_factory, flips, keep):
    raw = bytearray(FUZZ_BYTES)
    for position, mask in flips:
        raw[position] ^= mask
    path = tmp_path_factory.mktemp("fuzz") / "damaged.nn"
    path.write_bytes(bytes(raw[:keep]))
    try:
        meta, arrays = load_file(path)
    except ModelFileError:
        return
    assert meta == {"kind": "fuzz", "format_version": 2}
    assert_same_arrays(arrays, FUZZ_ARRAYS)


# --- format version 1 ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_files_loads_format_version_1_files(name):
    meta, arrays = load_file(DATA / name)
    assert meta["format_version"] == 1 and meta["version"] == 1 and meta["format"] == "neuronet"
    assert meta["kind"] == LEGACY[name]
    weights = [key for key in arrays if key.startswith("weights/")]
    assert weights and all(arrays[key].dtype.kind == "f" for key in weights)


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


VERSION_1_META = npy_bytes(np.array('{"format": "neuronet", "version": 1}'))


def test_files_refuses_a_compressed_version_1_member_before_inflating_it(tmp_path, monkeypatch):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.npy", VERSION_1_META)
        archive.writestr("weights.npy", npy_bytes(np.zeros(1 << 20)), compress_type=zipfile.ZIP_DEFLATED)
    inflated = []
    monkeypatch.setattr(zipfile, "_get_decompressor", lambda *args: inflated.append(args))
    with pytest.raises(ModelFileError, match="compressed member 'weights.npy'"):
        load_file(path)
    assert not inflated


def test_files_refuses_a_version_1_meta_over_the_limit_before_reading_it(tmp_path):
    path = tmp_path / "long-meta.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.npy", npy_bytes(np.array("x" * ((files.MAX_META_BYTES + files.NPY_HEADER_BYTES) // 4 + 1))))
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=f"at most {files.MAX_META_BYTES} are allowed"):
            load_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # the member, over 4 MiB, is not read


def test_files_refuses_a_version_1_file_with_a_flipped_npy_header_byte(tmp_path):
    raw = bytearray((DATA / "legacy-v1-network.npz").read_bytes())
    start = raw.index(b"\x93NUMPY", raw.index(b"weights/0/weights.npy"))
    raw[raw.index(b"descr", start) + 2] ^= 0x01
    (tmp_path / "flipped.npz").write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="weights/0/weights.npy"):
        load_file(tmp_path / "flipped.npz")


@pytest.mark.parametrize("old, new, message", [
    (b"'descr'", b"'dfscr'", "unreadable .npy header"),
    (b"}", b"|", "unreadable .npy header"),  # tokenize.TokenError inside NumPy's parser
    (b"'<f8'", b"'<f8 ", "unreadable .npy header"),  # an unterminated string
    (b"(3,)", b"(-3,)", "negative dimension"),
    (b"(3,)", b"(9,)", "claiming a size other than the data it holds"),
    (b"'<f8'", b"'|O8'", "object array"),
])
def test_files_refuses_a_version_1_member_with_a_malformed_npy_header(tmp_path, old, new, message):
    member = npy_bytes(np.arange(3.0)).replace(old, new, 1)
    with zipfile.ZipFile(tmp_path / "malformed.npz", "w") as archive:  # stored, with a correct CRC
        archive.writestr("meta.npy", VERSION_1_META)
        archive.writestr("weights.npy", member)
    with pytest.raises(ModelFileError, match=message):
        load_file(tmp_path / "malformed.npz")


def test_files_refuses_a_version_1_file_whose_arrays_do_not_match_their_checksum(tmp_path):
    with zipfile.ZipFile(DATA / "legacy-v1-network.npz") as legacy, \
            zipfile.ZipFile(tmp_path / "altered.npz", "w") as altered:
        for info in legacy.infolist():
            data = legacy.read(info)
            if info.filename == "weights/0/bias.npy":
                data = data[:-1] + bytes([data[-1] ^ 0x01])
            altered.writestr(info.filename, data)
    with pytest.raises(ModelFileError, match="do not match their checksum"):
        load_file(tmp_path / "altered.npz")


def test_files_refuses_a_version_1_object_array(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "objects.npz", "w") as archive:
        archive.writestr("meta.npy", VERSION_1_META)
        archive.writestr("things.npy", buffer.getvalue())
    with pytest.raises(ModelFileError, match="object array"):
        load_file(tmp_path / "objects.npz")
