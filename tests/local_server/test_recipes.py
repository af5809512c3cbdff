"""Every TOML snippet of docs/local-servers.md is a valid run configuration.

No server is needed: the snippets are read as experiment files, and the predictor and
strategy they name are built with their options (which reject unknown keys).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import vlmfer
from vlmfer.engine.config import load_experiment
from vlmfer.predictors.openai import OpenAIPredictor

DOC = Path(__file__).resolve().parents[2] / "docs" / "local-servers.md"
SNIPPETS = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_every_server_has_a_recipe() -> None:
    text = DOC.read_text(encoding="utf-8")
    for server in ("### transformers serve", "### vLLM", "### Ollama", "### llama.cpp server"):
        assert server in text
    # One recipe a server, each showing its vendor extras in TOML.
    assert len(SNIPPETS) == 4 and all("extra_body = {" in s for s in SNIPPETS)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"recipe-{i}" for i in range(len(SNIPPETS))])
def test_recipe_is_a_valid_run_config(
    snippet: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "local")
    path = tmp_path / "recipe.toml"
    path.write_text(snippet, encoding="utf-8")
    exp = load_experiment(path)
    predictor = vlmfer.get_predictor(exp.model.name, base_url=exp.model.base_url,
                                     **exp.model.plugin_options())
    assert isinstance(predictor, OpenAIPredictor)  # every server speaks the OpenAI API
    assert predictor.local  # every recipe is a server on this machine
    strategy = vlmfer.get_strategy(exp.strategy.name, **exp.strategy.plugin_options())
    assert strategy.name == exp.strategy.name
    assert isinstance(predictor.options.extra_body, dict) and predictor.options.extra_body


def test_extra_body_on_the_command_line_is_a_table() -> None:
    for raw in ('model.extra_body={top_k = 20}', 'model.extra_body={"top_k": 20}'):
        exp = load_experiment(None, sets=[raw])
        assert exp.model.plugin_options()["extra_body"] == {"top_k": 20}

