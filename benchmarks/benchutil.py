"""Shared helpers of the benchmark scripts: an emulator in its own process, child processes
measured with ``os.wait4`` (CPU and peak RSS of that child alone), generated data, the
emulator's request log.

The emulator runs in a separate process so that its CPU never counts as client CPU:

    python benchmarks/benchutil.py serve CONFIG.json    # prints "URL http://127.0.0.1:PORT"

Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import io
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LABELS = ("Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
KEY = "sk-bench-not-a-real-key-0000"


# ---------------------------------------------------------------- the emulator process

@dataclass
class EmulatorProcess:
    """A running ``benchutil.py serve`` child: its URL, request log and final counters."""

    proc: subprocess.Popen[str]
    url: str
    log_path: Path
    counters_path: Path

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    def log(self, start: int = 0) -> list[dict[str, Any]]:
        """Log entries from line ``start`` on (the log is flushed per request)."""
        lines = self.log_path.read_text(encoding="utf-8").splitlines()[start:]
        return [json.loads(line) for line in lines if line.strip()]

    def log_lines(self) -> int:
        if not self.log_path.exists():
            return 0
        with self.log_path.open("rb") as f:
            return sum(1 for _ in f)

    def stop(self) -> dict[str, Any]:
        """Stop the server; return its counters."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.counters_path.exists():
            data: dict[str, Any] = json.loads(self.counters_path.read_text(encoding="utf-8"))
            return data
        return {}


@contextmanager
def emulator(workdir: Path, **config: Any) -> Iterator[EmulatorProcess]:
    """Start the emulator in a child process with ``EmulatorConfig(**config)``."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"emulator-{time.monotonic_ns()}.jsonl"
    counters = log_path.with_suffix(".counters.json")
    cfg = {"log_path": str(log_path), **config}
    cfg_path = log_path.with_suffix(".config.json")
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "benchutil.py"), "serve", str(cfg_path), str(counters)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "NO_PROXY": "127.0.0.1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("URL "):
        proc.kill()
        raise RuntimeError(f"the emulator did not start: {line!r}")
    emu = EmulatorProcess(proc, line[4:], log_path, counters)
    try:
        yield emu
    finally:
        emu.stop()


def _serve(cfg_path: str, counters_path: str) -> None:
    import threading

    from vlmfer.emulator import Emulator, EmulatorConfig

    cfg = EmulatorConfig.model_validate_json(Path(cfg_path).read_text(encoding="utf-8"))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with Emulator(cfg, port=0) as emu:
        print(f"URL {emu.url}", flush=True)
        while not done.wait(0.2):
            pass
        Path(counters_path).write_text(json.dumps(emu.counters), encoding="utf-8")


def span(entries: Sequence[dict[str, Any]]) -> float:
    """Seconds from the first request's arrival to the last response's end (server clock)."""
    if not entries:
        return float("nan")
    start = min(e["time"] for e in entries)
    end = max(e["time"] + (e.get("elapsed_s") or 0.0) for e in entries)
    return float(end - start)


def inference(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The inference calls among log entries (chat, responses, generateContent)."""
    kinds = {"openai.chat", "openai.responses", "gemini.generate"}
    return [e for e in entries if e.get("endpoint") in kinds]


# ---------------------------------------------------------------- measured child processes

@dataclass
class Child:
    """What ``run_child`` measured of one child process."""

    returncode: int
    wall_s: float
    cpu_s: float
    maxrss_mb: float
    stdout: str
    stderr: str
    #: ``time.time()`` when the child was launched (to compare with the emulator's clock).
    launched_at: float = 0.0
    #: With ``timeline=True``: (time.time(), CPU seconds so far) every 10 ms while it ran.
    cpu_timeline: list[tuple[float, float]] | None = None

    def cpu_at(self, when: float) -> float:
        """The child's CPU seconds at wall-clock ``when`` (from its timeline)."""
        assert self.cpu_timeline, "run_child(timeline=True) records the timeline"
        before = [cpu for t, cpu in self.cpu_timeline if t <= when]
        return before[-1] if before else 0.0


