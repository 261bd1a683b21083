"""neuronet cache: where decoded images are cached, what the cache holds, and clearing it."""

from __future__ import annotations

import argparse
import os
import time

from ..imagefolder import CACHE_SUFFIX, DamagedEntry, cache_files, cache_folder, read_entry_header, size_text


def add(commands):
    parser = commands.add_parser(
        "cache", help="where decoded photos are cached, and their size (--clear empties it)",
        description="Reading a folder of photos decodes every image once and keeps the pixels in the image "
                    "cache, so the next run on the same folder, image size and colour mode starts in seconds; "
                    "an entry is rebuilt when the folder's files change. The cache is in $NEURONET_CACHE, else "
                    f"$XDG_CACHE_HOME/neuronet, else ~/.cache/neuronet (here: {cache_folder()}). This command lists "
                    "its entries (the folder each came from, its images and their size, its size on disk) and "
                    "their total size.",
        epilog="examples:\n  neuronet cache\n  neuronet cache --clear\n"
               "  NEURONET_CACHE=/scratch/neuronet-cache neuronet train --data ~/dogs-vs-cats/train",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clear", action="store_true",
                        help="remove every entry (only the cache's own files, nothing else in its folder)")
    parser.set_defaults(run=run)


def run(args):
    folder = cache_folder()
    sizes = {path: os.path.getsize(path) for path in cache_files()}
    total = f"{len(sizes)} {'entry' if len(sizes) == 1 else 'entries'} ({size_text(sum(sizes.values()))})"
    if args.clear:
        for path in sizes:
            os.remove(path)
        print(f"removed {total} from the image cache {folder}")
        return 0
    print(f"image cache: {folder}")
    if not sizes:
        print("empty")
        return 0
    print(f"  {'written':<16}  {'on disk':>9}  {'images':<24}  folder")
    for path in sorted(sizes, key=os.path.getmtime):
        written = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(path)))
        print(f"  {written:<16}  {size_text(sizes[path]):>9}  {_contents(path)}")
    print(f"{total}; remove them with: neuronet cache --clear")
    return 0


def _contents(path):
    """What the entry at ``path`` holds: its images and the folder they came from."""
    name = os.path.basename(path)
    if not name.endswith(CACHE_SUFFIX):
        return f"{'(not read)':<24}  {name}: " + ("an unfinished write" if name.endswith(".tmp") else
                                                   "an entry of an older version, no longer read")
    try:
        header = read_entry_header(path)
    except (OSError, DamagedEntry) as error:
        return f"{'(damaged)':<24}  {name}: {getattr(error, 'strerror', None) or error}; rebuilt when its folder is read"
    n, channels, height, width = header["shape"]
    images = f"{n:,} {'RGB' if channels == 3 else 'grey'} {height}×{width}"
    return f"{images:<24}  {header['folder']}"
