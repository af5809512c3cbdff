"""The ``folder`` dataset, on the real london_faces tree and on trees written here."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vlmfer.datasets.common import Entry, ListedDataset
from vlmfer.errors import DatasetError
from vlmfer.plugins import Registry, get_dataset
from vlmfer.types import Sample


def test_london_faces_is_a_real_folder_dataset(shared_data: Path, registry: Registry) -> None:
    root = shared_data / "london_faces"
    ds = get_dataset("folder", root=root, registry=registry)
    assert ds.name == "folder"
    assert ds.labels == ("Happy", "Neutral")
    assert ds.splits == () and ds.split is None
    assert ds.media_kind == "image"
    assert ds.class_counts() == {"Happy": 24, "Neutral": 24}
    samples = list(ds)
    assert samples[0].id == "Happy/001.jpg"
    assert samples[0].media.mime_type == "image/jpeg"
    assert all((root / s.id).is_file() for s in samples)
    small = get_dataset("folder", root=root, limit=10, registry=registry)
    assert small.class_counts() == {"Happy": 5, "Neutral": 5}
    ordered = get_dataset("folder", root=root, labels=["Neutral", "Happy"], registry=registry)
    assert ordered.labels == ("Neutral", "Happy")
    assert ordered.fingerprint() == ds.fingerprint()


def test_real_clips_as_a_video_folder(
    shared_data: Path, tmp_path: Path, registry: Registry
) -> None:
    for i, label in ((1, "Happy"), (2, "Surprise"), (3, "Sad")):
        dest = tmp_path / label / f"clip_{i:04d}.avi"
        dest.parent.mkdir()
        shutil.copy(shared_data / "video" / f"clip_{i:04d}.avi", dest)
    ds = get_dataset("folder", root=tmp_path, registry=registry)
    assert ds.media_kind == "video"
    assert [s.id for s in ds] == ["Happy/clip_0001.avi", "Sad/clip_0003.avi",
                                  "Surprise/clip_0002.avi"]
    assert {s.media.mime_type for s in ds} == {"video/avi"}


def test_a_caer_s_tree_as_folder_needs_a_split(caer_s_root: Path, registry: Registry) -> None:
    with pytest.raises(DatasetError, match=r"has split folders; choose one .* Splits found: "
                                           r"test, train"):
        get_dataset("folder", root=caer_s_root, registry=registry)
    with pytest.raises(DatasetError, match=r"split 'tset' does not exist.*Did you mean 'test'"):
        get_dataset("folder", root=caer_s_root, split="tset", registry=registry)
    # Labels come from the folder names of every split: Angry is its own label here ...
    train = get_dataset("folder", root=caer_s_root, split="train", registry=registry)
    assert "Angry" in train.labels and "Anger" in train.labels
    assert train.class_counts()["Anger"] == 0
    # ... unless label_map says otherwise.
    mapped = get_dataset("folder", root=caer_s_root, split="train",
                         label_map={"Angry": "Anger"}, registry=registry)
    assert mapped.labels == ("Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
    assert next(iter(mapped)).id == "train/Angry/0001.png"
    assert isinstance(mapped, ListedDataset)
    assert mapped.split_counts()["test"]["Anger"] == 4


def _tree(root: Path, touch: Callable[..., Path], files: list[str]) -> Path:
    for f in files:
        touch(root / f, b"x")
    return root


def test_mixed_kinds_and_the_kind_option(tmp_path: Path, registry: Registry,
                                         touch: Callable[..., Path]) -> None:
    root = _tree(tmp_path / "mix", touch, ["Happy/a.jpg", "Happy/b.mp4", "Sad/c.png"])
    ds = get_dataset("folder", root=root, registry=registry)
    assert ds.media_kind is None
    assert [s.media.kind for s in ds] == ["image", "video", "image"]
    with pytest.raises(DatasetError, match=r"not images: Happy/b\.mp4.*kind="):
        get_dataset("folder", root=root, kind="image", registry=registry)


def test_explicit_labels_reject_unknown_folders(tmp_path: Path, registry: Registry,
                                                touch: Callable[..., Path]) -> None:
    root = _tree(tmp_path / "t", touch, ["happiness/a.jpg", "Sad/b.jpg"])
    with pytest.raises(DatasetError, match=r"unknown class folder happiness/.*label_map="
                                           r"\{'happiness': \.\.\.\}.*ignore=\['happiness'\]"):
        get_dataset("folder", root=root, labels=["Happy", "Sad"], registry=registry)
    ds = get_dataset("folder", root=root, labels="Happy,Sad",
                     label_map={"happiness": "Happy"}, registry=registry)
    assert [(s.id, s.label) for s in ds] == [("Sad/b.jpg", "Sad"), ("happiness/a.jpg", "Happy")]
    assert next(iter(ds)).metadata == {"split": None}
    assert list(ds)[1].metadata == {"split": None, "class_folder": "happiness"}


@pytest.mark.parametrize(
    ("files", "options", "message"),
    [
        (["Happy/a.jpg", "Sad/.keep"], {}, r"label folder Sad/ is empty"),
        (["Happy/a.jpg", "Happy/notes.txt"], {}, r"not images or videos: Happy/notes\.txt"),
        (["Happy/a.jpg", "Happy/sub/b.jpg"], {}, r"has split folders"),
        (["Happy/a.jpg"], {"split": "test"}, r"has no split folders"),
        (["a.jpg"], {}, r"no label folders"),
        (["Happy/a.jpg"], {"labels": []}, r"option 'labels' is empty"),
        (["Happy/a.jpg"], {"labels": ["Happy", "Happy"]}, r"repeats a label"),
        (["Happy/a.jpg"], {"kind": "audio"}, r"option 'kind'"),
        (["Happy/a.jpg"], {"classes": ["Sad"]}, r"unknown class 'Sad'.*Valid classes: Happy"),
    ],
)
def test_bad_folder_layouts(tmp_path: Path, registry: Registry, touch: Callable[..., Path],
                            files: list[str], options: dict[str, object], message: str) -> None:
    root = _tree(tmp_path / "t", touch, files)
    with pytest.raises(DatasetError, match=message):
        get_dataset("folder", root=root, registry=registry, **options)  # type: ignore[arg-type]


def test_a_label_folder_holding_a_folder_is_a_split_tree_with_stray_files(
    tmp_path: Path, registry: Registry, touch: Callable[..., Path]
) -> None:
    root = _tree(tmp_path / "t", touch, ["Happy/a.jpg", "Happy/sub/b.jpg"])
    with pytest.raises(DatasetError, match=r"media file\(s\) directly in Happy/ \(a\.jpg\)"):
        get_dataset("folder", root=root, split="Happy", registry=registry)


def test_nested_folder_in_a_split_tree(tmp_path: Path, registry: Registry,
                                       touch: Callable[..., Path]) -> None:
    root = _tree(tmp_path / "t", touch, ["test/Happy/a.jpg", "test/Happy/deeper/b.jpg"])
    with pytest.raises(DatasetError, match=r"unexpected folder test/Happy/deeper/"):
        get_dataset("folder", root=root, split="test", registry=registry)
    ok = get_dataset("folder", root=root, split="test", ignore=["deeper"], registry=registry)
    assert [s.id for s in ok] == ["test/Happy/a.jpg"]


def test_iter_except_builds_only_the_samples_it_yields(
    shared_data: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A resume skips what is finished; a listed dataset never builds a skipped Sample.
    ds = get_dataset("folder", root=shared_data / "london_faces", registry=registry)
    assert isinstance(ds, ListedDataset)
    built: list[str] = []
    make = ds._sample

    def recorded(entry: Entry) -> Sample:
        built.append(entry.id)
        return make(entry)

    monkeypatch.setattr(ds, "_sample", recorded)
    done = set(ds.ids[::2])
    left = [s.id for s in ds.iter_except(done)]
    assert left == [i for i in ds.ids if i not in done] == built
    assert [s.id for s in ds.iter_except(set())] == ds.ids


def test_the_listing_knows_which_files_are_symlinks(
    shared_data: Path, tmp_path: Path, registry: Registry
) -> None:
    src = shared_data / "london_faces" / "Happy"
    (tmp_path / "Happy").mkdir()
    (tmp_path / "Sad").mkdir()
    shutil.copy(src / "001.jpg", tmp_path / "Happy" / "001.jpg")
    (tmp_path / "Sad" / "002.jpg").symlink_to(src / "002.jpg")
    ds = get_dataset("folder", root=tmp_path, registry=registry)
    assert isinstance(ds, ListedDataset)
    assert [(e.id, e.link) for e in ds._entries] == [("Happy/001.jpg", False),
                                                     ("Sad/002.jpg", True)]
    assert ds.symlinks() == {"n": 1, "resolved_under": {str(src.resolve()): 1}}


def test_iter_except_keeps_a_subclass_s_own_iteration(
    shared_data: Path, registry: Registry
) -> None:
    # A plugin that writes each file as its sample is yielded overrides __iter__: a resume
    # must go through it, or the files of the samples it still needs would never be made.
    base = get_dataset("folder", root=shared_data / "london_faces", registry=registry)
    yielded: list[str] = []

    class Writing(type(base)):  # type: ignore[misc]
        def __iter__(self) -> Iterator[Sample]:
            for s in super().__iter__():
                yielded.append(s.id)
                yield s

    ds = Writing(root=shared_data / "london_faces")
    done = set(ds.ids[1:])
    assert [s.id for s in ds.iter_except(done)] == ds.ids[:1]
    assert yielded == ds.ids
