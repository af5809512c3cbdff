"""The CLI skeleton: help everywhere and the exit codes of the contract."""

from __future__ import annotations

import pytest
from support import vlmfer

COMMANDS = ["demo", "run", "report", "compare", "plugins", "emulator", "batch",
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
