"""Saving and loading models: one ``.npz`` file, written atomically, loaded without
executing code.

The file is a zip of plain arrays: ``meta`` (a JSON text: format version, what the
model is, its architecture and settings), one array per weight, the class labels and
any preprocessing. Loading uses ``allow_pickle=False``, checks the JSON, the sizes of
the members (no zip bombs), every weight's shape against the architecture and a
SHA-256 of the arrays, and refuses anything else with :class:`ModelFileError`.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

from .network import Sequential

FORMAT = "neuronet"
FORMAT_VERSION = 1
MAX_MEMBER_BYTES = 1 << 30  # 1 GiB uncompressed for one array
MAX_TOTAL_BYTES = 4 << 30
MAX_META_BYTES = 16 << 20


class ModelFileError(ValueError):
    """The file is not a valid neuronet model."""


def _estimators():
    from . import estimators

    return {name: getattr(estimators, name) for name in ("LogisticRegression", "MLPClassifier", "CNNClassifier")
            if hasattr(estimators, name)}


def json_safe(value):
    """Tuples → lists, NumPy scalars → Python, recursively (JSON's view of a value)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _checksum(arrays, meta):
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def write_atomically(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, then rename
    it over ``path``: a crash at any instant leaves either the old file or the new."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    prefix = f".{os.path.basename(path)}."
    for stale in glob.glob(os.path.join(folder, glob.escape(prefix) + "*.tmp")):
        try:
            os.remove(stale)
        except OSError:
            pass
    handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    try:
        directory = os.open(folder, os.O_RDONLY)
        os.fsync(directory)
        os.close(directory)
    except OSError:
        pass


def save_arrays(path, meta, arrays):
    """Write ``meta`` (JSON-safe dict) and named arrays as one checked ``.npz``."""
    arrays = {key: np.asarray(value) for key, value in arrays.items()}
    for key, value in arrays.items():
        if value.dtype == object:
            raise ValueError(f"cannot save {key!r}: object arrays are not allowed in model files")
    meta = {**meta, "format": FORMAT, "version": FORMAT_VERSION}
    meta["checksum"] = _checksum(arrays, meta)
    members = {"meta": np.array(json.dumps(meta)), **arrays}
    write_atomically(path, lambda file: np.savez(file, **members))


def _check_members(path):
    """Before anything is allocated: every member is a plain .npy array whose header
    promises no more data than the member holds (no zip bombs, no object arrays)."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if sum(info.file_size for info in infos) > MAX_TOTAL_BYTES or any(
                info.file_size > MAX_MEMBER_BYTES for info in infos):
            raise ModelFileError(f"{path!r} holds arrays larger than a model file may (a zip bomb?)")
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise ModelFileError(f"{path!r} holds {info.filename!r}, which is not an array")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in ((1, 0), (2, 0)):
                    raise ModelFileError(f"{path!r}: {info.filename} has an unsupported array format {version}")
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(member)
            if dtype.hasobject:
                raise ModelFileError(f"{path!r} holds an object array ({info.filename}); model files hold numbers only")
            if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > info.file_size:
                raise ModelFileError(f"{path!r}: {info.filename} claims more data than it holds")


def load_arrays(path):
    """Read and verify a file written by :func:`save_arrays`: (meta, arrays)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"no model file at {path!r}")
    try:
        _check_members(path)
        with np.load(path, allow_pickle=False) as data:
            if "meta" not in data.files:
                raise ModelFileError(f"{path!r} is an .npz file but not a neuronet model (no 'meta')")
            meta_array = data["meta"]
            if meta_array.dtype.kind != "U" or meta_array.ndim != 0 or meta_array.nbytes > MAX_META_BYTES:
                raise ModelFileError(f"{path!r} has a malformed 'meta' entry")
            meta = json.loads(str(meta_array))
            arrays = {key: data[key] for key in data.files if key != "meta"}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, json.JSONDecodeError,
            UnicodeDecodeError, RuntimeError, MemoryError, zlib.error) as error:
        raise ModelFileError(f"{path!r} is not a readable neuronet model file ({type(error).__name__}: {error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path!r} is not a neuronet model file")
    if meta.get("version") != FORMAT_VERSION:
        raise ModelFileError(f"{path!r} has format version {meta.get('version')!r}; this neuronet reads "
                             f"version {FORMAT_VERSION}")
    if meta.get("checksum") != _checksum(arrays, {k: v for k, v in meta.items() if k != "checksum"}):
        raise ModelFileError(f"{path!r} is damaged or was altered: its arrays do not match their checksum")
    return meta, arrays


