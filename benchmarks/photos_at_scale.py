"""Photos at scale: a folder far larger than memory would hold as float32, in bounded memory.

Two bars, side by side in one run:

    memory      a generated folder of --photos JPEGs (default 100,000) at 128×128, 2 classes,
                made with Pillow here, is decoded into its cache by
                `neuronet train --data FOLDER --model cnn --image-size 128 --epochs 1
                --steps-per-epoch 200`, which then trains 200 minibatch steps of the default
                CNN drawn from the whole training split, scores its test split (20 %) and
                writes its report. The peak resident memory of the command (the process and
                any children together, sampled every 50 ms from /proc) stays under 2 GB.
    throughput  training the default CNN at 64×64, batch 64, from the memory-mapped cache
                (neuronet.datasets.ImageFolder) runs at ≥ 90 % of its throughput from the
                same images in memory (one BLAS thread, the best of --repeats runs of
                --steps steps each, interleaved).

The folder, its cache (in a temporary NEURONET_CACHE) and the run are removed at the end
unless --keep is given. Prints each phase's figures; exits 1 if a bar does not hold.

    python benchmarks/photos_at_scale.py [--photos 100000] [--steps 60] [--repeats 3] [--keep DIR]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from common import one_thread
from PIL import Image
from sklearn.exceptions import ConvergenceWarning

MEMORY_BAR = 2 * 1024**3
THROUGHPUT_BAR = 0.9


def _draw(job):
    """Write the photos ``first`` … ``last`` − 1 of ``folder`` (class by parity): a noisy
    colour field with a warm disc (cats) or a cool square (dogs) at a random place."""
    folder, first, last, size = job
    rng = np.random.default_rng(first)
    yy, xx = np.mgrid[:size, :size]
    for number in range(first, last):
        label = ("cat", "dog")[number % 2]
        base = rng.uniform(40, 200, 3)
        image = np.clip(base + rng.normal(0, 25, (size, size, 3)), 0, 255)
        cy, cx, radius = rng.integers(size // 5, size - size // 5, 2).tolist() + [int(rng.integers(size // 10, size // 5))]
        shape = ((yy - cy) ** 2 + (xx - cx) ** 2 < radius**2) if label == "cat" else \
            ((abs(yy - cy) < radius) & (abs(xx - cx) < radius))
        warm = rng.uniform([180, 60, 40], [255, 140, 100])  # a cat's disc is warm, a dog's square cool
        image[shape] = warm if label == "cat" else warm[::-1]
        Image.fromarray(image.astype(np.uint8)).save(os.path.join(folder, label, f"{number}.jpg"), quality=85)


def make_folder(folder, photos, size, workers=2):
    for label in ("cat", "dog"):
        os.makedirs(os.path.join(folder, label), exist_ok=True)
    step = max(1, photos // (workers * 20))
    jobs = [(folder, first, min(first + step, photos), size) for first in range(0, photos, step)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_draw, jobs))


def _tree_rss(pid):
    """Resident bytes of process ``pid`` and all its descendants (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
        todo += children.get(current, [])
    return total


def run_watched(command, env):
    """Run ``command``; (its output, wall seconds, peak resident bytes of its process tree)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, lines = 0, []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    while process.poll() is None:
        peak = max(peak, _tree_rss(process.pid))
        time.sleep(0.05)
    reader.join()
    if process.returncode:
        sys.exit(f"{' '.join(command)} failed ({process.returncode}):\n{''.join(lines)}")
    return "".join(lines), time.perf_counter() - start, peak


def memory_bar(folder, photos, work):
    env = {**os.environ, "NEURONET_CACHE": os.path.join(work, "cache"), "OPENBLAS_NUM_THREADS": "2"}
    started = time.perf_counter()
    if sum(len(os.listdir(os.path.join(folder, label))) for label in ("cat", "dog")
           if os.path.isdir(os.path.join(folder, label))) == photos:
        print(f"the {photos} JPEGs of {folder} (--keep) are used again, with their cache")
    else:
        make_folder(folder, photos, 128)
        print(f"generated {photos} JPEGs at 128×128 in {time.perf_counter() - started:.0f} s")
    command = ["neuronet", "train", "--data", folder, "--model", "cnn", "--image-size", "128", "--epochs", "1",
               "--steps-per-epoch", "200", "--output", os.path.join(work, "model.npz"), "--quiet"]
    output, seconds, peak = run_watched(command, env)
    print(output.strip())
    cache_bytes = sum(os.path.getsize(os.path.join(env["NEURONET_CACHE"], name))
                      for name in os.listdir(env["NEURONET_CACHE"]))
    print(f"\nmemory: `{' '.join(command[:-3])} …` took {seconds:.0f} s; cache {cache_bytes / 1024**3:.2f} GiB on disk "
          f"(as float32 in memory: {4 * cache_bytes / 1024**3:.1f} GiB); peak resident memory {peak / 1024**3:.2f} GiB "
          f"(bar < {MEMORY_BAR / 1024**3:.0f} GiB)")
    assert re.search(r"report written to", output), "no report was written"
    return peak < MEMORY_BAR


def throughput_bar(folder, steps, repeats, work):
    from neuronet import CNNClassifier
    from neuronet.datasets import ImageFolder

    os.environ["NEURONET_CACHE"] = os.path.join(work, "cache-64")
    make_folder(folder, 64 * steps, 64)
    cached = ImageFolder(folder, image_size=64)
    X, y = np.asarray(cached.images), cached.targets  # the same images, in memory

    def rate(*data):
        model = CNNClassifier(batch_size=64, steps_per_epoch=steps, max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            model.fit(*data)
        return steps * 64 / (time.perf_counter() - start)

    rates = {"memory-mapped cache": [], "in memory": []}
    with one_thread():
        for _ in range(repeats):
            rates["memory-mapped cache"].append(rate(cached))
            rates["in memory"].append(rate(X, y))
    best = {name: max(values) for name, values in rates.items()}
    ratio = best["memory-mapped cache"] / best["in memory"]
    print(f"\nthroughput, default CNN at 64×64, batch 64, one thread ({steps} steps, best of {repeats}): "
          + ", ".join(f"{name} {value:.0f} images/s" for name, value in best.items())
          + f"; cache / memory = {ratio:.2f} (bar ≥ {THROUGHPUT_BAR})")
    return ratio >= THROUGHPUT_BAR


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=60, help="training steps per throughput run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep what is made there")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="neuronet-photos-")
    os.makedirs(work, exist_ok=True)
    try:
        held = []
        if not args.skip_throughput:
            held.append(throughput_bar(os.path.join(work, "photos-64"), args.steps, args.repeats, work))
        if not args.skip_memory:
            held.append(memory_bar(os.path.join(work, "photos-128"), args.photos, work))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\nall bars hold" if all(held) else "\na bar does not hold")
    return 0 if all(held) else 1


if __name__ == "__main__":
    sys.exit(main())
