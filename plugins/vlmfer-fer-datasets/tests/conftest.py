"""Fixtures: a fresh registry with the installed plugin, and a private image cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from vlmfer.plugins import Registry


@pytest.fixture
def registry() -> Registry:
    """A fresh registry loaded from the entry points, as users get it."""
    reg = Registry()
    if "raf-db" not in reg.entries("dataset"):
        pytest.fail(
            "vlmfer-fer-datasets is not installed in this environment: run "
            "`pip install -e plugins/vlmfer-fer-datasets` first"
        )
    return reg


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Decoded FER2013 images go to a per-test cache, never the user's."""
    path = tmp_path / "cache"
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(path))
    monkeypatch.delenv("VLMFER_LOAD_PLUGINS", raising=False)
    return path
