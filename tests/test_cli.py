"""The CLI skeleton: help everywhere and the exit codes of the contract."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest
from support import vlmfer

COMMANDS = ["demo", "run", "report", "compare", "import", "study", "view", "models", "plugins",
            "emulator", "batch",
            "cleanup-uploads"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    out = vlmfer(command, "--help")
    assert out.returncode == 0
    assert "usage: vlmfer " + command in out.stdout


def test_top_level_help_lists_every_command() -> None:
    out = vlmfer("--help")
    assert out.returncode == 0
    for command in COMMANDS:
        assert command in out.stdout


def test_bad_flag_exits_2_with_a_message() -> None:
    out = vlmfer("run", "--concurrency", "many")
    assert out.returncode == 2
    assert "invalid int value" in out.stderr


def test_unknown_command_exits_2() -> None:
    out = vlmfer("frobnicate")
    assert out.returncode == 2
    assert "invalid choice" in out.stderr


def _all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    from vlmfer.cli import build_parser

    found: list[tuple[str, argparse.ArgumentParser]] = []
    todo = [("vlmfer", build_parser())]
    while todo:
        name, parser = todo.pop()
        found.append((name, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend((f"{name} {sub}", p) for sub, p in action.choices.items())
    return found


def test_every_flag_of_every_command_has_help_text() -> None:
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, parser in _all_parsers()
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._VersionAction,
                                   argparse._SubParsersAction))
        and not (action.help and action.help.strip())
    ]
    assert not missing, "flags without help text: " + ", ".join(sorted(missing))


def test_models_lists_ids_prices_snapshots_and_retirement() -> None:
    out = vlmfer("models")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    seed = next(line for line in lines if line.startswith("gemini/gemini-2.0-flash "))
    assert "retired" in seed and "2026-06-01" in seed
    gpt4o = next(line for line in lines if line.startswith("openai/gpt-4o "))
    assert "gpt-4o-2024-08-06" in gpt4o and "2027-01-14" in gpt4o and "2.5 / 10" in gpt4o
    rows = json.loads(vlmfer("models", "--json").stdout)
    by_name = {r["name"]: r for r in rows}
    assert by_name["openai/gpt-5.2"]["status"] == "current"
    assert by_name["gemini/gemini-3.5-flash-lite"]["price_per_1m"] is None


def test_model_warnings_name_retirement_and_unknown_prices() -> None:
    import datetime as dt

    from vlmfer.plugins import predictor_factories
    from vlmfer.predictors.catalog import known_models
    from vlmfer.predictors.catalog import model_warnings as warnings_for

    models = known_models(predictor_factories())

    def model_warnings(*args: Any, **kwargs: Any) -> list[str]:
        return warnings_for(*args, models=models, **kwargs)

    retired = model_warnings("gemini", "gemini-2.0-flash", price_known=True)
    assert len(retired) == 1 and "retired on 2026-06-01" in retired[0]
    soon = model_warnings("openai", "gpt-4o-2024-08-06", price_known=True,
                          day=dt.date(2026, 12, 2))
    assert len(soon) == 1 and "scheduled to retire on 2027-01-14" in soon[0]
    after = model_warnings("openai", "gpt-4o", price_known=True, day=dt.date(2027, 1, 14))
    assert "was retired on 2027-01-14" in after[0]
    unknown = model_warnings("openai", "my-finetune", price_known=False)
    assert len(unknown) == 1 and "no known price" in unknown[0]
    assert model_warnings("openai", "gpt-5.2", price_known=True) == []
    assert model_warnings("mock", "oracle", price_known=False) == []
