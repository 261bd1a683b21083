"""Named datasets and image folders load offline into one Dataset shape."""

import os
import time

import numpy as np
import pytest
from PIL import Image

from neuronet import datasets
from neuronet.imagefolder import decode_image, list_images
from photos import make_photo_folder


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONET_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("name, n, features, classes, image_shape", [
    ("breast-cancer", 569, 30, 2, None), ("digits", 1797, 64, 10, (1, 8, 8)),
    ("mnist-5k", 5000, 784, 10, (1, 28, 28)), ("moons", 400, 2, 2, None), ("circles", 400, 2, 2, None),
    ("xor", 400, 2, 2, None), ("spiral", 600, 2, 3, None),
])
def test_builtin_datasets_load_offline(name, n, features, classes, image_shape):
    data = datasets.load(name)
    assert len(data.X) == len(data.y) == n and data.n_features == features
    assert len(data.class_names) == classes == len(np.unique(data.y))
    assert data.image_shape == image_shape and data.X.dtype == np.float32
    if image_shape:
        assert data.X.shape[1:] == image_shape and 0 <= data.X.min() and data.X.max() <= 1
    assert data.description


def test_teaching_sets_are_seeded():
    np.testing.assert_array_equal(datasets.load("spiral").X, datasets.load("spiral").X)
    assert not np.array_equal(datasets.load("xor", random_state=1).X, datasets.load("xor").X)


def test_split_is_seeded_and_stratified():
    data = datasets.load("digits")
    first, second = data.split(0.25, random_state=3), data.split(0.25, random_state=3)
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_allclose(np.bincount(first[3]) / len(first[3]), np.bincount(data.y) / len(data.y), atol=0.01)


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*breast-cancer"):
        datasets.load("imagenet")


@pytest.mark.parametrize("layout", ["subfolders", "flat"])
def test_image_folder_layouts_label_by_folder_or_name(layout, tmp_path):
    readable = make_photo_folder(tmp_path / "photos", per_class=6, layout=layout)
    with pytest.warns(UserWarning, match=r"skipped 2 of 15 files.*broken\.jpg.*notes\.txt"):
        data = datasets.load(tmp_path / "photos", image_size=16)
    assert data.class_names == ["cat", "dog"]
    assert data.X.shape == (readable, 3, 16, 16) and data.X.dtype == np.float32
    images = np.asarray(data.X)  # read from the cache
    assert 0 <= images.min() and images.max() <= 1
    assert np.bincount(data.y).tolist() == [6, 7]  # the grey PNG is a dog, converted to RGB
    assert not any("hidden" in f for f in data.files)


def test_grayscale_and_size_options(tmp_path):
    make_photo_folder(tmp_path / "p", per_class=3, extras=False)
    data = datasets.load(tmp_path / "p", image_size=(12, 20), grayscale=True)
    assert data.X.shape == (6, 1, 12, 20) and data.image_shape == (1, 12, 20)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (30, 10), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 10, 10))  # blue on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    pixels = decode_image(tmp_path / "rotated.jpg", (30, 10))
    assert pixels.shape == (3, 30, 10)
    top = pixels[:, :5].reshape(3, -1).mean(axis=1)
    assert top[2] > 150 and top[0] < 100  # the blue block is now on top


def test_second_load_comes_from_the_cache(tmp_path):
    make_photo_folder(tmp_path / "p", per_class=40, extras=False)
    start = time.perf_counter()
    first = datasets.load(tmp_path / "p", image_size=32)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    second = datasets.load(tmp_path / "p", image_size=32)
    warm = time.perf_counter() - start
    np.testing.assert_array_equal(first.X, second.X)
    assert len(os.listdir(tmp_path / "cache")) == 1
    assert warm < cold  # the ≥10× figure is measured by benchmarks/image_cache.py
    datasets.load(tmp_path / "p", image_size=16)  # another size: another entry
    assert len(os.listdir(tmp_path / "cache")) == 2


def test_changed_folder_is_decoded_again(tmp_path):
    make_photo_folder(tmp_path / "p", per_class=4, extras=False)
    assert len(datasets.load(tmp_path / "p", image_size=8).y) == 8
    os.remove(tmp_path / "p" / "cat" / "000.jpg")
    assert len(datasets.load(tmp_path / "p", image_size=8).y) == 7


def test_corrupt_cache_entry_is_rebuilt(tmp_path):
    make_photo_folder(tmp_path / "p", per_class=4, extras=False)
    first = np.asarray(datasets.load(tmp_path / "p", image_size=8).X)
    (entry,) = os.listdir(tmp_path / "cache")
    (tmp_path / "cache" / entry).write_bytes(b"garbage")
    with pytest.warns(UserWarning, match=r"\.images cannot be used \(7 bytes, shorter than its trailer\); decoding"):
        np.testing.assert_array_equal(datasets.load(tmp_path / "p", image_size=8).X, first)


def test_folders_without_two_classes_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        datasets.load(tmp_path / "empty")
    make_photo_folder(tmp_path / "one", per_class=3, extras=False)
    for name in os.listdir(tmp_path / "one" / "dog"):
        os.remove(tmp_path / "one" / "dog" / name)
    with pytest.raises(ValueError, match="1 class"):
        datasets.load(tmp_path / "one")


def test_listing_ignores_hidden_entries(tmp_path):
    make_photo_folder(tmp_path / "p", per_class=2)
    assert all(not part.startswith(".") for f, _ in list_images(tmp_path / "p") for part in f.split(os.sep))
