"""Helpers for the batch tests (imported by basename, so the name is unique)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import support

from vlmfer.engine.config import Experiment, load_experiment

OPENAI_KEY = "sk-batch-TEST-5e1d7c90-DO-NOT-LEAK"
GEMINI_KEY = "g-batch-TEST-4b2f8a11-DO-NOT-LEAK"
MODELS = {"openai": "openai/gpt-5.2", "gemini": "gemini/gemini-2.5-flash"}


def base_url(emu: Any, provider: str) -> str:
    return str(emu.openai_base_url if provider == "openai" else emu.gemini_base_url)


def experiment(data: Path, emu: Any, provider: str, out: Path, *, strategy: str = "single-shot",
               dataset: str = "caer-s", sets: list[str] | None = None) -> Experiment:
    """The experiment a user would write, pointed at the emulator."""
    return load_experiment(overrides={
        "dataset": {"name": dataset, "root": str(data), "split": "test"},
        "model": {"name": MODELS[provider], "base_url": base_url(emu, provider)},
        "strategy": {"name": strategy},
        "run": {"out": str(out), "quiet": True, "n_boot": 50},
    }, sets=sets)


def cli_args(data: Path, emu: Any, provider: str, out: Path, *, strategy: str = "single-shot",
             dataset: str = "caer-s") -> list[str]:
    return ["run", "--dataset", dataset, "--data-root", str(data), "--split", "test",
            "--model", MODELS[provider], "--base-url", base_url(emu, provider),
            "--strategy", strategy, "--out", str(out), "--quiet", "--set", "run.n_boot=50"]


def env(cache: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI run: keys only from here, a private cache, no proxy."""
    keys = {"OPENAI_API_KEY": OPENAI_KEY, "GEMINI_API_KEY": GEMINI_KEY}
    return support.cli_env(cache, **{**keys, **extra})


def vlmfer(*args: str, cwd: Path, cache: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return support.vlmfer(*args, cwd=cwd, env=env(cache, **extra))


def spawn(*args: str, cwd: Path, cache: Path, **extra: str) -> subprocess.Popen[str]:
    return support.spawn(*args, cwd=cwd, env=env(cache, **extra), output=True)


def lines(path: Path) -> list[dict[str, Any]]:
    """The whole lines of a JSONL file (a torn last line, from a kill, is not one)."""
    return support.raw_rows(path)


def predictions(run: Path) -> dict[str, dict[str, Any]]:
    """Predictions by sample id; fails on a duplicated sample."""
    rows = lines(run / "predictions.jsonl")
    ids = [r["sample_id"] for r in rows]
    assert len(ids) == len(set(ids)), "a sample appears twice in predictions.jsonl"
    return {r["sample_id"]: r for r in rows}


def verdicts(run: Path) -> dict[str, tuple[Any, str, list[str]]]:
    """What must match between a batch and an online run: label, outcome, steps asked."""
    return {k: (r["pred"], r["outcome"], [s["name"] for s in r["steps"]])
            for k, r in predictions(run).items()}


def state(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "batch" / "state.json").read_text())
    return data


def results(run: Path) -> list[dict[str, Any]]:
    """results.jsonl, without withdrawals; fails on a key answered twice."""
    rows = [r for r in lines(run / "batch" / "results.jsonl") if not r.get("cleared")]
    return rows


def waiting(run: Path, round_no: int) -> set[str]:
    return {r["sample_id"] for r in lines(run / "batch" / f"round-{round_no}-samples.jsonl")}
