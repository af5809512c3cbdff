"""The built-in datasets are registered through the ``vlmfer`` entry-point group."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import vlmfer
from vlmfer.datasets.base import Dataset
from vlmfer.errors import UnknownDatasetError
from vlmfer.plugins import Registry


def test_the_four_names_are_registered(registry: Registry) -> None:
    assert sorted(registry.entries("dataset")) == ["caer", "caer-s", "folder", "manifest"]


def test_entry_point_registry_finds_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLMFER_LOAD_PLUGINS", "datasets")
    reg = Registry()
    entry = reg.entries("dataset")["caer-s"]
    assert entry.plugin == "datasets" and entry.distribution == "vlmfer"


def test_factories_return_datasets(caer_s_root: Path, registry: Registry) -> None:
    ds = vlmfer.get_dataset("caer-s", root=str(caer_s_root), split=None, registry=registry)
    assert isinstance(ds, Dataset)
    with pytest.raises(UnknownDatasetError, match="Did you mean 'caer-s'"):
        vlmfer.get_dataset("caer_s", root=caer_s_root, registry=registry)


def test_listing_the_registry_imports_no_media_library() -> None:
    code = (
        "import sys, vlmfer.datasets.plugin, vlmfer.media\n"
        "heavy = {'av', 'cv2', 'PIL', 'numpy'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
