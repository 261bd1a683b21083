"""One checked container for everything neuronet writes: models, checkpoints and the
image cache.

The layout is that of `safetensors <https://github.com/huggingface/safetensors>`_, so
the official ``safetensors`` package reads our files, and we read its files when they
carry neuronet's metadata (below)::

    ┌──────────┬──────────────────────────────┬──────────────────────────────────┐
    │ 8 bytes  │ N bytes                      │ the data region                  │
    │ N, as a  │ a JSON object, padded with   │ every tensor's raw little-endian │
    │ uint64   │ spaces so that 8 + N is a    │ bytes, one after the other, in   │
    │ (little- │ multiple of 8                │ widest dtype first, no gaps      │
    │ endian)  │                              │                                  │
    └──────────┴──────────────────────────────┴──────────────────────────────────┘

The header names each tensor's dtype, shape and byte range in the data region, and
its ``__metadata__`` (a string-to-string map) holds neuronet's own part: the format's
name and version, the caller's ``meta`` dict as JSON text, and a SHA-256 of that text
and of every tensor::

    {"__metadata__": {"format": "neuronet", "format_version": "2",
                      "meta": "{...}", "sha256": "9f86d0..."},
     "weights/0/bias": {"dtype": "F32", "shape": [10], "data_offsets": [0, 40]},
     ...}

Why this layout:

* **No code runs on load.** A file is JSON and numbers; nothing is unpickled, so a
  hostile file can at worst be refused.
* **A bounded header.** The reader checks the header's length (at most 1 MiB, above
  the 0.6 MB that the largest model the writer accepts needs) and
  every claim in it (dtypes, shapes, byte ranges, contiguity, the data region's size)
  *before* allocating anything, so a forged claim cannot make it allocate more memory
  than the file holds.
* **Raw tensors, no compression.** The data region is read once into one buffer and
  every array is a view of it: no decompression (hence no zip bombs) and no copies.
* **A checksum.** The SHA-256 turns a flipped bit anywhere in the meta text or the
  tensors into a clear error instead of a silently different model.

Files written by neuronet's format version 1 (zip archives of ``.npy`` members) are
still read; see :func:`_load_version_1` at the end of this module.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import shutil
import socket
import stat
import struct
import tempfile
import time
import zipfile
import zlib

import numpy as np

FORMAT = "neuronet"
FORMAT_VERSION = 2

# The JSON header, at most 1 MiB: the largest model neuronet describes (1000 layers of the
# longest configuration, 1000 classes named in 40 characters) takes 0.6 MB, and parsing
# 1 MiB of JSON costs a fraction of a second and a few tens of MB whatever it holds.
MAX_HEADER_BYTES = 1 << 20
MAX_DIMENSIONS = 64  # NumPy's own limit on an array's number of dimensions
STALE_SECONDS = 24 * 3600  # a temporary file this old is abandoned, whoever wrote it

# The safetensors dtype names neuronet reads and writes, with their NumPy dtypes.
DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_CODES = {(dtype.kind, dtype.itemsize): code for code, dtype in DTYPES.items()}

# Every error a damaged or hostile file can raise while it is read; each becomes a
# ModelFileError.
_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, RecursionError,
                MemoryError, OverflowError, RuntimeError, NotImplementedError, struct.error,
                zipfile.BadZipFile, zlib.error)


class ModelFileError(ValueError):
    """The file is not a valid neuronet file (model, checkpoint or cache)."""


def _refuse(path, reason):
    """A :class:`ModelFileError` saying, on one line, why the file at ``path`` is refused."""
    return ModelFileError(f"{path!r} {' '.join(str(reason).split())[:300]}")


# ---------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------


def current_umask():
    """The process's umask: what new files' permissions leave out."""
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def destination(path, follow_links=True):
    """The file that saving to ``path`` writes: ``path`` itself, or the file its symbolic
    links lead to (so that ``latest.npz → run3.npz`` replaces run3.npz and keeps the link);
    with ``follow_links=False``, ``path`` itself (a link there is replaced, never its target).

    Raises ValueError, before anything is written, when ``path`` names a folder (or ends
    with a separator), a device, a FIFO or a socket: saving would replace it with a file.
    """
    path = os.fspath(path)
    if not os.path.basename(path):
        raise ValueError(f"cannot save to {path!r}: it names a folder; give a file name, e.g. "
                         f"{os.path.join(path, 'model.npz')}")
    target = os.path.realpath(path) if follow_links else os.path.abspath(path)
    try:
        mode = os.stat(target).st_mode if follow_links else os.lstat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as error:  # a loop of symbolic links, a folder we may not search
        raise _naming(error, path) from None
    kind = next((kind for test, kind in _KINDS if test(mode)), None)
    if kind is not None:
        raise ValueError(f"cannot save to {path!r}: it is {kind}, not a regular file; give the path of a file")
    return target


def _naming(error, path):
    """``error`` (an OSError) saying which file it concerns: the one the caller named."""
    return type(error)(error.errno, error.strerror or str(error), os.fspath(path))


def _host():
    return socket.gethostname().replace(os.sep, "_") or "localhost"


def _is_running(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _abandoned(path, tag):
    """Whether the temporary file ``path`` (tagged ``<host>.<pid>.<random>``) was left by a
    save that will not finish: its process, on this host, is gone, or it is over a day old.
    A tag of another form was left by an older neuronet, which cleaned up on every save."""
    host, pid, _ = (tag.rsplit(".", 2) + ["", ""])[:3]
    if not pid.isdigit():
        return True
    try:
        if time.time() - os.lstat(path).st_mtime > STALE_SECONDS:
            return True
    except OSError:
        return False
    return host == _host() and not _is_running(int(pid))


def temporary_prefix(name):
    """How a temporary file or folder standing in for ``name`` begins: ``.NAME.<host>.<pid>.``
    (then a random part and ``.tmp``), so that any process can tell whether it is abandoned."""
    return f".{name}.{_host()}.{os.getpid()}."


def remove_abandoned(folder, name):
    """Delete the temporary files and folders for ``name`` in ``folder`` that killed writers
    left (see :func:`write_atomically`); never one another process is still writing."""
    prefix = f".{name}."
    for stale in glob.glob(os.path.join(glob.escape(folder), glob.escape(prefix) + "*.tmp")):
        if _abandoned(stale, os.path.basename(stale)[len(prefix):-len(".tmp")]):
            with contextlib.suppress(OSError):
                shutil.rmtree(stale) if os.path.isdir(stale) and not os.path.islink(stale) else os.remove(stale)


def write_atomically(path, write, follow_links=True):
    """Call ``write(file)`` on a temporary file beside the destination, fsync it, then
    rename it over the destination: a crash at any instant leaves either the old file or
    the new. The destination is ``path``, or the file its symbolic links lead to (see
    :func:`destination`: folders, devices, FIFOs and sockets are refused); with
    ``follow_links=False``, ``path`` itself: a symbolic link there is replaced by the file,
    and what it pointed to is left as it was.

    The temporary file is ``.NAME.<host>.<pid>.<random>.tmp``; one that a killed save left
    is deleted by the next save to the same name (when its process is gone, or after a
    day), never one that another process is still writing. The file gets the permissions
    any new file gets (0666 less the umask). An OSError names ``path``.
    """
    target = destination(path, follow_links)
    folder, name = os.path.split(target)
    try:
        os.makedirs(folder, exist_ok=True)
        remove_abandoned(folder, name)
        handle, temporary = tempfile.mkstemp(prefix=temporary_prefix(name), suffix=".tmp", dir=folder)
    except OSError as error:
        raise _naming(error, path) from None
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(error, OSError):
            raise _naming(error, path) from None
        raise
    with contextlib.suppress(OSError):
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def save_file(path, meta, arrays, follow_links=True):
    """Write ``meta`` and named arrays to ``path`` as one checked file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write. An existing file is replaced only once the new one is
        complete (see :func:`write_atomically`).
    meta : dict
        JSON-serialisable information (str keys; finite floats only). It comes back
        from :func:`load_file` with ``"format_version"`` set to the file's version.
    arrays : dict of str to numpy.ndarray
        Numeric or bool arrays (dtypes as in :data:`DTYPES`). Names may not start
        with ``"__"``. Arrays in any byte order or memory layout are accepted and
        written C-ordered and little-endian.
    follow_links : bool, default True
        Whether a symbolic link at ``path`` has its target replaced (as for a model
        saved through ``latest.npz``) or is itself replaced (as for a cache's entries).

    Raises
    ------
    ValueError
        If ``meta`` is not JSON-serialisable, an array is not numeric or bool, or a
        name is not allowed.
    """
    tensors = _tensors(arrays)
    header = _header(_metadata(meta, tensors), tensors)

    def write(file):
        file.write(header)
        for array in tensors.values():
            file.write(array.data)

    write_atomically(path, write, follow_links)


def _meta_text(meta):
    """``meta`` as JSON text, refusing what JSON cannot hold exactly."""
    if not isinstance(meta, dict):
        raise ValueError(f"meta must be a dict, not {type(meta).__name__}")
    try:
        return json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError(f"meta is not JSON-serialisable (finite numbers only): {error}") from None


def _tensors(arrays):
    """The arrays as C-ordered little-endian arrays, in the order they are laid out:
    widest dtype first, then by name (as safetensors orders them), so that every
    tensor starts at an offset aligned for its dtype. Copies only arrays that are not
    already C-ordered and little-endian."""
    tensors = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or name.startswith("__"):
            raise ValueError(f"array name {name!r} is not allowed: names are strings not starting with '__'")
        array = np.asarray(value)
        code = _CODES.get((array.dtype.kind, array.dtype.itemsize))
        if code is None:
            raise ValueError(f"cannot save {name!r}: its dtype {array.dtype} is not one of "
                             f"{', '.join(DTYPES)} (numbers and bools only)")
        tensors[name] = np.asarray(array, dtype=DTYPES[code], order="C")
    return dict(sorted(tensors.items(), key=lambda item: (-item[1].dtype.itemsize, item[0])))


def _code(array):
    """The safetensors name of a (little-endian) array's dtype, e.g. ``"F32"``."""
    return _CODES[array.dtype.kind, array.dtype.itemsize]


def _checksum(meta_text, tensors):
    """SHA-256 of the meta text and of every tensor's name, dtype, shape and bytes.

    ``tensors`` are C-contiguous little-endian arrays; their memory is hashed in
    place. Each tensor's description is a line of JSON, so the hashed stream is
    unambiguous: the description fixes how many bytes follow it.
    """
    digest = hashlib.sha256(meta_text.encode() + b"\n")
    for name in sorted(tensors):
        array = tensors[name]
        digest.update(json.dumps([name, _code(array), list(array.shape)]).encode() + b"\n")
        digest.update(array.data)
    return digest.hexdigest()


def _metadata(meta, arrays):
    """The header's ``__metadata__`` for ``meta`` and ``arrays``: neuronet's part of a
    file, as the string-to-string map safetensors expects."""
    meta_text = _meta_text(meta)
    return {"format": FORMAT, "format_version": str(FORMAT_VERSION), "meta": meta_text,
            "sha256": _checksum(meta_text, _tensors(arrays))}


def _header(metadata, tensors):
    """The file's first bytes: the header's length, then the padded JSON header."""
    entries = {"__metadata__": metadata}
    offset = 0
    for name, array in tensors.items():
        entries[name] = {"dtype": _code(array), "shape": list(array.shape),
                         "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(entries).encode()
    text += b" " * (-len(text) % 8)
    if len(text) > MAX_HEADER_BYTES:
        raise ValueError(f"the header would take {len(text)} bytes, more than a file may "
                         f"({MAX_HEADER_BYTES}): store less in meta, or fewer, larger arrays")
    return struct.pack("<Q", len(text)) + text


# ---------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------


def load_file(path):
    """Read and verify a file written by :func:`save_file`.

    Parameters
    ----------
    path : str or os.PathLike
        A neuronet file: format version 2 (safetensors layout) or 1 (``.npz``).

    Returns
    -------
    meta : dict
        The ``meta`` given to :func:`save_file`, with ``"format_version"`` added.
    arrays : dict of str to numpy.ndarray
        The arrays, writable, little-endian.

    Raises
    ------
    ModelFileError
        If the file is missing, damaged, altered, hostile or not a neuronet file;
        the message names the file and the reason.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"no file at {path!r}")
    try:
        with open(path, "rb") as file:
            if file.read(4) != _ZIP_MAGIC:
                file.seek(0)
                return _load_version_2(file, path)
        return _load_version_1(path)
    except ModelFileError:
        raise
    except _READ_ERRORS as error:
        raise _refuse(path, f"could not be read ({type(error).__name__}: {error})") from None


def _load_version_2(file, path):
    """Read the safetensors-layout file open as ``file``: each claim is checked before
    it is acted on, and the data region is read once."""
    size = os.fstat(file.fileno()).st_size
    header_length = _read_header_length(file, size, path)
    header = _parse_json(_read_exactly(file, header_length, path), path, "a header")
    if not isinstance(header, dict):
        raise _refuse(path, "has a header that is not a JSON object")
    meta_text, checksum = _check_metadata(header.pop("__metadata__", None), path)
    layout = _check_layout(header, size - 8 - header_length, path)
    data = _read_exactly(file, size - 8 - header_length, path)
    arrays = {name: _view(data, dtype, shape, begin) for name, (dtype, shape, begin) in layout.items()}
    meta = _parse_json(meta_text, path, "a meta")
    if not isinstance(meta, dict):
        raise _refuse(path, "has a meta that is not a JSON object")
    if _checksum(meta_text, arrays) != checksum:
        raise _refuse(path, "is damaged or altered: its arrays do not match their checksum")
    _check_bools(arrays, path)
    return {**meta, "format_version": FORMAT_VERSION}, arrays


def _read_header_length(file, size, path):
    """The header's length N, once it is known to fit the file and the limit."""
    if size < 8:
        raise _refuse(path, f"is too short to be a neuronet file ({size} bytes)")
    (header_length,) = struct.unpack("<Q", file.read(8))
    if header_length > MAX_HEADER_BYTES:
        raise _refuse(path, f"claims a {header_length}-byte header; at most {MAX_HEADER_BYTES} are allowed")
    if header_length > size - 8:
        raise _refuse(path, f"claims a {header_length}-byte header but holds only {size - 8} bytes after its length")
    return header_length


def _read_exactly(file, size, path):
    """The next ``size`` bytes of ``file``, read into one bytearray (``size`` has been
    checked against the file's size already)."""
    data = bytearray(size)
    view, filled = memoryview(data), 0
    while filled < size:
        count = file.readinto(view[filled:])
        if not count:
            raise _refuse(path, f"ended after {filled} of {size} bytes (truncated while being read?)")
        filled += count
    return data


def _refuse_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is beyond the largest float")
    return value


def _no_duplicates(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("an object has the same key twice")
    return dict(pairs)


def _parse_json(text, path, what):
    """Strict JSON: UTF-8, no NaN or Infinity (nor a float too large to be finite), no key
    given twice."""
    try:
        if isinstance(text, (bytes, bytearray)):
            text = text.decode("utf-8")
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                          object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _refuse(path, f"has {what} that is not valid JSON ({error})") from None


def _check_metadata(metadata, path):
    """neuronet's ``__metadata__``: (meta text, checksum), or the reason it is refused."""
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise _refuse(path, "is not a neuronet file (its header has no neuronet metadata)")
    version = metadata.get("format_version")
    if version is not None and not isinstance(version, str):
        raise _refuse(path, f"has its format version written as a JSON {type(version).__name__} "
                            f"({str(version)[:20]}); neuronet writes it as a string, \"{FORMAT_VERSION}\"")
    if version != str(FORMAT_VERSION):
        raise _refuse(path, f"has format version {version!r:.30}; this neuronet reads versions 1 and "
                            f"{FORMAT_VERSION}")
    meta_text, checksum = metadata.get("meta"), metadata.get("sha256")
    if not isinstance(meta_text, str) or not isinstance(checksum, str):
        raise _refuse(path, "has neuronet metadata without its meta text or checksum")
    return meta_text, checksum


def _is_count(value):
    """A non-negative Python int (a bool is not a count)."""
    return type(value) is int and value >= 0


def _check_entry(name, entry):
    """One tensor's header entry: (dtype, shape, begin, end), or ValueError."""
    if name.startswith("__"):
        raise ValueError(f"has an unknown header entry {name!r}")
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise ValueError(f"has a malformed entry for {name!r}")
    dtype, shape, offsets = DTYPES.get(entry["dtype"]), entry["shape"], entry["data_offsets"]
    if dtype is None:
        raise ValueError(f"gives {name!r} an unsupported dtype {entry['dtype']!r}")
    if not isinstance(shape, list) or len(shape) > MAX_DIMENSIONS or not all(map(_is_count, shape)):
        raise ValueError(f"gives {name!r} a shape that is not a list of at most "
                         f"{MAX_DIMENSIONS} non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_count, offsets)):
        raise ValueError(f"gives {name!r} data offsets that are not two non-negative integers")
    begin, end = offsets
    if end - begin != math.prod(shape) * dtype.itemsize:
        raise ValueError(f"gives {name!r} {end - begin} bytes, but its dtype and shape need "
                         f"{math.prod(shape) * dtype.itemsize}")
    return dtype, tuple(shape), begin, end


def _check_layout(header, data_length, path):
    """Every tensor entry, checked: known dtype, sane shape, byte range matching them,
    and ranges tiling the data region exactly, from 0, in offset order.

    Returns ``{name: (dtype, shape, begin)}``.
    """
    try:
        entries = {name: _check_entry(name, entry) for name, entry in header.items()}
    except ValueError as error:
        raise _refuse(path, error) from None
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: item[1][2:]):
        if begin != position:
            problem = "overlaps the array before it" if begin < position else "leaves a gap before it"
            raise _refuse(path, f"places {name!r} at byte {begin}, which {problem} (expected {position})")
        position = end
    if position != data_length:
        raise _refuse(path, f"describes {position} bytes of arrays but holds {data_length}")
    return {name: (dtype, shape, begin) for name, (dtype, shape, begin, _) in entries.items()}


def _view(data, dtype, shape, begin):
    """The array at byte ``begin`` of ``data``: a writable view, or an aligned copy
    where the tensor before it leaves it at an odd offset for its dtype."""
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=begin).reshape(shape)
    return array if begin % dtype.alignment == 0 else array.copy()


def _check_bools(arrays, path):
    """A bool array's bytes are 0 or 1; NumPy misbehaves on any other."""
    for name, array in arrays.items():
        if array.dtype == bool and np.any(array.view(np.uint8) > 1):
            raise _refuse(path, f"holds bool array {name!r} with bytes other than 0 and 1")


# ---------------------------------------------------------------------------------
# Nested state ↔ (meta, arrays)
# ---------------------------------------------------------------------------------

_MARKERS = ("__array__", "__strings__", "__float__")


def tree_to_file(tree):
    """Split a nested state into JSON-safe ``meta`` and named arrays for :func:`save_file`.

    Parameters
    ----------
    tree : object
        Dicts with str keys, lists, tuples, None, bool, int, float, str, NumPy scalars
        and NumPy arrays, nested to any depth.

    Returns
    -------
    meta : dict
        ``{"tree": ...}``: the state with each numeric or bool array replaced by
        ``{"__array__": name}``, each unicode array by ``{"__strings__": [...],
        "shape": [...]}``, each non-finite float by ``{"__float__": "nan"}`` (or
        ``"inf"``, ``"-inf"``), NumPy scalars by Python numbers and tuples by lists.
    arrays : dict of str to numpy.ndarray
        The numeric and bool arrays, named by their path in the tree, e.g.
        ``"optimizer/slots/m"`` (``"array"`` when the tree is a bare array).

    Raises
    ------
    ValueError
        For anything else (objects, bytes, complex numbers, non-str dict keys), for
        dicts using the marker keys above, and for two arrays whose paths coincide.
    """
    arrays = {}
    return {"tree": _encode(tree, (), arrays)}, arrays


def _encode(value, path, arrays):
    if isinstance(value, np.generic):
        return _encode(_python_scalar(value, path), path, arrays)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, dict):
        return {key: _encode(item, (*path, key), arrays) for key, item in _checked_items(value, path)}
    if isinstance(value, (list, tuple)):
        return [_encode(item, (*path, str(index)), arrays) for index, item in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _encode_array(value, path, arrays)
    raise ValueError(f"cannot store {_where(path)}: a {type(value).__name__} is not plain data or an array")


def _where(path):
    return f"'{'/'.join(path)}'" if path else "the tree"


def _python_scalar(value, path):
    if (value.dtype.kind, value.dtype.itemsize) in _CODES:
        return value.item()
    if value.dtype.kind == "U":
        return str(value)
    raise ValueError(f"cannot store {_where(path)}: a NumPy {value.dtype} scalar is not a number or string")


def _checked_items(mapping, path):
    if any(marker in mapping for marker in _MARKERS):
        raise ValueError(f"cannot store {_where(path)}: its keys {_MARKERS} are reserved")
    for key in mapping:
        if not isinstance(key, str):
            raise ValueError(f"cannot store {_where(path)}: key {key!r} is not a string")
    return mapping.items()


def _encode_array(array, path, arrays):
    if array.dtype.kind == "U":
        return {"__strings__": array.ravel().tolist(), "shape": list(array.shape)}
    if (array.dtype.kind, array.dtype.itemsize) not in _CODES:
        raise ValueError(f"cannot store {_where(path)}: arrays of {array.dtype} are not numbers, bools or strings")
    name = "/".join(path) or "array"
    if name in arrays:
        raise ValueError(f"cannot store {_where(path)}: another array has the same path")
    arrays[name] = array
    return {"__array__": name}


def tree_from_file(meta, arrays):
    """Rebuild the nested state that :func:`tree_to_file` split.

    Parameters
    ----------
    meta : dict
        The ``meta`` from :func:`tree_to_file` (or from :func:`load_file`).
    arrays : dict of str to numpy.ndarray
        The arrays from :func:`tree_to_file` (or from :func:`load_file`).

    Returns
    -------
    object
        The state, with arrays, unicode arrays and non-finite floats restored (tuples
        come back as lists).

    Raises
    ------
    ModelFileError
        If ``meta`` holds no tree, or the tree refers to an array ``arrays`` lacks or
        holds a malformed marker.
    """
    if not isinstance(meta, dict) or "tree" not in meta:
        raise ModelFileError("the file holds no state tree ('tree' is missing from its meta)")
    try:
        return _decode(meta["tree"], arrays)
    except (KeyError, TypeError, ValueError, RecursionError) as error:
        raise ModelFileError(f"the file's state tree is malformed ({type(error).__name__}: {error})") from None


_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _decode(value, arrays):
    if isinstance(value, list):
        return [_decode(item, arrays) for item in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return arrays[value["__array__"]]
    if "__strings__" in value:
        return np.array(value["__strings__"], dtype=str).reshape(value["shape"])
    if "__float__" in value:
        return _FLOATS[value["__float__"]]
    return {key: _decode(item, arrays) for key, item in value.items()}


# ---------------------------------------------------------------------------------
# Format version 1: a zip of .npy members (read only)
# ---------------------------------------------------------------------------------

_ZIP_MAGIC = b"PK\x03\x04"  # no version-2 file starts so: its header would exceed 1 MiB
MAX_MEMBER_BYTES = 1 << 30  # one array, at most 1 GiB
MAX_TOTAL_BYTES = 4 << 30
MAX_META_BYTES = 4 * MAX_HEADER_BYTES  # the meta text, as UTF-32: as many characters as a header holds bytes
NPY_HEADER_BYTES = 1 << 16  # the .npy header before an array: NumPy writes at most 64 KiB


def _load_version_1(path):
    """Read a neuronet format-version-1 file: a zip of uncompressed ``.npy`` members,
    ``meta`` (0-d unicode array of JSON, with a checksum) and the arrays.

    Every member is checked before it is read: stored, not compressed (nothing is
    inflated), named ``*.npy``, within the size limits, and holding exactly the
    bytes its ``.npy`` header promises, of a dtype without objects.
    """
    members = {}
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        _check_members_version_1(infos, os.path.getsize(path), path)
        for info in infos:
            name = info.filename[:-len(".npy")]
            if name in members:
                raise _refuse(path, f"holds two members named {info.filename!r}")
            members[name] = _read_member_version_1(archive, info, path)
    if "meta" not in members:
        raise _refuse(path, "is a zip file but not a neuronet file (no 'meta')")
    meta = _meta_version_1(members.pop("meta"), path)
    if meta.get("checksum") != _checksum_version_1(members, {k: v for k, v in meta.items() if k != "checksum"}):
        raise _refuse(path, "is damaged or altered: its arrays do not match their checksum")
    return {**meta, "format_version": 1}, members


def _check_members_version_1(infos, size, path):
    """Every member stored (nothing is inflated), an array, and within the file: what the
    zip directory claims is checked against the file's size before anything is read."""
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            raise _refuse(path, f"holds a compressed member {info.filename!r}; neuronet stored its arrays uncompressed")
        if not info.filename.endswith(".npy"):
            raise _refuse(path, f"holds {info.filename!r}, which is not an array")
        if (info.file_size > MAX_MEMBER_BYTES or info.file_size != info.compress_size
                or info.header_offset + info.compress_size > size):
            raise _refuse(path, f"holds {info.filename!r} of a size a neuronet file cannot hold")
        if info.filename == "meta.npy" and info.file_size > MAX_META_BYTES + NPY_HEADER_BYTES:
            raise _refuse(path, f"holds a 'meta' of {info.file_size} bytes; at most {MAX_META_BYTES} are allowed")
    if sum(info.file_size for info in infos) > min(MAX_TOTAL_BYTES, size):
        raise _refuse(path, "claims more data than the file holds (a zip bomb?)")


def _read_member_version_1(archive, info, path):
    """One ``.npy`` member: its header checked against its size, then read without
    pickles."""
    with archive.open(info) as member:
        if _checked_npy_header(member, info.file_size, info.filename, path):
            raise _refuse(path, f"has {info.filename} in Fortran order; neuronet wrote its arrays in C order "
                                "(and checksums them without copying)")
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _checked_npy_header(file, size, filename, path):
    """Read the ``.npy`` header at the start of ``file`` (``size`` bytes in all) and check
    it against the data that follows: numbers only, and exactly the bytes the shape and
    dtype need. Returns whether the array is stored in Fortran order (more than one
    dimension, column by column)."""
    shape, fortran_order, dtype, header_end = _npy_header(file, filename, path)
    if dtype.hasobject:
        raise _refuse(path, f"holds an object array ({filename}); neuronet reads numbers only")
    if math.prod(shape) * dtype.itemsize != size - header_end:
        raise _refuse(path, f"has {filename} claiming a size other than the data it holds")
    return bool(fortran_order) and len(shape) > 1


def _npy_header(member, filename, path):
    """(shape, Fortran order, dtype, header length) of an ``.npy`` member, or ModelFileError."""
    try:
        version = np.lib.format.read_magic(member)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"unsupported .npy version {version}")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(member)
        header_end = member.tell()
    except Exception as error:  # noqa: BLE001 - NumPy's header parser raises many kinds on hostile input
        reason = f"{type(error).__name__}: {error}"
        raise _refuse(path, f"has {filename} with an unreadable .npy header ({reason})") from None
    if not all(map(_is_count, shape)):
        raise _refuse(path, f"has {filename} with a negative dimension")
    return shape, fortran_order, dtype, header_end


def load_npy(path):
    """The array in the ``.npy`` file at ``path``, read without pickles and without
    allocating more than the file holds: its header is checked against the file's size
    first (a 100-byte file cannot claim 2⁴⁰ rows).

    Raises
    ------
    ModelFileError
        If the file is missing, not a regular file, or not an ``.npy`` file of numbers
        whose header matches its size.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"no file at {path!r}")
    try:
        with open(path, "rb") as file:
            _checked_npy_header(file, os.fstat(file.fileno()).st_size, "its header", path)
            file.seek(0)
            return np.lib.format.read_array(file, allow_pickle=False)
    except ModelFileError:
        raise
    except _READ_ERRORS as error:
        raise _refuse(path, f"could not be read ({type(error).__name__}: {error})") from None


def _meta_version_1(array, path):
    if array.dtype.kind != "U" or array.ndim != 0 or array.nbytes > MAX_META_BYTES:
        raise _refuse(path, "has a malformed 'meta' entry")
    try:
        meta = json.loads(str(array))
    except (ValueError, RecursionError) as error:
        raise _refuse(path, f"has a 'meta' that is not valid JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _refuse(path, "is not a neuronet file (its 'meta' names another format)")
    if meta.get("version") != 1:
        raise _refuse(path, f"has format version {meta.get('version')!r}; this neuronet reads versions 1 and "
                            f"{FORMAT_VERSION}")
    return meta


def _checksum_version_1(arrays, meta):
    """The checksum of format version 1: SHA-256 of the sorted-key meta JSON, then of
    each array's name, dtype, shape and bytes in name order."""
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.data)
    return digest.hexdigest()
