"""Shared machinery of the built-in datasets: options, listing, subsampling, fingerprints.

Datasets list files (names and, for fingerprints, sizes) and never read media.
Every layout problem is found when the dataset is built, so a run fails before
its first paid call.
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vlmfer.datasets.base import Dataset
from vlmfer.errors import DatasetError, close_match, option_problems
from vlmfer.types import IMAGE_SUFFIXES, VIDEO_SUFFIXES, Media, MediaKind, Sample, stable_hash

#: Files that operating systems and archivers leave behind; never samples.
JUNK_NAMES = frozenset({"Thumbs.db", "desktop.ini", "__MACOSX", ".DS_Store"})

#: The key ``split_counts()`` uses for a dataset without splits.
ALL_SPLITS = "all"


def _comma_list(value: Any) -> Any:
    """A list option given as one string (the command line hands over "Anger,Happy"),
    split at commas; any other value unchanged, for pydantic to check."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class DatasetOptions(BaseModel):
    """Options every built-in dataset takes. Unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")

    split: str | None = None
    classes: list[str] | None = Field(
        default=None, description="keep only these labels (e.g. all but Neutral)"
    )
    limit: int | None = Field(
        default=None, ge=1, description="a seeded, stratified subsample of this size"
    )
    seed: int = Field(default=0, description="seed of the subsample and of the shuffle")
    shuffle: bool = Field(default=False, description="yield samples in a seeded random order")

    @field_validator("classes", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return _comma_list(value)


class LabelledTreeOptions(DatasetOptions):
    """Options of datasets whose label set comes from folder names or a manifest."""

    labels: list[str] | None = Field(
        default=None, description="the ordered label set (default: the names found, sorted)"
    )
    label_map: dict[str, str] = Field(
        default_factory=dict, description="the dataset's own names -> labels"
    )
    kind: MediaKind | None = Field(
        default=None, description="image or video (default: whatever the files are)"
    )

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_commas(cls, value: Any) -> Any:
        return _comma_list(value)


OptionsT = TypeVar("OptionsT", bound=DatasetOptions)


def parse_options(
    model: type[OptionsT], dataset: str, options: Mapping[str, Any],
    *, split: str | None = None,
) -> OptionsT:
    """Validate ``options`` into ``model``; errors name the option and the valid ones.

    ``split``, when given, is the dataset's positional ``split`` argument: it sets the
    ``split`` option.
    """
    values = dict(options)
    if split is not None:
        values["split"] = split
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        valid = sorted(model.model_fields)
        raise DatasetError(
            f"dataset {dataset!r}: {option_problems(exc.errors(), valid)}. "
            f"Valid options: {', '.join(valid)}"
        ) from None


@dataclass(frozen=True, slots=True)
class Entry:
    """One listed file: its id (POSIX path relative to the root) and its label."""

    id: str
    label: str
    kind: MediaKind
    split: str | None
    metadata: Mapping[str, Any] | None = None
    size: int | None = None
    #: Whether the file is a symlink, when the listing knew it for free (a directory
    #: entry's type); None: unknown, and ``symlinks()`` asks the file system.
    link: bool | None = None


def is_junk(name: str) -> bool:
    return name.startswith(".") or name in JUNK_NAMES


def media_kind(name: str) -> MediaKind | None:
    suffix = os.path.splitext(name)[1].lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def resolve_root(
    dataset: str, root: Any, *, expect: Literal["dir", "file", "any"] = "dir"
) -> Path:
    """The absolute root, or a DatasetError saying what is wrong with it.

    ``expect`` is what the dataset reads: a folder (``"dir"``), one file (``"file"``), or
    either (``"any"``: a file, or a folder in which the dataset finds its file).
    """
    if root is None or (isinstance(root, str) and not root.strip()):
        raise DatasetError(
            f"dataset {dataset!r} needs a root: pass root=PATH "
            f"(or --data-root PATH on the command line)"
        )
    path = Path(os.path.expanduser(str(root)))
    if not path.exists():
        hint = " (it is a broken symlink)" if path.is_symlink() else ""
        raise DatasetError(
            f"dataset {dataset!r}: root {path} does not exist{hint}. "
            "Check the path; docs/datasets.md says how to obtain and lay out the data"
        )
    if expect == "dir" and not path.is_dir():
        raise DatasetError(f"dataset {dataset!r}: root {path} is a file; it must be a folder")
    if expect == "file" and not path.is_file():
        raise DatasetError(
            f"dataset {dataset!r}: root {path} is a folder; it must be a file. Pass the "
            "file itself as root (--data-root FILE)"
        )
    return path.resolve()


def check_link(path: Path, rel: str) -> Path:
    """The target of a symlink, or a DatasetError when it points nowhere.

    Symlinks are followed wherever they point: a folder of links is the usual way
    to assemble a subset. The manifest records where they resolve (``describe``).
    """
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise DatasetError(
            f"{rel}: broken symlink (its target does not exist); fix or remove it"
        ) from None


def check_inside(root: Path, path: Path, rel: str) -> None:
    """Deprecated: symlinks are followed wherever they point; use ``check_link``."""
    warnings.warn("vlmfer.datasets.common.check_inside is deprecated: symlinks outside the "
                  "root are followed now; use check_link(path, rel)", DeprecationWarning,
                  stacklevel=2)
    check_link(path, rel)


@dataclass
class Listing:
    """The entries of one folder, split into folders and files, sorted by name."""

    dirs: list[os.DirEntry[str]] = field(default_factory=list)
    files: list[os.DirEntry[str]] = field(default_factory=list)


def scan(root: Path, folder: Path, rel: str) -> Listing:
    """List ``folder`` (skipping hidden and junk names); a broken symlink is an error."""
    out = Listing()
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise DatasetError(f"{rel or '.'}: cannot list folder: {exc.strerror or exc}") from None
    for entry in entries:
        if is_junk(entry.name):
            continue
        try:
            entry.name.encode("utf-8")
        except UnicodeEncodeError:
            # Sample ids are these names: they must be text that any machine can write.
            shown = os.fsencode(entry.name).decode("utf-8", "backslashreplace")
            raise DatasetError(
                f"{join(rel, shown)}: the file name is not valid UTF-8, so it cannot be a "
                "stable sample id; rename it (e.g. with `convmv -f latin1 -t utf8`) or move it "
                "out of the dataset"
            ) from None
        if entry.is_symlink():
            check_link(Path(entry.path), join(rel, entry.name))
        if entry.is_dir():
            out.dirs.append(entry)
        else:
            out.files.append(entry)
    return out


def join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def match_name(name: str, valid: Sequence[str]) -> str | None:
    """``name`` as spelt in ``valid``, ignoring case; None when absent."""
    if name in valid:
        return name
    folded = {v.casefold(): v for v in valid}
    return folded.get(name.casefold())


def close_hint(name: str, valid: Iterable[str]) -> str:
    close = close_match(name, valid, cutoff=0.5)
    return f" Did you mean {close!r}?" if close else ""


def select_classes(
    dataset: str, classes: list[str] | None, labels: Sequence[str]
) -> tuple[str, ...]:
    """The labels kept by the ``classes`` option, in the dataset's label order."""
    if classes is None:
        return tuple(labels)
    if not classes:
        raise DatasetError(
            f"dataset {dataset!r}: option 'classes' is empty; leave it out to keep every "
            f"class, or name some of: {', '.join(labels)}"
        )
    keep = set()
    for name in classes:
        hit = match_name(name, labels)
        if hit is None:
            raise DatasetError(
                f"dataset {dataset!r}: option 'classes' names unknown class {name!r}."
                f"{close_hint(name, labels)} Valid classes: {', '.join(labels)}"
            )
        keep.add(hit)
    return tuple(label for label in labels if label in keep)


