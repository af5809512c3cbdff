"""Built-in datasets (registered through the ``vlmfer`` entry-point group).

Factories import their module when called, so listing the registry stays cheap.
"""

from __future__ import annotations

from typing import Any

from vlmfer.datasets.base import Dataset
from vlmfer.hookspecs import RegisterDatasets, hookimpl


def caer(root: Any = None, split: str | None = None, **options: Any) -> Dataset:
    """CAER video clips: ``<root>/{train,validation,test}/<Class>/NNNN.avi``."""
    from vlmfer.datasets.caer import CaerDataset

    return CaerDataset(root=root, split=split, **options)


def caer_s(root: Any = None, split: str | None = None, **options: Any) -> Dataset:
    """CAER-S stills: ``<root>/{train,test}/<Class>/NNNN.png`` (train spells Anger ``Angry``)."""
    from vlmfer.datasets.caer import CaerSDataset

    return CaerSDataset(root=root, split=split, **options)


def folder(root: Any = None, split: str | None = None, **options: Any) -> Dataset:
    """Any tree ``<root>/[<split>/]<Label>/<file>`` of images or videos."""
    from vlmfer.datasets.folder import FolderDataset

    return FolderDataset(root=root, split=split, **options)


def manifest(root: Any = None, split: str | None = None, **options: Any) -> Dataset:
    """A CSV or JSONL manifest of ``path,label[,split]`` (paths relative to the file)."""
    from vlmfer.datasets.manifest import ManifestDataset

    return ManifestDataset(root=root, split=split, **options)


@hookimpl
def register_datasets(register: RegisterDatasets) -> None:
    register("caer", caer)
    register("caer-s", caer_s)
    register("folder", folder)
    register("manifest", manifest)
