"""Fixtures for the strategy tests: tiny generated images, real media, a cache dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from strategy_harness import COLOURS, SHARED_DATA, sample_of
from support import shared_file

from vlmfer.engine import ResponseCache
from vlmfer.types import Sample


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Content-free media go to a per-test cache dir."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(folder))
    yield folder


@pytest.fixture
def tiny_images(tmp_path: Path) -> dict[str, Sample]:
    """One tiny PNG per CAER label, in ``<root>/<Label>/001.png`` folders."""
    root = tmp_path / "tiny"
    out = {}
    for label, colour in COLOURS.items():
        path = root / label / "001.png"
        path.parent.mkdir(parents=True)
        Image.new("RGB", (24, 16), colour).save(path)
        out[label] = sample_of(path, label, root)
    return out


@pytest.fixture
def happy_face() -> Sample:
    path = shared_file("london_faces", "Happy", "001.jpg")
    return sample_of(path, "Happy", SHARED_DATA / "london_faces")


@pytest.fixture
def neutral_face() -> Sample:
    path = shared_file("london_faces", "Neutral", "001.jpg")
    return sample_of(path, "Neutral", SHARED_DATA / "london_faces")


@pytest.fixture
def real_clip() -> Sample:
    return sample_of(shared_file("video", "clip_0001.avi"), None, SHARED_DATA / "video")


@pytest.fixture
def response_cache(tmp_path: Path) -> ResponseCache:
    """The engine's own response cache, private to the test."""
    return ResponseCache(tmp_path / "responses.sqlite3")
