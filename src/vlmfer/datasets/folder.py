"""Any labelled tree: ``<root>/[<split>/]<Label>/<file>``, images or videos.

A tree has a split level when its top folders hold folders. Labels are the
label folders' names (sorted) unless ``labels`` gives the set and its order;
``label_map`` renames folders (``{"happiness": "Happy"}``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from vlmfer.datasets.common import (
    Entry,
    LabelledTreeOptions,
    ListedDataset,
    check_split,
    class_folder_entries,
    close_hint,
    infer_kind,
    join,
    match_name,
    media_kind,
    parse_options,
    resolve_root,
    scan,
    select_classes,
    wrong_kind_error,
)
from vlmfer.errors import DatasetError


class FolderOptions(LabelledTreeOptions):
    """Options of ``folder``."""

    ignore: list[str] = Field(default_factory=list, description="folder names to skip")


class FolderDataset(ListedDataset):
    """Images or videos sorted into one folder per label, optionally under split folders.

    ``split=None`` means the whole tree when it has no split level; otherwise a
    split must be chosen. Example::

        ds = vlmfer.get_dataset("folder", root="../shared/data/london_faces")
    """

    name: ClassVar[str] = "folder"
    Options: ClassVar[type[FolderOptions]] = FolderOptions

    options: FolderOptions

    def __init__(self, root: Any = None, split: str | None = None, **options: Any) -> None:
        self.options = parse_options(self.Options, self.name, options, split=split)
        self.root = resolve_root(self.name, root)
        self._ignore = set(self.options.ignore)
        top = [d for d in scan(self.root, self.root, "").dirs if d.name not in self._ignore]
        if not top:
            raise DatasetError(
                f"dataset {self.name!r}: no label folders under {self.root}; the layout is "
                "<root>/[<split>/]<Label>/<file>"
            )
        has_splits = any(
            any(e.name not in self._ignore for e in scan(self.root, Path(d.path), d.name).dirs)
            for d in top
        )
        self.splits = tuple(d.name for d in top) if has_splits else ()
        check_split(self.name, self.options.split, self.splits,
                    has=f"{self.root} has split folders; choose one",
                    where=f"does not exist under {self.root}",
                    has_none=f"{self.root} has no split folders (its folders are labels: "
                             f"{', '.join(d.name for d in top[:10])})")
        self.split = self.options.split
        self._all_labels = self._label_set(top, has_splits)
        self.labels = select_classes(self.name, self.options.classes, self._all_labels)
        self._select()
        self.media_kind = self.options.kind or infer_kind(self._entries)

    def _map(self, folder: str, rel: str, valid: tuple[str, ...] | None) -> str:
        label = self.options.label_map.get(folder, folder)
        if valid is None:
            return label
        hit = match_name(label, valid)
        if hit is None:
            raise DatasetError(
                f"dataset {self.name!r}: unknown class folder {rel}/ (label {label!r})."
                f"{close_hint(label, valid)} Labels: {', '.join(valid)}. Map it with "
                f"label_map={{{folder!r}: ...}}, add it to labels, or skip it with "
                f"ignore=[{folder!r}]"
            )
        return hit

    def _label_set(self, top: list[Any], has_splits: bool) -> tuple[str, ...]:
        given = tuple(self.options.labels) if self.options.labels is not None else None
        if given is not None and len(set(given)) != len(given):
            raise DatasetError(f"dataset {self.name!r}: option 'labels' repeats a label: {given}")
        if given is not None and not given:
            raise DatasetError(f"dataset {self.name!r}: option 'labels' is empty")
        folders: list[tuple[str, str]] = []
        if has_splits:
            for d in top:
                for e in scan(self.root, Path(d.path), d.name).dirs:
                    if e.name not in self._ignore:
                        folders.append((e.name, join(d.name, e.name)))
        else:
            folders = [(d.name, d.name) for d in top]
        found = {self._map(name, rel, given) for name, rel in folders}
        if given is not None:
            return given
        return tuple(sorted(found, key=lambda s: (s.casefold(), s)))

    def _list(self, split: str | None) -> list[Entry]:
        base = self.root / split if split is not None else self.root
        rel0 = split or ""
        listing = scan(self.root, base, rel0)
        strays = [f.name for f in listing.files if media_kind(f.name) is not None]
        if strays and split is not None:
            raise DatasetError(
                f"dataset {self.name!r}: media file(s) directly in {split}/ "
                f"({', '.join(strays[:3])}); the layout is <split>/<Label>/<file>"
            )
        keep = set(self.labels)
        expected = self.options.kind
        entries: list[Entry] = []
        bad: list[str] = []
        for folder in listing.dirs:
            if folder.name in self._ignore:
                continue
            rel = join(rel0, folder.name)
            label = self._map(folder.name, rel, self._all_labels)
            if label not in keep:
                continue
            inner = scan(self.root, Path(folder.path), rel)
            nested = [d.name for d in inner.dirs if d.name not in self._ignore]
            if nested:
                raise DatasetError(
                    f"dataset {self.name!r}: unexpected folder {rel}/{nested[0]}/; "
                    "the layout is <root>/[<split>/]<Label>/<file>, and label folders hold "
                    f"files only (skip a folder with ignore=[{nested[0]!r}])"
                )
            found, wrong = class_folder_entries(inner.files, rel, label, split, expected)
            entries += found
            bad += wrong
            if not found and not bad:
                raise DatasetError(
                    f"dataset {self.name!r}: label folder {rel}/ is empty (no image or video "
                    f"files). Add its files, or skip it with ignore=[{folder.name!r}]"
                )
        if bad:
            what = f"{expected}s" if expected else "images or videos"
            raise wrong_kind_error(
                self.name, bad, what,
                "Remove them, or set kind=... to the kind the tree holds",
            )
        if not entries and split is not None:
            others = [s for s in self.splits if s != split]
            raise DatasetError(
                f"dataset {self.name!r}: split {split}/ under {self.root} holds no label "
                f"folders with files; fill it, or choose another split"
                + (f" ({', '.join(others)})" if others else "")
            )
        entries.sort(key=lambda e: e.id)
        return entries
