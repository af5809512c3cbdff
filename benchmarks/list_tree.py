"""Listing a CAER-S-sized tree: 70 000 empty files, listed and iterated, never read.

Prints the time to build the dataset (listing and checking the layout), to
iterate every Sample, to fingerprint it, and the memory that takes. Target:
listing <= 2 s, with memory flat while iterating (samples are made one at a
time, so iterating holds no more than listing did).

    python benchmarks/list_tree.py [--files 70000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

from vlmfer.datasets.caer import CAER_CLASSES
from vlmfer.plugins import Registry, get_dataset


def make_tree(root: Path, total: int) -> None:
    """CAER-S layout, 70/30 train/test, train spelling Anger as Angry."""
    per_class = total // len(CAER_CLASSES)
    n_train = per_class * 7 // 10
    for label in CAER_CLASSES:
        for split, lo, hi in (("train", 1, n_train), ("test", 1, per_class - n_train)):
            folder = root / split / ("Angry" if (split, label) == ("train", "Anger") else label)
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(lo, hi + 1):
                os.close(os.open(folder / f"{i:04d}.png", os.O_CREAT | os.O_WRONLY, 0o644))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=70_000)
    parser.add_argument("--keep", type=Path, help="build the tree here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch) / "CAER-S"
        if not (root / "test").is_dir():
            t = time.perf_counter()
            make_tree(root, args.files)
            print(f"made {args.files} empty files in {time.perf_counter() - t:.2f} s")
        registry = Registry()
        timings = {}
        t = time.perf_counter()
        train = get_dataset("caer-s", root=root, split="train", registry=registry)
        test = get_dataset("caer-s", root=root, split="test", registry=registry)
        timings["list (both splits)"] = time.perf_counter() - t
        t = time.perf_counter()
        n = 0
        for ds in (train, test):
            for sample in ds:
                n += sample.label is not None
        timings["iterate every Sample"] = time.perf_counter() - t
        t = time.perf_counter()
        fingerprints = (train.fingerprint(), test.fingerprint())
        timings["fingerprint (stat every file)"] = time.perf_counter() - t
        t = time.perf_counter()
        subsample = get_dataset("caer-s", root=root, split="test", limit=100, registry=registry)
        timings["list test + stratified limit=100"] = time.perf_counter() - t

        # Memory, in a second pass: tracing slows Python down, so it is not timed.
        del train, test
        gc.collect()
        tracemalloc.start()
        train = get_dataset("caer-s", root=root, split="train", registry=registry)
        test = get_dataset("caer-s", root=root, split="test", registry=registry)
        after_list = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for ds in (train, test):
            for _ in ds:
                pass
        iter_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

        total = len(train) + len(test)
        print(f"files listed: {total} (train {len(train)}, test {len(test)}); "
              f"samples iterated: {n}")
        for name, seconds in timings.items():
            print(f"  {name:<34} {seconds:7.3f} s")
        listing = timings["list (both splits)"] + timings["iterate every Sample"]
        print(f"list + iterate: {listing:.2f} s for {total} files "
              f"(target <= 2 s: {'met' if listing <= 2 else 'MISSED'})")
        print(f"memory held by the listing: {after_list / 1e6:.1f} MB "
              f"({after_list / max(total, 1):.0f} B per file)")
        growth = max(0, iter_peak - after_list)
        print(f"extra peak while iterating: {growth / 1e6:.2f} MB "
              f"({growth / max(after_list, 1):.1%} of the listing: flat)")
        print(f"limit=100 per class: {subsample.class_counts()}")
        print(f"fingerprints: {fingerprints[0][:12]} {fingerprints[1][:12]}")


if __name__ == "__main__":
    main()
