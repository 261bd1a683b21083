"""Folders of photos as datasets: decode, label, cache.

Two layouts are understood:

* class subfolders, ``root/cat/*.jpg``, ``root/dog/*.jpg`` (classes sorted by name,
  hidden folders ignored), as torchvision's ImageFolder;
* the Kaggle dogs-vs-cats flat layout, ``train/cat.0.jpg``, ``train/dog.0.jpg``: the
  label is the part of the name before the first dot.

Each image is turned upright by its EXIF orientation, converted to RGB or grayscale
(16-bit images scaled by their depth), resized, and scaled to [0, 1], giving X of shape
(n, channels, height, width). Only regular files are opened (a FIFO would block the
read forever), and only images of at most :data:`MAX_IMAGE_PIXELS` pixels are decoded,
a few at a time within :data:`DECODING_BYTES`. Files that cannot be read, or decoded,
are skipped, and one warning counts and names them.

The decoded pixels are cached on disk, one file per folder, image size and colour mode
(its name is the start of a key of the folder, its file list with sizes and times, the
size and the mode, so an entry is rebuilt when the folder changes). An entry is written
while decoding, chunk by chunk, so decoding holds a few chunks in memory whatever the
size of the folder; it is read back through a memory map as :class:`CachedImages`, a
few rows at a time, each chunk checked against its SHA-256 the first time it is read,
and each image against its CRC-32 every time it is read.
An entry's layout (cache version 4)::

    uint8 pixels (n, channels, height, width), row after row
    a JSON header: the key, the folder, the shape, the files kept, the rows of a chunk
        (:func:`chunk_rows`), one SHA-256 per chunk, one CRC-32 per image
    a trailer of 16 bytes: the header's length (uint64, little-endian), then b"NNIMAGES"

An entry is written atomically (see :func:`neuronet.files.write_atomically`), never
through a symbolic link, and never read through one.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import mmap
import operator
import os
import re
import shutil
import stat
import struct
import threading
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .files import write_atomically
from .validation import first_few

CACHE_VERSION = 4
CACHE_SUFFIX = ".images"  # an entry: KEY.images (version 3 wrote KEY.safetensors, no longer read)
CHUNK_BYTES = 16 << 20  # a checksummed chunk of an entry holds at most this many bytes of pixels
MAX_HEADER_BYTES = 16 << 20  # an entry's header is refused beyond this (a 100,000-file folder needs about 50 KiB)
_TRAILER = struct.Struct("<Q8s")  # the header's length, then the magic
_MAGIC = b"NNIMAGES"
MAX_IMAGE_PIXELS = 50_000_000  # ordinary photos (JPEGs decode at a reduced scale); larger ones are skipped
DECODING_BYTES = 512 << 20  # what the decoding threads may hold at once, together


class FolderImages(NamedTuple):
    """What a folder holds: images (n, channels, height, width) in [0, 1], their labels
    as class indices, the class names, the files kept, and a one-line description."""

    X: np.ndarray  # or CachedImages, read from the cache when indexed
    y: np.ndarray
    class_names: list
    files: list
    description: str


def cache_folder():
    """$NEURONET_CACHE, else $XDG_CACHE_HOME/neuronet, else ~/.cache/neuronet."""
    if os.environ.get("NEURONET_CACHE"):
        return os.environ["NEURONET_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "neuronet")


# The cache's own files: entries named by their key (32 hex digits, see _cache_key), those
# of version 3 (.safetensors), and the hidden .ENTRY.*.tmp that an interrupted write of one
# leaves (see files.write_atomically).
_CACHE_FILE = re.compile(r"\.?[0-9a-f]{32}\.(images|safetensors)(\..+\.tmp)?")


def cache_files():
    """Paths of the image cache's own files in :func:`cache_folder`, sorted; nothing else
    that shares the folder; empty while the folder does not exist yet."""
    folder = cache_folder()
    if not os.path.exists(folder):
        return []
    return sorted(os.path.join(folder, name) for name in os.listdir(folder) if _CACHE_FILE.fullmatch(name))


def _visible(name):
    return not name.startswith(".")


def list_images(root):
    """(relative path, class name) for every visible entry that is not a folder, in a fixed
    order (what is not a readable image — a FIFO, a dangling link — is skipped when read)."""
    root = os.fspath(root)
    entries = sorted(os.listdir(root))
    folders = [e for e in entries if _visible(e) and os.path.isdir(os.path.join(root, e))]
    if folders:
        files = []
        for label in folders:
            for folder, subfolders, names in os.walk(os.path.join(root, label)):
                subfolders[:] = sorted(d for d in subfolders if _visible(d))
                files += [(os.path.relpath(os.path.join(folder, n), root), label) for n in sorted(names) if _visible(n)]
        return files
    return [(name, name.split(".", 1)[0]) for name in entries
            if _visible(name) and not os.path.isdir(os.path.join(root, name)) and "." in name]


@contextlib.contextmanager
def _regular_file(path):
    """``path`` open for reading, once it is known to be a regular file: it is opened
    without waiting (a FIFO would wait for a writer forever) and checked before any read."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ValueError("not a regular file")
        yield file


