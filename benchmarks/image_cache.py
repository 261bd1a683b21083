"""How much faster is the second load of an image folder? (cache of decoded arrays)

Writes N JPEG photos (default 2,000, 320×240, two classes) to a temporary folder,
loads it twice at 64×64 and prints both times and their ratio.

    python benchmarks/image_cache.py [--images 2000]
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

import numpy as np  # noqa: E402
from photos import photo  # noqa: E402

from neuronet import datasets  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as root:
        os.environ["NEURONET_CACHE"] = os.path.join(root, "cache")
        folder = os.path.join(root, "train")
        os.makedirs(folder)
        for index in range(args.images):
            kind = ("cat", "dog")[index % 2]
            photo(kind, rng, size=(320, 240)).save(os.path.join(folder, f"{kind}.{index}.jpg"), quality=90)
        timings = []
        for _ in range(4):
            start = time.perf_counter()
            data = datasets.load(folder, image_size=64)
            timings.append(time.perf_counter() - start)
            shape, count = data.X.shape[1:], len(data.y)
            del data
        print(f"{count} images of 320×240 decoded to {shape}")
        print(f"first load (decode): {timings[0]:.2f} s   later loads (cache): "
              + ", ".join(f"{t:.3f}" for t in timings[1:]) + " s")
        print(f"ratio first / second: {timings[0] / timings[1]:.1f}×   first / best later: "
              f"{timings[0] / min(timings[1:]):.1f}×")


if __name__ == "__main__":
    main()
