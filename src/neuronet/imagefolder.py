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
are skipped, and one warning counts and names them. The decoded arrays are cached
(keyed by folder, file list with sizes and times, size and mode; each entry carries its
key and is checked against it; an entry that is a symbolic link is replaced by a file,
never written through), so loading the same folder again takes a fraction of the time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .files import ModelFileError, load_file, save_file
from .validation import first_few

CACHE_VERSION = 3
MAX_IMAGE_PIXELS = 50_000_000  # ordinary photos (JPEGs decode at a reduced scale); larger ones are skipped
DECODING_BYTES = 512 << 20  # what the decoding threads may hold at once, together


class FolderImages(NamedTuple):
    """What a folder holds: images (n, channels, height, width) in [0, 1], their labels
    as class indices, the class names, the files kept, and a one-line description."""

    X: np.ndarray
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


# The cache's own files: entries named by their key (32 hex digits, see _cache_key), and the
# hidden .ENTRY.*.tmp that an interrupted write of one leaves (see files.write_atomically).
_CACHE_FILE = re.compile(r"[0-9a-f]{32}\.safetensors|\.[0-9a-f]{32}\.safetensors\..+\.tmp")


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
    """uint8 pixels → float32 in [0, 1] (in place on the new array: one pass)."""
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


def _decode_all(root, files, image_size, grayscale):
    """The images that decode, stacked, and a mask of the files they came from."""
    paths = [os.path.join(root, relative) for relative, _ in files]
    budget = _MemoryBudget(DECODING_BYTES)
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # what Pillow warns of is skipped anyway
        decoded = list(pool.map(lambda p: _try_decode(p, image_size, grayscale, budget), paths))  # without the GIL
    kept = np.array([pixels is not None for pixels in decoded], dtype=bool)
    channels = 1 if grayscale else 3
    X = np.stack([pixels for pixels in decoded if pixels is not None]) if kept.any() else \
        np.zeros((0, channels, *image_size), np.uint8)
    return X, kept


def _cached(path, key, n_files, image_size, grayscale):
    """(pixels, mask of the files kept) from the cache entry at ``path``, or None when there
    is none or it is not this folder's: each entry carries its key, and its arrays must fit
    the listing just made."""
    try:
        meta, arrays = load_file(path)
    except ModelFileError:
        return None  # a damaged entry, or none: decoded afresh
    pixels, kept = arrays.get("X"), arrays.get("kept")
    shape = (None if kept is None else int(kept.sum()), 1 if grayscale else 3, *image_size)
    if meta.get("key") != key or kept is None or kept.dtype != bool or kept.shape != (n_files,) \
            or pixels is None or pixels.dtype != np.uint8 or pixels.shape != shape:
        return None
    return pixels, kept


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
        Reuse (and write) the decoded arrays in :func:`cache_folder`.
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
    cached = os.path.join(cache_folder(), key[:32] + ".safetensors")
    entry = _cached(cached, key, len(files), image_size, grayscale) if cache else None
    if entry is None:
        check_memory(len(files), image_size, grayscale)
        entry = _decode_all(root, files, image_size, grayscale)
        if cache:
            try:
                save_file(cached, {"key": key, "folder": os.path.abspath(root)}, {"X": entry[0], "kept": entry[1]},
                          follow_links=False)  # an entry that is a link is replaced, never what it points to
            except (OSError, ValueError) as error:  # a full disk or a read-only cache folder does not stop the run
                warnings.warn(f"could not write the image cache in {os.path.dirname(cached)!r} "
                              f"({getattr(error, 'strerror', None) or error}); the images will be decoded again next "
                              "time (set NEURONET_CACHE to a writable folder)", stacklevel=2)
    pixels, mask = entry
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
    return FolderImages(to_unit_range(pixels), y, class_names, [relative for relative, _ in kept], description)