def _network_arrays(network):
    return {f"weights/{key}": param for key, param, _ in network.named_parameters()}


def _restore_network(config, arrays):
    try:
        network = Sequential.from_config(config)
    except (TypeError, KeyError, ValueError) as error:
        raise ModelFileError(f"the model's architecture is invalid: {error}") from None
    expected = {f"weights/{key}": param for key, param, _ in network.named_parameters()}
    stored = {key for key in arrays if key.startswith("weights/")}
    if stored != set(expected):
        raise ModelFileError("the stored weights do not match the architecture "
                             f"(missing {sorted(set(expected) - stored)}, extra {sorted(stored - set(expected))})")
    for key, param in expected.items():
        if arrays[key].shape != param.shape or arrays[key].dtype.kind != "f":
            raise ModelFileError(f"weight {key} has shape {arrays[key].shape}, the architecture needs {param.shape}")
        param[...] = arrays[key]
    return network


def save(model, path, extra=None):
    """Save a fitted estimator or a built ``Sequential`` to ``path`` (one ``.npz``).

    ``extra`` may hold JSON-safe information and arrays to keep with the model, e.g.
    preprocessing: ``{"meta": {...}, "arrays": {"name": array}}``.
    """
    extra = extra or {}
    arrays = {f"extra/{k}": v for k, v in extra.get("arrays", {}).items()}
    meta = {"extra": extra.get("meta", {})}
    if isinstance(model, Sequential):
        if not model.built:
            raise ValueError("build the network (give input_shape or run it once) before saving it")
        meta.update(kind="network", network=model.get_config())
        arrays.update(_network_arrays(model))
    elif type(model).__name__ in _estimators():
        if not hasattr(model, "network_"):
            raise ValueError(f"fit the {type(model).__name__} before saving it")
        classes = np.asarray(model.classes_)
        if classes.dtype.kind not in "iufbU":
            classes = classes.astype(str)
        meta.update(
            kind="estimator", estimator=type(model).__name__,
            params=json_safe(model.get_params()),
            network=model.network_.get_config(),
            fitted={"n_features_in_": int(model.n_features_in_), "n_iter_": int(model.n_iter_),
                    "loss_curve_": [float(v) for v in model.loss_curve_],
                    "history": getattr(getattr(model, "history_", None), "history", {})},
        )
        arrays.update(_network_arrays(model.network_), classes=classes)
    else:
        raise ValueError(f"cannot save a {type(model).__name__}: save neuronet networks and estimators")
    save_arrays(path, meta, arrays)


def load(path, with_extra=False):
    """Load what :func:`save` wrote; ``with_extra=True`` also returns the extra dict."""
    meta, arrays = load_arrays(path)
    try:
        model = _rebuild(meta, arrays)
    except ModelFileError:
        raise
    except (TypeError, KeyError, ValueError, AttributeError) as error:
        raise ModelFileError(f"{os.fspath(path)!r} holds an invalid model description: {error}") from None
    if not with_extra:
        return model
    extra = {"meta": meta.get("extra", {}),
             "arrays": {k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")}}
    return model, extra


def _rebuild(meta, arrays):
    network = _restore_network(meta["network"], arrays)
    if meta["kind"] == "network":
        return network
    estimators = _estimators()
    if meta["kind"] != "estimator" or meta.get("estimator") not in estimators:
        raise ModelFileError(f"unknown model kind {meta.get('kind')!r} / {meta.get('estimator')!r}")
    cls = estimators[meta["estimator"]]
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["params"].items()}
    model = cls(**params)
    fitted = meta["fitted"]
    model.network_, model.classes_ = network, arrays["classes"]
    model.n_features_in_, model.n_iter_ = int(fitted["n_features_in_"]), int(fitted["n_iter_"])
    model.loss_curve_ = list(fitted["loss_curve_"])
    if fitted.get("history"):
        from .training import History

        model.history_ = History()
        model.history_.history = {k: list(v) for k, v in fitted["history"].items()}
        model.history_.epoch = list(range(len(model.loss_curve_)))
    return model
