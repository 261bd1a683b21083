"""The image cache, side by side in one run: decoding a folder of photos into it, against
the cache as it was on the main branch and against a PyTorch ``DataLoader(num_workers=2)``
over a ``Dataset`` that decodes with Pillow as torchvision's ``ImageFolder`` does (open,
convert to RGB, resize); then loading it again, and reading random minibatches of 64 from
its memory map against indexing a float32 array in memory.

Writes N photos (default 2,000 JPEGs of 500×375, two classes) to a temporary folder, reads
them once so the page cache is warm, and decodes them to 128×128. The main branch's
``imagefolder.py`` is read with ``git show main:src/neuronet/imagefolder.py`` (skipped
where there is no such branch); PyTorch is skipped where it is not installed.

    python benchmarks/image_cache.py [--images 2000] [--image-size 128] [--repeats 3]
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

import numpy as np  # noqa: E402
from photos import photo  # noqa: E402

from neuronet import imagefolder  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main_branch_imagefolder(folder):
    """The main branch's neuronet.imagefolder as a module beside this one, or None."""
    try:
        source = subprocess.run(["git", "show", "main:src/neuronet/imagefolder.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = os.path.join(folder, "imagefolder_main.py")
    with open(path, "w") as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("neuronet._imagefolder_main", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_loader(folder, image_size):
    """A DataLoader(num_workers=2) over the folder's JPEGs, decoded as torchvision's ImageFolder does."""
    try:
        import torch
        from PIL import Image
    except ImportError:
        return None
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".jpg"))

    class Photos(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, index):
            with open(paths[index], "rb") as file:
                image = Image.open(file).convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR)
            return torch.from_numpy(np.asarray(image).transpose(2, 0, 1).copy()), int("dog" in paths[index])

    return torch.utils.data.DataLoader(Photos(), batch_size=64, num_workers=2)


def timed(work):
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def minibatches_per_second(X, n_batches, rng):
    batches = [rng.integers(0, len(X), 64) for _ in range(n_batches)]
    seconds, _ = timed(lambda: [X[rows] for rows in batches])
    return n_batches / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="decodes of each kind, interleaved; the best is shown")
    parser.add_argument("--batches", type=int, default=500, help="random minibatches of 64 read")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as root:
        folder = os.path.join(root, "train")
        os.makedirs(folder)
        for index in range(args.images):
            kind = ("cat", "dog")[index % 2]
            photo(kind, rng, size=(500, 375)).save(os.path.join(folder, f"{kind}.{index}.jpg"), quality=90)
        for name in os.listdir(folder):  # a warm page cache
            with open(os.path.join(folder, name), "rb") as file:
                file.read()
        old, loader = main_branch_imagefolder(root), torch_loader(folder, args.image_size)
        kinds = {"this branch (cache version 4)": imagefolder}
        if old is not None:
            kinds[f"main (cache version {old.CACHE_VERSION})"] = old
        decode, again = {name: [] for name in kinds}, {name: [] for name in kinds}
        cpu_seconds = {name: [] for name in kinds}  # this process's threads (not the DataLoader's workers)
        decode["PyTorch DataLoader(num_workers=2), Pillow"] = []
        for repeat in range(args.repeats):
            for name, module in kinds.items():
                os.environ["NEURONET_CACHE"] = os.path.join(root, f"cache-{repeat}-{module.CACHE_VERSION}")
                cpu = time.process_time()
                seconds, images = timed(lambda: module.read_image_folder(folder, image_size=args.image_size))
                decode[name].append(seconds)
                cpu_seconds[name].append(time.process_time() - cpu)
                again[name].append(timed(lambda: module.read_image_folder(folder, image_size=args.image_size))[0])
                del images
            if loader is not None:
                decode["PyTorch DataLoader(num_workers=2), Pillow"].append(timed(lambda: [batch for batch in loader])[0])
        print(f"{args.images} JPEGs of 500×375 decoded to {args.image_size}×{args.image_size} "
              f"(warm page cache, {os.cpu_count()} CPUs, best of {args.repeats}):")
        for name, seconds in decode.items():
            if seconds:
                cpu = f"  (CPU {min(cpu_seconds[name]):.2f} s)" if name in cpu_seconds else ""
                print(f"  {name:<44} {min(seconds):6.2f} s  {args.images / min(seconds):7.0f} images/s{cpu}")
        print("loading again from the cache:")
        for name, seconds in again.items():
            print(f"  {name:<44} {min(seconds):6.3f} s")

        os.environ["NEURONET_CACHE"] = os.path.join(root, "cache-0-4")
        cached = imagefolder.read_image_folder(folder, image_size=args.image_size).X
        in_memory = np.asarray(cached)
        minibatches_per_second(in_memory, 20, np.random.default_rng(0))  # the allocator warmed up for both
        rates = {"checking": [], "checked": [], "memory": []}
        for repeat in range(3):  # interleaved, the best of three: other work on the machine shows less
            fresh = imagefolder.CachedImages(cached.path)
            rates["checking"].append(minibatches_per_second(fresh, args.batches, np.random.default_rng(repeat)))
            rates["checked"].append(minibatches_per_second(fresh, args.batches, np.random.default_rng(repeat + 9)))
            rates["memory"].append(minibatches_per_second(in_memory, args.batches, np.random.default_rng(repeat + 9)))
        print(f"random minibatches of 64 at {args.image_size}×{args.image_size}, float32 in [0, 1] "
              f"({args.batches} batches, best of 3):")
        print(f"  memory-mapped cache, first reads (each chunk checked once) {max(rates['checking']):7.0f} batches/s")
        print(f"  memory-mapped cache, chunks already checked               {max(rates['checked']):7.0f} batches/s")
        print(f"  float32 array in memory                                    {max(rates['memory']):7.0f} batches/s")

if __name__ == "__main__":
    main()
