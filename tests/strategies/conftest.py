"""Fixtures for the strategy tests: tiny generated images, real media, a cache dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from strategy_harness import COLOURS, SHARED_DATA, sample_of

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
    path = SHARED_DATA / "london_faces" / "Happy" / "001.jpg"
    if not path.is_file():
        pytest.skip(f"real media not found at {path} (the shared data folder is absent)")
    return sample_of(path, "Happy", SHARED_DATA / "london_faces")


@pytest.fixture
def neutral_face() -> Sample:
    path = SHARED_DATA / "london_faces" / "Neutral" / "001.jpg"
    if not path.is_file():
        pytest.skip(f"real media not found at {path} (the shared data folder is absent)")
    return sample_of(path, "Neutral", SHARED_DATA / "london_faces")


@pytest.fixture
def real_clip() -> Sample:
    path = SHARED_DATA / "video" / "clip_0001.avi"
    if not path.is_file():
        pytest.skip(f"real media not found at {path} (the shared data folder is absent)")
    return sample_of(path, None, SHARED_DATA / "video")
