"""A CSV or JSONL file listing ``path,label[,split][,group]``; paths are relative to the file.

Use it to bring in RAF-DB, AffectNet, DFEW and others without moving files::

    path,label,split
    aligned/test_0001_aligned.jpg,5,test

    ds = vlmfer.get_dataset("manifest", root="RAF-DB/raf.csv", split="test",
                            label_map={"1": "Surprise", "4": "Happy", ...})

An optional ``group`` column names the clip (or subject) a sample was cut from,
so that bootstrap intervals and paired tests resample whole groups; an empty
cell means a group of its own. Other columns go to ``Sample.metadata``.
``root`` is the manifest file, or a folder holding exactly one
``manifest.csv`` / ``manifest.jsonl``.
"""

from __future__ import annotations

import csv
import json
import os
import posixpath
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from vlmfer.datasets.common import (
    Entry,
    LabelledTreeOptions,
    ListedDataset,
    check_split,
    close_hint,
    infer_kind,
    match_name,
    media_kind,
    parse_options,
    resolve_root,
    select_classes,
    wrong_kind_error,
)
from vlmfer.errors import DatasetError
from vlmfer.types import Sample

#: Manifest suffixes and their formats.
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DEFAULT_NAMES = ("manifest.csv", "manifest.tsv", "manifest.jsonl")
RESERVED = ("path", "label", "split")


class ManifestOptions(LabelledTreeOptions):
    """Options of ``manifest``."""


