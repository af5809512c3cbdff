"""Fixtures: CAER-like data, the loopback emulator (speaking Anthropic) and the key in the env.

The real anthropic SDK talks to the emulator over HTTP; nothing is mocked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from claude_support import KEY
from vlmfer.emulator import Emulator, EmulatorConfig


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CAER-S-like test split: 7 classes x 2 stills."""
    from vlmfer.datasets.synthetic import make_caer_s_like

    root = tmp_path_factory.mktemp("data") / "CAER-S"
    make_caer_s_like(root, per_class=2, splits=("test",), size=(320, 180))
    return root


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CAER-like test split: 7 classes x 1 clip (AVI)."""
    from vlmfer.datasets.synthetic import make_caer_like

    root = tmp_path_factory.mktemp("data") / "CAER"
    make_caer_like(root, per_class=1, splits=("test",), seconds=1.0, fps=8, size=(160, 96))
    return root


@pytest.fixture(autouse=True)
def user_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key from the environment only, a private cache, loopback without a proxy."""
    for name in ("ANTHROPIC_BASE_URL", "VLMFER_PRICES", "VLMFER_BATCH_MAX_REQUESTS",
                 "VLMFER_BATCH_MAX_BYTES", "VLMFER_BATCH_INLINE_BYTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, ",".join(filter(None, [os.environ.get(name), "127.0.0.1"])))


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    cfg = EmulatorConfig(policy="neutral-biased", seed=3, retry_after_s=0,
                         log_path=tmp_path / "emu.jsonl")
    with Emulator(cfg, port=0) as server:
        yield server
