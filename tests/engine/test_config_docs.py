"""The TOML reference in docs/running.md cannot drift from the config models."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from vlmfer.engine.config import Experiment, RunConfig
from vlmfer.types import MediaSpec

DOC = (Path(__file__).parents[2] / "docs" / "running.md").read_text(encoding="utf-8")


def _section(table: str) -> str:
    start = DOC.index(f"### `[{table}]`")
    end = DOC.find("### ", start + 5)
    return DOC[start:end if end > 0 else None]


@pytest.mark.parametrize(("table", "model"), [("run", RunConfig), ("media", MediaSpec)])
def test_every_key_is_documented(table: str, model: type[BaseModel]) -> None:
    section = _section(table)
    for key in model.model_fields:
        assert f"| `{key}` |" in section, f"[{table}] {key} is missing from docs/running.md"


def test_every_table_is_documented() -> None:
    for table in Experiment.model_fields:
        assert f"### `[{table}]`" in DOC