def _proc_cpu_s(pid: int) -> float | None:
    """user + sys CPU of a live process so far, from /proc (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(cmd: Sequence[str], *, env: dict[str, str] | None = None,
              cwd: Path | None = None, timeout: float = 900.0,
              timeline: bool = False) -> Child:
    """Run ``cmd``; CPU (user + sys) and peak RSS are that child's own (``os.wait4``).

    stdout and stderr go to files, so the child's stderr is not a TTY. With ``timeline``
    the child's CPU is read from /proc every 10 ms, so that the CPU spent before its first
    request (start-up: interpreter, imports, listing) can be told from the rest.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        launched = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env={**os.environ, "NO_PROXY": "127.0.0.1", **(env or {})},
                                cwd=cwd)
        deadline = time.monotonic() + timeout
        points: list[tuple[float, float]] | None = [] if timeline else None
        while True:
            if points is not None:
                cpu = _proc_cpu_s(proc.pid)
                if cpu is not None:
                    points.append((time.time(), cpu))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Child(proc.returncode, wall, usage.ru_utime + usage.ru_stime,
                     usage.ru_maxrss / 1024.0, out.read(), err.read(), launched, points)


def fresh(path: Path) -> Path:
    """``path``, removed first: a kept work folder must not resume an old run."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    return path


def vlmfer_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "vlmfer", *args]


def vlmfer_env(workdir: Path) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "GEMINI_API_KEY": KEY,
            "VLMFER_CACHE_DIR": str(workdir / "cache"), "PYTHONUNBUFFERED": "1"}


# ---------------------------------------------------------------- data

def make_jpeg_tree(root: Path, n: int, *, size: tuple[int, int] = (712, 400),
                   quality: int = 97, split: str = "test") -> list[Path]:
    """``<root>/<split>/<Label>/NNNNN.jpg``: n distinct cartoon faces, ~28 KB each at the
    defaults, round-robin over the seven CAER classes."""
    from vlmfer.datasets.synthetic import draw_face_image

    paths = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        folder = root / split / label
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:05d}.jpg"
        if not path.exists():
            img = draw_face_image(label, size=size, seed=i, intensity=0.8 + 0.2 * (i % 5) / 4)
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=quality)
            path.write_bytes(buf.getvalue())
        paths.append(path)
    return paths


def make_tiny_tree(root: Path, n: int, split: str = "test") -> list[Path]:
    """n distinct 8x8 PNGs (a few hundred bytes each), for memory and bookkeeping runs."""
    from PIL import Image

    paths = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        folder = root / split / label
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:06d}.png"
        if not path.exists():
            Image.new("RGB", (8, 8), (i % 256, (i // 256) % 256, (i // 65536) % 256)).save(path)
        paths.append(path)
    return paths


# ---------------------------------------------------------------- printing

def machine() -> str:
    return (f"{platform.node() or 'host'}: {os.cpu_count()} cores, {platform.machine()}, "
            f"Python {platform.python_version()}, {date.today().isoformat()}")


def ensure_bytecode() -> None:
    """Compile vlmfer's modules to ``__pycache__`` (every script's first step).

    ``pip install vlmfer`` compiles every module, and so did the install of the SDK the
    bare loop imports; an editable checkout run with ``PYTHONDONTWRITEBYTECODE=1`` (or
    from a read-only tree) would instead compile vlmfer's sources in every child, about
    0.2 s of CPU charged to vlmfer alone. Up-to-date files are left as they are.
    """
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("vlmfer")
    if spec is not None and spec.submodule_search_locations:
        compileall.compile_dir(next(iter(spec.submodule_search_locations)), quiet=1)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def emit_result(name: str, **figures: Any) -> None:
    """One machine-readable line that run_all.py collects into its summary."""
    print("RESULT " + json.dumps({"benchmark": name, **figures}, default=str), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        _serve(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: benchutil.py serve CONFIG.json COUNTERS.json")
