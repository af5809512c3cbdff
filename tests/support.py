"""The one place for helpers every test folder shares (``from support import ...``).

``tests/conftest.py`` puts this folder on ``sys.path`` (pytest's default rootdir-relative
import), so the name is importable from every folder, as the per-folder ``*_support``
modules are. Fixtures live in the conftest files; plain helpers live here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

CHECKOUT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The real media: ``$VLMFER_SHARED_DATA``, else ``../shared/data`` beside the checkout.

    It may be absent (a user's own clone): use the ``shared_data`` fixture or
    ``shared_file``, which skip with the reason.
    """
    env = os.environ.get("VLMFER_SHARED_DATA")
    return Path(env).resolve() if env else (CHECKOUT.parent / "shared" / "data").resolve()


SHARED_DATA = shared_data_dir()


def shared_file(*parts: str) -> Path:
    """A file of the shared data, or a skip that says where it was looked for."""
    import pytest

    path = SHARED_DATA.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"real media not found at {path} (set VLMFER_SHARED_DATA to the shared "
                    "data folder; see ../shared/data/README.md)")
    return path


# ------------------------------------------------------------------ the CLI in a child

def cli_env(cache: Path, **extra: str) -> dict[str, str]:
    """A user's environment for a CLI child: a private cache, loopback without a proxy.

    Provider base URLs and the legacy Google key of the developer's shell are dropped, so
    only what the test passes (``extra``: keys, limits) reaches the child.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_BASE_URL", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_API_KEY")}
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1"]))
    env.update({"VLMFER_CACHE_DIR": str(cache), "NO_PROXY": no_proxy, "no_proxy": no_proxy})
    env.update(extra)
    return env


def vlmfer(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m vlmfer ARGS``, run to the end (``env`` is the whole environment)."""
    return subprocess.run([sys.executable, "-m", "vlmfer", *args], cwd=cwd, text=True,
                          capture_output=True, env=dict(env) if env is not None else None,
                          timeout=timeout)


def _sigint(disposition: Literal["default", "ignore"]) -> Callable[[], None]:
    handler = signal.SIG_IGN if disposition == "ignore" else signal.SIG_DFL

    def preexec() -> None:
        signal.signal(signal.SIGINT, handler)

    return preexec


def spawn(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None,
          sigint: Literal["default", "ignore"] = "default",
          output: bool = False) -> subprocess.Popen[str]:
    """``python -m vlmfer ARGS`` in the background.

    The child's SIGINT disposition is set here, not inherited: pytest started from a
    script in the background would otherwise hand it SIGINT ignored. ``"ignore"``
    reproduces that launch on purpose. ``output`` captures stdout and stderr (read them
    only after the child ends, or it may block on a full pipe).
    """
    sink = subprocess.PIPE if output else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "vlmfer", *args], cwd=cwd, text=True,
                            stdout=sink, stderr=sink,
                            env=dict(env) if env is not None else None,
                            preexec_fn=_sigint(sigint))


# ------------------------------------------------------------------ files a run writes

def whole_lines(path: Path) -> list[bytes]:
    """The lines of ``path`` that end in a newline (a torn last line, from a kill, is not)."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    return [line for line in raw[: raw.rfind(b"\n") + 1].split(b"\n")[:-1] if line.strip()]


def raw_rows(path: Path) -> list[dict[str, Any]]:
    """Every whole JSONL line of ``path`` (a file, or a run folder's predictions.jsonl),
    duplicates included: a resume that asks a finished sample again shows here."""
    if path.is_dir():
        path = path / "predictions.jsonl"
    return [json.loads(line) for line in whole_lines(path)]


# ------------------------------------------------------------------ waiting, ports

def wait_until(condition: Callable[[], bool], what: str, *, timeout: float = 120,
               proc: subprocess.Popen[str] | None = None) -> None:
    """Poll ``condition`` until it holds; fail saying ``what`` was awaited.

    The deadline only turns a hang into a failure; no test result depends on it. With
    ``proc``, a child that ends first fails the wait at once.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the child ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(0.005)


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port where connections are refused, held for the ``with`` block.

    The socket stays bound without listening, so no other process can take the port
    in the meantime (a closed-then-reused port could be taken by anyone).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])
