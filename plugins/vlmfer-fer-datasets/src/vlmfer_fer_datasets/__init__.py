"""RAF-DB and FER2013 for vlmfer: the worked example of docs/plugins.md.

Installing this distribution registers two datasets through the ``vlmfer``
entry-point group (``fer_datasets = "vlmfer_fer_datasets"``):

- ``raf-db``: RAF-DB basic, ``EmoLabel/list_patition_label.txt`` plus
  ``Image/aligned/`` (or ``Image/original/``);
- ``fer2013``: the FER2013 CSV ``emotion,pixels,Usage``, decoded to 48×48 PNGs
  on the fly.

Both map their own emotion names to the CAER label set. This module holds only
the hook: the loaders are imported when a dataset is built, so ``vlmfer
plugins`` and every registry lookup stay cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmfer.hookspecs import RegisterDatasets, hookimpl

if TYPE_CHECKING:
    from vlmfer.datasets.base import Dataset

__all__ = ["fer2013_dataset", "raf_db_dataset", "register_datasets"]


def raf_db_dataset(root: Any = None, split: str | None = None, **options: Any) -> Dataset:
    """RAF-DB basic: ``get_dataset("raf-db", root="RAF-DB/basic", split="test")``."""
    from vlmfer_fer_datasets.rafdb import RafDbDataset

    return RafDbDataset(root=root, split=split, **options)


def fer2013_dataset(root: Any = None, split: str | None = None, **options: Any) -> Dataset:
    """FER2013: ``get_dataset("fer2013", root="fer2013/fer2013.csv", split="test")``."""
    from vlmfer_fer_datasets.fer2013 import Fer2013Dataset

    return Fer2013Dataset(root=root, split=split, **options)


# The factories are not named after the modules rafdb/fer2013: importing a submodule binds its
# name on this package and would shadow a function of the same name.
@hookimpl
def register_datasets(register: RegisterDatasets) -> None:
    """Register ``raf-db`` and ``fer2013``."""
    register("raf-db", raf_db_dataset)
    register("fer2013", fer2013_dataset)
