"""Helpers for the vlmfer-anthropic tests (imported by basename, so the name is unique)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

KEY = "sk-ant-TEST-7c1f0e2b-DO-NOT-LEAK"
MODEL = "anthropic/claude-sonnet-5-5"


def vlmfer(*args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess, as a user runs it: the key only in the environment."""
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "NO_PROXY": "127.0.0.1", **extra}
    return subprocess.run([sys.executable, "-m", "vlmfer", *args], cwd=cwd, text=True,
                          capture_output=True, env=env, timeout=300)


def run_args(data: Path, emu: Any, out: Path, *, dataset: str = "caer-s",
             model: str = MODEL, strategy: str = "single-shot") -> list[str]:
    return ["run", "--dataset", dataset, "--data-root", str(data), "--split", "test",
            "--model", model, "--base-url", emu.anthropic_base_url, "--strategy", strategy,
            "--out", str(out), "--quiet", "--set", "run.n_boot=50"]


def predictions(run: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(x) for x in (run / "predictions.jsonl").read_text().splitlines() if x]
    return {r["sample_id"]: r for r in rows}


def assert_no_key_written(*roots: Path) -> None:
    """Scan every file under ``roots`` (run folders, caches, logs) for the key."""
    needle = KEY.encode()
    scanned = 0
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                scanned += 1
                assert needle not in path.read_bytes(), f"the key was written to {path}"
    assert scanned > 0
