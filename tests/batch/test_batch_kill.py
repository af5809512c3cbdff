"""``kill -9`` during ``vlmfer batch collect``, then collect again: nothing is lost and
nothing is duplicated, in ``predictions.jsonl`` or in the batch results."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

from batch_support import cli_args, predictions, results, spawn, state, verdicts, vlmfer
from support import wait_until, whole_lines

from vlmfer.emulator import Emulator
from vlmfer.engine.config import Experiment
from vlmfer.engine.experiment import run_experiment


def _no_duplicates(out: Path) -> None:
    counts = Counter(r["key"] for r in results(out))
    assert [k for k, n in counts.items() if n > 1] == []
    predictions(out)  # asserts one line per sample


#: Long enough that a held download outlives the test; the emulator's stop ends it.
HOLD_S = 3600.0


def _downloads(emu: Emulator) -> int:
    return emu.counters["requests"].get("openai.files.content", 0)


def _kill_mid_collect(proc: subprocess.Popen[str], emu: Emulator, path: Path,
                      at_least: int) -> int:
    """SIGKILL ``proc`` mid-collect, at a point the test controls; return the whole lines.

    Once ``path`` holds ``at_least`` lines, every later result download is held by the
    emulator. The kill waits for the next download to arrive: collect downloads one job
    at a time, so it is then waiting on the network, with earlier jobs' results written,
    and it cannot have finished however fast the machine is.
    """
    wait_until(lambda: len(whole_lines(path)) >= at_least, f"{at_least} results", proc=proc)
    before = _downloads(emu)
    emu.configure(download_latency_s=HOLD_S)
    try:
        wait_until(lambda: _downloads(emu) > before, "the next download", proc=proc)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    emu.configure(download_latency_s=0.0)
    return len(whole_lines(path))


def test_kill_9_during_collect_then_again_gives_no_duplicates(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    # Three requests per job, and each result download takes a while: a collect is
    # killed after the first job's results are in and before the last one's.
    env = {"VLMFER_BATCH_MAX_REQUESTS": "3"}
    cache = tmp_path / "cache"
    out = tmp_path / "batch-run"
    args = cli_args(images, emu, "openai", out, strategy="two-stage")
    started = vlmfer(*args, "--batch", cwd=tmp_path, cache=cache, **env)
    assert started.returncode == 0, started.stderr
    assert len(state(out)["rounds"][0]["jobs"]) == 7

    results_file = out / "batch" / "results.jsonl"
    emu.configure(download_latency_s=0.5)
    proc = spawn("batch", "collect", str(out), cwd=tmp_path, cache=cache, **env)
    n = _kill_mid_collect(proc, emu, results_file, 3)
    assert 3 <= n < 21, "killed mid-way: some results in, not all"
    _no_duplicates(out)
    # The state still says the round is being collected; running collect again finishes it.
    assert state(out)["rounds"][0]["phase"] == "submitted"
    again = vlmfer("batch", "collect", str(out), cwd=tmp_path, cache=cache, **env)
    assert again.returncode == 0, again.stderr
    assert "round 2 submitted" in again.stdout
    _no_duplicates(out)
    assert len(results(out)) == 21

    # Round 2: killed once its first job's results are in, then a torn half line at the
    # end of each file (as if the kill had landed mid-write).
    round2 = state(out)["rounds"][1]
    assert len(round2["jobs"]) > 1
    emu.configure(download_latency_s=0.5)
    proc = spawn("batch", "collect", str(out), cwd=tmp_path, cache=cache, **env)
    assert 22 <= _kill_mid_collect(proc, emu, results_file, 22) < 21 + round2["requests"]
    with results_file.open("a") as f:
        f.write('{"key": "abc", "round": 2, "err')
    with (out / "predictions.jsonl").open("a") as f:
        f.write('{"sample_id": "test/Anger/00')
    done = vlmfer("batch", "collect", str(out), "--wait", "--poll-s", "0.01", cwd=tmp_path,
                  cache=cache, **env)
    assert done.returncode == 0, done.stderr
    assert "complete" in done.stdout
    _no_duplicates(out)
    assert results_file.read_text().endswith("\n")  # the torn line was cut off
    assert len(predictions(out)) == 21

    online = run_experiment(_experiment_of(out, tmp_path / "online"))
    assert verdicts(out) == verdicts(online.path)


def _experiment_of(run: Path, out: Path) -> Experiment:
    """The batch run's own experiment, run online into ``out`` without the cache."""
    data = json.loads((run / "batch" / "experiment.json").read_text())
    data["run"].update(out=str(out), batch=False, cache=False)
    return Experiment.model_validate(data)
