"""No key in any file written: run folders, caches, logs (collected last in this folder).

It scans everything the tests of this session wrote under pytest's base temporary folder, after
a run of its own that goes through the paths most likely to leak a key: a rejected key, a
missing model, injected faults, both SDKs, and the emulator's request log.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from robust_support import (
    GEMINI_KEY,
    KEYS,
    OPENAI_KEY,
    cli_env,
    distinct_images,
    raw_rows,
    vlmfer,
)

from vlmfer.emulator import Emulator, EmulatorConfig, FaultRates


def _leaks(root: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {key[:12]}..." for key in KEYS if key.encode() in data]
    return found


# CI runs the fast and the slow tests in two sessions: the scan closes each of them.
@pytest.mark.parametrize("session", ["fast", pytest.param("slow", marks=pytest.mark.slow)])
def test_no_key_in_any_file_written(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                    session: str) -> None:
    distinct_images(tmp_path / "data", 14)
    faults = FaultRates(http_429=0.2, http_500=0.2, malformed=0.1, block=0.1)
    cfg = EmulatorConfig(policy="neutral-biased", faults=faults, retry_after_s=0.0,
                         strict_media=False, log_path=tmp_path / "logs" / "emulator.jsonl",
                         api_key=OPENAI_KEY)
    outputs = []
    with Emulator(cfg, port=0) as emu:
        def run(out: str, *extra: str, env: dict[str, str] | None = None) -> None:
            proc = vlmfer("run", "--dataset", "folder", "--data-root", str(tmp_path / "data"),
                          "--split", "test", "--out", out, "--quiet",
                          "--set", "run.max_attempts=2", *extra, cwd=tmp_path, env=env)
            assert proc.returncode in (0, 1, 2), proc.stderr  # 2: a wrong model id stops early
            outputs.append(proc.stdout + proc.stderr)

        run("openai", "--model", "openai/gpt-5.2", "--base-url", emu.openai_base_url)
        run("missing", "--model", "openai/gpt-does-not-exist", "--base-url",
            emu.openai_base_url)
        # A key the server rejects: the 401 must not carry it into a reason or a log.
        run("rejected", "--model", "openai/gpt-5.2", "--base-url", emu.openai_base_url,
            env=cli_env(tmp_path, OPENAI_API_KEY=GEMINI_KEY,
                        VLMFER_CACHE_DIR=str(tmp_path / "cache-rejected")))
        emu.configure(api_key=GEMINI_KEY)
        run("gemini", "--model", "gemini/gemini-3.5-flash", "--base-url", emu.url)
        run("gemini-rejected", "--model", "gemini/gemini-3.5-flash", "--base-url", emu.url,
            env=cli_env(tmp_path, GEMINI_API_KEY=OPENAI_KEY,
                        VLMFER_CACHE_DIR=str(tmp_path / "cache-rejected")))
        report = vlmfer("report", "openai", cwd=tmp_path)
        assert report.returncode == 0, report.stderr
        outputs.append(report.stdout + report.stderr)
    assert (tmp_path / "logs" / "emulator.jsonl").stat().st_size > 0
    for out in ("rejected", "gemini-rejected"):
        rows = raw_rows(tmp_path / out)
        # A rejected key stops the run early (exit 2): only the first samples are written.
        assert 0 < len(rows) <= 14 and all(r["outcome"] == "error" for r in rows), out
    for text in outputs:
        assert not any(key in text for key in KEYS)
    # Everything written by this session's tests, this one's included.
    assert _leaks(tmp_path_factory.getbasetemp()) == []
