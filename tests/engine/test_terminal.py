"""What the terminal says during and after a run, as a user sees it: `vlmfer run` in a
subprocess (stderr is a pipe, not a terminal) against the loopback emulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vlmfer.emulator import Emulator, EmulatorConfig

KEY = "sk-test-terminal-0123456789"


def vlmfer(*args: str, cwd: Path, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    base = {**os.environ, "OPENAI_API_KEY": KEY, "VLMFER_CACHE_DIR": str(cwd / "cache"),
            "NO_PROXY": "127.0.0.1"}
    return subprocess.run([sys.executable, "-m", "vlmfer", *args], cwd=cwd, text=True,
                          capture_output=True, env={**base, **(env or {})}, timeout=300)


def rows(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    from vlmfer.datasets.synthetic import make_caer_s_like

    root = tmp_path / "CAER-S"
    make_caer_s_like(root, per_class=3, splits=("test",))
    return root


def break_first_two(root: Path) -> list[str]:
    """Spoil the first two samples in dataset order: one empty, one not an image."""
    (root / "test/Anger/0001.png").write_bytes(b"")
    (root / "test/Anger/0002.png").write_bytes(b"not a png at all")
    return ["test/Anger/0001.png", "test/Anger/0002.png"]


def emulator(tmp_path: Path, **options: object) -> Emulator:
    return Emulator(EmulatorConfig(log_path=tmp_path / "emulator.jsonl", **options), port=0)


def run_args(data: Path, emu: Emulator, *extra: str, model: str = "openai/gpt-5.2") -> list[str]:
    return ["run", "--dataset", "caer-s", "--data-root", str(data), "--split", "test",
            "--model", model, "--base-url", emu.openai_base_url, "--out", "run", *extra]


# ---------------------------------------------------------------- why samples failed

def test_the_end_of_a_run_says_why_samples_failed(tmp_path: Path, data: Path) -> None:
    broken = break_first_two(data)
    # The model answers a label outside the set: every readable sample is `invalid`.
    with emulator(tmp_path, policy="fixed:Contempt") as emu:
        done = vlmfer(*run_args(data, emu, "--concurrency", "2", "--quiet"), cwd=tmp_path)
        sent = len([r for r in emu.requests if r.get("outcome")])
    # Two bad files at the very start are not a systematic failure: the run went on.
    assert done.returncode == 1, done.stderr
    assert sent == 19 and len(rows(tmp_path / "run")) == 21
    out = done.stdout
    assert "why samples did not end ok:" in out
    assert "19 × invalid — the answer named no single label" in out
    assert "2 × error: media — the media file cannot be used" in out
    assert any(f"e.g. {b}: " in out for b in broken), out


def test_a_run_where_every_sample_errored_costs_unknown_not_zero(
    tmp_path: Path, data: Path
) -> None:
    # Server errors are transient, so they never stop a run early; one attempt each.
    with emulator(tmp_path, faults={"http_500": 1.0}) as emu:
        done = vlmfer(*run_args(data, emu, "--limit", "5", "--quiet",
                                "--set", "run.max_attempts=1"), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "outcomes: ok=0" in done.stdout
    assert "cost: unknown" in done.stdout and "$0.0000" not in done.stdout
    assert "5 × error: server — server errors on every attempt" in done.stdout


# ---------------------------------------------------------------- fail fast

def test_a_wrong_model_id_stops_the_run_early_and_pays_for_nothing_more(
    tmp_path: Path, data: Path
) -> None:
    with emulator(tmp_path) as emu:
        done = vlmfer(*run_args(data, emu, "--concurrency", "2",
                                model="openai/gpt-does-not-exist"), cwd=tmp_path)
        sent = len(emu.calls("chat"))
    assert done.returncode == 2, done.stderr
    assert "stopped early" in done.stderr and "(not_found)" in done.stderr
    # Two identical permanent failures stop it; at most one more request was in flight.
    assert sent <= 3, sent
    assert len(rows(tmp_path / "run")) <= 3
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stopped"]["kind"] == "not_found"
    assert manifest["finished"] is None


def test_a_rejected_key_stops_the_run_early(tmp_path: Path, data: Path) -> None:
    with emulator(tmp_path, api_key="the-right-key") as emu:
        done = vlmfer(*run_args(data, emu, "--concurrency", "4"), cwd=tmp_path)
        sent = len(emu.calls("chat"))
    assert done.returncode == 2, done.stderr
    assert "stopped early" in done.stderr and "(auth)" in done.stderr
    assert "OPENAI_API_KEY" in done.stderr  # the first failure's reason says what to fix
    assert KEY not in done.stderr + done.stdout
    assert sent <= 4 + 3, sent  # the window (4) plus the other workers' requests in flight


def test_fail_fast_through_the_python_api(tmp_path: Path, data: Path) -> None:
    import asyncio

    import vlmfer as api
    from vlmfer.engine import EngineOptions
    from vlmfer.engine.core import SystematicFailure
    from vlmfer.evaluation import evaluate_async

    with emulator(tmp_path) as emu:
        predictor = api.get_predictor("openai/model-does-not-exist",
                                      base_url=emu.openai_base_url, api_key="k")
        with pytest.raises(SystematicFailure, match="not_found") as info:
            asyncio.run(evaluate_async(
                api.get_dataset("caer-s", root=data, split="test"), predictor,
                api.get_strategy("single-shot"), out=tmp_path / "api",
                options=EngineOptions(concurrency=1, progress=False, cache=False)))
        assert len(emu.calls("chat")) == 2
    assert info.value.samples == 2


# ---------------------------------------------------------------- progress and resume

def test_progress_lines_when_stderr_is_not_a_terminal_then_resume_says_what_was_done(
    tmp_path: Path, data: Path
) -> None:
    break_first_two(data)
    env = {"VLMFER_PROGRESS_INTERVAL": "0.05"}
    with emulator(tmp_path, latency=0.15) as emu:
        first = vlmfer(*run_args(data, emu, "--limit", "7", "--concurrency", "1"), cwd=tmp_path,
                       env=env)
        lines = [x for x in first.stderr.splitlines() if x.startswith("progress: ")]
        assert first.returncode == 1, first.stderr
        assert len(lines) >= 2, first.stderr  # at least one timed line, and the last one
        last = lines[-1]
        for part in ("7/7 samples (100%)", "samples/s", "cost $", "ok=", "error=", "retries 0"):
            assert part in last, last
        assert any("ETA" in x for x in lines[:-1])

        again = vlmfer(*run_args(data, emu, "--limit", "7", "--concurrency", "1"), cwd=tmp_path,
                       env=env)
    err = again.stderr
    errored = json.dumps(rows(tmp_path / "run")).count('"outcome": "error"')
    note = re.search(r"resuming run: (\d+) of 7 samples already done; (\d+) that ended in an "
                     r"error are asked again; (\d+) to go", err)
    assert note is not None, err
    assert int(note.group(2)) == errored >= 1
    assert int(note.group(1)) + int(note.group(3)) == 7
    assert err.index("resuming run") < err.index("progress: ")


def test_progress_counts_retries_and_the_bar_ends_exact(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    import vlmfer as api
    from vlmfer.engine.progress import Progress

    with emulator(tmp_path, faults={"http_500": 0.5}, seed=3) as emu:
        run = api.evaluate(
            api.get_dataset("caer-s", root=data, split="test", limit=8),
            api.get_predictor("openai/gpt-5.2", base_url=emu.openai_base_url, api_key="k"),
            api.get_strategy("single-shot"), out=tmp_path / "r", cache=False,
            backoff_base_s=0.001, backoff_max_s=0.002, max_attempts=10, n_boot=10)
    retries = sum(s.attempts - 1 for p in run.predictions for s in p.steps)
    assert retries > 0
    err = capsys.readouterr().err  # captured: not a terminal, so plain lines
    assert err.strip().splitlines()[-1].endswith(f"retries {retries}")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = Progress(len(run.predictions), enabled=True, stream=screen)
    bar.start()
    for pred in run.predictions:
        bar.update(pred)  # all at once: the throttled postfix shows only the first
    bar.close()
    final = screen.getvalue().split("\r")[-1]
    assert f"ok={run.outcomes['ok']}" in final and f"retries={retries}" in final, final
    assert f"{len(run.predictions)}/{len(run.predictions)}" in final


# ---------------------------------------------------------------- models and dry run

def test_a_retired_model_warns_once_in_a_run_and_in_a_dry_run(
    tmp_path: Path, data: Path
) -> None:
    with emulator(tmp_path) as emu:
        dry = vlmfer(*run_args(data, emu, "--dry-run", model="openai/gpt-4o-2024-05-13"),
                     cwd=tmp_path)
        done = vlmfer(*run_args(data, emu, "--limit", "3", "--quiet",
                                model="openai/gpt-4o-2024-05-13"), cwd=tmp_path)
        local = vlmfer(*run_args(data, emu, "--limit", "3", "--quiet", "--out", "local",
                                 model="openai/my-local-model"), cwd=tmp_path)
    assert dry.returncode == 0 and done.returncode == 0 and local.returncode == 0
    assert dry.stdout.count("gpt-4o-2024-05-13 was retired on 2026-10-23") == 1
    assert done.stderr.count("gpt-4o-2024-05-13 was retired on 2026-10-23") == 1
    assert local.stderr.count("openai/my-local-model has no known price") == 1


def test_dry_run_checks_every_file_and_says_what_a_request_carries(
    tmp_path: Path, data: Path
) -> None:
    broken = break_first_two(data)
    with emulator(tmp_path) as emu:
        dry = vlmfer(*run_args(data, emu, "--dry-run"), cwd=tmp_path)
        assert emu.requests == []
    assert dry.returncode == 0, dry.stderr
    out = dry.stdout
    assert "2 of 21 file(s) cannot be used" in out
    assert f"{broken[0]}: file is empty (0 bytes)" in out
    assert re.search(rf"{re.escape(broken[1])}: cannot decode it as an image", out)
    assert re.search(r"request   1 image, \d+×\d+ JPEG", out), out
    # The estimate rests on up to 20 readable samples spread over the classes.
    assert "mean of 19 sample(s) across 7 class(es)" in out


def test_dry_run_on_video_names_frames_or_the_clip(tmp_path: Path) -> None:
    from vlmfer.datasets.synthetic import make_caer_like

    root = tmp_path / "CAER"
    make_caer_like(root, per_class=1, seconds=3.0, size=(400, 224))
    with emulator(tmp_path) as emu:
        frames = vlmfer("run", "--dataset", "caer", "--data-root", str(root), "--split", "test",
                        "--model", "openai/gpt-5.2", "--base-url", emu.openai_base_url,
                        "--dry-run", cwd=tmp_path)
        clip = vlmfer("run", "--dataset", "caer", "--data-root", str(root), "--split", "test",
                      "--model", "gemini/gemini-3.5-flash", "--base-url", emu.gemini_base_url,
                      "--dry-run", cwd=tmp_path)
    assert frames.returncode == 0, frames.stderr
    assert "request   8 frames, 400×224 JPEG" in frames.stdout
    assert clip.returncode == 0, clip.stderr
    assert "request   1 video, AVI 3.0 s, 400×224, inline" in clip.stdout


# ---------------------------------------------------------------- configuration errors

def test_misspelt_tables_and_keys_get_a_did_you_mean_and_bad_values_list_valid_ones(
    tmp_path: Path,
) -> None:
    (tmp_path / "exp.toml").write_text(
        '[modle]\nname = "openai/gpt-5.2"\n[run]\nconcurency = 3\n'
        '[media]\nvideo_mode = "nat"\n', encoding="utf-8")
    done = vlmfer("run", "exp.toml", "--dry-run", cwd=tmp_path)
    assert done.returncode == 2
    err = done.stderr
    assert "unknown table [modle] (did you mean [model]?)" in err
    assert "unknown key 'run.concurency' (did you mean 'concurrency'?)" in err
    assert "media.video_mode: Input should be 'auto', 'native' or 'frames' (got 'nat')" in err


# ---------------------------------------------------------------- six-class

def test_six_class_leaves_neutral_out_and_says_how_many(tmp_path: Path, data: Path) -> None:
    with emulator(tmp_path) as emu:
        dry = vlmfer(*run_args(data, emu, "--strategy", "six-class", "--dry-run"), cwd=tmp_path)
        done = vlmfer(*run_args(data, emu, "--strategy", "six-class"), cwd=tmp_path)
        sent = len([r for r in emu.requests if r.get("outcome")])
    assert dry.returncode == 0, dry.stderr
    assert "left out 3 Neutral sample(s)" in dry.stdout
    assert done.returncode == 0, done.stderr
    assert "left out 3 Neutral sample(s)" in done.stderr
    assert "left out: 3 gold-Neutral sample(s)" in done.stdout
    assert sent == 18
    preds = rows(tmp_path / "run")
    assert len(preds) == 18 and all(p["gold"] != "Neutral" for p in preds)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["dataset"]["excluded_gold"] == {"Neutral": 3}
    assert manifest["dataset"]["n"] == 18


# ---------------------------------------------------------------- calibrated without logprobs

def test_calibrated_without_logprobs_says_at_start_up_it_samples(tmp_path: Path,
                                                                 data: Path) -> None:
    """A predictor without log-probabilities (Claude, gpt-5.x): calibrated switches to its
    sampling fallback before any request, says so, and records what ran."""
    with emulator(tmp_path, policy="fixed:Happy") as emu:
        args = run_args(data, emu, "--strategy", "calibrated", "--limit", "3",
                        "--set", "model.supports_logprobs=false",
                        "--set", "strategy.samples=2")
        dry = vlmfer(*args, "--dry-run", cwd=tmp_path)
        assert dry.returncode == 0, dry.stderr
        assert "sampling fallback" in dry.stdout
        assert emu.calls("chat") == []
        proc = vlmfer(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "returns no log-probabilities" in proc.stderr
        assert "sampling fallback" in proc.stderr
        bodies = [c["body"] for c in emu.calls("chat")]
    assert bodies and not any(b.get("logprobs") for b in bodies)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["strategy"]["options"]["fallback"] == "sampling"
    assert {r["outcome"] for r in rows(tmp_path / "run")} == {"ok"}
