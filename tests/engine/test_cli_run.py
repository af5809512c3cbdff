"""``vlmfer run`` / ``report`` as a user runs them: a subprocess against the loopback emulator."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import pytest
import support
from support import cli_env, raw_rows, spawn, wait_until, whole_lines

from vlmfer.emulator import Emulator, EmulatorConfig

KEY = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vlmfer.datasets.synthetic import make_caer_s_like

    root = tmp_path_factory.mktemp("data") / "CAER-S"
    make_caer_s_like(root, per_class=3, splits=("test",))
    return root


@pytest.fixture()
def emulator_config(tmp_path: Path) -> EmulatorConfig:
    return EmulatorConfig(policy="neutral-biased", log_path=tmp_path / "emulator.jsonl")


def env_for(cwd: Path, **extra: str) -> dict[str, str]:
    return cli_env(cwd / "cache", **{"OPENAI_API_KEY": KEY, **extra})


def vlmfer(*args: str, cwd: Path, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    return support.vlmfer(*args, cwd=cwd, env=env_for(cwd, **(env or {})))


def rows(out: Path) -> dict[str, dict[str, Any]]:
    """Predictions by sample; fails on a sample recorded twice."""
    lines = raw_rows(out)
    counts = Counter(r["sample_id"] for r in lines)
    assert not [k for k, n in counts.items() if n > 1], counts.most_common(3)
    return {r["sample_id"]: r for r in lines}


def test_run_report_and_resume_through_the_real_sdk(
    tmp_path: Path, data: Path, emu: Emulator
) -> None:
    args = ["run", "--dataset", "caer-s", "--data-root", str(data), "--split", "test",
            "--model", "openai/gpt-5.2", "--base-url", emu.openai_base_url,
            "--strategy", "single-shot", "--out", "run", "--quiet"]
    first = vlmfer(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = tmp_path / "run"
    for name in ("manifest.json", "predictions.jsonl", "metrics.json"):
        assert (out / name).exists(), name
    preds = rows(out)
    assert len(preds) == 21
    # Besides the 21 answers, the capability probe's one GET /models (docs/local-servers.md).
    calls = len(emu.calls("chat"))
    assert calls == 21 and len(emu.calls("models.list")) == 1
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("n", "accuracy", "uar", "macro_f1", "ci", "per_class", "confusion_matrix",
                "neutral_rate", "gold_neutral_rate", "outcomes", "excluding_neutral",
                "usage", "cost_usd"):
        assert key in metrics, key
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["base_url"] == emu.openai_base_url
    assert manifest["probe"]["main"]["server"] == "vlmfer-emulator"
    # the same command again: nothing is asked, nothing duplicated
    again = vlmfer(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(emu.calls("chat")) == calls and rows(out) == preds
    assert len(emu.calls("models.list")) == 1  # nothing left to ask: no probe either
    rep = vlmfer("report", "run", cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    assert (out / "report.html").exists() and (out / "confusion_matrix.png").exists()
    assert json.loads((out / "metrics.json").read_text()) == metrics


def test_no_key_is_written_anywhere(tmp_path: Path, data: Path, emu: Emulator) -> None:
    out = vlmfer("run", "--dataset", "caer-s", "--data-root", str(data), "--model",
                 "openai/gpt-5.2", "--base-url", emu.openai_base_url, "--out", "run",
                 "--quiet", "--limit", "7", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert KEY not in out.stdout + out.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[run\nconcurrency = 2", "not valid TOML"),
        ("[run]\nconcurency = 2", "unknown key 'run.concurency'"),
        ("[strategy]\nname = 'single-shot'\ntemprature = 0", "unknown option 'temprature'"),
        ("[model]\napi_key = 'sk-123'", "keys come only from the environment"),
        ("[dataset]\nname = 'caer_s'", "Did you mean 'caer-s'"),
    ],
)
def test_bad_experiment_files_exit_2_with_a_clear_error(
    tmp_path: Path, data: Path, toml: str, expected: str
) -> None:
    (tmp_path / "exp.toml").write_text(toml + f"\n[dataset]\nroot = '{data}'\n"
                                       if "[dataset]" not in toml else toml)
    out = vlmfer("run", "exp.toml", "--dry-run", cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert expected in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_flag_and_missing_key_exit_2(tmp_path: Path, data: Path) -> None:
    out = vlmfer("run", "--limit", "ten", cwd=tmp_path)
    assert out.returncode == 2 and "invalid int value" in out.stderr
    env = {"OPENAI_API_KEY": ""}
    out = vlmfer("run", "--dataset", "caer-s", "--data-root", str(data), "--model",
                 "openai/gpt-5.2", "--out", "r", cwd=tmp_path, env=env)
    assert out.returncode == 2 and "OPENAI_API_KEY" in out.stderr


def test_dry_run_counts_estimates_and_sends_nothing(
    tmp_path: Path, data: Path, emu: Emulator
) -> None:
    out = vlmfer("run", "--dataset", "caer-s", "--data-root", str(data), "--model",
                 "openai/gpt-5.2", "--base-url", emu.openai_base_url, "--dry-run",
                 cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Anger=3" in out.stdout and "Emotion List:" in out.stdout
    assert "input tokens" in out.stdout and "no request was sent" in out.stdout
    assert emu.requests == []


def test_fault_injection_accounts_for_every_sample(
    tmp_path: Path, data: Path
) -> None:
    from vlmfer.emulator.config import FaultRates

    faults = FaultRates(http_429=0.15, http_500=0.1, malformed=0.05, block=0.1)
    cfg = EmulatorConfig(policy="neutral-biased", faults=faults, retry_after_s=0.0, seed=3)
    with Emulator(cfg, port=0) as emu:
        out = vlmfer("run", "--dataset", "caer-s", "--data-root", str(data), "--model",
                     "openai/gpt-5.2", "--base-url", emu.openai_base_url, "--out", "run",
                     "--quiet", "--set", "run.max_attempts=2", cwd=tmp_path)
        counters = dict(emu.counters)
    assert out.returncode in (0, 1), out.stderr
    preds = rows(tmp_path / "run")
    assert len(preds) == 21
    for p in preds.values():
        if p["outcome"] != "ok":
            assert p["pred"] is None
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    cm = metrics["confusion_matrix"]
    columns = cm["columns"]
    for outcome in ("invalid", "refused", "blocked", "error"):
        n_col = sum(row[columns.index(outcome)] for row in cm["matrix"])
        assert n_col == metrics["outcomes"][outcome]
    # Every injected block that was a final answer is a non-answer (OpenAI renders some
    # blocks as refusals), and the seeded draw does inject some.
    blocks = counters["faults"].get("block", 0)
    non_answers = metrics["outcomes"]["blocked"] + metrics["outcomes"]["refused"]
    assert 1 <= non_answers <= blocks
    assert sum(metrics["outcomes"].values()) == 21


def _hash(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _media_hashes(data: Path) -> dict[str, str]:
    """sha256 of the bytes the OpenAI backend sends for each sample → sample id."""
    import vlmfer
    from vlmfer.media import prepare_media
    from vlmfer.types import MediaSpec

    ds = vlmfer.get_dataset("caer-s", root=data, split="test")
    out = {}
    for s in ds:
        part = prepare_media(s.media, MediaSpec(), as_="image").parts[0]
        out[_hash(part.data)] = s.id
    return out


# The client's own budget is the gate: with --rpm K, K requests go out and then the run
# waits a minute for its budget. Killing or interrupting it after K lines is a point the
# test controls; the resume runs without the limit.
GATE_ARGS = ["run", "--dataset", "caer-s", "--data-root", "{data}", "--model", "openai/gpt-5.2",
             "--strategy", "single-shot", "--concurrency", "3"]


@pytest.mark.parametrize(("budget", "kill_at"), [(1, 1), (4, 2), (11, 11)])
def test_kill_9_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, data: Path, budget: int, kill_at: int
) -> None:
    cfg = EmulatorConfig(policy="neutral-biased", latency=0.1, seed=budget)
    args = [a.format(data=data) for a in GATE_ARGS] + ["--quiet"]
    with Emulator(cfg, port=0) as emu:
        base = [*args, "--base-url", emu.openai_base_url]
        (tmp_path / "a").mkdir()
        clean = vlmfer(*base, "--out", "clean", cwd=tmp_path / "a")
        assert clean.returncode == 0, clean.stderr
        emu.reset()
        work = tmp_path / "b"
        work.mkdir()
        proc = spawn(*base, "--rpm", str(budget), "--out", "run", cwd=work, env=env_for(work))
        preds = work / "run" / "predictions.jsonl"
        try:
            wait_until(lambda: len(whole_lines(preds)) >= kill_at,
                       f"{kill_at} finished sample(s)", proc=proc)
        finally:
            proc.kill()
            proc.wait(timeout=30)
        finished = {r["sample_id"] for r in raw_rows(preds)}
        assert kill_at <= len(finished) <= budget < 21
        resumed = vlmfer(*base, "--out", "run", cwd=work)
        assert resumed.returncode == 0, resumed.stderr
        requests = emu.calls("openai.chat")
    want = rows(tmp_path / "a" / "clean")
    got = rows(work / "run")  # every sample once, counted line by line
    assert set(got) == set(want)
    assert {k: (v["pred"], v["outcome"]) for k, v in got.items()} == {
        k: (v["pred"], v["outcome"]) for k, v in want.items()}
    ids = _media_hashes(data)
    paid = Counter(ids[m["sha256"]] for r in requests for m in r.get("media", []))
    assert {sid: paid[sid] for sid in finished} == dict.fromkeys(finished, 1), \
        "a sample that finished before the kill was asked again"
    assert max(paid.values()) <= 2  # at most once before the kill and once after


@pytest.mark.parametrize("launched_with", ["default", "ignore"])
def test_ctrl_c_stops_cleanly_and_prints_the_resume_command(
    tmp_path: Path, data: Path, launched_with: Literal["default", "ignore"]
) -> None:
    """Ctrl-C works however the run was launched: a shell starts background jobs with
    SIGINT ignored, and ``vlmfer run`` must still stop on it."""
    cfg = EmulatorConfig(policy="neutral-biased", latency=0.1)
    with Emulator(cfg, port=0) as emu:
        args = [*(a.format(data=data) for a in GATE_ARGS), "--base-url", emu.openai_base_url,
                "--out", "run"]
        proc = spawn(*args, "--rpm", "3", cwd=tmp_path, env=env_for(tmp_path),
                     sigint=launched_with, output=True)
        preds = tmp_path / "run" / "predictions.jsonl"
        try:
            wait_until(lambda: len(whole_lines(preds)) >= 3, "3 finished samples", proc=proc)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 130, err
        assert "Resume with" in err and "--out run" in err
        assert "Traceback" not in err
        assert len(rows(tmp_path / "run")) == 3
        resumed = vlmfer(*args, "--quiet", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert len(rows(tmp_path / "run")) == 21


def test_a_wrong_key_is_an_error_outcome_and_its_echo_is_not_recorded(
    tmp_path: Path, data: Path
) -> None:
    cfg = EmulatorConfig(policy="neutral-biased", api_key="sk-the-right-key-000000000000")
    with Emulator(cfg, port=0) as emu:
        out = vlmfer("run", "--dataset", "caer-s", "--data-root", str(data), "--model",
                     "openai/gpt-5.2", "--base-url", emu.openai_base_url, "--out", "run",
                     "--quiet", "--limit", "7", cwd=tmp_path)
    assert out.returncode == 1, out.stderr  # the run finished, every sample an error
    preds = rows(tmp_path / "run")
    assert {p["outcome"] for p in preds.values()} == {"error"}
    assert all("OPENAI_API_KEY" in str(p["reason"]) for p in preds.values())
    # The service echoed the presented key, masked; no part of it may reach a file.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data_ = path.read_bytes()
            assert KEY.encode() not in data_ and KEY[:8].encode() + b"***" not in data_, path
