"""Folders of photos as datasets: decode, label, cache.

Two layouts are understood:

* class subfolders, ``root/cat/*.jpg``, ``root/dog/*.jpg`` (classes sorted by name,
  hidden folders ignored), as torchvision's ImageFolder;
* the Kaggle dogs-vs-cats flat layout, ``train/cat.0.jpg``, ``train/dog.0.jpg``: the
  label is the part of the name before the first dot.

Each image is turned upright by its EXIF orientation, converted to RGB or grayscale,
resized, and scaled to [0, 1], giving X of shape (n, channels, height, width).
Files that cannot be decoded are skipped, and one warning counts and names them. The
decoded arrays are cached (keyed by folder, file list with sizes and times, size and
mode), so loading the same folder again takes a fraction of the time.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .files import ModelFileError, load_file, save_file

CACHE_VERSION = 2


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
_CACHE_FILE = re.compile(r"[0-9a-f]{32}\.safetensors|\.[0-9a-f]{32}\.safetensors\.\w+\.tmp")


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
    """(relative path, class name) for every visible file, in a fixed order."""
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
            if _visible(name) and os.path.isfile(os.path.join(root, name)) and "." in name]


def decode_image(path, image_size=(64, 64), grayscale=False):
    """One picture as a float32 array (channels, height, width) in [0, 1].

    Raises OSError (or ValueError) for a file that is not a readable image.
    """
    height, width = image_size
    with Image.open(path) as image:
        image.draft("L" if grayscale else "RGB", (width, height))  # JPEG: decode at reduced scale
        image = ImageOps.exif_transpose(image)
        image = image.convert("L" if grayscale else "RGB").resize((width, height), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if grayscale else pixels.transpose(2, 0, 1)


def to_unit_range(pixels):
    """uint8 pixels → float32 in [0, 1] (in place on the new array: one pass)."""
    scaled = pixels.astype(np.float32)
    scaled *= np.float32(1 / 255)
    return scaled


def _try_decode(path, image_size, grayscale):
    try:
        return decode_image(path, image_size, grayscale)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError):
        return None


def _cache_key(root, files, image_size, grayscale):
    digest = hashlib.sha256(f"{CACHE_VERSION}|{os.path.abspath(root)}|{image_size}|{grayscale}".encode())
    for relative, _ in files:
        status = os.stat(os.path.join(root, relative))
        digest.update(f"|{relative}|{status.st_size}|{status.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def _decode_all(root, files, image_size, grayscale):
    paths = [os.path.join(root, relative) for relative, _ in files]
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:  # Pillow decodes without the GIL
        decoded = list(pool.map(lambda p: _try_decode(p, image_size, grayscale), paths))
    kept = [i for i, pixels in enumerate(decoded) if pixels is not None]
    skipped = [files[i][0] for i, pixels in enumerate(decoded) if pixels is None]
    channels = 1 if grayscale else 3
    X = np.stack([decoded[i] for i in kept]) if kept else np.zeros((0, channels, *image_size), np.uint8)
    return X, [files[i] for i in kept], skipped


def available_memory():
    """Bytes this process may still allocate: the smaller of the system's available memory
    and what its cgroup's limit leaves (None where neither can be read)."""
    limits = []
    try:
        with open("/proc/meminfo") as meminfo:
            limits += [int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:")]
    except OSError:
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file) as limit, open(usage_file) as usage:
                limits.append(int(limit.read()) - int(usage.read()))
        except (OSError, ValueError):  # no such cgroup file, or "max": no limit
            continue
    return min(limits) if limits else None


def _size(n_bytes):
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.0f} MiB"


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
              f"{_size(per_pixel_square * suggestion**2)})" if suggestion else "use a folder of fewer images")
    raise ValueError(f"{n_images} images at {image_size[0]}×{image_size[1]} need about {_size(needed)} of memory, "
                     f"and {_size(available)} is available: {advice}")


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
    check_memory(len(files), image_size, grayscale)
    cached = os.path.join(cache_folder(), _cache_key(root, files, image_size, grayscale) + ".safetensors")
    pixels = None
    if cache and os.path.exists(cached):
        try:
            meta, arrays = load_file(cached)
            pixels, kept, skipped = arrays["X"], [tuple(f) for f in meta["kept"]], meta["skipped"]
        except (ModelFileError, KeyError):
            pixels = None  # a damaged cache entry is simply rebuilt
    if pixels is None:
        pixels, kept, skipped = _decode_all(root, files, image_size, grayscale)
        if cache:
            try:
                save_file(cached, {"kept": kept, "skipped": skipped}, {"X": pixels})
            except OSError as error:  # a full disk or a read-only cache folder does not stop the run
                warnings.warn(f"could not write the image cache in {os.path.dirname(cached)!r} "
                              f"({error.strerror or error}); the images will be decoded again next time "
                              "(set NEURONET_CACHE to a writable folder)", stacklevel=2)
    if skipped:
        shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        warnings.warn(f"skipped {len(skipped)} of {len(files)} files in {root!r} that are not readable images: "
                      f"{shown}", stacklevel=2)
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