class ManifestDataset(ListedDataset):
    """Samples listed in a CSV/TSV/JSONL manifest.

    ``split=None`` means every row when the manifest has no ``split`` column;
    otherwise a split must be chosen. Rows keep the manifest's order.
    """

    name: ClassVar[str] = "manifest"
    Options: ClassVar[type[ManifestOptions]] = ManifestOptions

    options: ManifestOptions

    def __init__(self, root: Any = None, split: str | None = None, **options: Any) -> None:
        self.options = parse_options(self.Options, self.name, options, split=split)
        self.manifest = self._find_manifest(resolve_root(self.name, root, expect="any"))
        self.root = self.manifest.parent
        rows = self._read()
        self._all_labels = self._label_set(rows)
        self._rows = self._check(rows)
        splits = sorted({e.split for e in self._rows if e.split is not None})
        self.splits = tuple(splits)
        check_split(self.name, self.options.split, self.splits,
                    has=f"{self.manifest.name} has a split column; choose a split",
                    where=f"does not occur in {self.manifest}",
                    has_none=f"{self.manifest} has no split column")
        self.split = self.options.split
        self.labels = select_classes(self.name, self.options.classes, self._all_labels)
        self._select()
        self.media_kind = self.options.kind or infer_kind(self._entries)

    def _find_manifest(self, path: Path) -> Path:
        if path.is_dir():
            found = [path / n for n in DEFAULT_NAMES if (path / n).is_file()]
            if len(found) != 1:
                what = "none" if not found else ", ".join(p.name for p in found)
                raise DatasetError(
                    f"dataset {self.name!r}: root {path} is a folder; it must be a manifest file "
                    f"(.csv, .tsv, .jsonl) or hold exactly one of {', '.join(DEFAULT_NAMES)} "
                    f"(found {what})"
                )
            path = found[0]
        if path.suffix.lower() not in FORMATS:
            raise DatasetError(
                f"dataset {self.name!r}: {path} is not a manifest; use a file ending in "
                f"{', '.join(FORMATS)}"
            )
        return path

    def _rows_csv(self, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
        with self.manifest.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{self.manifest}: the manifest is empty; it needs a header")
            names = [h.strip().lower() for h in header]
            for col in ("path", "label"):
                if col not in names:
                    raise DatasetError(
                        f"{self.manifest}: the header has no {col!r} column (header: "
                        f"{', '.join(header)}); the format is path,label[,split]"
                    )
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(names):
                    raise DatasetError(
                        f"{self.manifest}:{reader.line_num}: {len(values)} fields, the header "
                        f"has {len(names)}"
                    )
                yield reader.line_num, dict(zip(names, values, strict=True))

    def _rows_jsonl(self) -> Iterator[tuple[int, dict[str, Any]]]:
        with self.manifest.open(encoding="utf-8-sig") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(
                        f"{self.manifest}:{n}: not valid JSON ({exc.msg}); each line is one "
                        'object such as {"path": "img/1.jpg", "label": "Happy"}'
                    ) from None
                if not isinstance(row, dict):
                    raise DatasetError(f"{self.manifest}:{n}: each line must be a JSON object")
                yield n, row

    def _read(self) -> list[tuple[int, str, str, str | None, dict[str, Any]]]:
        fmt = FORMATS[self.manifest.suffix.lower()]
        source = self._rows_jsonl() if fmt == "jsonl" else self._rows_csv(
            "\t" if fmt == "tsv" else ","
        )
        rows = []
        for n, row in source:
            where = f"{self.manifest}:{n}"
            for col in ("path", "label"):
                value = row.get(col)
                if value is None or (isinstance(value, str) and not value.strip()):
                    raise DatasetError(f"{where}: {col!r} is missing or empty")
            split = row.get("split")
            if split is not None:
                split = str(split).strip()
                if not split:
                    raise DatasetError(f"{where}: 'split' is empty; give every row a split")
            extra = {k: v for k, v in row.items() if k not in RESERVED}
            rows.append((n, str(row["path"]).strip(), str(row["label"]).strip(), split, extra))
        if not rows:
            raise DatasetError(f"{self.manifest}: the manifest lists no samples")
        return rows

    def _label_set(self, rows: list[tuple[int, str, str, str | None, dict[str, Any]]]) -> tuple[
        str, ...
    ]:
        given = tuple(self.options.labels) if self.options.labels is not None else None
        if given is not None and (not given or len(set(given)) != len(given)):
            raise DatasetError(
                f"dataset {self.name!r}: option 'labels' must list distinct labels; got {given}"
            )
        mapping = self.options.label_map
        if given is None:
            found = {mapping.get(r[2], r[2]) for r in rows}
            return tuple(sorted(found, key=lambda s: (s.casefold(), s)))
        unknown: dict[str, list[int]] = {}
        for n, _, raw, _, _ in rows:
            if match_name(mapping.get(raw, raw), given) is None:
                unknown.setdefault(raw, []).append(n)
        if unknown:
            parts = [
                f"{raw!r} ({len(lines)} rows, first at line {lines[0]})"
                for raw, lines in sorted(unknown.items())
            ]
            first = sorted(unknown)[0]
            raise DatasetError(
                f"{self.manifest}: unknown label(s) {', '.join(parts[:5])}."
                f"{close_hint(first, given)} Valid labels: {', '.join(given)}. Map them with "
                f"label_map={{{first!r}: ...}}"
            )
        return given

    def _relative(self, where: str, raw: str) -> str:
        text = raw.replace("\\", "/")
        if posixpath.isabs(text) or os.path.isabs(raw):
            try:
                text = Path(raw).resolve().relative_to(self.root).as_posix()
            except ValueError:
                raise DatasetError(
                    f"{where}: path {raw!r} escapes the manifest's folder {self.root}; paths "
                    "are relative to the manifest"
                ) from None
        rel = posixpath.normpath(text)
        if rel == "." or rel.startswith("../") or rel == "..":
            raise DatasetError(
                f"{where}: path {raw!r} escapes the manifest's folder {self.root}; paths are "
                "relative to the manifest and must stay inside its folder"
            )
        return rel

    def _check(self, rows: list[tuple[int, str, str, str | None, dict[str, Any]]]) -> list[Entry]:
        mapping = self.options.label_map
        seen: dict[str, int] = {}
        missing: list[str] = []
        bad: list[str] = []
        expected = self.options.kind
        out: list[Entry] = []
        for n, raw, label_raw, split, extra in rows:
            where = f"{self.manifest.name}:{n}"
            rel = self._relative(where, raw)
            if rel in seen:
                raise DatasetError(
                    f"{self.manifest}: {rel!r} is listed twice (lines {seen[rel]} and {n}); "
                    "sample ids must be unique"
                )
            seen[rel] = n
            full = os.path.join(self.root, rel)
            # Symlinks are followed wherever they lead (describe() records where).
            try:
                st = os.stat(full)
            except OSError:
                missing.append(f"{rel} (line {n})")
                continue
            kind = media_kind(rel)
            if kind is None or (expected is not None and kind != expected) or not stat.S_ISREG(
                st.st_mode
            ):
                bad.append(f"{rel} (line {n})")
                continue
            label = match_name(mapping.get(label_raw, label_raw), self._all_labels)
            assert label is not None
            meta = {**extra, "manifest_line": n}
            out.append(Entry(rel, label, kind, split, meta, st.st_size))
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            shown = ", ".join(missing[:5]) + more
            raise DatasetError(
                f"{self.manifest}: {len(missing)} listed file(s) do not exist: {shown}. Paths are "
                f"relative to {self.root}"
            )
        if bad:
            what = f"{expected} files" if expected else "image or video files"
            raise wrong_kind_error(self.name, bad, what, "Fix the manifest's paths or kind=...")
        return out

    def _list(self, split: str | None) -> list[Entry]:
        keep = set(self.labels)
        return [e for e in self._rows if e.label in keep and (split is None or e.split == split)]

    def _sample(self, entry: Entry) -> Sample:
        sample = super()._sample(entry)
        if "group" not in sample.metadata:
            return sample
        metadata = dict(sample.metadata)
        raw = metadata.pop("group")
        group = None if raw is None or not str(raw).strip() else str(raw).strip()
        return sample.model_copy(update={"group": group, "metadata": metadata})

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["manifest"] = str(self.manifest)
        return out
