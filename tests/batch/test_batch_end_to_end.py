"""Batch runs end to end: the real SDKs against the emulator's batch endpoints.

A batch run must give what an online run of the same samples gives against the same
emulator policy, through the same requests, and land in the same files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from batch_support import (
    GEMINI_KEY,
    OPENAI_KEY,
    cli_args,
    experiment,
    lines,
    predictions,
    results,
    state,
    verdicts,
    vlmfer,
    waiting,
)

from vlmfer.batch import collect_batch, start_batch
from vlmfer.emulator import Emulator
from vlmfer.engine.experiment import run_experiment


def _bodies(emu: Emulator, endpoint: str) -> list[str]:
    """Logged request bodies (media by hash), in a canonical order."""
    return sorted(json.dumps(c["body"], sort_keys=True) for c in emu.calls(endpoint))


def test_cli_single_shot_equals_online_at_half_the_price(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    online = vlmfer(*cli_args(images, emu, "openai", tmp_path / "online"), cwd=tmp_path,
                    cache=tmp_path / "cache-online")
    assert online.returncode == 0, online.stderr
    online_bodies = _bodies(emu, "openai.chat")
    emu.reset()

    out = tmp_path / "batch-run"
    cache = tmp_path / "cache-batch"
    started = vlmfer(*cli_args(images, emu, "openai", out), "--batch", cwd=tmp_path,
                     cache=cache)
    assert started.returncode == 0, started.stderr
    assert "round 1 submitted: 21 request(s) for 21 sample(s) in 1 job(s)" in started.stdout
    (job,) = state(out)["rounds"][0]["jobs"]
    assert job["id"] in started.stdout
    assert f"vlmfer batch collect {out}" in started.stdout
    assert emu.calls("openai.chat") == []  # nothing went online
    assert not (out / "predictions.jsonl").exists() or predictions(out) == {}

    # Each command is a fresh process: everything it needs is in the run directory.
    status = vlmfer("batch", "status", str(out), cwd=tmp_path, cache=cache)
    assert status.returncode == 0, status.stderr
    assert "round 1 (submitted)" in status.stdout
    assert "21 total, 0 finished, 21 waiting" in status.stdout
    assert "succeeded (completed)" in status.stdout

    collected = vlmfer("batch", "collect", str(out), cwd=tmp_path, cache=cache)
    assert collected.returncode == 0, collected.stderr
    assert "complete after 1 round(s)" in collected.stdout

    assert verdicts(out) == verdicts(tmp_path / "online")
    assert _bodies(emu, "openai.batch_request") == online_bodies  # the very same requests
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["mode"] == "batch"
    assert manifest["batch"]["discount"] == 0.5 and "50%" in manifest["batch"]["price"]
    assert manifest["batch"]["rounds"] == 1 and manifest["calls"] == 21
    assert manifest["finished"]
    m_batch = json.loads((out / "metrics.json").read_text())
    m_online = json.loads((tmp_path / "online" / "metrics.json").read_text())
    assert m_batch["accuracy"] == m_online["accuracy"] and m_batch["uar"] == m_online["uar"]
    assert m_batch["cost_usd"] == pytest.approx(m_online["cost_usd"] / 2)
    assert (out / "report.html").exists() and (out / "confusion_matrix.png").exists()
    for p in predictions(out).values():
        (step,) = p["steps"]
        assert step["cached"] is False and step["details"]["batch"] is True
        assert step["details"]["batch_job"] == job["id"]
    keys = {r["key"] for r in results(out)}
    assert len(keys) == len(results(out)) == 21
    assert {c["item"] for c in emu.calls("openai.batch_request")} == keys
    for f in out.rglob("*"):
        if f.is_file():
            assert OPENAI_KEY not in f.read_text(errors="replace"), f

    # `vlmfer report` cannot tell the difference; a later online run reuses the answers.
    report = vlmfer("report", str(out), cwd=tmp_path, cache=cache)
    assert report.returncode == 0, report.stderr
    assert json.loads((out / "metrics.json").read_text()) == m_batch
    emu.reset()
    again = vlmfer(*cli_args(images, emu, "openai", tmp_path / "online-again"), cwd=tmp_path,
                   cache=cache)
    assert again.returncode == 0, again.stderr
    assert emu.calls("openai.chat") == []
    assert verdicts(tmp_path / "online-again") == verdicts(out)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_two_stage_runs_in_two_rounds_and_equals_online(
    tmp_path: Path, images: Path, emu: Emulator, provider: str
) -> None:
    out = tmp_path / "batch-run"
    every = {f"test/{p.parent.name}/{p.name}" for p in images.glob("test/*/*.png")}

    first = start_batch(experiment(images, emu, provider, out, strategy="two-stage"))
    assert first.status == "submitted" and first.round == 1
    assert waiting(out, 1) == every
    assert {json.loads(x)["step"] for x in
            (out / "batch" / "round-1-requests.jsonl").read_text().splitlines()} == {"gate"}

    second = collect_batch(out)
    assert second.status == "submitted" and second.round == 2
    after_one = predictions(out)
    assert after_one, "the seeded policy answers Neutral for some gates"
    for p in after_one.values():  # finished in round 1: the gate said Neutral
        assert p["pred"] == "Neutral" and [s["name"] for s in p["steps"]] == ["gate"]
    round_two = waiting(out, 2)
    assert round_two and round_two == every - set(after_one)
    requests_two = lines(out / "batch" / "round-2-requests.jsonl")
    assert {r["step"] for r in requests_two} == {"answer"}
    assert {r["sample_id"] for r in requests_two} == round_two

    done = collect_batch(out)
    assert done.complete
    final = predictions(out)
    assert set(final) == every
    for sid in round_two:  # stage 2 only for samples whose gate was not Neutral
        assert [s["name"] for s in final[sid]["steps"]] == ["gate", "answer"]
        assert final[sid]["extra"]["gate"] == "Emotion"
    assert [r["round"] for r in state(out)["rounds"]] == [1, 2]
    assert all(r["phase"] == "collected" for r in state(out)["rounds"])

    endpoint = {"openai": "openai", "gemini": "gemini"}[provider]
    batch_bodies = _bodies(emu, f"{endpoint}.batch_request")
    online = run_experiment(experiment(images, emu, provider, tmp_path / "online",
                                       strategy="two-stage", sets=["run.cache=false"]))
    assert verdicts(out) == verdicts(online.path)
    online_endpoint = "openai.chat" if provider == "openai" else "gemini.generate"
    assert _bodies(emu, online_endpoint) == batch_bodies


def test_gemini_video_through_files_api_and_a_jsonl_input(
    tmp_path: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google import genai
    from google.genai import types

    from vlmfer.datasets.synthetic import make_caer_like

    clips = tmp_path / "CAER"
    make_caer_like(clips, per_class=1, seconds=1.0, fps=6, size=(160, 96))
    # Media above 2 kB goes by Files API reference; the job input goes as a JSONL file.
    sets = ["model.inline_limit_bytes=2000", "model.upload_poll_s=0.01"]
    monkeypatch.setenv("VLMFER_BATCH_INLINE_BYTES", "0")
    out = tmp_path / "batch-run"
    start_batch(experiment(clips, emu, "gemini", out, dataset="caer", sets=sets))
    (rnd,) = state(out)["rounds"]
    (job,) = rnd["jobs"]
    assert job["mode"] == "file" and job["input_file"].startswith("files/")
    assert len(rnd["uploads"]["main"]) == 7  # one upload per clip, kept for the batch
    client = genai.Client(api_key=GEMINI_KEY, http_options=types.HttpOptions(
        base_url=emu.gemini_base_url, api_version="v1beta"))
    names = {f.name for f in client.files.list()}
    assert set(rnd["uploads"]["main"]) | {job["input_file"]} <= names
    batched = emu.calls("gemini.batch_request")
    assert not batched  # not processed yet: the first poll runs it

    result = collect_batch(out)
    assert result.complete
    assert all(c["media"][0]["source"] == "file" for c in emu.calls("gemini.batch_request"))
    assert list(client.files.list()) == []  # media, input and responses files: all deleted
    assert state(out)["rounds"][0]["uploads_deleted"] is True

    online = run_experiment(experiment(clips, emu, "gemini", tmp_path / "online",
                                       dataset="caer", sets=[*sets, "run.cache=false"]))
    assert verdicts(out) == verdicts(online.path)
    assert {p["outcome"] for p in predictions(out).values()} == {"ok"}


def test_dry_run_shows_the_batch_price(tmp_path: Path, images: Path, emu: Emulator) -> None:
    shown = vlmfer(*cli_args(images, emu, "openai", tmp_path / "run"), "--batch", "--dry-run",
                   cwd=tmp_path, cache=tmp_path / "cache")
    assert shown.returncode == 0, shown.stderr
    online = re.search(r"cost of first calls \$([0-9.]+)\n", shown.stdout)
    batch = re.search(r"batch .*cost of first calls \$([0-9.]+), 50% of the online price",
                      shown.stdout)
    assert online and batch, shown.stdout
    assert float(batch.group(1)) == pytest.approx(float(online.group(1)) / 2, abs=1e-4)
    assert emu.requests == [] and not (tmp_path / "run").exists()


def _outcomes(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "metrics.json").read_text())["outcomes"]
    return data


@pytest.mark.parametrize("provider", ["openai", "gemini"])
@pytest.mark.parametrize("policy", ["refuse", "block"])
def test_refusals_and_blocks_are_non_answers_not_errors(
    tmp_path: Path, images: Path, emu: Emulator, provider: str, policy: str
) -> None:
    emu.set_policy(policy)
    out = tmp_path / "batch-run"
    exp = experiment(images, emu, provider, out, sets=["dataset.limit=7"])
    start_batch(exp)
    assert collect_batch(out).complete
    outcomes = _outcomes(out)
    assert outcomes["error"] == 0 and outcomes["ok"] == 0
    assert outcomes["blocked" if policy == "block" else "refused"] + outcomes["invalid"] == 7
    assert all(p["pred"] is None for p in predictions(out).values())
    online = run_experiment(experiment(images, emu, provider, tmp_path / "online",
                                       sets=["dataset.limit=7", "run.cache=false"]))
    assert verdicts(out) == verdicts(online.path)
