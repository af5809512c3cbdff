"""Soak: 2 000 samples through the real OpenAI SDK against an emulator that injects faults.

10 % 429 with Retry-After, 5 % 500, 2 % timeouts, 1 % malformed bodies and 1 % safety blocks,
drawn afresh for every attempt. Every sample must be accounted for exactly once, no non-answer
may carry a label, and the outcomes must be what the emulator's log says the final attempt of
each sample got.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest
from robust_support import (
    GEMINI_KEY,
    OPENAI_KEY,
    calls_by_sample,
    distinct_images,
    raw_rows,
    sent_image_hashes,
)

import vlmfer
from vlmfer.emulator import Emulator, EmulatorConfig, FaultRates
from vlmfer.engine.cache import ResponseCache
from vlmfer.engine.run import EngineOptions, evaluate_async

N = 2000
MAX_ATTEMPTS = 3
RETRYABLE = {"429", "500", "timeout", "malformed"}


@pytest.mark.slow
def test_soak_with_faults_accounts_for_every_sample(tmp_path: Path) -> None:
    distinct_images(tmp_path / "data", N)
    dataset = vlmfer.get_dataset("folder", root=tmp_path / "data", split="test")
    ids = sent_image_hashes(dataset)
    faults = FaultRates(http_429=0.10, http_500=0.05, timeout=0.02, malformed=0.01, block=0.01)
    cfg = EmulatorConfig(policy="neutral-biased", seed=11, faults=faults, retry_after_s=0.05,
                         timeout_s=3.0, strict_media=False, log_path=tmp_path / "emulator.jsonl")
    out = tmp_path / "run"
    with Emulator(cfg, port=0) as emu:
        # A generous client timeout: only the injected hang-ups time out, not a busy server.
        predictor = vlmfer.get_predictor("openai/gpt-5.2", base_url=emu.openai_base_url,
                                         api_key=OPENAI_KEY, timeout_s=1.5)
        options = EngineOptions(concurrency=64, max_attempts=MAX_ATTEMPTS, backoff_base_s=0.01,
                                backoff_max_s=0.05, progress=False, n_boot=100)
        run = asyncio.run(evaluate_async(
            dataset, predictor, vlmfer.get_strategy("single-shot"), out=out, options=options,
            cache=ResponseCache(tmp_path / "cache" / "responses.sqlite3")))
        requests = emu.requests
        counters = emu.counters

    # Every sample exactly once, in the file as written (no de-duplication on reading).
    rows = raw_rows(out)
    assert len(rows) == N
    assert Counter(r["sample_id"] for r in rows).most_common(1)[0][1] == 1
    assert {r["sample_id"] for r in rows} == {s.id for s in dataset}
    by_id = {r["sample_id"]: r for r in rows}

    # No non-answer carries a label, and every label is in the label set.
    for r in rows:
        if r["outcome"] == "ok":
            assert r["pred"] in vlmfer.CAER_LABELS, r
        else:
            assert r["pred"] is None, r

    # The emulator's counters agree with its own log.
    logged = Counter(r["fault"] for r in requests if r.get("fault"))
    assert dict(logged) == counters["faults"]
    assert set(logged) == {"429", "500", "timeout", "malformed", "block"}

    # Outcomes follow from the final attempt of each sample, as the emulator saw it.
    calls = calls_by_sample(requests, ids)
    assert set(calls) == set(by_id), "a sample was never sent"
    expected: Counter[str] = Counter()
    for sid, rs in calls.items():
        last = rs[-1]
        fault = last.get("fault")
        row = by_id[sid]
        # Nothing is asked again once a sample has its answer (or its block).
        assert all(r.get("fault") in RETRYABLE for r in rs[:-1]), (sid, rs)
        assert len(rs) <= MAX_ATTEMPTS, sid
        if fault is None:
            assert last["status"] == 200
            assert row["outcome"] == "ok" and row["pred"] == last["label"], (row, last)
            expected["ok"] += 1
        elif fault == "block":
            # The emulator renders half its blocks as content_filter, half as a refusal.
            assert row["outcome"] in ("blocked", "refused"), (row, last)
            expected["blocked+refused"] += 1
        else:
            assert len(rs) == MAX_ATTEMPTS, (sid, [r.get("fault") for r in rs])
            assert row["outcome"] == "error", (row, last)
            assert f"after {MAX_ATTEMPTS} attempts" in row["reason"], row["reason"]
            expected["error"] += 1
    got = Counter(r["outcome"] for r in rows)
    assert got["ok"] == expected["ok"]
    assert got["blocked"] + got["refused"] == expected["blocked+refused"]
    assert got["error"] == expected["error"]
    assert got["invalid"] == 0
    assert expected["error"] > 0 and expected["blocked+refused"] > 0

    # The metrics count non-answers as their own columns, never as a label.
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["outcomes"] == {k: got.get(k, 0) for k in metrics["outcomes"]}
    cm = metrics["confusion_matrix"]
    labels = cm["labels"]
    answered = sum(sum(row[: len(labels)]) for row in cm["matrix"])
    assert answered == got["ok"]
    assert run.metrics["n"] == N


@pytest.mark.slow
def test_soak_through_gemini_blocks_are_blocked(tmp_path: Path) -> None:
    n = 700
    distinct_images(tmp_path / "data", n)
    dataset = vlmfer.get_dataset("folder", root=tmp_path / "data", split="test")
    ids = sent_image_hashes(dataset)
    faults = FaultRates(http_429=0.10, http_500=0.05, timeout=0.02, malformed=0.01, block=0.03)
    cfg = EmulatorConfig(policy="neutral-biased", seed=5, faults=faults, retry_after_s=0.05,
                         timeout_s=3.0, strict_media=False)
    out = tmp_path / "run"
    with Emulator(cfg, port=0) as emu:
        predictor = vlmfer.get_predictor("gemini/gemini-3.5-flash", base_url=emu.url,
                                         api_key=GEMINI_KEY, timeout_s=1.5)
        options = EngineOptions(concurrency=32, max_attempts=MAX_ATTEMPTS, backoff_base_s=0.01,
                                backoff_max_s=0.05, progress=False, n_boot=100)
        asyncio.run(evaluate_async(
            dataset, predictor, vlmfer.get_strategy("single-shot"), out=out, options=options,
            cache=ResponseCache(tmp_path / "cache" / "responses.sqlite3")))
        requests = emu.requests
    rows = raw_rows(out)
    assert sorted(r["sample_id"] for r in rows) == sorted(s.id for s in dataset)
    by_id = {r["sample_id"]: r for r in rows}
    calls = calls_by_sample(requests, ids, endpoint="gemini.generate")
    assert set(calls) == set(by_id)
    want: Counter[str] = Counter()
    for sid, rs in calls.items():
        fault = rs[-1].get("fault")
        assert all(r.get("fault") in RETRYABLE for r in rs[:-1]), sid
        outcome = ("ok" if fault is None else "blocked" if fault == "block" else "error")
        assert by_id[sid]["outcome"] == outcome, (by_id[sid], rs[-1])
        if outcome == "ok":
            assert by_id[sid]["pred"] == rs[-1]["label"]
        else:
            assert by_id[sid]["pred"] is None
        want[outcome] += 1
    assert Counter(r["outcome"] for r in rows) == want
    assert want["blocked"] > 0 and want["error"] > 0
