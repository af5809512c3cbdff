"""Run folders for the viewer tests, made as a user makes them: `vlmfer run` on generated media.

The big pair (2 100 samples, two mock models on the same stills) is what the browser
tests page through; one answer of the first run is then replaced by an injection probe
(an `invalid` outcome, as a model answering markup would give).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vlmfer.datasets.synthetic import make_caer_like, make_caer_s_like

PROBE = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"
PROBE_ID = "test/Happy/0007.jpg"


def vlmfer(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VLMFER_CACHE_DIR": str((cwd or Path.cwd()) / "cache")}
    proc = subprocess.run([sys.executable, "-m", "vlmfer", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd, env=env)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return proc


def stills(root: Path, per_class: int) -> Path:
    """A CAER-S-like tree of small JPEG stills: ``root/test/<Class>/NNNN.jpg``."""
    make_caer_s_like(root, per_class=per_class, splits=("test",), size=(96, 64), fmt="jpg")
    return root


def clips(root: Path, per_class: int = 1) -> Path:
    """A CAER-like tree of small AVI clips."""
    make_caer_like(root, per_class=per_class, splits=("test",))
    return root


def mock_run(tmp: Path, data: Path, dataset: str, model: str, out: str) -> Path:
    vlmfer("run", "--dataset", dataset, "--data-root", str(data), "--split", "test",
           "--model", model, "--out", str(tmp / out), "--quiet", cwd=tmp)
    return tmp / out


def inject(run: Path, sample_id: str, text: str) -> None:
    """Replace ``sample_id``'s answer with ``text``, an unparseable (invalid) answer."""
    path = run / "predictions.jsonl"
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record: dict[str, Any] = json.loads(line)
        if record["sample_id"] == sample_id:
            record.update(pred=None, outcome="invalid", reason="no label in the answer")
            record["steps"][-1].update(response_text=text, parsed={
                "label": None, "how": "none", "candidates": []})
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def big_pair(tmp: Path, per_class: int = 300) -> tuple[Path, Path]:
    """Two runs of ``7 * per_class`` samples on the same stills, the first with the probe."""
    data = stills(tmp / "CAER-S", per_class)
    a = mock_run(tmp, data, "caer-s", "mock/neutral-biased", "neutral-biased")
    b = mock_run(tmp, data, "caer-s", "mock/oracle", "oracle")
    inject(a, PROBE_ID, PROBE)
    return a, b


@contextmanager
def served(*runs: Path, extra: tuple[str, ...] = ()) -> Iterator[str]:
    """``vlmfer view RUN...`` in a subprocess; yields its URL and stops it afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlmfer", "view", *map(str, runs), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 120
        assert proc.stdout is not None and proc.stderr is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if "serving" in line:
                url = line.split(" at ", 1)[1].split()[0]
        if url is None:
            proc.kill()
            raise AssertionError(f"vlmfer view printed no URL: {proc.stderr.read()[-3000:]}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
