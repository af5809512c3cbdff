"""The ``manifest`` dataset: CSV, TSV and JSONL files of ``path,label[,split]``."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from vlmfer.datasets.common import ListedDataset
from vlmfer.errors import DatasetError
from vlmfer.plugins import Registry, get_dataset

# RAF-DB's basic-expression labels are the numbers 1-7.
RAF_MAP = {"1": "Surprise", "2": "Fear", "3": "Disgust", "4": "Happy", "5": "Sad",
           "6": "Anger", "7": "Neutral"}
CAER = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]


@pytest.fixture
def raf_like(tmp_path: Path, shared_data: Path) -> Path:
    """A RAF-DB-shaped folder of real face photos with a CSV manifest."""
    root = tmp_path / "RAF-DB"
    (root / "aligned").mkdir(parents=True)
    rows = ["path,label,split,subject"]
    happy = sorted((shared_data / "london_faces" / "Happy").glob("*.jpg"))[:5]
    neutral = sorted((shared_data / "london_faces" / "Neutral").glob("*.jpg"))[:5]
    faces = [f for pair in zip(happy, neutral, strict=True) for f in pair]
    for i, src in enumerate(faces):
        split = "train" if i < 6 else "test"
        name = f"{split}_{i:04d}_aligned.jpg"
        shutil.copy(src, root / "aligned" / name)
        label = "4" if src.parent.name == "Happy" else "7"
        rows.append(f"aligned/{name},{label},{split},s{i % 3}")
    (root / "raf.csv").write_text("\n".join(rows) + "\n")
    return root


def test_raf_db_style_csv_with_label_map(raf_like: Path, registry: Registry) -> None:
    ds = get_dataset("manifest", root=raf_like / "raf.csv", split="test", labels=CAER,
                     label_map=RAF_MAP, registry=registry)
    assert ds.name == "manifest"
    assert ds.splits == ("test", "train")
    assert ds.labels == tuple(CAER)
    assert ds.media_kind == "image"
    samples = list(ds)
    assert len(samples) == 4
    assert samples[0].id == "aligned/test_0006_aligned.jpg"
    assert samples[0].media.path == raf_like / "aligned" / "test_0006_aligned.jpg"
    assert samples[0].metadata == {"split": "test", "subject": "s0", "manifest_line": 8}
    assert [s.label for s in samples] == ["Happy", "Neutral", "Happy", "Neutral"]
    assert sum(ds.class_counts().values()) == 4
    assert isinstance(ds, ListedDataset)
    counts = ds.split_counts()
    assert sum(counts["train"].values()) == 6 and sum(counts["test"].values()) == 4
    assert ds.describe()["manifest"] == str(raf_like / "raf.csv")


def test_labels_default_to_the_mapped_names_found(raf_like: Path, registry: Registry) -> None:
    ds = get_dataset("manifest", root=raf_like / "raf.csv", split="train",
                     label_map=RAF_MAP, registry=registry)
    assert ds.labels == ("Happy", "Neutral")


def test_unknown_label_says_how_to_map_it(raf_like: Path, registry: Registry) -> None:
    with pytest.raises(DatasetError, match=r"unknown label\(s\) '4' \(\d+ rows, first at line "
                                           r"\d+\).*label_map=\{'4': \.\.\.\}"):
        get_dataset("manifest", root=raf_like / "raf.csv", split="test", labels=CAER,
                    registry=registry)


def test_jsonl_tsv_and_folder_roots_keep_manifest_order(
    tmp_path: Path, registry: Registry, touch: Callable[..., Path]
) -> None:
    for name in ("b/2.png", "a/1.png", "c/3.mp4"):
        touch(tmp_path / "d" / name, b"x")
    lines = [
        {"path": "b/2.png", "label": "happiness", "score": 0.9},
        {"path": "./a/../a/1.png", "label": "Sad"},
        {"path": "c/3.mp4", "label": 7},
    ]
    (tmp_path / "d" / "manifest.jsonl").write_text(
        "\n".join(json.dumps(r) for r in lines) + "\n\n"
    )
    ds = get_dataset("manifest", root=tmp_path / "d", registry=registry,
                     label_map={"happiness": "Happy", "7": "Neutral"})
    assert [(s.id, s.label) for s in ds] == [
        ("b/2.png", "Happy"), ("a/1.png", "Sad"), ("c/3.mp4", "Neutral"),
    ]
    assert ds.media_kind is None
    assert next(iter(ds)).metadata == {"split": None, "score": 0.9, "manifest_line": 1}
    (tmp_path / "d" / "manifest.jsonl").unlink()
    (tmp_path / "d" / "list.tsv").write_text("path\tlabel\na/1.png\tSad\n")
    tsv = get_dataset("manifest", root=tmp_path / "d" / "list.tsv", registry=registry)
    assert [s.id for s in tsv] == ["a/1.png"]


def _fails(registry: Registry, manifest: Path, **options: object) -> str:
    with pytest.raises(DatasetError) as info:
        get_dataset("manifest", root=manifest, registry=registry, **options)  # type: ignore[arg-type]
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,label\n../outside.png,Sad\n", r"escapes the manifest's folder"),
        ("path,label\n/etc/hostname,Sad\n", r"escapes the manifest's folder"),
        ("path,label\nimg/missing.png,Sad\n", r"1 listed file\(s\) do not exist: "
                                              r"img/missing\.png \(line 2\)"),
        ("path,label\nimg/1.png,Sad\nimg/./1.png,Happy\n", r"listed twice \(lines 2 and 3\)"),
        ("path,label\nimg/notes.txt,Sad\n", r"not image or video files: img/notes\.txt"),
        ("file,label\nimg/1.png,Sad\n", r"no 'path' column"),
        ("", r"the manifest is empty"),
        ("path,label\n", r"lists no samples"),
        ("path,label\nimg/1.png,\n", r"'label' is missing or empty"),
        ("path,label,split\nimg/1.png,Sad,\n", r"'split' is empty"),
        ("path,label\nimg/1.png,Sad,extra\n", r"3 fields, the header has 2"),
    ],
)
def test_bad_manifests(tmp_path: Path, registry: Registry, touch: Callable[..., Path],
                       text: str, message: str) -> None:
    touch(tmp_path / "m" / "img" / "1.png", b"x")
    touch(tmp_path / "m" / "img" / "notes.txt", b"x")
    touch(tmp_path / "outside.png", b"x")
    (tmp_path / "m" / "list.csv").write_text(text)
    msg = _fails(registry, tmp_path / "m" / "list.csv")
    assert re.search(message, msg), msg


def test_symlinks_in_a_manifest_folder_are_followed_and_recorded(
    tmp_path: Path, registry: Registry, touch: Callable[..., Path]
) -> None:
    outside = touch(tmp_path / "outside.png", b"x")
    (tmp_path / "m").mkdir()
    os.symlink(outside, tmp_path / "m" / "link.png")
    (tmp_path / "outside_dir").mkdir()
    touch(tmp_path / "outside_dir" / "x.png", b"x")
    os.symlink(tmp_path / "outside_dir", tmp_path / "m" / "sub")
    (tmp_path / "m" / "list.csv").write_text("path,label\nlink.png,Sad\nsub/x.png,Happy\n")
    ds = get_dataset("manifest", root=tmp_path / "m" / "list.csv", registry=registry)
    assert isinstance(ds, ListedDataset) and ds.ids == ["link.png", "sub/x.png"]
    assert ds.describe()["symlinks"] == {
        "n": 2, "resolved_under": {os.path.realpath(tmp_path): 1,
                                   os.path.realpath(tmp_path / "outside_dir"): 1}}
    os.unlink(tmp_path / "m" / "link.png")
    os.symlink(tmp_path / "gone.png", tmp_path / "m" / "link.png")
    assert "link.png (line 2)" in _fails(registry, tmp_path / "m" / "list.csv")


def test_manifest_splits_and_roots(tmp_path: Path, registry: Registry,
                                   touch: Callable[..., Path]) -> None:
    touch(tmp_path / "m" / "1.png", b"x")
    (tmp_path / "m" / "list.csv").write_text("path,label,split\n1.png,Sad,test\n")
    assert "choose a split" in _fails(registry, tmp_path / "m" / "list.csv")
    assert "Splits found: test" in _fails(registry, tmp_path / "m" / "list.csv", split="val")
    (tmp_path / "m" / "plain.csv").write_text("path,label\n1.png,Sad\n")
    assert "no split column" in _fails(registry, tmp_path / "m" / "plain.csv", split="test")
    assert "hold exactly one" in _fails(registry, tmp_path / "m")
    (tmp_path / "m" / "list.txt").write_text("x")
    assert "is not a manifest" in _fails(registry, tmp_path / "m" / "list.txt")
    assert "does not exist" in _fails(registry, tmp_path / "nope.csv")
    (tmp_path / "m" / "bad.jsonl").write_text('{"path": "1.png", "label": "Sad"}\n{oops\n')
    assert "bad.jsonl:2: not valid JSON" in _fails(registry, tmp_path / "m" / "bad.jsonl")
