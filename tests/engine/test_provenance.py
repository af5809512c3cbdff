"""Which model answered, what was really sent, and whether the answers were simulated: recorded
on every step, summed up in metrics.json and the manifest, shown in the report and the terminal.

The real OpenAI and Gemini SDKs talk to the loopback emulator; the emulator answers as a dated
snapshot of an alias, and a test moves the alias to simulate a provider update.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_parts import ParseStrategy, ScriptedPredictor, TinyDataset

import vlmfer
from vlmfer.emulator import Emulator, EmulatorConfig
from vlmfer.types import Prompt, Response

KEY = "sk-test-provenance-0123456789"
OLD = "gpt-4o-mini-2024-07-18"
NEW = "gpt-4o-mini-2026-03-01"


@pytest.fixture(autouse=True)
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for name in ("OPENAI_BASE_URL", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def emu(tmp_path: Path) -> Iterator[Emulator]:
    cfg = EmulatorConfig(policy="fixed:Happy", log_path=tmp_path / "emulator.jsonl")
    with Emulator(cfg, port=0) as e:
        yield e


def _steps(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "predictions.jsonl").read_text().splitlines()
    return [s for row in map(json.loads, lines) for s in row["steps"]]


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _evaluate(ds: TinyDataset, predictor: Any, out: Path, **options: Any) -> vlmfer.Run:
    strategy = ParseStrategy(labels=list(ds.labels))
    return vlmfer.evaluate(ds, predictor, strategy, out=out, n_boot=10, progress=False,
                           **options)


def _openai(emu: Emulator, model: str = "openai/gpt-4o-mini", **options: Any) -> Any:
    return vlmfer.get_predictor(model, base_url=emu.openai_base_url, api_key=KEY, **options)


@pytest.mark.parametrize(("model", "snapshot"), [
    ("openai/gpt-4o-mini", OLD),
    ("gemini/gemini-2.0-flash", "gemini-2.0-flash-001"),
])
def test_every_step_records_the_snapshot_that_answered_and_that_it_was_simulated(
    tmp_path: Path, cache_dir: Path, emu: Emulator, model: str, snapshot: str
) -> None:
    predictor = vlmfer.get_predictor(
        model, api_key=KEY,
        base_url=emu.openai_base_url if model.startswith("openai") else emu.gemini_base_url)
    run = _evaluate(TinyDataset(tmp_path / "data", n=4), predictor, tmp_path / "run")
    steps = _steps(run.path)
    assert [s["model_version"] for s in steps] == [snapshot] * 4
    assert all(s["simulated"] for s in steps)
    assert run.metrics["model_snapshots"] == {snapshot: 4}
    assert run.metrics["mixed_snapshots"] is False
    assert run.metrics["simulated"] is True
    manifest = _json(run.path / "manifest.json")
    assert manifest["snapshots"] == {model: snapshot}
    html = (run.path / "report.html").read_text()
    assert 'id="simulated"' in html and snapshot in html


def test_an_alias_that_moved_between_two_runs_sharing_one_cache_never_mixes(
    tmp_path: Path, cache_dir: Path, emu: Emulator
) -> None:
    data = tmp_path / "data"
    first = _evaluate(TinyDataset(data, n=3), _openai(emu), tmp_path / "first")
    assert first.metrics["model_snapshots"] == {OLD: 3}
    emu.configure(snapshots={"gpt-4o-mini": NEW})  # the provider moves the alias
    asked = len(emu.calls("chat"))

    # Everything in the cache: the run is the old snapshot's, whole, and costs nothing.
    again = _evaluate(TinyDataset(data, n=3), _openai(emu), tmp_path / "again")
    assert len(emu.calls("chat")) == asked
    assert again.metrics["model_snapshots"] == {OLD: 3}

    # Three samples are new: their live answers pin the new snapshot, so the three cached
    # answers of the old one are asked again rather than mixed in.
    grown = _evaluate(TinyDataset(data, n=6), _openai(emu), tmp_path / "grown", concurrency=1)
    assert len(emu.calls("chat")) == asked + 6
    assert {s["model_version"] for s in _steps(grown.path)} == {NEW}
    assert grown.metrics["model_snapshots"] == {NEW: 6}
    assert grown.metrics["mixed_snapshots"] is False
    assert _json(grown.path / "manifest.json")["snapshots"] == {"openai/gpt-4o-mini": NEW}
    lines = (grown.path / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 6 and len({json.loads(x)["sample_id"] for x in lines}) == 6


def test_a_resume_keeps_its_pin_and_says_when_the_alias_moved_under_it(
    tmp_path: Path, cache_dir: Path, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    out = tmp_path / "run"
    ds = TinyDataset(data, n=4)
    first = _evaluate(ds, _openai(emu), out)
    assert first.metrics["model_snapshots"] == {OLD: 4}
    # Two samples fail (a transient error) and are asked again on resume, after the move.
    lines = (out / "predictions.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    for row in rows[:2]:
        row.update(outcome="error", pred=None, reason="HTTP 500", steps=[])
    (out / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    emu.configure(snapshots={"gpt-4o-mini": NEW})
    with caplog.at_level(logging.WARNING, logger="vlmfer"):
        resumed = _evaluate(ds, _openai(emu), out, cache=False)
    assert resumed.metrics["model_snapshots"] == {OLD: 2, NEW: 2}
    assert resumed.metrics["mixed_snapshots"] is True
    assert _json(out / "manifest.json")["snapshots"] == {"openai/gpt-4o-mini": OLD}
    warned = [r.getMessage() for r in caplog.records if "moved the alias" in r.getMessage()]
    assert len(warned) == 1 and NEW in warned[0] and OLD in warned[0]
    html = (out / "report.html").read_text()
    assert "more than one snapshot answered this run" in html


class MovingAlias(ScriptedPredictor):
    """Answers as one snapshot, then (after ``switch_after`` calls) as another."""

    def __init__(self, switch_after: int) -> None:
        super().__init__()
        self.switch_after = switch_after
        self.n = 0

    async def predict(self, prompt: Prompt) -> Response:
        response = await super().predict(prompt)
        self.n += 1
        snapshot = "v1-2026-01" if self.n <= self.switch_after else "v1-2026-02"
        return response.model_copy(update={"model_version": snapshot})


def test_live_answers_that_change_snapshot_mid_run_are_flagged(
    tmp_path: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="vlmfer"):
        run = _evaluate(TinyDataset(tmp_path / "data", n=5), MovingAlias(2), tmp_path / "run",
                        concurrency=1)
    assert run.metrics["model_snapshots"] == {"v1-2026-02": 3, "v1-2026-01": 2}
    assert run.metrics["mixed_snapshots"] is True
    assert run.metrics["simulated"] is False  # an inline predictor is no simulator
    assert sum("moved the alias" in r.getMessage() for r in caplog.records) == 1
    html = (run.path / "report.html").read_text()
    assert "more than one snapshot answered this run" in html
    assert 'id="simulated"' not in html


def test_a_dropped_temperature_is_recorded_and_reported_not_claimed(
    tmp_path: Path, cache_dir: Path, emu: Emulator
) -> None:
    # The emulator rejects temperature != 1 for reasoning models, as api.openai.com does.
    emu.configure(reasoning_models=["gpt-5"])
    predictor = _openai(emu, "openai/gpt-5.2", supports_temperature=False,
                        max_tokens_param="max_completion_tokens")
    run = _evaluate(TinyDataset(tmp_path / "data", n=2), predictor, tmp_path / "run")
    bodies = [r["body"] for r in emu.requests if r.get("endpoint") == "openai.chat"]
    assert bodies and all("temperature" not in b for b in bodies)
    for step in _steps(run.path):
        assert "temperature" not in step["details"]["sent"]
        assert step["details"]["sent"]["seed"] == 0
        assert step["details"]["dropped"] == {"temperature": "supports_temperature=false"}
    sent = run.metrics["sent_parameters"]["openai/gpt-5.2"]
    assert sent["dropped"] == {"temperature": "supports_temperature=false"}
    assert "temperature" not in sent["sent"] and sent["sent"]["seed"] == 0
    html = (run.path / "report.html").read_text()
    assert "temperature: provider default; supports_temperature=false" in html


def test_the_manifest_records_the_versions_that_shape_the_request(
    tmp_path: Path, cache_dir: Path
) -> None:
    from importlib import metadata

    run = _evaluate(TinyDataset(tmp_path / "data", n=1), ScriptedPredictor(), tmp_path / "run")
    manifest = _json(run.path / "manifest.json")
    packages = manifest["packages"]
    for name in ("Pillow", "av", "numpy", "openai", "google-genai", "pydantic"):
        assert packages[name] == metadata.version(name)
    assert manifest["python"] == sys.version.split()[0]
    assert manifest["vlmfer_version"] == vlmfer.__version__
    # This checkout is an editable install: its commit is read from .git, without git.
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).parent)
    info = json.loads(metadata.distribution("vlmfer").read_text("direct_url.json") or "{}")
    if head.returncode == 0 and (info.get("dir_info") or {}).get("editable"):
        assert manifest["vlmfer_commit"] == head.stdout.strip()


def test_the_terminal_says_a_run_was_simulated(tmp_path: Path, emu: Emulator) -> None:
    TinyDataset(tmp_path / "data", n=3)
    env = {**os.environ, "OPENAI_API_KEY": KEY, "VLMFER_CACHE_DIR": str(tmp_path / "cache"),
           "NO_PROXY": "127.0.0.1"}
    done = subprocess.run(
        [sys.executable, "-m", "vlmfer", "run", "--dataset", "folder", "--data-root",
         str(tmp_path / "data"), "--split", "test", "--model", "openai/gpt-4o-mini",
         "--base-url", emu.openai_base_url, "--strategy", "single-shot", "--out", "run",
         "--quiet"], cwd=tmp_path, text=True, capture_output=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "SIMULATED" in done.stdout
    assert _json(tmp_path / "run" / "metrics.json")["simulated"] is True


def test_the_demo_says_everywhere_that_its_answers_are_simulated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vlmfer.demo import run_demo

    assert run_demo(tmp_path / "demo", quiet=True) == 0
    assert "SIMULATOR" in capsys.readouterr().out
    runs = sorted(p.parent for p in (tmp_path / "demo").glob("*/metrics.json"))
    assert runs
    for run in runs:
        metrics = _json(run / "metrics.json")
        assert metrics["simulated"] is True, run.name
        assert metrics["model_snapshots"] and metrics["mixed_snapshots"] is False, run.name
        html = (run / "report.html").read_text()
        assert "<title>[simulated]" in html and 'id="simulated"' in html, run.name


@pytest.mark.parametrize(("provider", "model", "snapshot"), [
    ("openai", "openai/gpt-4o-mini", OLD),
    ("gemini", "gemini/gemini-2.0-flash", "gemini-2.0-flash-001"),
])
def test_batch_results_record_the_snapshot_and_that_they_were_simulated(
    tmp_path: Path, cache_dir: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch,
    provider: str, model: str, snapshot: str,
) -> None:
    from vlmfer.batch import collect_batch, start_batch
    from vlmfer.engine.config import load_experiment

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    TinyDataset(tmp_path / "data", n=3)
    out = tmp_path / "batch-run"
    url = emu.openai_base_url if provider == "openai" else emu.gemini_base_url
    start_batch(load_experiment(overrides={
        "dataset": {"name": "folder", "root": str(tmp_path / "data"), "split": "test"},
        "model": {"name": model, "base_url": url},
        "strategy": {"name": "single-shot"},
        "run": {"out": str(out), "quiet": True, "n_boot": 10},
    }))
    assert collect_batch(out).complete
    steps = _steps(out)
    assert len(steps) == 3
    assert {s["model_version"] for s in steps} == {snapshot}
    assert all(s["simulated"] and "sent" in s["details"] for s in steps)
    metrics = _json(out / "metrics.json")
    assert metrics["simulated"] is True and metrics["model_snapshots"] == {snapshot: 3}
