"""Synthetic photo folders for tests: two classes that differ in a learnable way."""

import os

import numpy as np
from PIL import Image


def photo(kind, rng, size=(40, 32)):
    """A 'cat' is warm with a bright disc; a 'dog' is cool with dark stripes; both noisy."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.array([170, 110, 70] if kind == "cat" else [70, 110, 170], dtype=float)
    pixels = base + rng.normal(0, 25, size=(height, width, 3))
    if kind == "cat":
        cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
        pixels[(yy - cy) ** 2 + (xx - cx) ** 2 < (0.2 * height) ** 2] += 70
    else:
        pixels[(xx // 4) % 2 == 0] -= 50
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_photo_folder(root, per_class=30, layout="subfolders", seed=0, extras=True):
    """Write JPEGs of cats and dogs, plus (with ``extras``) a truncated JPEG, a text
    file and a grayscale PNG. Returns the number of readable images written."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    for kind in ("cat", "dog"):
        folder = os.path.join(root, kind) if layout == "subfolders" else root
        os.makedirs(folder, exist_ok=True)
        for index in range(per_class):
            name = f"{index:03d}.jpg" if layout == "subfolders" else f"{kind}.{index}.jpg"
            photo(kind, rng).save(os.path.join(folder, name), quality=90)
    readable = 2 * per_class
    if extras:
        where = (lambda kind: os.path.join(root, kind)) if layout == "subfolders" else (lambda kind: root)
        prefix = "" if layout == "subfolders" else "cat."
        good = os.path.join(where("cat"), f"{prefix}000.jpg" if layout == "subfolders" else "cat.0.jpg")
        data = open(good, "rb").read()
        with open(os.path.join(where("cat"), f"{prefix}broken.jpg"), "wb") as broken:
            broken.write(data[: len(data) // 3])
        with open(os.path.join(where("dog"), "notes.txt" if layout == "subfolders" else "dog.notes.txt"), "w") as text:
            text.write("not a picture")
        grey = photo("dog", rng).convert("L")
        grey.save(os.path.join(where("dog"), "grey.png" if layout == "subfolders" else "dog.grey.png"))
        readable += 1
        os.makedirs(os.path.join(root, ".hidden"), exist_ok=True)
        photo("cat", rng).save(os.path.join(root, ".hidden", "ignored.jpg"))
    return readable
