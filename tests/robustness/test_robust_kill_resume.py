"""``kill -9`` at ten seeded moments the test controls, then the same command again.

The killed run is given a request budget (``--rpm``) and is killed once a seeded number
of samples has finished, with its other budgeted requests still in flight or, at the
budget's end, with the run waiting for it; seeds 0 and 5 kill as the first request
arrives, before anything finished. The budget makes sure the kill comes mid-run however
fast the machine is. The resumed run (without the budget) must equal an uninterrupted run
sample for sample, its predictions file must hold each sample once, and the emulator's
log must show no paid call repeated for a sample that had finished before the kill.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from robust_support import cli_env, raw_rows, sent_image_hashes, vlmfer
from support import spawn, wait_until, whole_lines

import vlmfer as vl
from vlmfer.emulator import Emulator, EmulatorConfig

PER_CLASS = 5
N = 7 * PER_CLASS
CONCURRENCY = 3
# Answers depend only on the seed and what is asked, so every emulator made from this
# config answers alike (each test has its own, so no late log entry crosses tests).
CONFIG = EmulatorConfig(policy="neutral-biased", latency=0.1, seed=7, strict_media=False)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from vlmfer.datasets.synthetic import make_caer_s_like

    base = tmp_path_factory.mktemp("kill")
    data = base / "CAER-S"
    make_caer_s_like(data, per_class=PER_CLASS, splits=("test",))
    ids = sent_image_hashes(vl.get_dataset("caer-s", root=data, split="test"))
    with Emulator(CONFIG, port=0) as emu:
        clean_dir = base / "clean"
        clean_dir.mkdir()
        clean = vlmfer(*_args(data, emu), "--out", "run", cwd=clean_dir)
        assert clean.returncode == 0, clean.stderr
    yield {"data": data, "ids": ids, "base": base,
           "clean": {r["sample_id"]: r for r in raw_rows(clean_dir / "run")}}


def _args(data: Path, emu: Emulator) -> list[str]:
    return ["run", "--dataset", "caer-s", "--data-root", str(data), "--split", "test",
            "--model", "openai/gpt-5.2", "--base-url", emu.openai_base_url,
            "--strategy", "single-shot", "--quiet", "--concurrency", str(CONCURRENCY)]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_kill_9_at_a_chosen_moment_then_resume(setup: dict[str, Any], seed: int) -> None:
    rng = random.Random(seed)
    budget = rng.randint(CONCURRENCY, N - 1)
    early = seed % 5 == 0
    kill_at = 0 if early else rng.randint(1, budget)
    work = setup["base"] / f"seed{seed}"
    work.mkdir()
    out = work / "run"
    preds = out / "predictions.jsonl"
    with Emulator(CONFIG, port=0) as emu:
        args = _args(setup["data"], emu)
        proc = spawn(*args, "--rpm", str(budget), "--out", "run", cwd=work, env=cli_env(work))
        try:
            if early:  # requests in flight, nothing finished yet
                wait_until(lambda: emu.counters["requests"].get("openai.chat", 0) > 0,
                           "the first request", proc=proc)
            else:
                wait_until(lambda: len(whole_lines(preds)) >= kill_at,
                           f"{kill_at} finished sample(s)", proc=proc)
        finally:
            proc.kill()
            proc.wait(timeout=30)
        finished = {r["sample_id"] for r in raw_rows(preds)}
        assert kill_at <= len(finished) <= budget < N
        resumed = vlmfer(*args, "--out", "run", cwd=work)
        assert resumed.returncode == 0, resumed.stderr
        requests = emu.calls("openai.chat")

    rows = raw_rows(out)
    counts = Counter(r["sample_id"] for r in rows)
    assert len(rows) == N and max(counts.values()) == 1, counts.most_common(3)
    assert preds.read_text(encoding="utf-8").endswith("\n")
    want = setup["clean"]
    got = {r["sample_id"]: r for r in rows}
    assert {k: (v["pred"], v["outcome"]) for k, v in got.items()} == {
        k: (v["pred"], v["outcome"]) for k, v in want.items()}

    # A request in flight at the kill may reach the log late (or not before the emulator
    # stops); it is for an unfinished sample, so these counts hold whenever it lands.
    paid = Counter(setup["ids"][m["sha256"]] for r in requests for m in r.get("media") or [])
    repeated = sorted(sid for sid in finished if paid[sid] != 1)
    assert not repeated, f"finished before the kill but asked again: {repeated}"
    # Everything else was asked at most twice: once before the kill, once after.
    assert set(paid) == set(want) and max(paid.values()) <= 2