class _MemoryBudget:
    """Bytes the decoding threads may hold at once: a decode waits until its share is free
    (a share larger than the whole waits for the whole)."""

    def __init__(self, total):
        self.total = self.free = total
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def share(self, amount):
        amount = min(amount, self.total)
        with self._changed:
            self._changed.wait_for(lambda: self.free >= amount)
            self.free -= amount
        try:
            yield
        finally:
            with self._changed:
                self.free += amount
                self._changed.notify_all()


def _eight_bit(image):
    """16-bit samples (PNG, TIFF: modes I;16… and I) as 8-bit grey, scaled by the depth:
    0…65535 becomes 0…255 (a plain conversion would clip everything above 255)."""
    if not (image.mode.startswith("I;16") or image.mode == "I"):
        return image
    samples = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
    return Image.fromarray(((samples * 255 + 32767) // 65535).astype(np.uint8), mode="L")


def decode_image(path, image_size=(64, 64), grayscale=False, budget=None):
    """One picture as uint8 pixels (channels, height, width).

    Only a regular file of at most :data:`MAX_IMAGE_PIXELS` pixels is decoded; ``budget``
    (a :class:`_MemoryBudget`) bounds what parallel decodes hold together. Raises OSError
    or ValueError for a file that is not a readable image.
    """
    height, width = image_size
    try:
        with _regular_file(path) as file, Image.open(file) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ValueError(f"{image.width}×{image.height} pixels, more than the {MAX_IMAGE_PIXELS / 1e6:g} "
                                 "megapixels an image may have")
            image.draft("L" if grayscale else "RGB", (width, height))  # JPEG: decode at reduced scale
            held = image.width * image.height * 12  # decoded, turned upright and converted: 4 bytes a pixel each
            with budget.share(held) if budget else contextlib.nullcontext():
                image = _eight_bit(ImageOps.exif_transpose(image))
                image = image.convert("L" if grayscale else "RGB").resize((width, height), Image.Resampling.BILINEAR)
                pixels = np.asarray(image, dtype=np.uint8)
    except Image.DecompressionBombError as error:  # over twice Pillow's own limit: refused by Image.open
        raise ValueError(str(error)) from None
    return pixels[None] if grayscale else pixels.transpose(2, 0, 1)


def to_unit_range(pixels):
    """uint8 pixels → float32 in [0, 1]: each value times float32(1/255) (in place on the
    new array; faster than a lookup table or a multiplication that converts as it goes)."""
    scaled = pixels.astype(np.float32)
    scaled *= np.float32(1 / 255)
    return scaled


def _try_decode(path, image_size, grayscale, budget):
    try:
        return decode_image(path, image_size, grayscale, budget)
    except (OSError, ValueError, UnidentifiedImageError, SyntaxError):
        return None


def _status(path):
    """(size, modification time) of the file at ``path``; None for one that cannot be read."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


def _cache_key(root, files, image_size, grayscale):
    """SHA-256 of what the decoded arrays depend on: the folder, each file's name, size and
    time, the size and the mode, one JSON line each (unambiguous whatever the names hold)."""
    lines = [[CACHE_VERSION, os.path.abspath(root), list(image_size), grayscale]]
    lines += [[relative, label, _status(os.path.join(root, relative))] for relative, label in files]
    return hashlib.sha256("\n".join(json.dumps(line) for line in lines).encode()).hexdigest()


def _decoded(root, files, image_size, grayscale):
    """Each file's uint8 pixels (None for one that is not a readable image), in order,
    decoded by a pool of threads a bounded window ahead: what is held at once is the
    window's images, whatever the number of files."""
    paths = [os.path.join(root, relative) for relative, _ in files]
    budget = _MemoryBudget(DECODING_BYTES)
    window = _window(image_size, grayscale)
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=_threads()) as pool:
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # what Pillow warns of is skipped anyway
        pending = collections.deque()
        for path in paths:
            pending.append(pool.submit(_try_decode, path, image_size, grayscale, budget))  # without the GIL
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _threads():
    return min(8, (os.cpu_count() or 1) * 2)


def _window(image_size, grayscale):
    """Images decoded ahead of the one written: a chunk's worth, at least two a thread, at most 256."""
    return min(256, max(2 * _threads(), chunk_rows(image_size, grayscale)))


def _decode_all(root, files, image_size, grayscale):
    """The images that decode, in memory, and a mask of the files they came from."""
    channels = 1 if grayscale else 3
    X = np.empty((len(files), channels, *image_size), np.uint8)
    kept = np.zeros(len(files), dtype=bool)
    n = 0
    for index, pixels in enumerate(_decoded(root, files, image_size, grayscale)):
        if pixels is not None:
            X[n] = pixels
            kept[index] = True
            n += 1
    return X[:n], kept


def chunk_rows(image_size, grayscale):
    """Rows of one checksummed chunk of a cache entry: the largest power of two whose
    images take at most :data:`CHUNK_BYTES` (16 MiB), so a chunk holds 8 to 16 MiB
    (1,024 images at 64×64 RGB, 256 at 128×128), or one image larger than that."""
    row_bytes = (1 if grayscale else 3) * image_size[0] * image_size[1]
    rows = 1
    while 2 * rows * row_bytes <= CHUNK_BYTES:
        rows *= 2
    return rows


def _write_entry(path, key, root, files, image_size, grayscale):
    """Decode the folder into the cache entry at ``path``, a chunk at a time."""
    write_entry(path, key, os.path.abspath(root), len(files), image_size, grayscale,
                _decoded(root, files, image_size, grayscale))


def write_entry(path, key, folder, n_files, image_size, grayscale, decoded):
    """Write the cache entry at ``path`` (atomically, and never through a symbolic link:
    one there is replaced) from ``decoded``, each file's uint8 pixels (channels, height,
    width) or None for a file skipped, written a chunk (:func:`chunk_rows`) at a time."""
    rows = chunk_rows(image_size, grayscale)
    channels = 1 if grayscale else 3

    def write(file):
        buffer = np.empty((rows, channels, *image_size), np.uint8)
        kept, checksums, filled, n = np.zeros(n_files, dtype=bool), [], 0, 0
        row_checksums = bytearray()
        for index, pixels in enumerate(decoded):
            if pixels is None:
                continue
            buffer[filled] = pixels
            row_checksums += _ROW_CHECKSUM.pack(zlib.crc32(buffer[filled]))
            kept[index] = True
            filled, n = filled + 1, n + 1
            if filled == rows:
                checksums.append(hashlib.sha256(buffer).hexdigest())
                file.write(buffer)
                filled = 0
        if filled:
            checksums.append(hashlib.sha256(buffer[:filled]).hexdigest())
            file.write(buffer[:filled])
        header = json.dumps({"version": CACHE_VERSION, "key": key, "folder": folder,
                             "shape": [n, channels, *image_size], "files": n_files,
                             "kept": np.packbits(kept).tobytes().hex(), "chunk_rows": rows,
                             "sha256": checksums, "crc32": row_checksums.hex()}).encode()
        file.write(header)
        file.write(_TRAILER.pack(len(header), _MAGIC))

    write_atomically(path, write, follow_links=False)  # an entry that is a link is replaced, never what it points to


# Each image's CRC-32 in the header: checked on every read of it
_ROW_CHECKSUM = struct.Struct(">I")
_ROW_CHECKSUM_DTYPE = np.dtype(">u4")


class DamagedEntry(ValueError):
    """A cache entry that cannot be used: cut short, altered, or not what it should be."""


def _read_header(descriptor, size):
    """The header of the entry open at ``descriptor`` (``size`` bytes), checked against
    the trailer and the file's size; raises DamagedEntry."""
    if size < _TRAILER.size:
        raise DamagedEntry(f"{size} bytes, shorter than its trailer")
    length, magic = _TRAILER.unpack(os.pread(descriptor, _TRAILER.size, size - _TRAILER.size))
    if magic != _MAGIC:
        raise DamagedEntry("no trailer: cut short, or not an image cache entry of version 4")
    if length > min(MAX_HEADER_BYTES, size - _TRAILER.size):
        raise DamagedEntry(f"a header of {length} bytes, more than the file or the {MAX_HEADER_BYTES} bytes allowed")
    start = size - _TRAILER.size - length
    try:
        header = json.loads(os.pread(descriptor, length, start))
        shape = tuple(operator.index(v) for v in header["shape"])
        rows, n_files = operator.index(header["chunk_rows"]), operator.index(header["files"])
        if len(header["kept"]) != 2 * -(-n_files // 8):
            raise ValueError("a mask of kept files of another length")
        kept = np.unpackbits(np.frombuffer(bytes.fromhex(header["kept"]), np.uint8), count=n_files).astype(bool)
        checksums = header["sha256"]
        row_checksums = np.frombuffer(bytes.fromhex(header["crc32"]), _ROW_CHECKSUM_DTYPE)
        valid = (len(row_checksums) == shape[0] and header["version"] == CACHE_VERSION and isinstance(header["key"], str)
                 and isinstance(header["folder"], str) and len(shape) == 4 and min(shape) >= 0 and rows >= 1
                 and isinstance(checksums, list) and len(checksums) == -(-shape[0] // rows)
                 and all(isinstance(c, str) and len(c) == 64 for c in checksums) and int(kept.sum()) == shape[0])
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as error:
        raise DamagedEntry(f"an unreadable header ({type(error).__name__})") from None
    if not valid:
        raise DamagedEntry("a header that does not hold together")
    if start != int(np.prod(shape, dtype=np.int64)):
        raise DamagedEntry(f"{size} bytes where its {shape[0]} images and header take "
                           f"{int(np.prod(shape, dtype=np.int64)) + length + _TRAILER.size}: cut short or grown")
    return {**header, "shape": shape, "kept": kept, "crc32": row_checksums}


def _open_entry(path):
    """(descriptor, size) of the cache entry at ``path``, opened without following a link."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):
        os.close(descriptor)
        raise DamagedEntry("not a regular file")
    return descriptor, status


def read_entry_header(path):
    """The header of the cache entry at ``path`` (shape, folder, key, …); raises OSError
    when there is none, DamagedEntry when it cannot be used."""
    descriptor, status = _open_entry(path)
    try:
        return _read_header(descriptor, status.st_size)
    finally:
        os.close(descriptor)


class CachedImages:
    """The images of a cache entry as a read-only array of shape (n, channels, height,
    width) and dtype float32, read when indexed: ``images[rows]`` (an int, a slice, an
    array of row numbers or a mask) reads those rows through a memory map and returns
    them in [0, 1], exactly as :func:`to_unit_range` gives them; :meth:`pixels` gives the
    uint8. Each chunk (:func:`chunk_rows`) is checked against its SHA-256 the first time
    this process reads from it, and each image's CRC-32 whenever it is read (what is
    handed on is what was checked); a chunk that does not match is refused (ValueError) and
    the entry removed, so the next run rebuilds it. The pages read are handed back to
    the kernel after each read, so the process's memory does not grow with the entry's
    size. Pickled, it is its path: unpickled (another process), it opens the file again.
    """

    dtype = np.dtype(np.float32)
    lazy = True  # read a slice of rows at a time (neuronet.data.is_lazy)

    def __init__(self, path, key=None):
        self.path = os.fspath(path)
        self._descriptor, status = _open_entry(self.path)
        try:
            header = _read_header(self._descriptor, status.st_size)
            if key is not None and header["key"] != key:
                raise DamagedEntry("another folder's entry")
            self._map = mmap.mmap(self._descriptor, 0, access=mmap.ACCESS_READ)
        except BaseException:
            os.close(self._descriptor)
            raise
        self._file_id, self._size = (status.st_dev, status.st_ino), status.st_size
        self.key, self.folder, self.kept = header["key"], header["folder"], header["kept"]
        self.shape = header["shape"]
        self._row_bytes = int(np.prod(self.shape[1:]))
        self._chunk_rows, self._checksums = header["chunk_rows"], header["sha256"]
        self._row_checksums = header["crc32"]
        self._bytes = np.frombuffer(self._map, np.uint8, count=self.shape[0] * self._row_bytes)
        self._rows = self._bytes.reshape(self.shape)
        self._verified = set()
        self._lock = threading.Lock()
        self._buffer = None  # a chunk's bytes, read to be checked (one buffer, reused)

    def __del__(self):
        with contextlib.suppress(AttributeError, OSError):
            os.close(self._descriptor)

    def __reduce__(self):
        return _reopen, (self.path, self.key)

    @property
    def ndim(self):
        return 4

    @property
    def size(self):
        return int(np.prod(self.shape))

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return f"CachedImages({self.path!r}, shape={self.shape})"

    def fingerprint(self):
        """The cache key: it changes when the folder, the image size or the mode does."""
        return self.key

    def __getitem__(self, index):
        return to_unit_range(self.pixels(index))

    def __array__(self, dtype=None, copy=None):
        """Every image in memory, as float32 (read a chunk at a time)."""
        images = np.empty(self.shape, np.float32)
        for start in range(0, len(self), self._chunk_rows):
            images[start:start + self._chunk_rows] = self[start:start + self._chunk_rows]
        return images if dtype is None else images.astype(dtype, copy=False)

    def pixels(self, index):
        """The uint8 pixels of ``index`` (as :meth:`__getitem__` takes it), checked."""
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step == 1:
                return self._read_range(start, max(start, stop))
            return self._read(np.arange(start, stop, step))
        if isinstance(index, tuple) or index is None or index is Ellipsis:
            raise TypeError("cached images are indexed by rows only (an int, a slice, or an array of row numbers)")
        if np.ndim(index) == 0:
            row = operator.index(index)
            if not -n <= row < n:
                raise IndexError(f"index {row} is out of bounds for {n} images")
            return self._read(np.array([row % n]))[0]
        rows = np.asarray(index)
        if rows.dtype == bool:
            if rows.shape != (n,):
                raise IndexError(f"a mask of {rows.shape} for {n} images")
            rows = np.flatnonzero(rows)
        elif rows.size and not np.issubdtype(rows.dtype, np.integer):
            raise IndexError(f"rows must be integers, got {rows.dtype}")
        rows = rows.astype(np.intp, copy=False).reshape(-1)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"rows out of bounds for {n} images")
        return self._read(np.where(rows < 0, rows + n, rows))

    def _read_range(self, start, stop):
        chunks = range(start // self._chunk_rows, -(-stop // self._chunk_rows))
        self._verify(chunks)
        try:
            return self._checked(np.arange(start, stop), self._rows[start:stop].copy())
        finally:
            self._release(chunks)

    def _read(self, rows):
        """Rows read in increasing order, returned in the order asked."""
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        chunks = np.unique(ordered // self._chunk_rows).tolist()
        self._verify(chunks)
        try:
            if len(rows) and ordered[-1] - ordered[0] == len(rows) - 1 and np.all(np.diff(ordered) == 1):
                read = self._rows[ordered[0]:ordered[-1] + 1].copy()
            else:
                read = self._rows[ordered]
            self._checked(ordered, read)
            if np.all(np.diff(order) == 1):  # asked in increasing order
                return read
            images = np.empty((len(rows), *self.shape[1:]), np.uint8)
            images[order] = read
            return images
        finally:
            self._release(chunks)

    def _checked(self, rows, pixels):
        """``pixels``, the copy just read of images ``rows``, once each image's CRC-32 is
        its own: what is handed on is what was checked, whatever happened to the file
        since its chunk's SHA-256 was (a damaged image is refused as its chunk is)."""
        for row, image in zip(rows, pixels):
            if zlib.crc32(image) != self._row_checksums[row]:
                self._refuse(int(row) // self._chunk_rows, int(row))
        return pixels

    def _span(self, chunk):
        start = chunk * self._chunk_rows * self._row_bytes
        return start, min(start + self._chunk_rows * self._row_bytes, self._bytes.size)

    def _verify(self, chunks):
        """Check each of ``chunks`` against its SHA-256, once a process, reading it with
        ``os.pread`` into one reused buffer (so checking maps nothing into memory)."""
        if os.fstat(self._descriptor).st_size != self._size:  # cut short in place: reading the map would crash
            self._refuse(None)
        for chunk in chunks:
            if chunk in self._verified:
                continue
            with self._lock:
                if chunk in self._verified:
                    continue
                start, stop = self._span(chunk)
                if self._buffer is None:
                    self._buffer = bytearray(self._chunk_rows * self._row_bytes)
                view = memoryview(self._buffer)[:stop - start]
                read = os.preadv(self._descriptor, [view], start) if hasattr(os, "preadv") else \
                    _pread_into(self._descriptor, view, start)
                if read != stop - start or hashlib.sha256(view).hexdigest() != self._checksums[chunk]:
                    self._refuse(chunk)
                self._verified.add(chunk)

    def _release(self, chunks):
        """Hand the pages of ``chunks`` back (they stay in the page cache, not in this
        process's resident memory)."""
        for chunk in chunks:
            start, stop = self._span(chunk)
            start -= start % mmap.PAGESIZE
            if stop > start:
                self._map.madvise(mmap.MADV_DONTNEED, start, stop - start)

    def _refuse(self, chunk, row=None):
        if chunk is None:
            what = f"the file's size is no longer its {self._size} bytes"
        elif row is not None:
            what = f"image {row} of {len(self)} does not match its checksum"
        else:
            first = chunk * self._chunk_rows
            what = f"images {first}–{min(first + self._chunk_rows, len(self)) - 1} of {len(self)} do not match " \
                   "their checksum"
        with contextlib.suppress(OSError):
            status = os.stat(self.path, follow_symlinks=False)
            if (status.st_dev, status.st_ino) == self._file_id:  # not a rebuilt entry of another process
                os.remove(self.path)
        raise ValueError(f"{self.path}: this image cache entry was damaged ({what}); the entry was removed and will "
                         "be rebuilt on the next run")


def _pread_into(descriptor, view, offset):
    """``os.preadv`` where there is none: read into ``view`` at ``offset``; bytes read."""
    data = os.pread(descriptor, len(view), offset)
    view[:len(data)] = data
    return len(data)


def _reopen(path, key):
    try:
        return CachedImages(path, key)
    except OSError as error:
        reason = error.strerror or str(error)
    except DamagedEntry as error:
        reason = str(error)
    raise ValueError(f"{path}: the image cache entry cannot be read here ({reason}); run again to rebuild it, "
                     "or remove it with: neuronet cache --clear") from None


def entry_size(n_files, image_size, grayscale):
    """Bytes of a cache entry of ``n_files`` images (at most: the pixels and a header)."""
    channels = 1 if grayscale else 3
    return n_files * channels * image_size[0] * image_size[1] + 65536 + n_files + _TRAILER.size


def _existing(folder):
    """``folder``, or the nearest folder above it that exists."""
    folder = os.path.abspath(folder)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return folder


def check_disk(n_images, image_size, grayscale):
    """Refuse, before decoding, a folder whose cache entry would not fit on the cache's
    disk, or whose decoding would not fit in memory (a chunk being written and the images
    being decoded: :func:`decoding_memory`), in one line that names an image size that fits."""
    folder = cache_folder()
    try:
        free = shutil.disk_usage(_existing(folder)).free
    except OSError:
        free = None
    needed = entry_size(n_images, image_size, grayscale)
    if free is not None and needed > free:
        _refuse_size(n_images, image_size, f"{size_text(needed)} of disk for the image cache in {folder}",
                     f"{size_text(free)} is free", lambda side: entry_size(n_images, (side, side), grayscale) <= free,
                     lambda side: entry_size(n_images, (side, side), grayscale),
                     ", or set NEURONET_CACHE to a folder on a larger disk")
    available = available_memory()
    needed = decoding_memory(image_size, grayscale)
    if available is not None and needed > available:
        _refuse_size(n_images, image_size, f"{size_text(needed)} of memory to decode", f"{size_text(available)} is "
                     "available", lambda side: decoding_memory((side, side), grayscale) <= available,
                     lambda side: decoding_memory((side, side), grayscale))


def decoding_memory(image_size, grayscale):
    """Bytes that decoding a folder into the cache holds, whatever its number of images:
    the chunk being written and the images decoded ahead of it."""
    row_bytes = (1 if grayscale else 3) * image_size[0] * image_size[1]
    return (chunk_rows(image_size, grayscale) + _window(image_size, grayscale)) * row_bytes


def _refuse_size(n_images, image_size, needed, available, fits, size_for, more=""):
    """One line: what ``n_images`` at ``image_size`` need, what there is, and the largest
    square size up to 64 for which ``fits(side)``."""
    side = next((side for side in range(min(64, max(image_size) - 1), 7, -1) if fits(side)), None)
    advice = (f"give a smaller image size (--image-size {side}, or image_size={side}: about {size_text(size_for(side))})"
              if side else "use a folder of fewer images")
    raise ValueError(f"{n_images} images at {image_size[0]}×{image_size[1]} need about {needed}, and {available}: "
                     f"{advice}{more}")


def _cached(path, key, n_files, image_size, grayscale):
    """The cache entry at ``path`` as :class:`CachedImages`, or None when there is none;
    one that is damaged or not this folder's (each entry carries its key, and its shape
    must fit the listing just made) is named in one warning, and None."""
    try:
        images = CachedImages(path, key)
    except FileNotFoundError:
        return None
    except (OSError, DamagedEntry) as error:
        reason = getattr(error, "strerror", None) or str(error)
        if isinstance(error, OSError) and os.path.islink(path):
            return None  # a link is not read through: the entry is written in its place
    else:
        if images.kept.shape == (n_files,) and images.shape[1:] == (1 if grayscale else 3, *image_size):
            return images
        reason = "a shape other than this folder's"
    warnings.warn(f"the image cache entry {path} cannot be used ({reason}); decoding the folder again", stacklevel=3)
    return None


def available_memory():
    """Bytes this process may still allocate: the smaller of the system's available memory
    and what its cgroup's limit leaves (None where neither can be read)."""
    limits = []
    try:
        with open("/proc/meminfo") as meminfo:
            limits += [int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:")]
    except OSError:
        pass
    for folder, limit_file, usage_file, reclaimable in (
            ("/sys/fs/cgroup", "memory.max", "memory.current", "inactive_file"),
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")):
        try:
            with open(os.path.join(folder, limit_file)) as limit, open(os.path.join(folder, usage_file)) as usage:
                limit, usage = int(limit.read()), int(usage.read())
        except (OSError, ValueError):  # no such cgroup file, or "max": no limit
            continue
        limits.append(limit - usage + _cgroup_stat(os.path.join(folder, "memory.stat"), reclaimable))
    return min(limits) if limits else None


def _cgroup_stat(path, key):
    """One counter of a cgroup's memory.stat (0 when absent): the page cache the kernel
    reclaims before it refuses memory counts as available."""
    try:
        with open(path) as stat:
            return next((int(line.split()[1]) for line in stat if line.split()[0] == key), 0)
    except (OSError, ValueError, IndexError):
        return 0


def size_text(n_bytes):
    """A number of bytes for people: 512 B, 820.0 KiB, 1.5 GiB (binary units, as memory is counted)."""
    if n_bytes < 1024:
        return f"{int(n_bytes)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n_bytes /= 1024
        if n_bytes < 1024 or unit == "TiB":
            return f"{n_bytes:.1f} {unit}"


def check_memory(n_images, image_size, grayscale):
    """Refuse, before decoding, a folder whose images would not fit in memory: the peak is
    about twice images × channels × height × width × 4 bytes (the decoded images, the
    stacked array, the float32 copy and the cache write)."""
    channels = 1 if grayscale else 3
    per_pixel_square = 2 * n_images * channels * 4
    needed = per_pixel_square * image_size[0] * image_size[1]
    available = available_memory()
    if available is None or needed <= available:
        return
    fits = int((available / per_pixel_square) ** 0.5)
    suggestion = min(64, fits) if fits >= 8 else None
    advice = (f"give a smaller image size (--image-size {suggestion}, or image_size={suggestion}: about "
              f"{size_text(per_pixel_square * suggestion**2)})" if suggestion else "use a folder of fewer images")
    raise ValueError(f"{n_images} images at {image_size[0]}×{image_size[1]} need about {size_text(needed)} of memory, "
                     f"and {size_text(available)} is available: {advice}")


def read_image_folder(root, image_size=64, grayscale=False, cache=True):
    """Read a folder of images (:func:`neuronet.datasets.load_image_folder` makes a
    :class:`~neuronet.datasets.Dataset` of it).

    Parameters
    ----------
    root : path
        Class subfolders, or the flat ``label.N.jpg`` layout.
    image_size : int or (height, width), default 64
    grayscale : bool
        One channel instead of RGB.
    cache : bool
        Reuse (and write) the decoded pixels in :func:`cache_folder`: X is then
        :class:`CachedImages`, read from the cache when indexed. Without, X is a float32
        array in memory.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise ValueError(f"no folder at {root!r}")
    image_size = (int(image_size), int(image_size)) if np.isscalar(image_size) else tuple(map(int, image_size))
    if min(image_size) < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    files = list_images(root)
    if not files:
        raise ValueError(f"{root!r} holds no images: use class subfolders (root/cat/*.jpg, root/dog/*.jpg) "
                         "or files named label.N.jpg")
    if all(os.sep not in name and name.count(".") < 2 for name, _ in files):
        raise ValueError(f"no labels in {root!r}: names like {files[0][0]!r} carry no class (label.N.jpg, or class "
                         f"subfolders); to label these images, predict them: neuronet predict MODEL {root}")
    key = _cache_key(root, files, image_size, grayscale)
    cached = os.path.join(cache_folder(), key[:32] + CACHE_SUFFIX)
    images = _cached(cached, key, len(files), image_size, grayscale) if cache else None
    if cache and images is None:
        check_disk(len(files), image_size, grayscale)
        try:
            _write_entry(cached, key, root, files, image_size, grayscale)
            images = CachedImages(cached, key)
        except (OSError, ValueError) as error:  # a full disk or a read-only cache folder does not stop the run
            warnings.warn(f"could not write the image cache in {os.path.dirname(cached)!r} "
                          f"({getattr(error, 'strerror', None) or error}); the images will be decoded again next "
                          "time (set NEURONET_CACHE to a writable folder)", stacklevel=2)
    if images is None:
        check_memory(len(files), image_size, grayscale)
        pixels, mask = _decode_all(root, files, image_size, grayscale)
        X = to_unit_range(pixels)
        del pixels
    else:
        X, mask = images, images.kept
    kept = [file for file, keep in zip(files, mask) if keep]
    skipped = [relative for (relative, _), keep in zip(files, mask) if not keep]
    if skipped:
        warnings.warn(f"skipped {len(skipped)} of {len(files)} files in {root!r} that are not readable images: "
                      f"{first_few(skipped)}", stacklevel=2)
    class_names = sorted({label for _, label in kept})
    if len(class_names) < 2:
        raise ValueError(f"{root!r} has readable images of {len(class_names)} class(es) {class_names}; "
                         "a classifier needs at least 2")
    index = {name: k for k, name in enumerate(class_names)}
    y = np.array([index[label] for _, label in kept], dtype=np.int64)
    mode = "grayscale" if grayscale else "RGB"
    description = (f"{len(y)} {mode} images of {len(class_names)} classes ({', '.join(class_names)}) "
                   f"from {root}, resized to {image_size[0]}×{image_size[1]}")
    return FolderImages(X, y, class_names, [relative for relative, _ in kept], description)
