"""docs/emulator.md keeps up with the code: every option and endpoint is documented."""

from __future__ import annotations

import argparse
from pathlib import Path

from vlmfer.emulator import EmulatorConfig, FaultRates
from vlmfer.emulator.cli import add_arguments
from vlmfer.emulator.server import _ROUTES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "emulator.md").read_text(encoding="utf-8")


def test_every_config_field_is_documented() -> None:
    missing = [f for f in [*EmulatorConfig.model_fields, *FaultRates.model_fields]
               if f"`{f}`" not in DOC and f"{f}=" not in DOC]
    assert missing == []


def test_every_cli_option_is_documented() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    assert [o for o in options if o not in DOC and o != "--help"] == []


def test_every_endpoint_is_documented() -> None:
    paths = {p.pattern for _, p, _, _ in _ROUTES}
    words = {"chat/completions", "responses", "files", "batches", "models", ":generateContent",
             ":streamGenerateContent", ":countTokens", ":batchGenerateContent", "upload",
             ":download", ":cancel", "/v1/messages"}
    assert all(any(w in p for w in words) for p in paths)
    assert all(w in DOC for w in words)
