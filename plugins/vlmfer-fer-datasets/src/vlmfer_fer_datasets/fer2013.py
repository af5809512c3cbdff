"""FER2013: one CSV of 48×48 grayscale faces, decoded to PNG files on the fly.

The file is ``fer2013.csv`` with the header ``emotion,pixels,Usage`` (column
order and spaces around names do not matter)::

    emotion,pixels,Usage
    0,70 80 82 72 58 ... (2304 values),Training

``emotion`` 0–6 maps to the CAER names (``LABELS``)::

    0 Angry -> Anger     3 Happy -> Happy       6 Neutral -> Neutral
    1 Disgust -> Disgust 4 Sad -> Sad
    2 Fear -> Fear       5 Surprise -> Surprise

``Usage`` gives the split: ``Training`` -> ``train``, ``PublicTest`` -> ``val``,
``PrivateTest`` -> ``test`` (the usual test set).

vlmfer's ``Media`` is a file, so each image is written, when its sample is
iterated, as ``<cache>/fer2013/<csv hash>/<row>.png`` under ``$VLMFER_CACHE_DIR``
(or the user cache folder). Listing reads the CSV once, row by row, to check
every row and remember where each one starts; no pixel string is kept.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import threading
import zlib
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np
import numpy.typing as npt
from vlmfer.datasets.common import (
    DatasetOptions,
    Entry,
    ListedDataset,
    close_hint,
    parse_options,
    resolve_root,
    select_classes,
)
from vlmfer.engine.cache import cache_dir
from vlmfer.errors import DatasetError
from vlmfer.labels import CAER_LABELS
from vlmfer.types import Sample, stable_hash

DEFAULT_NAME = "fer2013.csv"
#: FER2013's seven emotions, by the CSV's ``emotion`` code, in FER2013's own words.
EMOTIONS: dict[int, str] = {
    0: "Angry", 1: "Disgust", 2: "Fear", 3: "Happy", 4: "Sad", 5: "Surprise", 6: "Neutral",
}
#: FER2013's words -> CAER labels.
TO_CAER: dict[str, str] = {
    "Angry": "Anger", "Disgust": "Disgust", "Fear": "Fear", "Happy": "Happy", "Sad": "Sad",
    "Surprise": "Surprise", "Neutral": "Neutral",
}
#: The CSV's emotion code -> CAER label.
LABELS: dict[int, str] = {code: TO_CAER[word] for code, word in EMOTIONS.items()}
#: ``Usage`` -> split.
USAGE_SPLITS: dict[str, str] = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_SPLIT = "test"
SIDE = 48
N_PIXELS = SIDE * SIDE
COLUMNS = ("emotion", "pixels", "usage")

_USAGES = tuple(USAGE_SPLITS)
_EMOTION_CODES = frozenset(str(code) for code in EMOTIONS)
_CODES = ", ".join(f"{code} {word}" for code, word in EMOTIONS.items())
_DIGIT = 1
# Byte -> 0 (not allowed), 1 (digit) or 2 (separator), for a vectorised check.
_KIND = np.zeros(256, dtype=np.int8)
_KIND[ord("0"):ord("9") + 1] = _DIGIT
_KIND[[ord(c) for c in " \t\r\n"]] = 2
_SHOWN = 5


def parse_pixels(text: str) -> npt.NDArray[np.uint8]:
    """The 2304 pixel values of a ``pixels`` field, row by row, or ``ValueError`` saying why.

    Values are integers 0–255 separated by whitespace. The parse is vectorised
    (tens of microseconds a row), so checking all 35,887 rows of the real file is quick.
    """
    try:
        raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        raise ValueError("the pixels contain a non-ASCII character") from None
    kind = _KIND[raw]
    if not kind.all():
        token = _token_at(text, int(np.argmin(kind)))
        raise ValueError(f"pixel value {token!r} is not an integer 0-255")
    padded = np.zeros(raw.size + 2, dtype=bool)
    padded[1:-1] = kind == _DIGIT
    inner = padded[1:-1]
    starts = np.flatnonzero(inner & ~padded[:-2])
    lasts = np.flatnonzero(inner & ~padded[2:])  # each value's last digit
    if starts.size != N_PIXELS:
        raise ValueError(f"{starts.size} pixel values, expected {N_PIXELS} ({SIDE}×{SIDE})")
    extra = lasts - starts  # digits beyond the first
    digits = raw.astype(np.int16) - ord("0")
    # Below a value's first digit, reads are discarded by np.where; they stay in bounds.
    values = digits[lasts] + np.where(extra >= 1, digits[lasts - 1] * 10, 0)
    values += np.where(extra >= 2, digits[lasts - 2] * 100, 0)
    out_of_range = (extra > 2) | (values > 255)
    if out_of_range.any():
        i = int(np.argmax(out_of_range))
        raise ValueError(f"pixel value {text[starts[i]:lasts[i] + 1]!r} is out of range 0-255")
    return values.astype(np.uint8)


def _token_at(text: str, at: int) -> str:
    start = max(text.rfind(" ", 0, at), text.rfind("\t", 0, at)) + 1
    end = min((i for i in (text.find(" ", at), text.find("\t", at)) if i >= 0), default=len(text))
    return text[start:end]


class _Lines:
    """Decoded lines of a binary file, tracking the byte offset and a CRC of what was read.

    ``csv.reader`` pulls lines only as it needs them, so ``pos`` before a read
    is where the next record starts.
    """

    def __init__(self, f: IO[bytes], start: int, digest: Any = None) -> None:
        self.f = f
        self.pos = start
        self.crc = 0
        self.line = 0
        self._digest = digest
        self._first = start == 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        data = self.f.readline()
        if not data:
            raise StopIteration
        if self._digest is not None:
            self._digest.update(data)
        self.pos += len(data)
        self.crc = zlib.crc32(data, self.crc)
        self.line += 1
        text = data.decode("utf-8")
        if self._first:
            self._first = False
            text = text.removeprefix("\ufeff")
        return text


class Fer2013Options(DatasetOptions):
    """Options of ``fer2013``: split, classes, limit, seed and shuffle."""


class Fer2013Dataset(ListedDataset):
    """FER2013, one split, labels mapped to the CAER names, images written on demand.

    ``split=None`` means ``test`` (``Usage=PrivateTest``). Sample ids are
    ``fer2013.csv#row=<n>``, where ``n`` counts data rows from 0 (the pandas
    index). Example::

        ds = vlmfer.get_dataset("fer2013", root="data/fer2013.csv", split="val", limit=140)
    """

    name: ClassVar[str] = "fer2013"
    Options: ClassVar[type[Fer2013Options]] = Fer2013Options

    options: Fer2013Options

    def __init__(self, root: Any = None, split: str | None = None, **options: Any) -> None:
        if split is not None:
            options["split"] = split
        self.options = parse_options(self.Options, self.name, options)
        self.csv_path = self._find_csv(resolve_root(self.name, root, expect="any"))
        self.root = self.csv_path.parent
        self.media_kind = "image"
        self._read()
        present = set(self._usage)
        self.splits = tuple(s for i, s in enumerate(SPLITS) if i in present)
        self.split = self.options.split if self.options.split is not None else DEFAULT_SPLIT
        if self.split not in self.splits:
            usage = {v: k for k, v in USAGE_SPLITS.items()}
            alias = {k.casefold(): v for k, v in USAGE_SPLITS.items()}.get(self.split.casefold())
            hint = (
                f" {self.split!r} is a Usage value; its split is called {alias!r}."
                if alias else close_hint(self.split, SPLITS)
            )
            found = ", ".join(f"{s} (Usage={usage[s]})" for s in self.splits)
            raise DatasetError(
                f"dataset {self.name!r}: split {self.split!r} has no rows in {self.csv_path}."
                f"{hint} Splits found: {found}"
            )
        self.labels = select_classes(self.name, self.options.classes, CAER_LABELS)
        self.cache_folder = cache_dir() / "fer2013" / self.csv_sha256[:16]
        self._select()

    def _find_csv(self, path: Path) -> Path:
        if path.is_dir():
            candidate = path / DEFAULT_NAME
            if candidate.is_file():
                return candidate.resolve()
            hint = ""
            nested = sorted(path.glob(f"*/{DEFAULT_NAME}"))
            if nested:
                hint = f" Did you mean root={nested[0]}?"
            else:
                found = sorted(p.name for p in path.glob("*.csv"))
                if found:
                    hint = f" CSV files there: {', '.join(found[:_SHOWN])}; pass one as root."
            raise DatasetError(
                f"dataset {self.name!r}: {path} holds no {DEFAULT_NAME}. Pass the CSV file as "
                f"root, or the folder that holds {DEFAULT_NAME}.{hint}"
            )
        if path.suffix.lower() != ".csv":
            raise DatasetError(
                f"dataset {self.name!r}: root {path} is not a .csv file; pass FER2013's "
                f"{DEFAULT_NAME} (header emotion,pixels,Usage)"
            )
        return path

    def _read(self) -> None:
        """Check every row; keep each row's offset, CRC, emotion and usage (not its pixels)."""
        path = self.csv_path
        self._offsets = array("q")
        self._crcs = array("L")
        self._codes = bytearray()
        self._usage = bytearray()
        problems: list[str] = []
        n_bad = 0
        digest = hashlib.sha256()
        try:
            f = path.open("rb")
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        lines = _Lines(f, 0, digest)
        try:
            reader = csv.reader(lines)
            columns = self._columns = self._header(next(reader, None))
            width = max(columns.values()) + 1
            row = 0
            while True:
                start = lines.pos
                lines.crc = 0
                record = next(reader, None)
                if record is None:
                    break
                if not any(field.strip() for field in record):
                    continue  # a blank line is not a row (pandas skips it too)
                problem = self._check(record, columns, width)
                if problem is not None:
                    n_bad += 1
                    if len(problems) < _SHOWN:
                        problems.append(f"row {row} (line {lines.line}): {problem}")
                else:
                    self._offsets.append(start)
                    self._crcs.append(lines.crc)
                    self._codes.append(int(record[columns["emotion"]]))
                    usage = USAGE_SPLITS[record[columns["usage"]].strip()]
                    self._usage.append(SPLITS.index(usage))
                row += 1
        except UnicodeDecodeError:
            raise DatasetError(
                f"{path}: line {lines.line} is not UTF-8 text; is this FER2013's CSV?"
            ) from None
        except csv.Error as exc:
            raise DatasetError(f"{path}: line {lines.line}: not valid CSV ({exc})") from None
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        finally:
            f.close()
        if n_bad:
            more = f"; and {n_bad - len(problems)} more" if n_bad > len(problems) else ""
            raise DatasetError(
                f"dataset {self.name!r}: {path} has {n_bad} malformed row(s): "
                f"{'; '.join(problems)}{more}. Rows count from 0 after the header (the pandas "
                f"index); each needs emotion 0-6, {N_PIXELS} pixel values 0-255 and a Usage "
                f"of {', '.join(_USAGES)}. Fix or remove them"
            )
        if not self._offsets:
            raise DatasetError(f"{path}: the CSV has a header but no rows")
        self.csv_sha256 = digest.hexdigest()

    def _header(self, header: list[str] | None) -> dict[str, int]:
        if header is None:
            raise DatasetError(
                f"{self.csv_path}: the file is empty; it needs the header emotion,pixels,Usage"
            )
        names = [h.strip().casefold() for h in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise DatasetError(
                f"{self.csv_path}: the header has no {', '.join(map(repr, missing))} column "
                f"(header: {','.join(header)}); FER2013's fer2013.csv starts with "
                "emotion,pixels,Usage"
            )
        return {c: names.index(c) for c in COLUMNS}

    @staticmethod
    def _check(record: list[str], columns: dict[str, int], width: int) -> str | None:
        if len(record) < width:
            return f"{len(record)} field(s), but emotion, pixels and Usage need {width}"
        emotion = record[columns["emotion"]].strip()
        if emotion not in _EMOTION_CODES:
            return f"emotion {emotion!r} is not one of 0-6 ({_CODES})"
        usage = record[columns["usage"]].strip()
        if usage not in USAGE_SPLITS:
            return f"Usage {usage!r} is not one of {', '.join(_USAGES)}"
        try:
            parse_pixels(record[columns["pixels"]])
        except ValueError as exc:
            return str(exc)
        return None

    def _list(self, split: str | None) -> list[Entry]:
        assert split is not None
        want = SPLITS.index(split)
        keep = set(self.labels)
        usage = {v: k for k, v in USAGE_SPLITS.items()}[split]
        entries: list[Entry] = []
        for row, (code, u) in enumerate(zip(self._codes, self._usage, strict=True)):
            label = LABELS[code]
            if u != want or label not in keep:
                continue
            meta = {"row": row, "usage": usage, "fer2013_emotion": code,
                    "fer2013_name": EMOTIONS[code]}
            entries.append(Entry(f"{self.csv_path.name}#row={row}", label, "image", split, meta))
        return entries

    @staticmethod
    def _row(entry: Entry) -> int:
        assert entry.metadata is not None
        row: int = entry.metadata["row"]
        return row

    def _path(self, entry: Entry) -> Path:
        return self.cache_folder / f"{self._row(entry)}.png"

    def __iter__(self) -> Iterator[Sample]:
        """Yield samples, writing each one's PNG first when it is not cached yet."""
        f: IO[bytes] | None = None
        try:
            for entry in self._entries:
                png = self._path(entry)
                if not png.is_file():
                    if f is None:
                        f = self._open()
                    self._materialise(f, self._row(entry), png)
                yield self._sample(entry)
        finally:
            if f is not None:
                f.close()

    def _open(self) -> IO[bytes]:
        try:
            return self.csv_path.open("rb")
        except OSError as exc:
            raise DatasetError(
                f"{self.csv_path}: cannot read it ({exc.strerror or exc}); it was there when "
                "the dataset was listed"
            ) from None

    def decode(self, row: int, f: IO[bytes] | None = None) -> npt.NDArray[np.uint8]:
        """Row ``row``'s image as a 48×48 uint8 array, read from the CSV."""
        if f is None:
            with self._open() as own:
                return self.decode(row, own)
        f.seek(self._offsets[row])
        lines = _Lines(f, self._offsets[row])
        record = next(csv.reader(lines), None)
        changed = DatasetError(
            f"{self.csv_path} changed after the dataset was listed (row {row} differs); "
            "build the dataset again"
        )
        if record is None or lines.crc != self._crcs[row]:
            raise changed
        pixels = parse_pixels(record[self._columns["pixels"]])
        return pixels.reshape(SIDE, SIDE)

    def _materialise(self, f: IO[bytes], row: int, png: Path) -> None:
        from PIL import Image

        image = Image.fromarray(self.decode(row, f))  # uint8 2-D: mode L
        tmp = png.with_name(f".{png.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            png.parent.mkdir(parents=True, exist_ok=True)
            image.save(tmp, format="PNG")
            # Atomic, so a concurrent reader never sees half a file.
            os.replace(tmp, png)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise DatasetError(
                f"dataset {self.name!r}: cannot write the decoded image {png} "
                f"({exc.strerror or exc}); set VLMFER_CACHE_DIR to a writable folder"
            ) from None

    def fingerprint(self) -> str:
        """SHA-256 over the sorted (id, row CRC, label) of this selection."""
        if self._fingerprint is None:
            rows = [[e.id, self._crcs[self._row(e)], e.label]
                    for e in sorted(self._entries, key=lambda e: e.id)]
            self._fingerprint = stable_hash({"csv": self.csv_path.name, "rows": rows})
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        """Name, CSV, split, options and the label mapping, for the run manifest."""
        out = super().describe()
        out["csv"] = str(self.csv_path)
        out["csv_sha256"] = self.csv_sha256
        out["label_map"] = {f"{c} {EMOTIONS[c]}": LABELS[c] for c in EMOTIONS}
        out["usage_splits"] = dict(USAGE_SPLITS)
        return out
