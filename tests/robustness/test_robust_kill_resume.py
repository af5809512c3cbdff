"""``kill -9`` at ten seeded random moments, then the same command again.

The resumed run must equal an uninterrupted run sample for sample, its predictions file must
hold each sample once, and the emulator's log must show no paid call repeated for a sample that
had finished before the kill.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from robust_support import cli_env, raw_rows, sent_image_hashes, vlmfer

import vlmfer as vl
from vlmfer.emulator import Emulator, EmulatorConfig

PER_CLASS = 5
N = 7 * PER_CLASS


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from vlmfer.datasets.synthetic import make_caer_s_like

    base = tmp_path_factory.mktemp("kill")
    data = base / "CAER-S"
    make_caer_s_like(data, per_class=PER_CLASS, splits=("test",))
    ids = sent_image_hashes(vl.get_dataset("caer-s", root=data, split="test"))
    cfg = EmulatorConfig(policy="neutral-biased", latency=0.1, seed=7, strict_media=False)
    with Emulator(cfg, port=0) as emu:
        args = ["run", "--dataset", "caer-s", "--data-root", str(data), "--split", "test",
                "--model", "openai/gpt-5.2", "--base-url", emu.openai_base_url,
                "--strategy", "single-shot", "--quiet", "--concurrency", "3"]
        clean_dir = base / "clean"
        clean_dir.mkdir()
        t0 = time.monotonic()
        clean = vlmfer(*args, "--out", "run", cwd=clean_dir)
        assert clean.returncode == 0, clean.stderr
        yield {"args": args, "emu": emu, "ids": ids, "base": base,
               "clean": {r["sample_id"]: r for r in raw_rows(clean_dir / "run")},
               "wall": time.monotonic() - t0}


def _finished_before_kill(out: Path) -> set[str]:
    path = out / "predictions.jsonl"
    if not path.exists():
        return set()
    done = set()
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.endswith("\n"):
            done.add(json.loads(line)["sample_id"])
    return done


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_kill_9_at_a_random_moment_then_resume(setup: dict[str, Any], seed: int) -> None:
    rng = random.Random(seed)
    emu: Emulator = setup["emu"]
    emu.reset()
    work = setup["base"] / f"seed{seed}"
    work.mkdir()
    out = work / "run"
    proc = subprocess.Popen([sys.executable, "-m", "vlmfer", *setup["args"], "--out", "run"],
                            cwd=work, env=cli_env(work), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        # Seeds 0 and 5 kill with requests in flight and nothing finished yet; the others at a
        # random moment after the first sample finished.
        deadline = time.monotonic() + 60
        early = seed % 5 == 0
        while time.monotonic() < deadline and proc.poll() is None:
            if early and emu.requests:
                break
            if not early and (out / "predictions.jsonl").exists() and \
                    (out / "predictions.jsonl").stat().st_size > 0:
                break
            time.sleep(0.005)
        if not early:
            time.sleep(rng.uniform(0.0, 0.8 * N / 3 * 0.1))
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    finished = _finished_before_kill(out)
    time.sleep(0.3)  # requests in flight at the kill reach the log after their latency
    # Answers only: the resumed run's capability probe adds one GET /models.
    killed_calls = len(emu.calls("chat"))
    assert len(finished) < N, "the kill came after the run had finished"

    resumed = vlmfer(*setup["args"], "--out", "run", cwd=work)
    assert resumed.returncode == 0, resumed.stderr
    rows = raw_rows(out)
    counts = Counter(r["sample_id"] for r in rows)
    assert len(rows) == N and max(counts.values()) == 1, counts.most_common(3)
    text = (out / "predictions.jsonl").read_text(encoding="utf-8")
    assert text.endswith("\n") and all(json.loads(line) for line in text.splitlines())
    want = setup["clean"]
    got = {r["sample_id"]: r for r in rows}
    assert {k: (v["pred"], v["outcome"]) for k, v in got.items()} == {
        k: (v["pred"], v["outcome"]) for k, v in want.items()}

    paid: Counter[str] = Counter()
    for r in emu.requests:
        for m in r.get("media") or []:
            paid[setup["ids"][m["sha256"]]] += 1
    repeated = sorted(sid for sid in finished if paid[sid] > 1)
    assert not repeated, f"finished before the kill but asked again: {repeated}"
    # Everything not finished was asked at most twice: once before the kill, once after.
    assert max(paid.values()) <= 2
    assert len(emu.calls("chat")) - killed_calls <= N - len(finished)
