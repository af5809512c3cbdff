"""Failed, expired and cancelled jobs and per-request errors become ``error`` outcomes with
their reason; ``collect --retry-failed`` resubmits exactly those requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from batch_support import OPENAI_KEY, experiment, predictions, state, verdicts, vlmfer

from vlmfer.batch import collect_batch, start_batch
from vlmfer.emulator import Emulator, FaultRates
from vlmfer.engine.experiment import run_experiment


def _errors(run: Path) -> dict[str, str]:
    return {sid: str(p["reason"]) for sid, p in predictions(run).items()
            if p["outcome"] == "error"}


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_a_failed_job_is_an_error_outcome_until_retried(
    tmp_path: Path, images: Path, emu: Emulator, provider: str
) -> None:
    out = tmp_path / "batch-run"
    emu.configure(batch_outcome="failed")
    start_batch(experiment(images, emu, provider, out))
    (job,) = state(out)["rounds"][0]["jobs"]
    emu.configure(batch_outcome="completed")  # jobs created from now on succeed

    collected = vlmfer("batch", "collect", str(out), cwd=tmp_path, cache=tmp_path / "cache")
    assert collected.returncode == 1, collected.stderr  # complete, with errors
    assert f"vlmfer batch collect {out} --retry-failed" in collected.stderr
    errors = _errors(out)
    assert len(errors) == 21
    expected = "emulated_failure" if provider == "openai" else "JOB_STATE_FAILED"
    for reason in errors.values():
        assert job["id"] in reason and expected in reason
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["outcomes"]["error"] == 21
    assert state(out)["rounds"][0]["jobs"][0]["status"] == "failed"

    retried = collect_batch(out, retry_failed=True)
    assert retried.status == "submitted" and retried.round == 2
    (_, second) = state(out)["rounds"]
    assert second["retry"] is True and second["requests"] == 21
    assert predictions(out) == {}  # the error predictions were withdrawn
    assert collect_batch(out).complete
    assert _errors(out) == {}
    online = run_experiment(experiment(images, emu, provider, tmp_path / "online",
                                       sets=["run.cache=false"]))
    assert verdicts(out) == verdicts(online.path)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_partial_errors_then_retry_failed_resubmits_only_those(
    tmp_path: Path, images: Path, emu: Emulator, provider: str
) -> None:
    out = tmp_path / "batch-run"
    start_batch(experiment(images, emu, provider, out, strategy="two-stage"))
    emu.configure(faults=FaultRates(http_500=0.4))  # drawn when the job runs
    assert collect_batch(out).status == "submitted"  # round 2 for the others goes on
    emu.configure(faults=FaultRates())
    assert collect_batch(out).complete
    errors = _errors(out)
    assert 0 < len(errors) < 21
    for reason in errors.values():
        assert "500" in reason
    kept = {sid: p for sid, p in predictions(out).items() if sid not in errors}

    emu.reset()
    assert collect_batch(out, retry_failed=True).status == "submitted"
    last = state(out)["rounds"][-1]
    assert last["retry"] is True and last["requests"] == len(errors)
    assert collect_batch(out, wait=True, poll_s=0.01).complete
    # Only the failed requests were asked again (plus stage 2 of those that now need it).
    retried = {c["item"] for c in emu.calls(f"{provider}.batch_request")}
    firsts = [json.loads(x) for x in
              (out / "batch" / f"round-{last['round']}-requests.jsonl").read_text().splitlines()]
    assert {r["key"] for r in firsts} <= retried
    assert {r["sample_id"] for r in firsts} == set(errors)
    assert _errors(out) == {}
    final = predictions(out)
    assert {sid: final[sid] for sid in kept} == kept  # finished samples were not touched
    online = run_experiment(experiment(images, emu, provider, tmp_path / "online",
                                       strategy="two-stage", sets=["run.cache=false"]))
    assert verdicts(out) == verdicts(online.path)


def test_expired_openai_job_keeps_what_finished(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    out = tmp_path / "batch-run"
    emu.configure(batch_outcome="expired")
    start_batch(experiment(images, emu, "openai", out))
    emu.configure(batch_outcome="completed")
    assert collect_batch(out).complete
    errors = _errors(out)
    assert len(errors) == 21 - 21 // 2  # the emulator answers the first half
    assert all("batch_expired" in r for r in errors.values())
    ok = [p for p in predictions(out).values() if p["outcome"] == "ok"]
    assert len(ok) == 21 // 2
    collect_batch(out, retry_failed=True)
    assert collect_batch(out).complete and _errors(out) == {}


def test_cancelled_job(tmp_path: Path, images: Path, emu: Emulator) -> None:
    from openai import OpenAI

    out = tmp_path / "batch-run"
    emu.configure(batch_latency_s=3600)
    start_batch(experiment(images, emu, "openai", out, sets=["dataset.limit=7"]))
    running = collect_batch(out)
    assert running.status == "running" and "not finished yet" in running.message
    (job,) = state(out)["rounds"][0]["jobs"]
    assert job["status"] == "running" and not job["collected"]
    # Cancelled from elsewhere (the provider's dashboard, another script).
    client = OpenAI(base_url=emu.openai_base_url, api_key=OPENAI_KEY, max_retries=0)
    client.batches.cancel(job["id"])
    assert collect_batch(out).complete
    errors = _errors(out)
    assert len(errors) == 7
    assert all("cancelled" in r and job["id"] in r for r in errors.values())


def test_unreadable_media_is_an_error_that_is_not_submitted(
    tmp_path: Path, emu: Emulator
) -> None:
    from vlmfer.datasets.synthetic import make_caer_s_like

    data = tmp_path / "CAER-S"
    make_caer_s_like(data, per_class=1, splits=("test",), size=(160, 90))
    broken = data / "test" / "Happy" / "0001.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    out = tmp_path / "batch-run"
    start_batch(experiment(data, emu, "openai", out))
    assert state(out)["rounds"][0]["requests"] == 6  # the broken file is not sent
    assert collect_batch(out).complete
    errors = _errors(out)
    assert list(errors) == ["test/Happy/0001.png"] and "0001.png" in errors["test/Happy/0001.png"]
    # Not a batch failure: --retry-failed leaves it alone (fix the file, run it online).
    messages: list[str] = []
    assert collect_batch(out, retry_failed=True, echo=messages.append).complete
    assert any("no sample ended in a failed batch request" in m for m in messages)
    assert list(_errors(out)) == ["test/Happy/0001.png"]
    assert len(emu.calls("openai.batches.create")) == 1
