"""RAF-DB basic: a label file plus a folder of aligned (or original) images.

The root is RAF-DB's ``basic/`` folder::

    basic/
      EmoLabel/list_patition_label.txt    "train_00001.jpg 5", "test_0001.jpg 1", ...
      Image/aligned/train_00001_aligned.jpg, test_0001_aligned.jpg, ...
      Image/original/train_00001.jpg, test_0001.jpg, ...

(``patition`` is RAF-DB's own spelling.) The split is the name's prefix,
``train_`` or ``test_``. The label file numbers RAF-DB's seven basic
expressions 1–7; ``LABELS`` maps them to the CAER names::

    1 Surprise -> Surprise    4 Happiness -> Happy    7 Neutral -> Neutral
    2 Fear     -> Fear        5 Sadness   -> Sad
    3 Disgust  -> Disgust     6 Anger     -> Anger
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field
from vlmfer.datasets.common import (
    DatasetOptions,
    Entry,
    ListedDataset,
    check_link,
    close_hint,
    media_kind,
    parse_options,
    resolve_root,
    select_classes,
)
from vlmfer.errors import DatasetError
from vlmfer.labels import CAER_LABELS

#: The label file, relative to the root (RAF-DB spells it "patition").
LABEL_FILE = "EmoLabel/list_patition_label.txt"
#: RAF-DB's seven basic expressions, by the label file's number, in RAF-DB's own words.
RAF_EMOTIONS: dict[int, str] = {
    1: "Surprise", 2: "Fear", 3: "Disgust", 4: "Happiness", 5: "Sadness", 6: "Anger",
    7: "Neutral",
}
#: RAF-DB's words -> CAER labels.
TO_CAER: dict[str, str] = {
    "Surprise": "Surprise", "Fear": "Fear", "Disgust": "Disgust", "Happiness": "Happy",
    "Sadness": "Sad", "Anger": "Anger", "Neutral": "Neutral",
}
#: The label file's number -> CAER label.
LABELS: dict[int, str] = {n: TO_CAER[word] for n, word in RAF_EMOTIONS.items()}
#: Splits, in display order, named by the file names' prefixes.
SPLITS: tuple[str, ...] = ("train", "test")
DEFAULT_SPLIT = "test"
_CODES = ", ".join(f"{n} {word}" for n, word in RAF_EMOTIONS.items())


class RafDbOptions(DatasetOptions):
    """Options of ``raf-db``: the common ones plus the image variant."""

    variant: Literal["aligned", "original"] = Field(
        default="aligned",
        description="Image/aligned/ (100×100 aligned faces) or Image/original/ (full images)",
    )


@dataclass(frozen=True)
class _Row:
    line: int
    name: str
    split: str
    code: int


class RafDbDataset(ListedDataset):
    """RAF-DB basic, one split, labels mapped to the CAER names.

    ``split=None`` means ``test``. Samples keep the label file's order; ids are
    paths relative to the root (``Image/aligned/test_0001_aligned.jpg``).
    Example::

        ds = vlmfer.get_dataset("raf-db", root="RAF-DB/basic", split="test", limit=100)
    """

    name: ClassVar[str] = "raf-db"
    Options: ClassVar[type[RafDbOptions]] = RafDbOptions

    options: RafDbOptions

    def __init__(self, root: Any = None, split: str | None = None, **options: Any) -> None:
        if split is not None:
            options["split"] = split
        self.options = parse_options(self.Options, self.name, options)
        self.root = resolve_root(self.name, root)
        self.media_kind = "image"
        self.label_file = self._find_label_file()
        self._rows = self._read_label_file()
        self.splits = tuple(s for s in SPLITS if any(r.split == s for r in self._rows))
        self.split = self.options.split if self.options.split is not None else DEFAULT_SPLIT
        if self.split not in self.splits:
            raise DatasetError(
                f"dataset {self.name!r}: split {self.split!r} has no rows in {self.label_file}."
                f"{close_hint(self.split, SPLITS)} Splits found: {', '.join(self.splits)} "
                "(from the image names' prefixes train_ and test_)"
            )
        self.image_dir = self._find_image_dir()
        self.labels = select_classes(self.name, self.options.classes, CAER_LABELS)
        self._select()

    def _find_label_file(self) -> Path:
        path = self.root / LABEL_FILE
        if path.is_file():
            return path
        hint = ""
        if (self.root / "basic" / LABEL_FILE).is_file():
            hint = f" Did you mean root={self.root / 'basic'}?"
        elif path.parent.is_dir():
            found = sorted(p.name for p in path.parent.iterdir() if p.suffix == ".txt")
            hint = f" {LABEL_FILE.split('/')[0]}/ holds: {', '.join(found) or '(no .txt file)'}."
        raise DatasetError(
            f"dataset {self.name!r}: label file {path} does not exist. The root is RAF-DB's "
            f"basic/ folder, holding {LABEL_FILE} and Image/aligned/ (or Image/original/).{hint}"
        )

    def _read_label_file(self) -> list[_Row]:
        rows: list[_Row] = []
        seen: dict[str, int] = {}
        try:
            text = self.label_file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{self.label_file}: cannot read it ({exc})") from None
        for n, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            where = f"{self.label_file}:{n}"
            fields = line.split()
            if len(fields) != 2:
                raise DatasetError(
                    f"{where}: expected '<image name> <label 1-7>', such as 'test_0001.jpg 1', "
                    f"got {line!r}. Fix or remove this line"
                )
            name, code_text = fields
            prefix = name.partition("_")[0]
            if "/" in name or "\\" in name or prefix not in SPLITS:
                raise DatasetError(
                    f"{where}: image name {name!r} must be a file name starting with train_ or "
                    "test_ (the split), such as 'test_0001.jpg'. Fix or remove this line"
                )
            if media_kind(name) != "image":
                raise DatasetError(
                    f"{where}: {name!r} is not an image name (.jpg, .png, ...). Fix or remove "
                    "this line"
                )
            try:
                code = int(code_text)
            except ValueError:
                code = 0
            if code not in RAF_EMOTIONS:
                raise DatasetError(
                    f"{where}: label {code_text!r} of {name!r} is not one of 1-7 ({_CODES}). "
                    "Fix this line; RAF-DB basic has seven classes only"
                )
            if name in seen:
                raise DatasetError(
                    f"{self.label_file}: {name!r} is listed twice (lines {seen[name]} and {n}); "
                    "remove one"
                )
            seen[name] = n
            rows.append(_Row(n, name, prefix, code))
        if not rows:
            raise DatasetError(
                f"{self.label_file}: the label file lists no images; each line is "
                "'<image name> <label 1-7>', such as 'test_0001.jpg 1'"
            )
        return rows

    def _find_image_dir(self) -> Path:
        variant = self.options.variant
        folder = self.root / "Image" / variant
        if not folder.is_dir():
            other = "original" if variant == "aligned" else "aligned"
            hint = (
                f" Image/{other}/ exists: pass variant={other!r} to use it."
                if (self.root / "Image" / other).is_dir() else ""
            )
            raise DatasetError(
                f"dataset {self.name!r}: image folder {folder} does not exist. Extract RAF-DB's "
                f"{variant} images there (Image/{variant}/<name>), or choose the other "
                f"variant with variant='aligned' or variant='original'.{hint}"
            )
        check_link(folder, f"Image/{variant}")
        return folder

    def image_path(self, name: str) -> str:
        """The path, relative to the root, of a label file's image name in this variant."""
        if self.options.variant == "original":
            return f"Image/original/{name}"
        stem, suffix = os.path.splitext(name)
        return f"Image/aligned/{stem}_aligned{suffix}"

    def _list(self, split: str | None) -> list[Entry]:
        keep = set(self.labels)
        entries: list[Entry] = []
        missing: list[str] = []
        for row in self._rows:
            label = LABELS[row.code]
            if row.split != split or label not in keep:
                continue
            rel = self.image_path(row.name)
            full = os.path.join(self.root, rel)
            try:
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    check_link(Path(full), rel)
                    st = os.stat(full)
            except OSError:
                missing.append(f"{rel} (line {row.line})")
                continue
            if not stat.S_ISREG(st.st_mode):
                raise DatasetError(f"{rel} (line {row.line}): not a regular file")
            meta = {"rafdb_name": row.name, "rafdb_label": row.code,
                    "rafdb_emotion": RAF_EMOTIONS[row.code]}
            entries.append(Entry(rel, label, "image", split, meta, st.st_size))
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise DatasetError(
                f"dataset {self.name!r}: {len(missing)} image(s) listed in {LABEL_FILE} are "
                f"missing under {self.root}: {', '.join(missing[:5])}{more}. Extract the "
                f"complete Image/{self.options.variant}/ folder, or remove those lines"
            )
        return entries

    def describe(self) -> dict[str, Any]:
        """Name, root, split, options and the label mapping, for the run manifest."""
        out = super().describe()
        out["label_map"] = {f"{n} {RAF_EMOTIONS[n]}": LABELS[n] for n in RAF_EMOTIONS}
        return out
