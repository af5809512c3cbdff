"""A batch run survives a crash between creating a job and recording it; re-running
``vlmfer run ... --batch`` resumes rather than starting again; cached answers are not sent."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from batch_support import cli_args, experiment, predictions, results, state, verdicts, vlmfer

from vlmfer.batch import start_batch
from vlmfer.emulator import Emulator
from vlmfer.engine.experiment import run_experiment


def _no_duplicates(out: Path) -> None:
    counts = Counter(r["key"] for r in results(out))
    assert [k for k, n in counts.items() if n > 1] == []
    predictions(out)  # asserts one line per sample


def test_a_crash_between_creating_a_job_and_recording_it(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    cache = tmp_path / "cache"
    out = tmp_path / "batch-run"
    args = cli_args(images, emu, "gemini", out)
    started = vlmfer(*args, "--batch", cwd=tmp_path, cache=cache)
    assert started.returncode == 0, started.stderr
    # Rewind the state to "the create call was sent, its answer never recorded".
    path = out / "batch" / "state.json"
    data = json.loads(path.read_text())
    job = data["rounds"][0]["jobs"][0]
    created = job["id"]
    job.update(id=None, status="submitting")
    data["rounds"][0]["phase"] = "prepared"
    path.write_text(json.dumps(data))
    creates = len(emu.calls("gemini.batches.create"))

    resumed = vlmfer("batch", "submit", str(out), cwd=tmp_path, cache=cache)
    assert resumed.returncode == 0, resumed.stderr
    assert len(emu.calls("gemini.batches.create")) == creates  # found, not made again
    assert state(out)["rounds"][0]["jobs"][0]["id"] == created

    # And a crash before anything was sent: the job is simply submitted.
    data = json.loads(path.read_text())
    data["rounds"][0]["jobs"][0].update(id=None, status="unsubmitted", provider_status=None)
    data["rounds"][0]["phase"] = "prepared"
    path.write_text(json.dumps(data))
    resumed = vlmfer("batch", "submit", str(out), cwd=tmp_path, cache=cache)
    assert resumed.returncode == 0, resumed.stderr
    assert len(emu.calls("gemini.batches.create")) == creates + 1
    again = vlmfer("batch", "submit", str(out), cwd=tmp_path, cache=cache)
    assert "already submitted" in again.stdout
    assert len(emu.calls("gemini.batches.create")) == creates + 1

    done = vlmfer("batch", "collect", str(out), cwd=tmp_path, cache=cache)
    assert done.returncode == 0, done.stderr
    _no_duplicates(out)
    assert len(predictions(out)) == 21


def test_rerunning_the_run_command_resumes(tmp_path: Path, images: Path, emu: Emulator) -> None:
    cache = tmp_path / "cache"
    out = tmp_path / "batch-run"
    args = [*cli_args(images, emu, "openai", out), "--batch"]
    assert vlmfer(*args, cwd=tmp_path, cache=cache).returncode == 0
    again = vlmfer(*args, cwd=tmp_path, cache=cache)
    assert again.returncode == 0, again.stderr
    assert "already submitted" in again.stdout
    assert len(emu.calls("openai.batches.create")) == 1
    assert vlmfer("batch", "collect", str(out), cwd=tmp_path, cache=cache).returncode == 0
    finished = vlmfer(*args, cwd=tmp_path, cache=cache)
    assert finished.returncode == 0, finished.stderr
    assert state(out)["complete"] is True
    assert len(emu.calls("openai.batches.create")) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["resumed"]) == 2


def test_answers_already_in_the_cache_are_not_submitted(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    online = run_experiment(experiment(images, emu, "gemini", tmp_path / "online"))
    emu.reset()
    out = tmp_path / "batch-run"
    result = start_batch(experiment(images, emu, "gemini", out))
    assert result.complete and result.round == 0
    assert emu.requests == []  # nothing uploaded, nothing created
    assert verdicts(out) == verdicts(online.path)
    assert all(s["cached"] for p in predictions(out).values() for s in p["steps"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["calls"] == 0 and manifest["finished"]
