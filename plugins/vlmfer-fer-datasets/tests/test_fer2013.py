"""``fer2013``: CSVs in the real format, decoded to PNG files as samples are iterated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import vlmfer
from fer_builders import FER_CODES, fer_pixels, fer_rows, write_fer_csv
from PIL import Image
from vlmfer.errors import DatasetError
from vlmfer.plugins import Registry

from vlmfer_fer_datasets.fer2013 import parse_pixels


def fer(registry: Registry, root: Path, **options: Any) -> vlmfer.Dataset:
    ds: vlmfer.Dataset = vlmfer.get_dataset("fer2013", root=root, registry=registry, **options)
    return ds


def pngs(cache: Path) -> list[Path]:
    return sorted((cache / "fer2013").glob("*/*.png"))


def test_images_decode_to_48x48_pngs_equal_to_the_csv(
    registry: Registry, tmp_path: Path, cache_dir: Path
) -> None:
    rows = fer_rows()
    csv_path = write_fer_csv(tmp_path / "fer2013.csv", rows)
    ds = fer(registry, csv_path, split="test")
    samples = list(ds)
    # Rows 0-13 are Training, 14-27 PublicTest, 28-41 PrivateTest.
    assert [s.id for s in samples] == [f"fer2013.csv#row={n}" for n in range(28, 42)]
    assert len(ds) == 14 and ds.media_kind == "image"
    for sample in samples:
        row = int(sample.id.split("=")[1])
        emotion, pixels, usage = rows[row]
        path = sample.media.path
        assert path.parent.parent == cache_dir / "fer2013" and path.name == f"{row}.png"
        assert sample.media.kind == "image" and sample.media.mime_type == "image/png"
        with Image.open(path) as im:
            assert im.format == "PNG" and im.mode == "L" and im.size == (48, 48)
            decoded = np.asarray(im)
        expected = np.array([int(v) for v in pixels.split()], dtype=np.uint8).reshape(48, 48)
        assert np.array_equal(decoded, expected)
        assert sample.metadata == {"row": row, "usage": usage, "fer2013_emotion": emotion,
                                   "fer2013_name": sample.metadata["fer2013_name"],
                                   "split": "test"}
    # The first value of every row is 0 and the second 255 (row-major, top-left first).
    with Image.open(samples[0].media.path) as im:
        assert im.getpixel((0, 0)) == 0 and im.getpixel((1, 0)) == 255


def test_emotions_map_to_caer_names_and_usage_to_splits(
    registry: Registry, tmp_path: Path
) -> None:
    csv_path = write_fer_csv(tmp_path / "fer2013.csv")
    ds = fer(registry, csv_path, split="train")
    assert ds.splits == ("train", "val", "test")
    assert ds.labels == vlmfer.CAER_LABELS
    by_code = {s.metadata["fer2013_emotion"]: (s.metadata["fer2013_name"], s.label) for s in ds}
    assert by_code == {0: ("Angry", "Anger"), 1: ("Disgust", "Disgust"), 2: ("Fear", "Fear"),
                       3: ("Happy", "Happy"), 4: ("Sad", "Sad"), 5: ("Surprise", "Surprise"),
                       6: ("Neutral", "Neutral")}
    assert {s.metadata["usage"] for s in ds} == {"Training"}
    val = fer(registry, csv_path, split="val")
    assert {s.metadata["usage"] for s in val} == {"PublicTest"}
    assert fer(registry, csv_path).split == "test"
    assert ds.split_counts() == {  # type: ignore[attr-defined]
        split: dict.fromkeys(vlmfer.CAER_LABELS, 2) for split in ("train", "val", "test")
    }
    info = ds.describe()
    assert info["label_map"]["0 Angry"] == "Anger"
    assert info["usage_splits"] == {"Training": "train", "PublicTest": "val",
                                    "PrivateTest": "test"}
    assert info["csv"] == str(csv_path)


def test_images_are_written_lazily_and_reused(
    registry: Registry, tmp_path: Path, cache_dir: Path
) -> None:
    csv_path = write_fer_csv(tmp_path / "fer2013.csv")
    ds = fer(registry, csv_path)
    assert pngs(cache_dir) == []  # listing writes nothing
    it = iter(ds)
    first = next(it)
    assert pngs(cache_dir) == [first.media.path]
    rest = list(it)
    assert len(pngs(cache_dir)) == 1 + len(rest) == len(ds)
    stamps = {p: p.stat().st_mtime_ns for p in pngs(cache_dir)}
    # Cached images are used as they are: the CSV is not even opened again.
    csv_path.rename(tmp_path / "moved.csv")
    assert [s.media.path for s in ds] == [first.media.path] + [s.media.path for s in rest]
    assert {p: p.stat().st_mtime_ns for p in pngs(cache_dir)} == stamps


def test_folder_root_finds_fer2013_csv(registry: Registry, tmp_path: Path) -> None:
    write_fer_csv(tmp_path / "data" / "fer2013.csv")
    assert len(fer(registry, tmp_path / "data")) == 14
    with pytest.raises(DatasetError, match=r"Did you mean root=.*data/fer2013\.csv"):
        fer(registry, tmp_path)
    (tmp_path / "empty").mkdir()
    write_fer_csv(tmp_path / "empty" / "icml_face_data.csv")
    with pytest.raises(DatasetError, match=r"CSV files there: icml_face_data\.csv"):
        fer(registry, tmp_path / "empty")
    # Any CSV file name works when the file itself is the root; ids use its name.
    ds = fer(registry, tmp_path / "empty" / "icml_face_data.csv")
    assert next(iter(ds)).id == "icml_face_data.csv#row=28"


def test_header_order_and_spaces_do_not_matter(registry: Registry, tmp_path: Path) -> None:
    pixels = " ".join(map(str, fer_pixels(1)))
    path = tmp_path / "fer2013.csv"
    path.write_text(f"emotion, Usage, pixels\n3,PrivateTest,{pixels}\n\n5, PrivateTest,{pixels}\n",
                    encoding="utf-8-sig")
    samples = list(fer(registry, path))
    assert [(s.id, s.label) for s in samples] == [("fer2013.csv#row=0", "Happy"),
                                                  ("fer2013.csv#row=1", "Surprise")]
    with Image.open(samples[1].media.path) as im:
        assert np.asarray(im).ravel().tolist() == fer_pixels(1)


def test_classes_limit_and_shuffle(registry: Registry, tmp_path: Path) -> None:
    csv_path = write_fer_csv(tmp_path / "fer2013.csv", fer_rows(per_label=4))
    six = fer(registry, csv_path, classes=[c for c in vlmfer.CAER_LABELS if c != "Neutral"])
    assert "Neutral" not in six.labels and len(six) == 24
    limited = fer(registry, csv_path, limit=7, seed=5)
    assert limited.class_counts() == dict.fromkeys(vlmfer.CAER_LABELS, 1)
    assert [s.id for s in limited] == [s.id for s in fer(registry, csv_path, limit=7, seed=5)]
    plain = [s.id for s in fer(registry, csv_path)]
    shuffled = [s.id for s in fer(registry, csv_path, shuffle=True)]
    assert shuffled != plain and sorted(shuffled) == sorted(plain)


def test_fingerprint_follows_the_selected_rows_only(registry: Registry, tmp_path: Path) -> None:
    rows = fer_rows()
    path = write_fer_csv(tmp_path / "fer2013.csv", rows)
    before = fer(registry, path).fingerprint()
    assert fer(registry, path).fingerprint() == before
    # A change in another split leaves the test split's fingerprint alone...
    changed = list(rows)
    changed[0] = (rows[0][0], " ".join(map(str, fer_pixels(999))), rows[0][2])
    write_fer_csv(path, changed)
    assert fer(registry, path).fingerprint() == before
    # ...and a change in a test row does not.
    changed[30] = (rows[30][0], " ".join(map(str, fer_pixels(998))), rows[30][2])
    write_fer_csv(path, changed)
    assert fer(registry, path).fingerprint() != before


def test_a_csv_changed_after_listing_is_refused(registry: Registry, tmp_path: Path) -> None:
    rows = fer_rows()
    path = write_fer_csv(tmp_path / "fer2013.csv", rows)
    ds = fer(registry, path)
    swapped = [(emotion, pixels.replace("255", "254", 1), usage) for emotion, pixels, usage
               in rows]
    write_fer_csv(path, swapped)
    with pytest.raises(DatasetError, match=r"changed after the dataset was listed \(row 28"):
        next(iter(ds))


def test_unwritable_cache_says_how_to_fix_it(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(blocker))
    ds = fer(registry, write_fer_csv(tmp_path / "fer2013.csv"))
    with pytest.raises(DatasetError, match="set VLMFER_CACHE_DIR to a writable folder"):
        next(iter(ds))


# --- malformed files -------------------------------------------------------------------------


def _row(emotion: object = 3, pixels: str | None = None, usage: str = "PrivateTest") -> tuple[
    object, str, str
]:
    return (emotion, pixels if pixels is not None else " ".join(map(str, fer_pixels(0))), usage)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (_row(pixels="1 2 3"), r"row 1 \(line 3\): 3 pixel values, expected 2304 \(48×48\)"),
        (_row(pixels=" ".join(["9"] * 2305)), r"row 1 \(line 3\): 2305 pixel values"),
        (_row(pixels=" ".join(["9"] * 2303 + ["x"])), r"row 1 .*pixel value 'x' is not an int"),
        (_row(pixels=" ".join(["9"] * 2303 + ["2.5"])), r"pixel value '2\.5' is not an integer"),
        (_row(pixels=" ".join(["9"] * 2303 + ["-1"])), r"pixel value '-1' is not an integer"),
        (_row(pixels=" ".join(["9"] * 2303 + ["256"])), r"pixel value '256' is out of range"),
        (_row(emotion=7), r"row 1 \(line 3\): emotion '7' is not one of 0-6 \(0 Angry"),
        (_row(emotion="Happy"), r"emotion 'Happy' is not one of 0-6"),
        (_row(usage="Validation"), r"Usage 'Validation' is not one of Training, PublicTest"),
    ],
)
def test_malformed_rows_are_named_at_listing_time(
    registry: Registry, tmp_path: Path, bad: tuple[object, str, str], expected: str
) -> None:
    path = write_fer_csv(tmp_path / "fer2013.csv", [_row(), bad, _row()])
    with pytest.raises(DatasetError, match=expected) as info:
        fer(registry, path)
    assert str(path) in str(info.value) and "1 malformed row(s)" in str(info.value)


def test_many_malformed_rows_are_counted(registry: Registry, tmp_path: Path) -> None:
    rows = [_row(emotion=9)] * 8 + [_row()]
    with pytest.raises(DatasetError) as info:
        fer(registry, write_fer_csv(tmp_path / "fer2013.csv", rows))
    message = str(info.value)
    assert "8 malformed row(s)" in message and "row 4 (line 6)" in message
    assert "row 5" not in message and "and 3 more" in message


def test_short_rows_header_and_empty_files(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n3\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"row 0 \(line 2\): 1 field\(s\)"):
        fer(registry, path)
    write_fer_csv(path, [], header="emotion,pixels")
    with pytest.raises(DatasetError, match=r"no 'usage' column \(header: emotion,pixels\)"):
        fer(registry, path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(DatasetError, match="the file is empty"):
        fer(registry, path)
    write_fer_csv(path, [])
    with pytest.raises(DatasetError, match="a header but no rows"):
        fer(registry, path)
    path.write_bytes(b"emotion,pixels,Usage\n\xff\xfe,1,Training\n")
    with pytest.raises(DatasetError, match="line 2 is not UTF-8"):
        fer(registry, path)
    (tmp_path / "fer2013.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"is not a \.csv file"):
        fer(registry, tmp_path / "fer2013.txt")


def test_splits_named_by_usage_get_a_hint(registry: Registry, tmp_path: Path) -> None:
    path = write_fer_csv(tmp_path / "fer2013.csv")
    hint = r"'PublicTest' is a Usage value; its split is called 'val'"
    with pytest.raises(DatasetError, match=hint):
        fer(registry, path, split="PublicTest")
    only_train = [r for r in fer_rows() if r[2] == "Training"]
    write_fer_csv(path, only_train)
    with pytest.raises(DatasetError, match=r"split 'test' has no rows.*train \(Usage=Training\)"):
        fer(registry, path)


def test_parse_pixels_accepts_any_whitespace_and_rejects_non_ascii() -> None:
    values = [int(v) for v in fer_pixels(2)]
    text = "  " + "\t".join(map(str, values[:10])) + "  " + " ".join(map(str, values[10:])) + " "
    assert parse_pixels(text).tolist() == values
    with pytest.raises(ValueError, match="non-ASCII"):
        parse_pixels("１ 2")
    with pytest.raises(ValueError, match="'1000' is out of range"):
        parse_pixels(" ".join(["1"] * 2303 + ["1000"]))


def test_every_emotion_code_is_mapped() -> None:
    from vlmfer_fer_datasets.fer2013 import LABELS

    assert {LABELS[code]: code for code in LABELS} == FER_CODES
