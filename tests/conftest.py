"""Fixtures every test folder shares: the real media and the loopback emulator.

A folder changes how its emulator behaves by overriding ``emulator_config`` in its own
conftest.py; ``emu`` itself is written once, here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import SHARED_DATA

from vlmfer.emulator import Emulator, EmulatorConfig


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real media beside the checkout (../shared/data), or a skip saying why."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real media not found: {SHARED_DATA} is absent (set VLMFER_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture
def emulator_config(tmp_path: Path) -> EmulatorConfig:
    """The default emulator: logging every request to ``tmp_path/emu.jsonl``."""
    return EmulatorConfig(log_path=tmp_path / "emu.jsonl")


@pytest.fixture
def emu(emulator_config: EmulatorConfig) -> Iterator[Emulator]:
    """A fresh loopback emulator on a port it chose itself (port 0, no race)."""
    with Emulator(emulator_config, port=0) as server:
        yield server
