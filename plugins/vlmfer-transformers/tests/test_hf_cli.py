"""`vlmfer run` with an hf/ model, as a user types it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_vlmfer_run_with_a_local_model(tiny_model: Path, tmp_path: Path) -> None:
    from vlmfer.datasets.synthetic import make_caer_s_like

    make_caer_s_like(tmp_path / "CAER-S", per_class=1, size=(96, 64))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "vlmfer", "run", "--dataset", "caer-s",
           "--data-root", str(tmp_path / "CAER-S"), "--split", "test", "--limit", "2",
           "--model", f"hf/{tiny_model}", "--strategy", "single-shot",
           "--set", "model.max_new_tokens=3", "--out", str(out), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "Loading weights" not in done.stderr  # no progress bar of transformers' own
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    # A random model answers nonsense: an explicit non-answer, never a guessed label.
    assert all(r["outcome"] in ("ok", "invalid") for r in rows)
    assert all(r["steps"][0]["usage"]["output_tokens"] <= 3 for r in rows)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cost_usd"] == 0.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["name"] == f"hf/{tiny_model}"
    assert manifest["model"]["options"]["max_new_tokens"] == 3
