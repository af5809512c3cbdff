"""Fixtures for the emulator tests: generated and real media, an emulator, SDK clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from emulator_support import make_avi, make_png
from support import shared_file

from vlmfer.emulator import Emulator, EmulatorConfig


@pytest.fixture
def emulator_config(tmp_path: Path) -> EmulatorConfig:
    """Default behaviour, logging to ``tmp_path/emu.jsonl``; a timeout fault holds 2 s."""
    return EmulatorConfig(log_path=tmp_path / "emu.jsonl", timeout_s=2.0)


@pytest.fixture
def oai(emu: Emulator) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=emu.openai_base_url, api_key="sk-test-secret-123", max_retries=0,
                  timeout=20)


@pytest.fixture
def gem(emu: Emulator) -> Any:
    from google import genai
    from google.genai import types

    return genai.Client(api_key="g-test-secret-456", http_options=types.HttpOptions(
        base_url=emu.gemini_base_url, api_version="v1beta", timeout=20_000))


@pytest.fixture(scope="session")
def png_bytes() -> bytes:
    return make_png((40, 30), (200, 120, 90))


@pytest.fixture(scope="session")
def avi_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small generated MPEG-4-in-AVI clip (CAER's container), 2 s at 12 fps."""
    return make_avi(tmp_path_factory.mktemp("avi") / "clip.avi", seconds=2.0)


@pytest.fixture
def real_face() -> bytes:
    return shared_file("london_faces", "Happy", "001.jpg").read_bytes()


@pytest.fixture
def real_clip() -> Path:
    return shared_file("video", "clip_0001.avi")
