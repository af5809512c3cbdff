"""The ``caer`` and ``caer-s`` datasets on real trees written to disk."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from vlmfer.datasets.caer import CAER_CLASSES
from vlmfer.datasets.common import ListedDataset
from vlmfer.datasets.synthetic import make_caer_s_like
from vlmfer.errors import ConfigError, DatasetError
from vlmfer.plugins import Registry, get_dataset
from vlmfer.types import Sample


def test_caer_s_defaults_to_test_and_yields_relative_ids(
    caer_s_root: Path, registry: Registry
) -> None:
    ds = get_dataset("caer-s", root=caer_s_root, registry=registry)
    assert ds.name == "caer-s"
    assert ds.split == "test"
    assert ds.splits == ("train", "test")
    assert ds.labels == CAER_CLASSES
    assert ds.media_kind == "image"
    samples = list(ds)
    assert len(samples) == len(ds) == 28
    assert samples[0].id == "test/Anger/0001.png"
    assert [s.id for s in samples] == sorted(s.id for s in samples)
    first = samples[0]
    assert isinstance(first, Sample)
    assert first.label == "Anger"
    assert first.metadata == {"split": "test"}
    assert first.media.path == caer_s_root / "test" / "Anger" / "0001.png"
    assert first.media.kind == "image"
    assert first.media.mime_type == "image/png"
    assert first.media.sha256 is None  # listing never reads files


def test_caer_s_train_reads_angry_as_anger(caer_s_root: Path, registry: Registry) -> None:
    ds = get_dataset("caer-s", root=caer_s_root, split="train", registry=registry)
    anger = [s for s in ds if s.label == "Anger"]
    assert [s.id for s in anger] == [f"train/Angry/{i:04d}.png" for i in range(1, 5)]
    assert anger[0].metadata == {"split": "train", "class_folder": "Angry"}
    assert ds.class_counts() == dict.fromkeys(CAER_CLASSES, 4)


def test_caer_s_accepts_jpg(tmp_path: Path, registry: Registry) -> None:
    make_caer_s_like(tmp_path, per_class=1, size=(32, 18), fmt="jpg")
    ds = get_dataset("caer-s", root=tmp_path, registry=registry)
    assert {s.media.mime_type for s in ds} == {"image/jpeg"}


def test_caer_yields_video_clips_per_split(caer_root: Path, registry: Registry) -> None:
    ds = get_dataset("caer", root=caer_root, registry=registry)
    assert ds.splits == ("train", "validation", "test")
    assert ds.split == "test"
    assert ds.media_kind == "video"
    assert [s.id for s in ds][:2] == ["test/Anger/0001.avi", "test/Disgust/0001.avi"]
    assert {s.media.mime_type for s in ds} == {"video/avi"}
    val = get_dataset("caer", root=caer_root, split="validation", registry=registry)
    assert len(val) == 7
    assert {s.metadata["split"] for s in val} == {"validation"}


def test_classes_keeps_only_those_in_label_order(caer_s_root: Path, registry: Registry) -> None:
    six = [c for c in CAER_CLASSES if c != "Neutral"]
    ds = get_dataset("caer-s", root=caer_s_root, classes=six[::-1], registry=registry)
    assert ds.labels == tuple(six)
    assert len(ds) == 24
    assert "Neutral" not in {s.label for s in ds}
    by_text = get_dataset("caer-s", root=caer_s_root, classes="happy, Sad", registry=registry)
    assert by_text.labels == ("Happy", "Sad")


def test_limit_is_stratified_seeded_and_stable(tmp_path: Path, registry: Registry) -> None:
    make_caer_s_like(tmp_path, per_class=30, size=(16, 9))
    a = get_dataset("caer-s", root=tmp_path, limit=100, registry=registry)
    counts = a.class_counts()
    assert sum(counts.values()) == len(a) == 100
    assert set(counts.values()) <= {14, 15}
    again = get_dataset("caer-s", root=tmp_path, limit=100, registry=registry)
    assert [s.id for s in again] == [s.id for s in a]
    other = get_dataset("caer-s", root=tmp_path, limit=100, seed=1, registry=registry)
    assert [s.id for s in other] != [s.id for s in a]
    # The subsample keeps the listing's order.
    assert [s.id for s in a] == sorted(s.id for s in a)
    everything = get_dataset("caer-s", root=tmp_path, limit=10_000, registry=registry)
    assert len(everything) == 210


def test_shuffle_is_a_seeded_permutation(caer_s_root: Path, registry: Registry) -> None:
    plain = [s.id for s in get_dataset("caer-s", root=caer_s_root, registry=registry)]
    shuffled = [s.id for s in get_dataset("caer-s", root=caer_s_root, shuffle=True,
                                          registry=registry)]
    assert shuffled != plain and sorted(shuffled) == sorted(plain)
    again = [s.id for s in get_dataset("caer-s", root=caer_s_root, shuffle=True,
                                       registry=registry)]
    assert again == shuffled


def test_fingerprint_tracks_paths_sizes_and_labels(
    caer_s_root: Path, tmp_path: Path, registry: Registry
) -> None:
    fp = get_dataset("caer-s", root=caer_s_root, registry=registry).fingerprint()
    assert len(fp) == 64
    moved = tmp_path / "elsewhere" / "CAER-S"
    shutil.copytree(caer_s_root, moved)
    assert get_dataset("caer-s", root=moved, registry=registry).fingerprint() == fp
    assert get_dataset("caer-s", root=caer_s_root, limit=7,
                       registry=registry).fingerprint() != fp
    with (moved / "test" / "Sad" / "0001.png").open("ab") as f:
        f.write(b"\0")
    assert get_dataset("caer-s", root=moved, registry=registry).fingerprint() != fp


def test_describe_and_counts_for_the_dry_run(caer_s_root: Path, registry: Registry) -> None:
    ds = get_dataset("caer-s", root=caer_s_root, limit=14, registry=registry)
    info = ds.describe()
    json.dumps(info)
    assert info["name"] == "caer-s" and info["split"] == "test" and info["n"] == 14
    assert info["options"]["limit"] == 14
    assert ds.class_counts() == dict.fromkeys(CAER_CLASSES, 2)
    assert isinstance(ds, ListedDataset)
    split_counts = ds.split_counts()
    assert split_counts == {
        "train": dict.fromkeys(CAER_CLASSES, 4), "test": dict.fromkeys(CAER_CLASSES, 4)
    }


def test_hidden_and_junk_files_are_ignored(
    caer_s_root: Path, registry: Registry, touch: Callable[..., Path]
) -> None:
    touch(caer_s_root / "test" / "Sad" / ".DS_Store")
    touch(caer_s_root / "test" / "Sad" / "Thumbs.db")
    touch(caer_s_root / "__MACOSX" / "test" / "Sad" / "._0001.png")
    touch(caer_s_root / "README.txt")
    assert len(get_dataset("caer-s", root=caer_s_root, registry=registry)) == 28


def test_vlmfer_caer_labels_match() -> None:
    from vlmfer.labels import CAER_LABELS

    assert tuple(CAER_LABELS) == CAER_CLASSES


# --- bad layouts: each fails at construction with a clear DatasetError ----------------


def _error(registry: Registry, name: str, **kwargs: object) -> str:
    with pytest.raises(DatasetError) as info:
        get_dataset(name, registry=registry, **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ConfigError)  # the CLI exits 2 on ConfigError
    return str(info.value)


def test_missing_root(tmp_path: Path, registry: Registry) -> None:
    msg = _error(registry, "caer-s", root=tmp_path / "nope")
    assert "does not exist" in msg and "nope" in msg
    assert "needs a root" in _error(registry, "caer", root=None)
    (tmp_path / "file.txt").write_text("x")
    assert "is a file" in _error(registry, "caer", root=tmp_path / "file.txt")


def test_split_that_does_not_exist_lists_the_ones_that_do(
    caer_s_root: Path, registry: Registry
) -> None:
    msg = _error(registry, "caer-s", root=caer_s_root, split="validation")
    assert "'validation' does not exist" in msg and "train, test" in msg
    shutil.rmtree(caer_s_root / "test")
    msg = _error(registry, "caer-s", root=caer_s_root)  # the default split is gone
    assert "'test' does not exist" in msg and "Splits found: train" in msg


def test_root_at_the_wrong_level_gets_a_hint(caer_s_root: Path, registry: Registry) -> None:
    msg = _error(registry, "caer-s", root=caer_s_root / "test")
    assert "no split folder" in msg and "pass its parent as root and split='test'" in msg
    msg = _error(registry, "caer-s", root=caer_s_root.parent)
    assert f"Did you mean root={caer_s_root}" in msg


def test_class_folders_without_a_split_point_to_the_folder_dataset(
    caer_s_root: Path, tmp_path: Path, registry: Registry
) -> None:
    # The hint must not loop: "pass its parent and split='mine'" fails again under CAER.
    mine = tmp_path / "mine"
    shutil.move(caer_s_root / "test", mine)
    msg = _error(registry, "caer-s", root=mine)
    assert "split='mine'" not in msg
    assert f"--dataset folder --data-root {mine}" in msg
    files = [f for f in mine.rglob("*.png")]
    assert len(get_dataset("folder", root=mine, registry=registry)) == len(files)


def test_unknown_class_folder_says_how_to_map_or_ignore(
    caer_s_root: Path, registry: Registry, touch: Callable[..., Path]
) -> None:
    src = caer_s_root / "test" / "Sad" / "0001.png"
    touch(caer_s_root / "test" / "Contempt" / "0001.png", src.read_bytes())
    msg = _error(registry, "caer-s", root=caer_s_root)
    assert "unknown class folder test/Contempt/" in msg
    assert "--set dataset.ignore=['Contempt']" in msg
    assert "label_map=" in msg and "ignore=['Contempt']" in msg
    ignored = get_dataset("caer-s", root=caer_s_root, ignore=["Contempt"], registry=registry)
    assert len(ignored) == 28
    mapped = get_dataset("caer-s", root=caer_s_root, label_map={"Contempt": "Disgust"},
                         registry=registry)
    assert mapped.class_counts()["Disgust"] == 5
    msg = _error(registry, "caer-s", root=caer_s_root, label_map={"Contempt": "Scorn"})
    assert "not a CAER class" in msg


def test_empty_class_folder(caer_s_root: Path, registry: Registry) -> None:
    for f in (caer_s_root / "test" / "Fear").iterdir():
        f.unlink()
    msg = _error(registry, "caer-s", root=caer_s_root)
    assert "test/Fear/ is empty" in msg
    kept = get_dataset("caer-s", root=caer_s_root, classes=["Anger", "Happy"], registry=registry)
    assert len(kept) == 8


def test_missing_class_folder(caer_s_root: Path, registry: Registry) -> None:
    shutil.rmtree(caer_s_root / "test" / "Surprise")
    msg = _error(registry, "caer-s", root=caer_s_root)
    assert "no folder for class(es) Surprise" in msg
    assert "--classes Anger,Disgust,Fear,Happy,Neutral,Sad" in msg


def test_files_of_the_wrong_kind(
    caer_s_root: Path, caer_root: Path, registry: Registry, touch: Callable[..., Path]
) -> None:
    touch(caer_s_root / "test" / "Happy" / "0005.avi", b"x")
    msg = _error(registry, "caer-s", root=caer_s_root)
    assert "test/Happy/0005.avi" in msg and "not images" in msg and "'caer'" in msg
    touch(caer_root / "test" / "Happy" / "notes.txt", b"x")
    msg = _error(registry, "caer", root=caer_root)
    assert "test/Happy/notes.txt" in msg and "not videos" in msg


def test_media_directly_in_a_split_folder(
    caer_s_root: Path, registry: Registry, touch: Callable[..., Path]
) -> None:
    touch(caer_s_root / "test" / "0001.png", b"x")
    assert "directly in test/" in _error(registry, "caer-s", root=caer_s_root)


def test_nested_folder_in_a_class_folder(caer_s_root: Path, registry: Registry) -> None:
    (caer_s_root / "test" / "Sad" / "more").mkdir()
    assert "unexpected folder test/Sad/more/" in _error(registry, "caer-s", root=caer_s_root)


def test_symlinks_are_followed_wherever_they_point(
    caer_s_root: Path, tmp_path: Path, registry: Registry
) -> None:
    # A folder of links is how a subset is usually assembled: links out of the root work.
    outside = tmp_path / "elsewhere" / "outside.png"
    outside.parent.mkdir()
    outside.write_bytes((caer_s_root / "test" / "Sad" / "0001.png").read_bytes())
    link = caer_s_root / "test" / "Sad" / "0009.png"
    os.symlink(outside, link)
    ds = get_dataset("caer-s", root=caer_s_root, registry=registry)
    assert isinstance(ds, ListedDataset) and "test/Sad/0009.png" in ds.ids
    assert ds.describe()["symlinks"] == {"n": 1,
                                         "resolved_under": {os.path.realpath(outside.parent): 1}}
    link.unlink()
    os.symlink(tmp_path / "gone.png", link)
    assert "broken symlink" in _error(registry, "caer-s", root=caer_s_root)


def test_symlinked_class_folder_is_followed(
    caer_s_root: Path, tmp_path: Path, registry: Registry
) -> None:
    n = len(get_dataset("caer-s", root=caer_s_root, registry=registry))
    no_links = get_dataset("caer-s", root=caer_s_root, registry=registry).describe()
    assert "symlinks" not in no_links
    shutil.move(caer_s_root / "test" / "Sad", tmp_path / "Sad")
    os.symlink(tmp_path / "Sad", caer_s_root / "test" / "Sad")
    ds = get_dataset("caer-s", root=caer_s_root, registry=registry)
    assert len(ds) == n
    links = ds.describe()["symlinks"]
    assert list(links["resolved_under"]) == [str((tmp_path / "Sad").resolve())]
    assert links["n"] == ds.class_counts()["Sad"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"limt": 5}, "unknown option 'limt' (did you mean 'limit'?)"),
        ({"limit": 0}, "option 'limit'"),
        ({"limit": "many"}, "option 'limit'"),
        ({"classes": ["Angr"]}, "unknown class 'Angr'. Did you mean 'Anger'?"),
        ({"classes": []}, "option 'classes' is empty"),
        ({"shuffle": "sometimes"}, "option 'shuffle'"),
    ],
)
def test_bad_options_name_the_option_and_valid_values(
    caer_s_root: Path, registry: Registry, options: dict[str, object], expected: str
) -> None:
    msg = _error(registry, "caer-s", root=caer_s_root, **options)
    assert expected in msg
    if "unknown option" in expected:
        assert "Valid options: classes, ignore, label_map, limit, seed, shuffle, split" in msg
