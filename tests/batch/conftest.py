"""Fixtures for the batch tests: generated CAER-S-like data, an emulator, keys in the env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from batch_support import GEMINI_KEY, OPENAI_KEY

from vlmfer.emulator import EmulatorConfig


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CAER-S-like test split: 7 classes x 3 stills."""
    from vlmfer.datasets.synthetic import make_caer_s_like

    root = tmp_path_factory.mktemp("data") / "CAER-S"
    make_caer_s_like(root, per_class=3, splits=("test",), size=(320, 180))
    return root


@pytest.fixture(autouse=True)
def user_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keys from the environment only, a private cache, loopback without a proxy."""
    for name in ("OPENAI_BASE_URL", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_API_KEY",
                 "VLMFER_BATCH_MAX_REQUESTS", "VLMFER_BATCH_MAX_BYTES",
                 "VLMFER_BATCH_INLINE_BYTES", "VLMFER_PRICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_KEY)
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, ",".join(filter(None, [os.environ.get(name), "127.0.0.1"])))
    return tmp_path / "cache"


@pytest.fixture
def emulator_config(tmp_path: Path) -> EmulatorConfig:
    """Neutral most of the time (seeded): two-stage needs a second round for the rest."""
    return EmulatorConfig(policy="neutral-biased", seed=7, log_path=tmp_path / "emu.jsonl")
