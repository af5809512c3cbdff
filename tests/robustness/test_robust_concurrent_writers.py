"""Two ``vlmfer run`` processes at once on one response cache, each with its own run folder."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from robust_support import cli_env, distinct_images, raw_rows, vlmfer

from vlmfer.emulator import Emulator, EmulatorConfig

N = 150


def _start(args: list[str], cwd: Path, cache: Path) -> subprocess.Popen[str]:
    env = cli_env(cwd, VLMFER_CACHE_DIR=str(cache))
    return subprocess.Popen([sys.executable, "-m", "vlmfer", *args], cwd=cwd, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_two_processes_share_a_cache_without_corruption_or_lost_rows(tmp_path: Path) -> None:
    distinct_images(tmp_path / "same", N)
    distinct_images(tmp_path / "other", N + 7)
    for png in (tmp_path / "other" / "test").rglob("*.png"):
        if int(png.stem) < 7:
            png.unlink()  # the other tree holds images 7..N+6: most of them shared
    cache = tmp_path / "cache"
    cfg = EmulatorConfig(policy="neutral-biased", latency=0.02, strict_media=False)
    with Emulator(cfg, port=0) as emu:
        def args(data: str, out: str) -> list[str]:
            return ["run", "--dataset", "folder", "--data-root", str(tmp_path / data),
                    "--split", "test", "--model", "openai/gpt-5.2", "--base-url",
                    emu.openai_base_url, "--concurrency", "16", "--quiet", "--out", out]

        # The same experiment twice at once (the same keys), and a different one beside it.
        procs = [_start(args("same", "a"), tmp_path, cache),
                 _start(args("same", "b"), tmp_path, cache),
                 _start(args("other", "c"), tmp_path, cache)]
        for p in procs:
            _, err = p.communicate(timeout=240)
            assert p.returncode == 0, err[-2000:]
        first_calls = len(emu.calls("chat"))

        for out, n in (("a", N), ("b", N), ("c", N)):
            rows = raw_rows(tmp_path / out)
            counts = Counter(r["sample_id"] for r in rows)
            assert len(rows) == n and max(counts.values()) == 1, out
            text = (tmp_path / out / "predictions.jsonl").read_text(encoding="utf-8")
            assert text.endswith("\n")
        a = {r["sample_id"]: r["pred"] for r in raw_rows(tmp_path / "a")}
        b = {r["sample_id"]: r["pred"] for r in raw_rows(tmp_path / "b")}
        assert a == b

        db = next(cache.rglob("*.sqlite3"))
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            stored = conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        # Each distinct image is cached once: images 7..N-1 are in both trees, N..N+6 only in
        # the other one.
        assert stored == N + 7
        assert first_calls <= 2 * N + N

        # A third run of each experiment into new folders is served by the cache alone.
        emu.reset()
        for data, out in (("same", "a2"), ("other", "c2")):
            again = vlmfer(*args(data, out), cwd=tmp_path,
                           env=cli_env(tmp_path, VLMFER_CACHE_DIR=str(cache)))
            assert again.returncode == 0, again.stderr
            assert len(raw_rows(tmp_path / out)) == N
        assert emu.calls("chat") == []
