"""CAER (video clips) and CAER-S (stills): ``<root>/<split>/<Class>/NNNN.<ext>``.

The real CAER-S archive spells Anger as ``Angry`` in ``train/`` and ``Anger`` in
``test/``; both map to ``Anger``. See docs/datasets.md for how to obtain the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from vlmfer.datasets.common import (
    DatasetOptions,
    Entry,
    ListedDataset,
    check_split,
    class_folder_entries,
    close_hint,
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
from vlmfer.types import MediaKind

#: The seven CAER classes, in the loaders' index order (equal to ``vlmfer.CAER_LABELS``).
CAER_CLASSES: tuple[str, ...] = ("Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
#: Folder spellings found in the real archives.
FOLDER_ALIASES: dict[str, str] = {"Angry": "Anger"}
#: Split folders, in display order.
KNOWN_SPLITS: tuple[str, ...] = ("train", "validation", "test")
DEFAULT_SPLIT = "test"


class CaerOptions(DatasetOptions):
    """Options of ``caer`` and ``caer-s``."""

    label_map: dict[str, str] = Field(
        default_factory=dict, description="extra class-folder spellings -> CAER labels"
    )
    ignore: list[str] = Field(default_factory=list, description="folder names to skip")


class CaerDataset(ListedDataset):
    """CAER: video clips in ``<root>/{train,validation,test}/<Class>/NNNN.avi``.

    ``split=None`` means ``test``. Example::

        ds = vlmfer.get_dataset("caer", root="data/CAER", split="validation", limit=70)
    """

    name: ClassVar[str] = "caer"
    Options: ClassVar[type[CaerOptions]] = CaerOptions
    expected_kind: ClassVar[MediaKind] = "video"
    other: ClassVar[str] = "caer-s"

    options: CaerOptions

    def __init__(self, root: Any = None, split: str | None = None, **options: Any) -> None:
        self.options = parse_options(self.Options, self.name, options, split=split)
        self.root = resolve_root(self.name, root)
        self.media_kind = self.expected_kind
        self._aliases = self._folder_aliases()
        self.splits = self._find_splits()
        self.split = self.options.split if self.options.split is not None else DEFAULT_SPLIT
        check_split(self.name, self.split, self.splits,
                    has=f"{self.root} has split folders; choose one",
                    where=f"does not exist under {self.root}",
                    has_none=f"{self.root} has no split folders")
        self.labels = select_classes(self.name, self.options.classes, CAER_CLASSES)
        self._select()

    def _folder_aliases(self) -> dict[str, str]:
        aliases = dict(FOLDER_ALIASES)
        for folder, label in self.options.label_map.items():
            hit = match_name(label, CAER_CLASSES)
            if hit is None:
                raise DatasetError(
                    f"dataset {self.name!r}: option 'label_map' maps {folder!r} to {label!r}, "
                    f"which is not a CAER class.{close_hint(label, CAER_CLASSES)} "
                    f"Valid classes: {', '.join(CAER_CLASSES)}"
                )
            aliases[folder] = hit
        return aliases

    def _find_splits(self) -> tuple[str, ...]:
        listing = scan(self.root, self.root, "")
        names = [d.name for d in listing.dirs]
        found = tuple(s for s in KNOWN_SPLITS if s in names)
        if found:
            return found
        shown = ", ".join(names[:10]) or "(no folders)"
        hint = ""
        if any(self._label_of(n) is not None for n in names):
            if self.root.name in KNOWN_SPLITS:
                hint = (
                    " It looks like a split folder itself: pass its parent as root and "
                    f"split={self.root.name!r} (--data-root {self.root.parent} "
                    f"--split {self.root.name})."
                )
            else:
                # Its parent has no split folder either: a CAER layout would fail again.
                hint = (
                    " It holds class folders without a split folder: read it with the "
                    f"'folder' dataset (--dataset folder --data-root {self.root}), or move "
                    f"it into {self.root}/../<split>/ with a split name of "
                    f"{', '.join(KNOWN_SPLITS)}."
                )
        else:
            for d in listing.dirs:
                inner = {e.name for e in scan(self.root, Path(d.path), d.name).dirs}
                if inner & set(KNOWN_SPLITS):
                    hint = f" Did you mean root={Path(d.path)}?"
                    break
        raise DatasetError(
            f"dataset {self.name!r}: no split folder ({', '.join(KNOWN_SPLITS)}) under "
            f"{self.root}; found: {shown}.{hint}"
        )

    def _label_of(self, folder: str) -> str | None:
        if folder in self._aliases:
            return self._aliases[folder]
        hit = match_name(folder, CAER_CLASSES)
        if hit is not None:
            return hit
        for alias, label in self._aliases.items():
            if alias.casefold() == folder.casefold():
                return label
        return None

    def _list(self, split: str | None) -> list[Entry]:
        assert split is not None
        ignore = set(self.options.ignore)
        keep = set(self.labels)
        entries: list[Entry] = []
        seen: set[str] = set()
        bad: list[str] = []
        listing = scan(self.root, self.root / split, split)
        strays = [f.name for f in listing.files if media_kind(f.name) is not None]
        if strays:
            raise DatasetError(
                f"dataset {self.name!r}: media file(s) directly in {split}/ "
                f"({', '.join(strays[:3])}); the layout is {split}/<Class>/<file>"
            )
        for folder in listing.dirs:
            if folder.name in ignore:
                continue
            label = self._label_of(folder.name)
            rel = join(split, folder.name)
            if label is None:
                raise DatasetError(
                    f"dataset {self.name!r}: unknown class folder {rel}/."
                    f"{close_hint(folder.name, CAER_CLASSES)} CAER classes: "
                    f"{', '.join(CAER_CLASSES)}. Map it with "
                    f"--set dataset.label_map={{{folder.name}='Anger'}} (any class), or skip it "
                    f"with --set dataset.ignore=[{folder.name!r}] (in Python: "
                    f"label_map={{{folder.name!r}: 'Anger'}}, ignore=[{folder.name!r}])"
                )
            if label not in keep:
                continue
            inner = scan(self.root, Path(folder.path), rel)
            if inner.dirs:
                raise DatasetError(
                    f"dataset {self.name!r}: unexpected folder {rel}/{inner.dirs[0].name}/; "
                    f"class folders hold files only ({split}/<Class>/NNNN.ext)"
                )
            found, wrong = class_folder_entries(inner.files, rel, label, split,
                                                self.expected_kind)
            entries += found
            bad += wrong
            if not found and not bad:
                raise DatasetError(
                    f"dataset {self.name!r}: class folder {rel}/ is empty (no "
                    f"{self.expected_kind} files). Add its files, or skip it with "
                    f"--set dataset.ignore=[{folder.name!r}] or keep other classes with "
                    "--classes A,B (in Python: ignore=[...] or classes=[...])"
                )
            seen.add(label)
        if bad:
            raise wrong_kind_error(
                self.name, bad, f"{self.expected_kind}s",
                f"{self.name!r} holds {self.expected_kind}s; use {self.other!r} or 'folder' "
                "for the other kind, and remove stray files",
            )
        missing = [label for label in self.labels if label not in seen]
        if missing:
            raise DatasetError(
                f"dataset {self.name!r}: split {split!r} has no folder for class(es) "
                f"{', '.join(missing)} under {self.root / split}. Add them, or keep only the "
                f"classes present with --classes "
                f"{','.join(lb for lb in self.labels if lb not in missing)} "
                "(classes=[...] in Python)"
            )
        entries.sort(key=lambda e: e.id)
        return entries


class CaerSDataset(CaerDataset):
    """CAER-S: stills in ``<root>/{train,test}/<Class>/NNNN.png`` (``.jpg`` accepted).

    ``split=None`` means ``test``. ``train/Angry`` is read as ``Anger``. Example::

        ds = vlmfer.get_dataset("caer-s", root="data/CAER-S", limit=100)  # ~14 per class
    """

    name: ClassVar[str] = "caer-s"
    expected_kind: ClassVar[MediaKind] = "image"
    other: ClassVar[str] = "caer"
