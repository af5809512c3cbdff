"""``raf-db``: RAF-DB basic trees built in the real layout, read through the registry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import vlmfer
from fer_builders import RAF_CODES, raf_rows, write_rafdb
from PIL import Image
from vlmfer.errors import ConfigError, DatasetError
from vlmfer.plugins import Registry

LABEL_FILE = "EmoLabel/list_patition_label.txt"


def rafdb(registry: Registry, root: Path, **options: Any) -> vlmfer.Dataset:
    ds: vlmfer.Dataset = vlmfer.get_dataset("raf-db", root=root, registry=registry, **options)
    return ds


def test_test_split_yields_aligned_images_with_caer_labels(
    registry: Registry, tmp_path: Path
) -> None:
    root = write_rafdb(tmp_path / "basic")
    ds = rafdb(registry, root, split="test")
    samples = list(ds)
    assert len(ds) == len(samples) == 21
    assert ds.name == "raf-db" and ds.split == "test" and ds.media_kind == "image"
    assert ds.splits == ("train", "test")
    assert ds.labels == vlmfer.CAER_LABELS
    first = samples[0]
    assert first.id == "Image/aligned/test_0001_aligned.jpg"
    assert first.media.path == root / first.id and first.media.path.is_file()
    assert first.media.kind == "image" and first.media.mime_type == "image/jpeg"
    assert first.label == "Surprise"
    assert first.metadata == {"rafdb_name": "test_0001.jpg", "rafdb_label": 1,
                              "rafdb_emotion": "Surprise", "split": "test"}
    # The label file's order is kept, and every code maps to its CAER name.
    assert [s.id for s in samples[:3]] == [
        "Image/aligned/test_0001_aligned.jpg", "Image/aligned/test_0002_aligned.jpg",
        "Image/aligned/test_0003_aligned.jpg",
    ]
    assert [s.label for s in samples[:7]] == [
        "Surprise", "Fear", "Disgust", "Happy", "Sad", "Anger", "Neutral"
    ]
    assert all(s.media.path.is_relative_to(root) for s in samples)
    assert ds.class_counts() == dict.fromkeys(vlmfer.CAER_LABELS, 3)


def test_default_split_is_test_and_train_is_listed_by_prefix(
    registry: Registry, tmp_path: Path
) -> None:
    root = write_rafdb(tmp_path / "basic")
    assert rafdb(registry, root).split == "test"
    train = rafdb(registry, root, split="train")
    assert len(train) == 14
    assert all(s.id.startswith("Image/aligned/train_") for s in train)
    assert all(s.metadata["split"] == "train" for s in train)
    assert train.split_counts() == {  # type: ignore[attr-defined]
        "train": dict.fromkeys(vlmfer.CAER_LABELS, 2),
        "test": dict.fromkeys(vlmfer.CAER_LABELS, 3),
    }


def test_original_variant_uses_the_full_images(registry: Registry, tmp_path: Path) -> None:
    root = write_rafdb(tmp_path / "basic")
    ds = rafdb(registry, root, variant="original")
    first = next(iter(ds))
    assert first.id == "Image/original/test_0001.jpg"
    with Image.open(first.media.path) as im:
        assert im.size == (32, 32)
    assert ds.describe()["options"]["variant"] == "original"


def test_classes_keep_only_those_labels(registry: Registry, tmp_path: Path) -> None:
    root = write_rafdb(tmp_path / "basic")
    ds = rafdb(registry, root, classes="Sad,happy")
    assert ds.labels == ("Happy", "Sad")
    assert {s.label for s in ds} == {"Happy", "Sad"}
    assert {s.metadata["rafdb_label"] for s in ds} == {4, 5}
    with pytest.raises(DatasetError, match=r"unknown class 'Happiness'.*Valid classes"):
        rafdb(registry, root, classes=["Happiness"])


def test_limit_is_seeded_and_stratified(registry: Registry, tmp_path: Path) -> None:
    root = write_rafdb(tmp_path / "basic", raf_rows(train_per_code=1, test_per_code=4))
    seven = rafdb(registry, root, limit=7, seed=3)
    assert seven.class_counts() == dict.fromkeys(vlmfer.CAER_LABELS, 1)
    again = rafdb(registry, root, limit=7, seed=3)
    assert [s.id for s in seven] == [s.id for s in again]
    assert seven.fingerprint() == again.fingerprint()
    others = {tuple(s.id for s in rafdb(registry, root, limit=7, seed=k)) for k in range(6)}
    assert len(others) > 1
    fourteen = rafdb(registry, root, limit=14)
    assert fourteen.class_counts() == dict.fromkeys(vlmfer.CAER_LABELS, 2)
    assert len(rafdb(registry, root, limit=1000)) == 28


def test_shuffle_reorders_the_same_samples_reproducibly(
    registry: Registry, tmp_path: Path
) -> None:
    root = write_rafdb(tmp_path / "basic")
    plain = [s.id for s in rafdb(registry, root)]
    shuffled = [s.id for s in rafdb(registry, root, shuffle=True, seed=1)]
    assert shuffled != plain and sorted(shuffled) == sorted(plain)
    assert shuffled == [s.id for s in rafdb(registry, root, shuffle=True, seed=1)]


def test_fingerprint_follows_labels_and_describe_records_the_mapping(
    registry: Registry, tmp_path: Path
) -> None:
    rows = raf_rows()
    root = write_rafdb(tmp_path / "basic", rows)
    before = rafdb(registry, root).fingerprint()
    assert rafdb(registry, root).fingerprint() == before
    relabelled = [(n, 7 if n == "test_0001.jpg" else c) for n, c in rows]
    write_rafdb(root, relabelled, variants=())
    assert rafdb(registry, root).fingerprint() != before
    info = rafdb(registry, root).describe()
    assert info["name"] == "raf-db" and info["split"] == "test" and info["n"] == 21
    assert info["label_map"]["4 Happiness"] == "Happy"
    assert info["label_map"]["5 Sadness"] == "Sad"
    assert len(info["label_map"]) == 7


def test_label_file_accepts_blank_lines_and_crlf(registry: Registry, tmp_path: Path) -> None:
    rows = [("test_0001.jpg", 4), ("test_0002.jpg", 6)]
    root = write_rafdb(tmp_path / "basic", rows, variants=("aligned",),
                       label_text="test_0001.jpg 4\r\n\r\ntest_0002.jpg  6\r\n")
    assert [(s.id, s.label) for s in rafdb(registry, root)] == [
        ("Image/aligned/test_0001_aligned.jpg", "Happy"),
        ("Image/aligned/test_0002_aligned.jpg", "Anger"),
    ]


# --- unhappy paths ---------------------------------------------------------------------------


def test_missing_label_file_says_what_the_root_is(registry: Registry, tmp_path: Path) -> None:
    write_rafdb(tmp_path / "RAF-DB" / "basic")
    with pytest.raises(DatasetError) as info:
        rafdb(registry, tmp_path / "RAF-DB")
    message = str(info.value)
    assert LABEL_FILE in message and "basic/ folder" in message
    assert f"Did you mean root={tmp_path / 'RAF-DB' / 'basic'}" in message

    (tmp_path / "other" / "EmoLabel").mkdir(parents=True)
    (tmp_path / "other" / "EmoLabel" / "list_partition_label.txt").write_text("x 1\n")
    with pytest.raises(DatasetError, match=r"EmoLabel/ holds: list_partition_label\.txt"):
        rafdb(registry, tmp_path / "other")


def test_missing_root_and_file_root(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        rafdb(registry, tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="needs a root"):
        vlmfer.get_dataset("raf-db", registry=registry)
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(DatasetError, match="must be a folder"):
        rafdb(registry, tmp_path / "file.txt")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("test_0002.jpg", r":2: expected '<image name> <label 1-7>'.*got 'test_0002\.jpg'"),
        ("test_0002.jpg 1 extra", r":2: expected '<image name> <label 1-7>'"),
        ("test_0002.jpg 8", r":2: label '8' of 'test_0002\.jpg' is not one of 1-7 \(1 Surprise"),
        ("test_0002.jpg 0", r":2: label '0' .* is not one of 1-7"),
        ("test_0002.jpg happy", r":2: label 'happy' .* is not one of 1-7"),
        ("val_0002.jpg 1", r":2: image name 'val_0002\.jpg' must be a file name starting with "
                           r"train_ or test_"),
        ("../test_0002.jpg 1", r":2: image name '\.\./test_0002\.jpg' must be a file name"),
        ("test_0002.txt 1", r":2: 'test_0002\.txt' is not an image name"),
        ("test_0001.jpg 2", r"'test_0001\.jpg' is listed twice \(lines 1 and 2\)"),
    ],
)
def test_bad_label_lines_name_the_file_and_line(
    registry: Registry, tmp_path: Path, line: str, expected: str
) -> None:
    root = write_rafdb(tmp_path / "basic", [("test_0001.jpg", 1)], variants=("aligned",),
                       label_text=f"test_0001.jpg 1\n{line}\n")
    with pytest.raises(DatasetError, match=expected) as info:
        rafdb(registry, root)
    assert str(root / LABEL_FILE) in str(info.value)


def test_empty_label_file(registry: Registry, tmp_path: Path) -> None:
    root = write_rafdb(tmp_path / "basic", [], label_text="\n")
    with pytest.raises(DatasetError, match="lists no images"):
        rafdb(registry, root)


def test_missing_images_are_listed_with_their_lines(registry: Registry, tmp_path: Path) -> None:
    root = write_rafdb(tmp_path / "basic")
    os.remove(root / "Image/aligned/test_0002_aligned.jpg")
    os.remove(root / "Image/aligned/test_0005_aligned.jpg")
    with pytest.raises(DatasetError) as info:
        rafdb(registry, root)
    message = str(info.value)
    assert "2 image(s)" in message
    # Train names come first in the label file: 14 train lines, then test_0001 on line 15.
    assert "Image/aligned/test_0002_aligned.jpg (line 16)" in message
    assert "Image/aligned/test_0005_aligned.jpg (line 19)" in message
    # The other split is unaffected, and the other variant is complete.
    assert len(rafdb(registry, root, split="train")) == 14
    assert len(rafdb(registry, root, variant="original")) == 21


def test_missing_variant_folder_points_to_the_other(registry: Registry, tmp_path: Path) -> None:
    root = write_rafdb(tmp_path / "basic", variants=("original",))
    with pytest.raises(DatasetError) as info:
        rafdb(registry, root)
    message = str(info.value)
    assert "Image/aligned" in message and "variant='original'" in message
    assert len(rafdb(registry, root, variant="original")) == 21


def test_split_that_is_not_there(registry: Registry, tmp_path: Path) -> None:
    rows = [(n, c) for n, c in raf_rows() if n.startswith("test_")]
    root = write_rafdb(tmp_path / "basic", rows, variants=("aligned",))
    assert rafdb(registry, root).splits == ("test",)
    with pytest.raises(DatasetError, match=r"split 'train' has no rows.*Splits found: test"):
        rafdb(registry, root, split="train")
    with pytest.raises(DatasetError, match=r"split 'tset'.*Did you mean 'test'"):
        rafdb(registry, root, split="tset")


def test_options_are_validated(registry: Registry, tmp_path: Path) -> None:
    root = write_rafdb(tmp_path / "basic", raf_rows(1, 1), variants=("aligned",))
    with pytest.raises(DatasetError, match=r"unknown option 'varient' \(did you mean 'variant'"):
        rafdb(registry, root, varient="original")
    with pytest.raises(ConfigError, match=r"option 'variant'.*'cropped'"):
        rafdb(registry, root, variant="cropped")
    with pytest.raises(DatasetError, match=r"option 'limit'"):
        rafdb(registry, root, limit=0)


def test_symlink_out_of_the_root_is_followed(registry: Registry, tmp_path: Path) -> None:
    root = write_rafdb(tmp_path / "basic", [("test_0001.jpg", RAF_CODES["Happy"])],
                       variants=("aligned",))
    outside = tmp_path / "outside.jpg"
    Image.new("RGB", (8, 8)).save(outside)
    target = root / "Image/aligned/test_0001_aligned.jpg"
    target.unlink()
    target.symlink_to(outside)
    ds = rafdb(registry, root)
    assert len(ds) == 1
    target.unlink()
    target.symlink_to(tmp_path / "gone.jpg")
    with pytest.raises(DatasetError, match="broken symlink"):
        rafdb(registry, root)
