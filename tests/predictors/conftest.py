"""Shared fixtures for the predictor tests: real media, and a clean environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import shared_file

from vlmfer.emulator import EmulatorConfig


@pytest.fixture(autouse=True)
def loopback_without_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDKs honour proxy variables; the emulator on 127.0.0.1 is reached directly."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, ",".join(filter(None, [os.environ.get(name), "127.0.0.1"])))


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Transcoded clips go to this test's own folder, not the user's cache."""
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def happy_jpg() -> Path:
    return shared_file("london_faces", "Happy", "001.jpg")


@pytest.fixture
def neutral_jpg() -> Path:
    return shared_file("london_faces", "Neutral", "001.jpg")


@pytest.fixture
def clip_avi() -> Path:
    return shared_file("video", "clip_0001.avi")


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key or base URL from the developer's environment leaks into a test."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                 "GOOGLE_GEMINI_BASE_URL", "VLMFER_PRICES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emulator_config(tmp_path: Path) -> EmulatorConfig:
    """The emulator answers Happy, recording to a JSONL file.

    ``strict_fields`` rejects unknown request fields, as the cloud APIs do.
    """
    return EmulatorConfig(policy="fixed:Happy", timeout_s=3.0, log_path=tmp_path / "emu.jsonl",
                          strict_fields=True)
