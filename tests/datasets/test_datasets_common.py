"""Stratified subsampling and option parsing shared by every built-in dataset."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from vlmfer.datasets.common import (
    DatasetOptions,
    Entry,
    parse_options,
    select_classes,
    stratified_subsample,
)
from vlmfer.errors import DatasetError

LABELS = ("Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")


def _entries(sizes: dict[str, int]) -> list[Entry]:
    return [
        Entry(f"test/{label}/{i:04d}.png", label, "image", "test")
        for label, n in sizes.items()
        for i in range(n)
    ]


def test_100_of_caer_s_test_gives_about_14_per_class() -> None:
    # The cleaned CAER-S test counts (larrylu0426/CAERS-Annotation).
    sizes = {"Anger": 2988, "Disgust": 2980, "Fear": 2972, "Happy": 2990, "Neutral": 2985,
             "Sad": 2983, "Surprise": 2970}
    picked = stratified_subsample(_entries(sizes), LABELS, 100, seed=0)
    counts = Counter(e.label for e in picked)
    assert sum(counts.values()) == 100
    assert set(counts.values()) <= {14, 15}
    assert picked == sorted(picked, key=lambda e: e.id)


def test_quotas_follow_class_sizes_and_never_exceed_them() -> None:
    sizes = {"Happy": 90, "Sad": 9, "Fear": 1}
    counts = Counter(e.label for e in stratified_subsample(_entries(sizes), LABELS, 20, seed=3))
    assert counts == {"Happy": 18, "Sad": 2} or counts == {"Happy": 18, "Sad": 1, "Fear": 1}
    assert sum(counts.values()) == 20


def test_draws_per_class_do_not_depend_on_other_classes() -> None:
    a = stratified_subsample(_entries({"Happy": 50, "Sad": 50}), LABELS, 10, seed=7)
    b = stratified_subsample(_entries({"Happy": 50, "Sad": 50, "Fear": 0}), LABELS, 10, seed=7)
    assert a == b
    c = stratified_subsample(_entries({"Happy": 50, "Sad": 50}), LABELS, 10, seed=8)
    assert a != c


def test_limit_at_or_above_size_keeps_everything() -> None:
    entries = _entries({"Happy": 3})
    assert stratified_subsample(entries, LABELS, 3, seed=0) == entries
    assert stratified_subsample(entries, LABELS, 99, seed=0) == entries


def test_parse_options_accepts_comma_separated_classes() -> None:
    opts = parse_options(DatasetOptions, "x", {"classes": "Anger, Happy", "limit": "5"})
    assert opts.classes == ["Anger", "Happy"] and opts.limit == 5


def test_select_classes_is_case_insensitive_and_ordered() -> None:
    assert select_classes("x", ["sad", "ANGER"], LABELS) == ("Anger", "Sad")
    with pytest.raises(DatasetError, match="Did you mean 'Surprise'"):
        select_classes("x", ["Suprise"], LABELS)


def test_resolve_root_says_what_kind_of_path_it_needs(tmp_path: Path) -> None:
    from vlmfer.datasets.common import resolve_root
    from vlmfer.errors import DatasetError

    (tmp_path / "labels.csv").write_text("x")
    with pytest.raises(DatasetError, match="is a folder; it must be a file"):
        resolve_root("mine", tmp_path, expect="file")
    with pytest.raises(DatasetError, match="is a file; it must be a folder"):
        resolve_root("mine", tmp_path / "labels.csv")
    assert resolve_root("mine", tmp_path / "labels.csv", expect="file").is_file()
    assert resolve_root("mine", tmp_path, expect="any").is_dir()
    assert resolve_root("mine", tmp_path / "labels.csv", expect="any").is_file()
