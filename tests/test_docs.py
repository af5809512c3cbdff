"""Docs stay honest: every hook, command, built-in name and option is documented."""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from vlmfer import hookspecs
from vlmfer.cli import build_parser
from vlmfer.plugins import Registry

DOCS = Path(__file__).parents[1] / "docs"
ALL_DOCS = "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


def _doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _hooks() -> list[str]:
    return [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
            if n.startswith("register_")]


@pytest.mark.parametrize("hook", _hooks())
def test_every_hook_is_in_the_hooks_reference(hook: str) -> None:
    assert f"`{hook}" in _doc("hooks.md"), f"{hook} is missing from docs/hooks.md"


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_every_cli_command_is_documented(command: str) -> None:
    assert re.search(rf"vlmfer {re.escape(command)}\b", ALL_DOCS), (
        f"`vlmfer {command}` appears nowhere in docs/")


def _builtins() -> list[tuple[str, str]]:
    reg = Registry()
    return [(e.kind, e.name) for e in reg.all_entries() if e.distribution == "vlmfer"]


# Which page documents each kind of built-in name.
PAGES = {"dataset": "datasets.md", "predictor": "predictors.md", "strategy": "strategies.md",
         "metric": "metrics.md"}


@pytest.mark.parametrize(("kind", "name"), _builtins())
def test_every_builtin_name_is_on_its_page(kind: str, name: str) -> None:
    assert f"`{name}" in _doc(PAGES[kind]), f"{kind} {name!r} is missing from docs/{PAGES[kind]}"


def _option_models() -> list[tuple[str, str, type[BaseModel]]]:
    reg = Registry()
    found: list[tuple[str, str, type[BaseModel]]] = []
    for name, entry in reg.entries("strategy").items():
        if entry.distribution == "vlmfer":
            found.append(("strategies.md", name, entry.obj.Options))
    from vlmfer.datasets import caer, folder, manifest

    for module in (caer, folder, manifest):
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseModel) and cls.__module__ == module.__name__ and \
                    cls_name.endswith("Options"):
                found.append(("datasets.md", cls_name, cls))
    from vlmfer.predictors import options as popts

    for cls_name, cls in inspect.getmembers(popts, inspect.isclass):
        if issubclass(cls, BaseModel) and cls.__module__ == popts.__name__ and \
                cls_name.endswith("Options"):
            found.append(("predictors.md", cls_name, cls))
    return found


@pytest.mark.parametrize(("page", "owner", "model"), _option_models(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_every_option_is_documented(page: str, owner: str, model: type[BaseModel]) -> None:
    text = _doc(page)
    missing = [k for k in model.model_fields if f"`{k}`" not in text]
    assert not missing, f"options of {owner} missing from docs/{page}: {missing}"


def test_every_docs_page_is_linked_from_the_index() -> None:
    index = _doc("index.md")
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "index.md":
            assert f"({page.name})" in index, f"docs/{page.name} is not linked from docs/index.md"
