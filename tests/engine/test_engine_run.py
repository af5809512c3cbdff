"""The engine end to end with inline components: resume, cache, retries, non-answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Container, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_parts import LABELS, ParseStrategy, ScriptedPredictor, TinyDataset

from vlmfer import Run, evaluate_async
from vlmfer.engine import EngineOptions
from vlmfer.engine.cache import ResponseCache
from vlmfer.errors import CapabilityError, ConfigError, MediaError, PredictorError
from vlmfer.strategies.base import StepContext, Verdict
from vlmfer.types import Capabilities, Prompt, Sample


def run(ds: TinyDataset, pred: ScriptedPredictor, out: Path, **opts: object) -> Run:
    options = EngineOptions(progress=False, backoff_base_s=0.0, n_boot=50, **opts)
    return asyncio.run(evaluate_async(ds, pred, ParseStrategy(), out=out, options=options))


def lines(out: Path) -> list[dict[str, Any]]:
    """The rows of predictions.jsonl, as JSON (their shape is what the tests check)."""
    return [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]


def test_run_writes_the_contract_files(tmp_path: Path, cache_dir: Path) -> None:
    ds = TinyDataset(tmp_path / "data")
    out = tmp_path / "run"
    run(ds, ScriptedPredictor(default="Happy"), out)
    rows = lines(out)
    assert sorted(r["sample_id"] for r in rows) == sorted(s.id for s in ds)
    assert all(r["pred"] == "Happy" and r["outcome"] == "ok" for r in rows)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset"]["fingerprint"] == ds.fingerprint()
    assert manifest["model"]["name"] == "scripted/v1"
    assert manifest["finished"] is not None
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 6 and metrics["accuracy"] == pytest.approx(2 / 6)
    step = rows[0]["steps"][0]
    assert step["name"] == "answer" and step["model"] == "scripted/v1"
    assert step["text_sent"].startswith("Which emotion?") and len(step["prompt_hash"]) == 64


def test_resume_skips_finished_and_cache_makes_no_calls(tmp_path: Path, cache_dir: Path) -> None:
    ds = TinyDataset(tmp_path / "data")
    out = tmp_path / "run"
    first = ScriptedPredictor()
    run(ds, first, out)
    assert len(first.calls) == 6
    again = ScriptedPredictor()
    run(ds, again, out)  # same out: everything finished, nothing asked
    assert again.calls == [] and len(lines(out)) == 6
    fresh = ScriptedPredictor()
    run(ds, fresh, tmp_path / "run2")  # another out, same cache: answered from the cache
    assert fresh.calls == []
    assert all(r["steps"][0]["cached"] for r in lines(tmp_path / "run2"))


def test_torn_last_line_is_dropped_and_that_sample_asked_again(
    tmp_path: Path, cache_dir: Path
) -> None:
    ds = TinyDataset(tmp_path / "data")
    out = tmp_path / "run"
    run(ds, ScriptedPredictor(), out, cache=False)
    text = (out / "predictions.jsonl").read_text().splitlines(keepends=True)
    torn = "".join(text[:4]) + text[4][: len(text[4]) // 2]
    (out / "predictions.jsonl").write_text(torn)
    again = ScriptedPredictor()
    run(ds, again, out, cache=False)
    assert len(again.calls) == 2
    rows = lines(out)
    assert len(rows) == 6 and len({r["sample_id"] for r in rows}) == 6


def test_another_experiment_in_the_same_out_is_refused(tmp_path: Path, cache_dir: Path) -> None:
    ds = TinyDataset(tmp_path / "data")
    out = tmp_path / "run"
    run(ds, ScriptedPredictor(), out)
    other = ScriptedPredictor()
    other.model = "v2"
    with pytest.raises(ConfigError, match="different experiment"):
        run(ds, other, out)


def test_retryable_errors_are_retried_then_succeed(tmp_path: Path, cache_dir: Path) -> None:
    ds = TinyDataset(tmp_path / "data", n=3)
    err = PredictorError("slow down", retryable=True, retry_after=0.0, status=429,
                         kind="rate_limit")
    err.times = 2  # type: ignore[attr-defined]
    pred = ScriptedPredictor(answers={"0000.png": err})
    out = tmp_path / "run"
    run(ds, pred, out)
    row = next(r for r in lines(out) if r["sample_id"].endswith("0000.png"))
    assert row["outcome"] == "ok" and row["steps"][0]["attempts"] == 3


def test_errors_after_last_attempt_become_error_outcomes_and_the_run_goes_on(
    tmp_path: Path, cache_dir: Path
) -> None:
    ds = TinyDataset(tmp_path / "data", n=3)
    pred = ScriptedPredictor(answers={
        "0000.png": PredictorError("boom", retryable=True, status=500, kind="server"),
        "0001.png": PredictorError("no such model", retryable=False, status=404, kind="not_found"),
        "0002.png": MediaError("x.png", "truncated file"),
    })
    out = tmp_path / "run"
    run(ds, pred, out, max_attempts=3)
    rows = {r["sample_id"].split("/")[-1]: r for r in lines(out)}
    first = rows["0000.png"]
    assert first["outcome"] == "error" and "after 3 attempts" in first["reason"]
    assert rows["0001.png"]["outcome"] == "error" and "1 attempt" in rows["0001.png"]["reason"]
    assert rows["0002.png"]["outcome"] == "error" and "truncated" in rows["0002.png"]["reason"]
    assert all(r["pred"] is None for r in rows.values())
    assert pred.failures["0000.png"] == 3 and pred.failures["0001.png"] == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["outcomes"]["error"] == 3 and metrics["accuracy"] == 0.0


def test_refusals_and_blocks_are_outcomes_and_not_cached(tmp_path: Path, cache_dir: Path) -> None:
    ds = TinyDataset(tmp_path / "data", n=3)
    pred = ScriptedPredictor(answers={"0000.png": "REFUSE", "0001.png": "BLOCK",
                                      "0002.png": "I think maybe"})
    out = tmp_path / "run"
    run(ds, pred, out)
    rows = {r["sample_id"].split("/")[-1]: r for r in lines(out)}
    assert [rows[k]["outcome"] for k in sorted(rows)] == ["refused", "blocked", "invalid"]
    assert all(r["pred"] is None for r in rows.values())
    cache = ResponseCache()
    assert len(cache) == 1  # only the real (if unparseable) answer is stored


def test_capabilities_are_checked_before_any_call(tmp_path: Path, cache_dir: Path) -> None:
    ds = TinyDataset(tmp_path / "data", n=2)
    pred = ScriptedPredictor(caps=Capabilities(image=False, video=True))
    with pytest.raises(CapabilityError, match="cannot take images"):
        run(ds, pred, tmp_path / "run")
    assert pred.calls == []


def test_a_label_outside_the_strategy_set_is_never_recorded(
    tmp_path: Path, cache_dir: Path
) -> None:
    class Leaky(ParseStrategy):
        async def run(self, sample: Sample, ctx: StepContext) -> Verdict:
            await ctx.ask(Prompt(text="x", media=[sample.media]), step="a")
            return Verdict(pred="Contempt", outcome="ok")

    ds = TinyDataset(tmp_path / "data", n=2)
    out = tmp_path / "run"
    opts = EngineOptions(progress=False, n_boot=10)
    asyncio.run(evaluate_async(ds, ScriptedPredictor(), Leaky(), out=out, options=opts))
    rows = lines(out)
    assert all(r["outcome"] == "error" and r["pred"] is None for r in rows)
    assert "not in its label set" in rows[0]["reason"]
    assert set(LABELS) >= {"Happy"}


def test_resume_asks_again_for_samples_that_ended_in_error(
    tmp_path: Path, cache_dir: Path
) -> None:
    ds = TinyDataset(tmp_path / "data", n=3)
    down = PredictorError("server down", retryable=True, status=503, kind="server")
    out = tmp_path / "run"
    run(ds, ScriptedPredictor(answers={"0001.png": down}), out, max_attempts=2)
    assert sorted(r["outcome"] for r in lines(out)) == ["error", "ok", "ok"]
    healed = ScriptedPredictor()
    run(ds, healed, out)
    assert [p.media[0].path.name for p in healed.calls] == ["0001.png"]
    rows = lines(out)
    assert len(rows) == 3 and all(r["outcome"] == "ok" for r in rows)


def test_a_resume_asks_the_dataset_for_the_unfinished_samples_only(
    tmp_path: Path, cache_dir: Path
) -> None:
    skipped: list[set[str]] = []

    class Recording(TinyDataset):
        def iter_except(self, skip: Container[str] = frozenset()) -> Iterator[Sample]:
            assert isinstance(skip, set)
            skipped.append(set(skip))
            return super().iter_except(skip)

    ds = Recording(tmp_path / "data")
    out = tmp_path / "run"
    run(ds, ScriptedPredictor(), out)
    again = ScriptedPredictor()
    run(ds, again, out)
    assert skipped == [set(), {s.id for s in ds}] and again.calls == []
