"""Hostile image folders: a FIFO, a dangling link, a small PNG that decodes to 12000×12000,
16-bit pictures, a cache entry copied from another folder or linked to a file outside the
cache, and `neuronet predict` on a decompression bomb, on a .npy that claims 2⁴⁰ rows and
on a folder without a visible file.

Every hostile file costs bounded time and memory and is skipped and counted (or, in
predict, reported in one line while the other inputs go on); the loads run in a child
process (see ``test_hostile_harness``).
"""

import os
import shutil
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

import neuronet
from neuronet import imagefolder
from photos import photo
from test_hostile_harness import assert_bounded, assert_one_cli_line, cli, run_cases, snapshot

MODULE = "test_hostile_image_folders"
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
BOMB_SIDE = 12_000  # 144 megapixels: about 140 KiB of PNG, 432 MB of RGB once decoded


# --- what the child runs -------------------------------------------------------------------


def read_folder(root, cache, image_size=8, grayscale=False):
    """{"n", "classes", "warnings", "mean"} of the folder as read_image_folder gives it."""
    os.environ["NEURONET_CACHE"] = cache
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = imagefolder.read_image_folder(root, image_size=image_size, grayscale=grayscale)
    return {"n": len(images.y), "classes": images.class_names, "files": images.files,
            "warnings": [str(warning.message) for warning in caught], "means": np.asarray(images.X).mean(axis=(1, 2, 3)).tolist()}


def read_after_copying_an_entry(first, second, cache):
    """Read ``first`` and ``second`` (one cache entry each), copy the first's entry over the
    second's, and read the second again: what it gives, and what it gives without a cache."""
    read_folder(first, cache)
    read_folder(second, cache)
    entries = sorted(os.listdir(cache), key=lambda name: os.path.getmtime(os.path.join(cache, name)))
    shutil.copy(os.path.join(cache, entries[0]), os.path.join(cache, entries[1]))
    again = read_folder(second, cache)
    fresh = imagefolder.read_image_folder(second, image_size=8, cache=False)
    return {**again, "fresh_classes": fresh.class_names, "fresh_means": fresh.X.mean(axis=(1, 2, 3)).tolist()}


def read_with_a_linked_entry(root, cache, outside):
    """Read ``root`` with its cache entry a symbolic link to ``outside``: whether the entry is
    a link afterwards, and what the read gives."""
    key = imagefolder._cache_key(root, imagefolder.list_images(root), (8, 8), False)
    os.makedirs(cache)
    entry = os.path.join(cache, key[:32] + imagefolder.CACHE_SUFFIX)
    os.symlink(outside, entry)
    read = read_folder(root, cache)
    return {**read, "entry_is_a_link": os.path.islink(entry), "entry_is_a_file": os.path.isfile(entry)}


def predict(*argv):
    return cli("predict", *argv)


# --- hostile files -------------------------------------------------------------------------------


