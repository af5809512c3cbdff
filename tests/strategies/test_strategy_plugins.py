"""The built-in strategies as plugins: names, manifests, requirements and roles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import vlmfer
from vlmfer.errors import ConfigError, UnknownStrategyError
from vlmfer.plugins import Registry
from vlmfer.strategies.base import Requirements, Strategy

NAMES = ["single-shot", "six-class", "two-stage", "free-description", "calibrated"]


def test_all_five_are_registered() -> None:
    entries = Registry().entries("strategy")
    for name in NAMES:
        assert name in entries
        assert entries[name].plugin == "strategies"
        cls = entries[name].obj
        assert issubclass(cls, Strategy) and cls.name == name


def test_vlmfer_plugins_lists_them() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "vlmfer", "plugins", "--json"],
        capture_output=True, text=True, check=True,
    )
    listed = {(e["kind"], e["name"]) for e in json.loads(out.stdout)}
    assert {("strategy", n) for n in NAMES} <= listed


def test_unknown_strategy_suggests_the_closest() -> None:
    with pytest.raises(UnknownStrategyError, match="Did you mean 'two-stage'"):
        vlmfer.get_strategy("two_stage")


@pytest.mark.parametrize("name", NAMES)
def test_describe_has_options_labels_and_template_hashes(name: str) -> None:
    d = vlmfer.get_strategy(name).describe()
    assert d["name"] == name
    assert d["options"]["label_order"] == "fixed"
    assert d["labels"]
    assert d["templates"]
    for ref in d["templates"].values():
        assert len(ref["sha256"]) == 64 and ref["version"]
    json.dumps(d)  # manifest-ready


@pytest.mark.parametrize("name", NAMES)
def test_unknown_options_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match=f"strategy '{name}': unknown option 'colour'"):
        vlmfer.get_strategy(name, colour="blue")


def test_requirements_and_roles() -> None:
    assert vlmfer.get_strategy("single-shot").requirements() == Requirements()
    assert vlmfer.get_strategy("calibrated").requirements().logprobs
    assert not vlmfer.get_strategy("calibrated", fallback="sampling").requirements().logprobs
    assert vlmfer.get_strategy("two-stage", gate="logprobs").requirements().logprobs
    assert vlmfer.get_strategy("six-class", constrained="json_schema").requirements().json_schema
    for name in NAMES:
        assert vlmfer.get_strategy(name).roles() == {}
    llm = vlmfer.get_strategy("free-description", mapper="llm", mapper_model="openai/gpt-5-mini")
    assert llm.roles() == {"mapper": "openai/gpt-5-mini"}


def test_a_strategy_written_with_run_still_works_and_is_told_to_rename_it() -> None:
    import asyncio

    from vlmfer.strategies.base import Strategy, Verdict
    from vlmfer.types import Media, Sample

    class LegacyOptions(BaseModel):
        pass

    class Legacy(Strategy):
        name = "legacy"
        Options = LegacyOptions
        labels = ("Happy", "Sad")

        async def run(self, sample: Sample, ctx: Any) -> Verdict:
            return Verdict(pred="Happy", outcome="ok")

    class Current(Strategy):
        name = "current"
        Options = LegacyOptions
        labels = ("Happy", "Sad")

        async def decide(self, sample: Sample, ctx: Any) -> Verdict:
            return Verdict(pred="Sad", outcome="ok")

    sample = Sample(id="x", media=Media(path=Path("x.png"), kind="image", mime_type="image/png"),
                    label="Happy")
    ctx: Any = None  # neither strategy asks anything
    with pytest.warns(DeprecationWarning, match=r"Legacy.run\(\) is deprecated: rename it"):
        assert asyncio.run(Legacy().decide(sample, ctx)).pred == "Happy"
    # The old entry point still reaches a strategy written with decide().
    assert asyncio.run(Current().run(sample, ctx)).pred == "Sad"
