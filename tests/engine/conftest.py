"""Fixtures for engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(d))
    return d
