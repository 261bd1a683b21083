"""The image cache (version 4): rebuilt when the folder changes, a damaged or truncated
entry refused or rebuilt in one line, read row by row through a memory map exactly as the
in-memory decode, in bounded resident memory; ImageFolder and the lazy split."""

import os
import pickle
import time
import warnings

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from neuronet import data, datasets, imagefolder
from photos import make_photo_folder, photo


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONET_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 4 images at 16×16 RGB (768 bytes an image), so a small folder has several."""
    monkeypatch.setattr(imagefolder, "CHUNK_BYTES", 4 * 768)


def entries(tmp_path):
    return sorted((tmp_path / "cache").glob("*" + imagefolder.CACHE_SUFFIX))


def read(root, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = imagefolder.read_image_folder(root, image_size=16, **options)
    return folder, [str(warning.message) for warning in caught]


def test_the_cache_reads_bit_equal_to_the_in_memory_decode_by_any_index(tmp_path, small_chunks):
    make_photo_folder(tmp_path / "p", per_class=9)
    cached, _ = read(tmp_path / "p")
    memory, _ = read(tmp_path / "p", cache=False)
    X = cached.X
    assert isinstance(X, imagefolder.CachedImages) and isinstance(memory.X, np.ndarray)
    assert X.shape == memory.X.shape == (19, 3, 16, 16) and X.dtype == memory.X.dtype == np.float32
    assert X._chunk_rows == 4 and len(X._checksums) == 5
    rng = np.random.default_rng(0)
    for index in (slice(None), slice(3, 11), slice(None, None, -3), 7, -1, np.int64(2), [18, 0, 5, 5, 1],
                  rng.permutation(19)[:8], np.arange(19) % 2 == 0, np.array([], dtype=int), [-2, 3]):
        np.testing.assert_array_equal(X[index], memory.X[index])
        assert X[index].view(np.uint32).tobytes() == memory.X[index].view(np.uint32).tobytes()
    np.testing.assert_array_equal(np.asarray(X), memory.X)
    np.testing.assert_array_equal(X.pixels([4, 2]), np.rint(memory.X[[4, 2]] * 255).astype(np.uint8))
    with pytest.raises(IndexError):
        X[19]
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(X))[[3, 1]], memory.X[[3, 1]])
    assert cached.y.tolist() == memory.y.tolist() and cached.files == memory.files
    assert X.fingerprint() == imagefolder._cache_key(tmp_path / "p", imagefolder.list_images(tmp_path / "p"),
                                                     (16, 16), False)


def test_to_unit_range_is_one_multiplication_by_float32_one_255th():
    pixels = np.arange(256, dtype=np.uint8)
    expected = np.multiply(pixels, np.float32(1 / 255), dtype=np.float32)
    assert imagefolder.to_unit_range(pixels).tobytes() == expected.tobytes()
    assert expected[255] == 1 and expected[0] == 0


@pytest.mark.parametrize("change", ["added", "touched"])
def test_a_folder_changed_between_runs_is_decoded_again(tmp_path, change):
    make_photo_folder(tmp_path / "p", per_class=4, extras=False)
    first, _ = read(tmp_path / "p")
    if change == "added":
        photo("dog", np.random.default_rng(5)).save(tmp_path / "p" / "dog" / "new.jpg")
    else:
        path = tmp_path / "p" / "cat" / "000.jpg"
        photo("dog", np.random.default_rng(5)).save(path)  # other pixels, same name
        os.utime(path, ns=(time.time_ns() + 10**9,) * 2)
    second, _ = read(tmp_path / "p")
    fresh, _ = read(tmp_path / "p", cache=False)
    assert len(entries(tmp_path)) == 2 and second.X.key != first.X.key
    np.testing.assert_array_equal(np.asarray(second.X), fresh.X)
    assert len(second.y) == (9 if change == "added" else 8)
    assert not np.array_equal(np.asarray(second.X)[:8], np.asarray(first.X)) or change == "added"


def flip_a_byte(path, offset):
    with open(path, "r+b") as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0xFF]))


def test_a_damaged_chunk_is_refused_in_one_line_and_rebuilt_on_the_next_run(tmp_path, small_chunks):
    make_photo_folder(tmp_path / "p", per_class=6, extras=False)
    first, _ = read(tmp_path / "p")
    expected = np.asarray(first.X)
    (entry,) = entries(tmp_path)
    flip_a_byte(entry, 5 * 768 + 100)  # in image 5: the second chunk (images 4–7)
    damaged, warned = read(tmp_path / "p")
    assert warned == []  # the header and the size are whole: the damage shows when the chunk is read
    np.testing.assert_array_equal(damaged.X[[0, 1, 2, 3, 8, 11]], expected[[0, 1, 2, 3, 8, 11]])
    with pytest.raises(ValueError) as refused:
        damaged.X[[9, 6]]
    message = str(refused.value)
    assert "\n" not in message and message.startswith(str(entry))
    assert "images 4–7 of 12 do not match their checksum" in message
    assert "the entry was removed and will be rebuilt on the next run" in message
    assert not entry.exists()
    again, warned = read(tmp_path / "p")
    assert warned == [] and len(entries(tmp_path)) == 1
    np.testing.assert_array_equal(np.asarray(again.X), expected)


def test_a_chunk_is_checked_once_a_process(tmp_path, small_chunks):
    make_photo_folder(tmp_path / "p", per_class=6, extras=False)
    X = read(tmp_path / "p")[0].X
    X[[0, 5]]
    assert X._verified == {0, 1}
    X[4:12]
    assert X._verified == {0, 1, 2}


@pytest.mark.parametrize("damage", ["truncated", "header", "trailer", "grown"])
def test_a_truncated_or_altered_entry_is_rebuilt_with_one_warning(tmp_path, damage):
    make_photo_folder(tmp_path / "p", per_class=4, extras=False)
    expected = np.asarray(read(tmp_path / "p")[0].X)
    (entry,) = entries(tmp_path)
    content = entry.read_bytes()
    damaged = {"truncated": content[:len(content) // 2], "header": content.replace(b'"shape": [8', b'"shape": [9'),
               "trailer": content[:-16] + (2**62).to_bytes(8, "little") + content[-8:],
               "grown": content[:100] + b"x" + content[100:]}[damage]
    entry.write_bytes(damaged)
    again, warned = read(tmp_path / "p")
    assert len(warned) == 1 and "\n" not in warned[0]
    assert warned[0].startswith(f"the image cache entry {entry} cannot be used (") and "decoding the folder again" in warned[0]
    np.testing.assert_array_equal(np.asarray(again.X), expected)
    assert entry.read_bytes() == content


def test_an_entry_that_cannot_be_reopened_elsewhere_is_one_line_naming_the_clear_command(tmp_path):
    make_photo_folder(tmp_path / "p", per_class=3, extras=False)
    pickled = pickle.dumps(read(tmp_path / "p")[0].X)
    (entry,) = entries(tmp_path)
    entry.write_bytes(entry.read_bytes()[:-1])
    with pytest.raises(ValueError) as refused:
        pickle.loads(pickled)
    assert "\n" not in str(refused.value) and str(refused.value).startswith(str(entry))
    assert "neuronet cache --clear" in str(refused.value)


def test_an_entry_cut_short_while_it_is_open_is_refused_not_read(tmp_path):
    make_photo_folder(tmp_path / "p", per_class=3, extras=False)
    X = read(tmp_path / "p")[0].X
    (entry,) = entries(tmp_path)
    os.truncate(entry, 100)  # the memory map would crash the process on a read past the end
    with pytest.raises(ValueError, match="size is no longer its .* bytes.*rebuilt on the next run"):
        X[[0]]


def test_reading_from_the_cache_keeps_resident_memory_bounded(tmp_path):
    """A 128 MiB entry read whole in random minibatches: the process's resident memory grows
    by far less than the entry (its pages are handed back after each read)."""
    n, image_size = 2740, (128, 128)
    rng = np.random.default_rng(0)
    block = rng.integers(0, 256, size=(256, 3, *image_size), dtype=np.uint8)
    path = tmp_path / "cache" / ("ab" * 16 + imagefolder.CACHE_SUFFIX)
    imagefolder.write_entry(path, "ab" * 32, str(tmp_path), n, image_size, False, (block[k % 256] for k in range(n)))
    images = imagefolder.CachedImages(path)
    size = os.path.getsize(path)
    assert size > 128 << 20 and images._chunk_rows == 256

    def resident():
        """(all resident memory, the file pages mapped in it) of this process, in bytes."""
        with open("/proc/self/status") as status:
            fields = dict(line.split(":", 1) for line in status)
        return np.array([int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "RssFile")])

    images[rng.integers(0, n, 64)]  # the first read allocates the checking buffer
    before = resident()
    for rows in np.array_split(rng.permutation(n), n // 64):
        batch = images[rows]
    np.testing.assert_array_equal(images.pixels(rows), block[rows % 256])
    assert len(images._verified) == -(-n // 256)
    grown, mapped = resident() - before
    assert mapped < 8 << 20, f"{mapped >> 20} MiB of the {size >> 20} MiB entry stayed mapped"
    assert grown < size / 4, f"resident memory grew by {grown >> 20} MiB reading a {size >> 20} MiB entry"
    del batch


@pytest.mark.filterwarnings("ignore:skipped 2 of 13 files")
def test_image_folder_is_a_dataset_read_from_the_cache(tmp_path):
    make_photo_folder(tmp_path / "p", per_class=5)
    folder = datasets.ImageFolder(tmp_path / "p", image_size=16)
    assert data.is_dataset(folder) and len(folder) == len(folder.targets) == 11
    assert folder.class_names == ["cat", "dog"] and folder.image_shape == folder.sample_shape == (3, 16, 16)
    X, y = folder[np.array([3, 0])]
    memory = imagefolder.read_image_folder(tmp_path / "p", image_size=16, cache=False)
    np.testing.assert_array_equal(X, memory.X[[3, 0]])
    assert y.tolist() == memory.y[[3, 0]].tolist() and folder.files == memory.files
    assert folder.fingerprint() == folder.images.key and "11 RGB images" in folder.description
    in_memory = datasets.ImageFolder(tmp_path / "p", image_size=16, cache=False)
    assert isinstance(in_memory.images, np.ndarray) and len(in_memory.fingerprint()) == 64


def test_the_split_of_cached_images_reads_nothing_and_selects_the_rows_an_array_split_does(tmp_path, monkeypatch):
    make_photo_folder(tmp_path / "p", per_class=15, extras=False)
    dataset = datasets.load_image_folder(tmp_path / "p", image_size=16)
    expected = datasets.Dataset(np.asarray(dataset.X), dataset.y, dataset.class_names, "", "").split(0.25, 3)
    X = dataset.X

    def refuse(*_):
        raise AssertionError("read")

    monkeypatch.setattr(X, "_read", refuse)
    monkeypatch.setattr(X, "_read_range", refuse)
    X_train, X_test, y_train, y_test = dataset.split(0.25, 3)
    flat = dataset.flat
    monkeypatch.undo()
    assert isinstance(X_train, data.LazyRows) and X_train.shape == expected[0].shape
    for lazy, array in zip((X_train, X_test, y_train, y_test), expected):
        np.testing.assert_array_equal(np.asarray(lazy), array)
    assert flat.shape == (30, 768)
    np.testing.assert_array_equal(flat[[2, 5]], expected_flat := np.asarray(X)[[2, 5]].reshape(2, -1))
    assert expected_flat.shape == (2, 768)
    # scikit-learn selects the same rows of X as of its row numbers
    y = np.repeat([0, 1, 2], [7, 11, 5])
    rows = train_test_split(np.arange(len(y)), y, test_size=0.3, random_state=1, stratify=y)[:2]
    arrays = train_test_split(np.arange(len(y)) * 10.0, y, test_size=0.3, random_state=1, stratify=y)[:2]
    np.testing.assert_array_equal(rows[0] * 10.0, arrays[0])
    np.testing.assert_array_equal(rows[1] * 10.0, arrays[1])


def test_writing_an_entry_holds_one_chunk_whatever_the_number_of_images(tmp_path, monkeypatch):
    import tracemalloc

    monkeypatch.setattr(imagefolder, "CHUNK_BYTES", 64 * 3072)  # 64 images of 32×32 RGB
    image = np.full((3, 32, 32), 7, np.uint8)
    tracemalloc.start()
    try:
        imagefolder.write_entry(tmp_path / "entry.images", "0" * 64, str(tmp_path), 4000, (32, 32), False,
                                (image for _ in range(4000)))  # 12 MB of pixels
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 3072 * 3, f"{peak} bytes held while writing"
    assert imagefolder.CachedImages(tmp_path / "entry.images").pixels(3999).tolist() == image.tolist()


def test_a_cache_that_would_not_fit_on_its_disk_is_refused_in_one_line_naming_a_size_that_fits(tmp_path, monkeypatch):
    make_photo_folder(tmp_path / "p", per_class=20, extras=False)
    free = imagefolder.entry_size(40, (24, 24), False)
    monkeypatch.setattr(imagefolder.shutil, "disk_usage", lambda folder: type("Usage", (), {"free": free}))
    with pytest.raises(ValueError) as refused:
        imagefolder.read_image_folder(tmp_path / "p", image_size=32)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("40 images at 32×32 need about ")
    assert f"of disk for the image cache in {tmp_path / 'cache'}" in message
    assert "give a smaller image size (--image-size 24, or image_size=24: about " in message
    assert "set NEURONET_CACHE to a folder on a larger disk" in message
    assert imagefolder.read_image_folder(tmp_path / "p", image_size=24).X.shape == (40, 3, 24, 24)


def test_an_image_damaged_after_its_chunk_was_checked_is_refused_when_read_again(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONET_CACHE", str(tmp_path / "cache"))
    from photos import make_photo_folder

    from neuronet.datasets import ImageFolder

    make_photo_folder(tmp_path / "photos", per_class=10, extras=False)
    photos = ImageFolder(tmp_path / "photos", image_size=8)
    first = photos[np.arange(len(photos))][0]  # every chunk checked, once
    entry = photos.images.path
    with open(entry, "r+b") as file:  # one pixel of image 7 changed in place, as a failing disk would
        file.seek(7 * 3 * 8 * 8 + 5)
        byte = file.read(1)
        file.seek(7 * 3 * 8 * 8 + 5)
        file.write(bytes([byte[0] ^ 0xFF]))
    np.testing.assert_array_equal(photos[np.array([3, 9])][0], first[[3, 9]])  # the others read as before
    with pytest.raises(ValueError, match=r"this image cache entry was damaged \(image 7 of 20 does not match its checksum\)"):
        photos[np.array([2, 7])]
    assert not os.path.exists(entry)  # removed: the next run rebuilds it
