"""The Message Batches API through ``vlmfer run --batch`` and ``vlmfer batch``: a plugin
predictor offering batch through the same capability as the built-ins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claude_support import assert_no_key_written, predictions, run_args, vlmfer
from vlmfer.emulator import Emulator, FaultRates


def _state(run: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((run / "batch" / "state.json").read_text())
    return data


def _errors(run: Path) -> dict[str, str]:
    return {sid: str(p["reason"]) for sid, p in predictions(run).items()
            if p["outcome"] == "error"}


def test_batch_round_trip_with_failed_requests_and_retry_failed(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    out = tmp_path / "batch-run"
    cache = {"VLMFER_CACHE_DIR": str(tmp_path / "cache")}
    started = vlmfer(*run_args(images, emu, out), "--batch", cwd=tmp_path, **cache)
    assert started.returncode == 0, started.stderr
    assert "round 1 submitted: 14 request(s)" in started.stdout
    (create,) = emu.calls("anthropic.batches.create")
    requests = create["body"]["requests"]
    assert len(requests) == 14
    assert all(len(r["custom_id"]) == 64 and r["params"]["max_tokens"] >= 1 for r in requests)
    assert all(r["params"]["messages"][0]["content"][0]["type"] == "image" for r in requests)
    assert emu.calls("anthropic.messages") == []  # nothing online

    emu.configure(faults=FaultRates(http_500=0.35))  # drawn as the batch is processed
    collected = vlmfer("batch", "collect", str(out), cwd=tmp_path, **cache)
    assert collected.returncode == 1, collected.stderr  # complete, with errors
    assert f"vlmfer batch collect {out} --retry-failed" in collected.stderr
    errors = _errors(out)
    assert 0 < len(errors) < 14
    assert all("errored: api_error" in reason for reason in errors.values())
    answered = {sid: p for sid, p in predictions(out).items() if sid not in errors}
    step = next(iter(answered.values()))["steps"][0]
    assert step["details"]["batch"] is True and step["details"]["service_tier"] == "batch"

    emu.configure(faults=FaultRates())
    emu.reset()
    retried = vlmfer("batch", "collect", str(out), "--retry-failed", cwd=tmp_path, **cache)
    assert retried.returncode == 0, retried.stderr
    rounds = _state(out)["rounds"]
    assert isinstance(rounds, list) and len(rounds) == 2
    assert rounds[1]["retry"] is True and rounds[1]["requests"] == len(errors)
    (again,) = emu.calls("anthropic.batches.create")
    assert len(again["body"]["requests"]) == len(errors)  # only the failed ones
    done = vlmfer("batch", "collect", str(out), cwd=tmp_path, **cache)
    assert done.returncode == 0, done.stderr
    assert _errors(out) == {} and len(predictions(out)) == 14
    for sid, p in answered.items():  # the answers that came back are kept as they were
        assert predictions(out)[sid]["pred"] == p["pred"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["outcomes"]["ok"] == 14 and not metrics["outcomes"].get("error")
    assert_no_key_written(out, tmp_path / "cache", tmp_path / "emu.jsonl")


def test_batch_costs_half_the_online_price(tmp_path: Path, images: Path, emu: Emulator) -> None:
    out = tmp_path / "batch-run"
    online = tmp_path / "online"
    env = {"VLMFER_CACHE_DIR": str(tmp_path / "cache")}
    assert vlmfer(*run_args(images, emu, out), "--batch", cwd=tmp_path, **env).returncode == 0
    assert vlmfer("batch", "collect", str(out), cwd=tmp_path, **env).returncode == 0
    r = vlmfer(*run_args(images, emu, online), "--no-cache", cwd=tmp_path, **env)
    assert r.returncode == 0, r.stderr
    batch_cost = json.loads((out / "metrics.json").read_text())["cost_usd"]
    online_cost = json.loads((online / "metrics.json").read_text())["cost_usd"]
    assert batch_cost == pytest.approx(online_cost / 2)
    assert {p["pred"] for p in predictions(out).values()} == {
        p["pred"] for p in predictions(online).values()}


def test_an_expired_batch_is_an_error_outcome(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    out = tmp_path / "batch-run"
    env = {"VLMFER_CACHE_DIR": str(tmp_path / "cache")}
    emu.configure(batch_outcome="expired")
    assert vlmfer(*run_args(images, emu, out), "--batch", cwd=tmp_path, **env).returncode == 0
    collected = vlmfer("batch", "collect", str(out), cwd=tmp_path, **env)
    assert collected.returncode == 1
    errors = _errors(out)
    assert len(errors) == 7 and all("expired" in r for r in errors.values())


def test_status_reports_the_message_batch(tmp_path: Path, images: Path, emu: Emulator) -> None:
    out = tmp_path / "batch-run"
    env = {"VLMFER_CACHE_DIR": str(tmp_path / "cache")}
    emu.configure(batch_latency_s=3600)  # still processing
    assert vlmfer(*run_args(images, emu, out), "--batch", cwd=tmp_path, **env).returncode == 0
    status = vlmfer("batch", "status", str(out), cwd=tmp_path, **env)
    assert status.returncode == 0, status.stderr
    assert "msgbatch_" in status.stdout and "running (in_progress)" in status.stdout
