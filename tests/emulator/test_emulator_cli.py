"""``python -m vlmfer.emulator`` / ``vlmfer emulator``: standalone, on a free port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from emulator_support import post


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vlmfer.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "EMU_TEST_KEY": "cli-secret"},
    )


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    oracle = tmp_path / "oracle.json"
    oracle.write_text(json.dumps({"0" * 64: "Happy"}))
    proc = _start("--policy", "fixed:Sad", "--latency", "0", "--rpm", "100", "--fault-500", "0",
                  "--log", str(log), "--oracle", str(oracle), "--api-key-env", "EMU_TEST_KEY")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        prefix = "vlmfer emulator listening on "
        assert line.startswith(prefix), line
        url = line[len(prefix):]
        assert url.startswith("http://127.0.0.1:")
        status, _, body = post(f"{url}/v1/chat/completions", {
            "model": "gpt-4o", "messages": [{"role": "user", "content": "Happy or Sad?"}]},
            {"Authorization": "Bearer cli-secret"})
        assert status == 200
        assert json.loads(body)["choices"][0]["message"]["content"] == "Sad"
        status, _, _ = post(f"{url}/v1beta/models/gemini-x:generateContent",
                            {"contents": [{"parts": [{"text": "x"}]}]},
                            {"x-goog-api-key": "wrong"})
        assert status == 400
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped after 2 requests" in out
    assert "cli-secret" not in log.read_text()
    assert len(log.read_text().splitlines()) == 2


def test_cli_rejects_bad_options() -> None:
    proc = _start("--policy", "sometimes")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and "valid policies" in err
    proc = _start("--fault-429", "0.7", "--fault-500", "0.7")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and "at most 1" in err
    proc = _start("--api-key-env", "VLMFER_SURELY_UNSET_VAR")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and "VLMFER_SURELY_UNSET_VAR" in err