def png(path, width, height, depth=8, colour=0, value=0):
    """A PNG written chunk by chunk: ``width``×``height`` samples of ``value`` (grey, colour
    type 0), compressed without holding the image in memory."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" + struct.pack(">H" if depth == 16 else "B", value) * width
    compressor, parts = zlib.compressobj(9), []
    for start in range(0, height, 1000):
        parts.append(compressor.compress(row * min(1000, height - start)))
    parts.append(compressor.flush())
    with open(path, "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
                   + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def npy_claiming(path, rows):
    """A .npy whose header claims ``rows`` × 3 float64 and holds one row."""
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(file, {"descr": "<f8", "fortran_order": False, "shape": (rows, 3)})
        file.write(np.zeros(3).tobytes())


def photos(root, kinds=("cat", "dog"), count=3, seed=0):
    rng = np.random.default_rng(seed)
    for kind in kinds:
        os.makedirs(root / kind, exist_ok=True)
        for index in range(count):
            photo("cat" if index % 2 else "dog", rng).save(root / kind / f"{index}.jpg")


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-images")
    folders, flat = root / "folders", root / "flat"
    photos(folders)
    os.mkfifo(folders / "cat" / "pipe.jpg")
    os.symlink(root / "nowhere.jpg", folders / "dog" / "gone.jpg")
    png(folders / "cat" / "bomb.png", BOMB_SIDE, BOMB_SIDE)
    Image.new("L", (7000, 7000), 128).save(folders / "dog" / "large.jpg", quality=50)  # 49 MP: an ordinary photo
    flat.mkdir()
    for kind in ("cat", "dog"):
        shutil.copy(folders / kind / "0.jpg", flat / f"{kind}.0.jpg")
        shutil.copy(folders / kind / "1.jpg", flat / f"{kind}.1.jpg")
    os.mkfifo(flat / "cat.pipe.jpg")
    os.symlink(root / "nowhere.jpg", flat / "dog.gone.jpg")
    deep = root / "deep"
    for kind, value in (("cat", 32768), ("dog", 65535)):
        (deep / kind).mkdir(parents=True)
        png(deep / kind / "grey16.png", 8, 8, depth=16, value=value)
    photos(root / "birds", kinds=("bird", "fish"), seed=1)
    npy_claiming(root / "huge.npy", 2**40)
    images = neuronet.LogisticRegression(max_iter=5).fit(np.random.default_rng(0).uniform(size=(4, 192)), [0, 1, 0, 1])
    neuronet.save(images, root / "model.npz", extra={"image_shape": [3, 8, 8], "image_size": 8,
                                                       "class_names": ["cat", "dog"]})
    (root / "empty" / "sub").mkdir(parents=True)
    (root / "empty" / ".hidden.jpg").write_bytes(b"not shown")
    (root / "outside.safetensors").write_bytes(b"a file of the user's, outside the cache")
    cache = root / "cache"
    before = snapshot(root)
    cases = {
        "folders": (MODULE, "read_folder", str(folders), str(cache / "a")),
        "flat": (MODULE, "read_folder", str(flat), str(cache / "b")),
        "16-bit, grey": (MODULE, "read_folder", str(deep), str(cache / "c"), 8, True),
        "16-bit, RGB": (MODULE, "read_folder", str(deep), str(cache / "d"), 8, False),
        "a copied entry": (MODULE, "read_after_copying_an_entry", str(folders), str(root / "birds"), str(cache / "e")),
        "a linked entry": (MODULE, "read_with_a_linked_entry", str(root / "birds"), str(cache / "f"),
                           str(root / "outside.safetensors")),
        "predict an empty folder": (MODULE, "predict", str(root / "model.npz"), str(root / "empty")),
        "predict": (MODULE, "predict", str(root / "model.npz"), str(folders / "cat" / "bomb.png"),
                    str(root / "huge.npy"), str(folders / "cat" / "pipe.jpg"), str(folders / "cat" / "0.jpg")),
    }
    results = dict(zip(cases, run_cases(list(cases.values()), case_seconds=60)))
    shutil.rmtree(cache)
    return results, before, snapshot(root)


def test_a_fifo_a_dangling_link_and_a_12000_pixel_square_png_are_skipped_and_counted(child):
    results, _, _ = child
    result = results["folders"]
    assert result["raised"] is None, result["message"]
    assert result["returned"]["n"] == 7 and result["returned"]["classes"] == ["cat", "dog"]
    (warning,) = result["returned"]["warnings"]
    assert "skipped 3 of 10 files" in warning
    assert all(name in warning for name in ("pipe.jpg", "gone.jpg", "bomb.png"))
    assert os.path.join("dog", "large.jpg") in result["returned"]["files"]  # 49 MP is admitted, drafted small
    assert_bounded(result, seconds=20, mib=150)  # decoded, the 144-MP PNG alone would take 432 MB


def test_the_flat_layout_skips_and_counts_a_fifo_and_a_dangling_link(child):
    results, _, _ = child
    result = results["flat"]
    assert result["raised"] is None, result["message"]
    assert result["returned"]["n"] == 4 and "skipped 2 of 6 files" in result["returned"]["warnings"][0]
    assert_bounded(result, seconds=10, mib=60)


@pytest.mark.parametrize("mode", ["16-bit, grey", "16-bit, RGB"])
def test_16_bit_pictures_are_scaled_by_their_depth_not_clipped(child, mode):
    results, _, _ = child
    result = results[mode]
    assert result["raised"] is None, result["message"]
    np.testing.assert_allclose(result["returned"]["means"], [128 / 255, 1.0], atol=1e-6)  # 32768 is half of 65535


def test_a_cache_entry_copied_from_another_folder_is_not_used(child):
    results, _, _ = child
    result = results["a copied entry"]
    assert result["raised"] is None, result["message"]
    assert result["returned"]["classes"] == result["returned"]["fresh_classes"] == ["bird", "fish"]
    np.testing.assert_array_equal(result["returned"]["means"], result["returned"]["fresh_means"])


def test_predict_reports_a_bomb_a_huge_npy_and_a_fifo_in_one_line_each_and_goes_on(child):
    results, _, _ = child
    result = results["predict"]
    assert_one_cli_line(result, r"bomb.png: error: not a readable image \(12000×12000 pixels, more than", status=1)
    assert_one_cli_line(result, r"huge.npy: error: not a table of numbers \(.*claiming a size other than", status=1)
    assert_one_cli_line(result, r"pipe.jpg: error: not a regular file", status=1)
    assert len(result["returned"]["stderr"].splitlines()) == 3
    assert "0.jpg: " in result["returned"]["stdout"]  # the readable image is labelled
    assert_bounded(result, seconds=10, mib=60)


def test_a_cache_entry_that_is_a_link_is_replaced_and_what_it_points_to_is_kept(child):
    results, _, _ = child
    result = results["a linked entry"]
    assert result["raised"] is None, result["message"]
    assert result["returned"]["classes"] == ["bird", "fish"]
    assert result["returned"]["entry_is_a_file"] and not result["returned"]["entry_is_a_link"]
    # the outside file is unchanged: test_hostile_folders_change_no_file


def test_predict_on_a_folder_without_visible_files_says_there_is_nothing_to_predict(child):
    results, _, _ = child
    result = results["predict an empty folder"]
    assert_one_cli_line(result, r"^neuronet predict: error: nothing to predict: .*empty holds no visible file")
    assert result["returned"]["stdout"] == ""


def test_hostile_folders_change_no_file(child):
    _, before, after = child
    assert after == before


def test_the_cache_key_is_unambiguous_for_any_file_name(tmp_path):
    """Names holding the old key's separator: two listings that joined to the same text."""
    def write(name, size, time_ns):
        (tmp_path / name).write_bytes(b"x" * size)
        os.utime(tmp_path / name, ns=(time_ns, time_ns))

    write("a", 1, 2)
    write("b", 3, 4)
    two = imagefolder._cache_key(tmp_path, [("a", "cat"), ("b", "cat")], (8, 8), False)
    write("a|1|2|b", 3, 4)
    one = imagefolder._cache_key(tmp_path, [("a|1|2|b", "cat")], (8, 8), False)
    assert one != two