def stratified_subsample(
    entries: Sequence[Entry], labels: Sequence[str], limit: int, seed: int
) -> list[Entry]:
    """``limit`` entries drawn per class in proportion to class sizes, order preserved.

    Quotas use the largest-remainder rule, so 100 of seven equal classes gives
    14 or 15 per class. Draws are seeded per class, so they do not depend on
    the other classes or on the machine.
    """
    if limit >= len(entries):
        return list(entries)
    by_label: dict[str, list[int]] = {}
    for i, entry in enumerate(entries):
        by_label.setdefault(entry.label, []).append(i)
    total = len(entries)
    order = [label for label in labels if label in by_label]
    order += sorted(label for label in by_label if label not in labels)
    quota = {label: limit * len(by_label[label]) // total for label in order}
    left = limit - sum(quota.values())
    tie = random.Random(f"vlmfer:{seed}:ties")
    keys = {label: tie.random() for label in order}
    # A remainder of limit*n mod total, compared as integers, avoids float ties.
    by_remainder = sorted(
        order, key=lambda lb: (-(limit * len(by_label[lb]) % total), keys[lb])
    )
    for label in by_remainder:
        if left == 0:
            break
        if quota[label] < len(by_label[label]):
            quota[label] += 1
            left -= 1
    keep: list[int] = []
    for label in order:
        rng = random.Random(f"vlmfer:{seed}:{label}")
        keep.extend(rng.sample(by_label[label], quota[label]))
    return [entries[i] for i in sorted(keep)]


class ListedDataset(Dataset):
    """A dataset whose selection is a list of ``Entry`` made at construction time.

    The contract for a subclass (docs/plugins.md walks through one):

    - ``__init__`` sets ``self.options`` (parsed with ``parse_options``; a subclass of
      ``DatasetOptions``), ``self.root`` (``resolve_root(...)``), ``self.splits`` (a tuple;
      empty when the data has none), ``self.split`` (one of them, or None),
      ``self.labels`` (the ordered label tuple, after ``select_classes``) and
      ``self.media_kind`` (``"image"``, ``"video"`` or None when mixed); then it calls
      ``self._select()`` last.
    - ``_list(split)`` returns every ``Entry`` of that split (None: the only one) whose
      label is in ``self.labels``, sorted by id. Each ``Entry.id`` is the file's path
      relative to ``root`` with ``/`` separators: stable and unique, it is the sample id.
      It raises ``DatasetError`` naming the file for anything malformed.
    - ``_select()`` lists ``self.split``, applies ``limit`` (a seeded stratified subset)
      and ``shuffle``, and keeps the result: iteration, ``len``, ``ids`` and
      ``fingerprint`` all use it. Nothing is opened or decoded here.
    - ``_path(entry)`` maps an entry to its file (default ``root / entry.id``); override
      it when ids are not paths under ``root`` (a manifest with absolute paths, say).
    - ``_sample(entry)`` builds the ``Sample`` lazily at iteration time; ``iter_except(ids)``
      (what a resume asks for) builds none for a skipped entry, unless ``__iter__`` is
      overridden, which it then respects.
    """

    name: ClassVar[str] = "listed"
    Options: ClassVar[type[DatasetOptions]] = DatasetOptions

    root: Path
    options: DatasetOptions
    _entries: list[Entry]

    def _list(self, split: str | None) -> list[Entry]:
        """Every entry of ``split`` with the ``classes`` filter applied, in order."""
        raise NotImplementedError

    def _select(self) -> None:
        """List the chosen split and apply ``limit`` and ``shuffle``."""
        entries = self._list(self.split)
        if self.options.limit is not None:
            entries = stratified_subsample(
                entries, self.labels, self.options.limit, self.options.seed
            )
        if self.options.shuffle:
            random.Random(f"vlmfer:{self.options.seed}:shuffle").shuffle(entries)
        self._entries = entries
        self._fingerprint: str | None = None

    def _path(self, entry: Entry) -> Path:
        return self.root / entry.id

    def _path_text(self) -> Callable[[Entry], str]:
        """``_path`` as text; the default one as a string join, since building 20 000
        ``Path`` objects costs more than the 20 000 ``stat`` calls they serve."""
        if type(self)._path is not ListedDataset._path or os.sep != "/":
            # An overridden _path, or Windows, where Path turns the id's "/" into "\\".
            return lambda entry: str(self._path(entry))
        root = str(self.root)
        return lambda entry: os.path.join(root, entry.id)

    def _sample(self, entry: Entry) -> Sample:
        metadata: dict[str, Any] = dict(entry.metadata) if entry.metadata else {}
        metadata["split"] = entry.split
        return Sample(
            id=entry.id,
            media=Media.from_path(self._path(entry), kind=entry.kind),
            label=entry.label,
            metadata=metadata,
        )

    def __iter__(self) -> Iterator[Sample]:
        for entry in self._entries:
            yield self._sample(entry)

    def iter_except(self, skip: Container[str] = frozenset()) -> Iterator[Sample]:
        """The samples not in ``skip``; a skipped one is never built.

        A subclass that overrides ``__iter__`` (to write a file as a sample is yielded, say)
        is iterated its own way, and skipped samples filtered out after.
        """
        if type(self).__iter__ is not ListedDataset.__iter__:
            return super().iter_except(skip)
        return (self._sample(e) for e in self._entries if e.id not in skip)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def ids(self) -> list[str]:
        """The sample ids of this selection, in iteration order."""
        return [e.id for e in self._entries]

    def class_counts(self) -> dict[str, int]:
        """Samples per label in this selection (after ``classes`` and ``limit``)."""
        counts = dict.fromkeys(self.labels, 0)
        for entry in self._entries:
            counts[entry.label] = counts.get(entry.label, 0) + 1
        return counts

    def split_counts(self) -> dict[str, dict[str, int]]:
        """Samples per label for every split on disk (``classes`` applied, ``limit`` not).

        A dataset without splits has one key, ``"all"``. Splits other than the
        chosen one are listed now, so a bad layout there raises ``DatasetError``.
        """
        out: dict[str, dict[str, int]] = {}
        for split in self.splits or (None,):
            counts = dict.fromkeys(self.labels, 0)
            for entry in self._list(split):
                counts[entry.label] = counts.get(entry.label, 0) + 1
            out[split if split is not None else ALL_SPLITS] = counts
        return out

    def fingerprint(self) -> str:
        """SHA-256 over the sorted (id, size in bytes, label) of this selection.

        It covers which files, their sizes and labels, not their bytes: an edit that keeps
        a file's size is not seen here. The bytes are covered per sample by each request's
        cache key, which includes the SHA-256 of the media sent (docs/datasets.md).
        """
        if self._fingerprint is None:
            rows = []
            path = self._path_text()
            for entry in sorted(self._entries, key=lambda e: e.id):
                size = entry.size
                if size is None:
                    try:
                        size = os.stat(path(entry)).st_size
                    except OSError:
                        raise DatasetError(
                            f"{entry.id}: file vanished after the dataset was listed"
                        ) from None
                rows.append([entry.id, size, entry.label])
            self._fingerprint = stable_hash(rows)
        return self._fingerprint

    def symlinks(self) -> dict[str, Any] | None:
        """Where the selection's symlinked files resolve: their count and target folders."""
        targets: dict[str, int] = {}
        n = 0
        folders: dict[str, str] = {}  # a folder's real path, resolved once per folder
        path_of = self._path_text()
        for entry in self._entries:
            path = path_of(entry)
            folder = os.path.dirname(path)
            real_folder = folders.get(folder)
            if real_folder is None:
                real_folder = folders[folder] = os.path.realpath(folder)
            link = os.path.islink(path) if entry.link is None else entry.link
            if link:  # realpath only for links; an lstat only when the listing did not know
                real = os.path.realpath(path)
            else:
                real = os.path.join(real_folder, os.path.basename(path))
            if real != path:
                n += 1
                parent = os.path.dirname(real)
                targets[parent] = targets.get(parent, 0) + 1
        if not n:
            return None
        return {"n": n, "resolved_under": dict(sorted(targets.items()))}

    def describe(self) -> dict[str, Any]:
        """Name, root, split and options, for the run manifest (and where symlinks lead)."""
        links = self.symlinks()
        return {
            "name": self.name,
            "root": str(self.root),
            "split": self.split,
            "splits": list(self.splits),
            "labels": list(self.labels),
            "media_kind": self.media_kind,
            "n": len(self),
            "options": self.options.model_dump(mode="json", exclude={"split"}),
            **({"symlinks": links} if links else {}),
        }

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name!r} root={str(self.root)!r} "
            f"split={self.split!r} n={len(self)}>"
        )


