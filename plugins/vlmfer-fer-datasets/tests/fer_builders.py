"""Tiny RAF-DB trees and FER2013 CSVs in the real formats, for the tests."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

#: The label file's code for each CAER label (RAF-DB: 1 Surprise ... 7 Neutral).
RAF_CODES = {"Surprise": 1, "Fear": 2, "Disgust": 3, "Happy": 4, "Sad": 5, "Anger": 6,
             "Neutral": 7}
#: FER2013's emotion code for each CAER label (0 Angry ... 6 Neutral).
FER_CODES = {"Anger": 0, "Disgust": 1, "Fear": 2, "Happy": 3, "Sad": 4, "Surprise": 5,
             "Neutral": 6}
HEADER = "emotion,pixels,Usage"


def raf_rows(train_per_code: int = 2, test_per_code: int = 3) -> list[tuple[str, int]]:
    """Label-file rows: codes 1-7 in turn, train names first, as in the real file."""
    rows: list[tuple[str, int]] = []
    for split, per_code, width in (("train", train_per_code, 5), ("test", test_per_code, 4)):
        for i in range(7 * per_code):
            rows.append((f"{split}_{i + 1:0{width}d}.jpg", i % 7 + 1))
    return rows


def write_rafdb(
    root: Path,
    rows: Sequence[tuple[str, int]] | None = None,
    *,
    variants: Sequence[str] = ("aligned", "original"),
    label_text: str | None = None,
) -> Path:
    """``root/EmoLabel/list_patition_label.txt`` plus one small JPEG per row and variant."""
    rows = raf_rows() if rows is None else rows
    (root / "EmoLabel").mkdir(parents=True, exist_ok=True)
    text = "".join(f"{name} {code}\n" for name, code in rows)
    (root / "EmoLabel" / "list_patition_label.txt").write_text(
        label_text if label_text is not None else text, encoding="utf-8"
    )
    for variant in variants:
        folder = root / "Image" / variant
        folder.mkdir(parents=True, exist_ok=True)
        side = 20 if variant == "aligned" else 32
        for i, (name, _) in enumerate(rows):
            stem = name.rsplit(".", 1)[0]
            file = f"{stem}_aligned.jpg" if variant == "aligned" else name
            Image.new("RGB", (side, side), (i * 7 % 256, 90, 160)).save(folder / file)
    return root


def fer_pixels(seed: int) -> list[int]:
    """2304 deterministic gray values, including 0 and 255."""
    rng = random.Random(seed)
    values = [rng.randrange(256) for _ in range(48 * 48)]
    values[0], values[1], values[2] = 0, 255, 7
    return values


def fer_rows(per_label: int = 2) -> list[tuple[int, str, str]]:
    """(emotion, pixels, Usage) rows: every emotion in every Usage, ``per_label`` times."""
    rows: list[tuple[int, str, str]] = []
    n = 0
    for usage in ("Training", "PublicTest", "PrivateTest"):
        for _ in range(per_label):
            for code in range(7):
                rows.append((code, " ".join(map(str, fer_pixels(n))), usage))
                n += 1
    return rows


def write_fer_csv(
    path: Path,
    rows: Sequence[tuple[object, str, str]] | None = None,
    *,
    header: str = HEADER,
) -> Path:
    """A FER2013 CSV: the header, then ``emotion,pixels,Usage`` lines as in the real file."""
    rows = fer_rows() if rows is None else rows
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header] + [f"{emotion},{pixels},{usage}" for emotion, pixels, usage in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