def class_folder_entries(
    files: Iterable[os.DirEntry[str]], rel: str, label: str, split: str | None,
    expected: MediaKind | None,
) -> tuple[list[Entry], list[str]]:
    """The entries of one label folder's files, and the ids of those that are not media of
    the ``expected`` kind (None: images and videos alike).

    ``rel`` is the folder's path relative to the root; when its name is not the label
    itself, each entry keeps the name in ``metadata["class_folder"]``.
    """
    folder = rel.rsplit("/", 1)[-1]
    meta = {"class_folder": folder} if folder != label else None
    entries: list[Entry] = []
    bad: list[str] = []
    for f in files:
        kind = media_kind(f.name)
        if kind is None or (expected is not None and kind != expected):
            bad.append(join(rel, f.name))
            continue
        entries.append(Entry(join(rel, f.name), label, kind, split, meta,
                             link=f.is_symlink()))
    return entries, bad


def check_split(
    dataset: str, chosen: str | None, splits: Sequence[str], *, has: str, where: str,
    has_none: str,
) -> None:
    """Check the ``split`` option against the splits the data has.

    With splits, one must be chosen and must be one of them; without, none may be. The
    phrases say where the splits are: ``has`` ("<root> has split folders; choose one"),
    ``where`` ("does not exist under <root>") and ``has_none`` ("<root> has no split
    folders").
    """
    found = f"Splits found: {', '.join(splits)}"
    if splits:
        if chosen is None:
            raise DatasetError(f"dataset {dataset!r}: {has} with split=... {found}")
        if chosen not in splits:
            raise DatasetError(
                f"dataset {dataset!r}: split {chosen!r} {where}."
                f"{close_hint(chosen, splits)} {found}")
    elif chosen is not None:
        raise DatasetError(f"dataset {dataset!r}: {has_none}; leave split out")


def infer_kind(entries: Iterable[Entry]) -> MediaKind | None:
    """``image`` or ``video`` when all entries agree; None when mixed or empty."""
    kinds = {e.kind for e in entries}
    if len(kinds) == 1:
        return next(iter(kinds))
    return None


def wrong_kind_error(dataset: str, bad: list[str], expected: str, hint: str) -> DatasetError:
    shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
    return DatasetError(
        f"dataset {dataset!r}: {len(bad)} file(s) are not {expected}: {shown}. {hint}"
    )
