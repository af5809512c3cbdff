"""A real third-party OpenAI-compatible server: ``transformers serve`` with a tiny model.

The tests build a randomly initialised LLaVA (no hub download), start the server on
127.0.0.1 with a port it binds itself, and put a small recording proxy in front of it,
so that every test can assert on the requests vlmfer sent. They stop both at the end.
Run them on their own with ``pytest -m local_server tests/local_server``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from local_server_support import MODEL, Recorder

HF_TINY = Path(__file__).resolve().parents[2] / "plugins" / "vlmfer-transformers" / "tests"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "local_server: starts `transformers serve` (needs transformers[serving] "
        "and torch; run in its own CI step)")


def _missing() -> list[str]:
    return [m for m in ("torch", "transformers", "fastapi", "uvicorn")
            if importlib.util.find_spec(m) is None]


def _proxy(upstream: str, recorder: Recorder) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            data = self.rfile.read(length) if length else None
            try:
                body: Any = json.loads(data) if data else None
            except ValueError:
                body = data.decode("utf-8", "replace") if data else None
            req = urllib.request.Request(upstream + self.path, data=data, method=self.command,
                                         headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=600) as r:
                    status, payload = r.status, r.read()
                    ctype = r.headers.get("content-type", "application/json")
            except urllib.error.HTTPError as e:
                status, payload = e.code, e.read()
                ctype = e.headers.get("content-type", "application/json")
            recorder.add({"method": self.command, "path": self.path, "body": body,
                          "status": status})
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _forward  # the stdlib's names

        def log_message(self, *args: Any) -> None:
            return None

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def _save_model(folder: Path) -> None:
    # hf_tiny is a module of the plugin's tests, outside every import path: loaded by name.
    sys.path.insert(0, str(HF_TINY))
    try:
        hf_tiny = importlib.import_module("hf_tiny")
    finally:
        sys.path.remove(str(HF_TINY))
    build_tiny_model: Callable[[Path], Path] = hf_tiny.build_tiny_model
    from transformers import GenerationConfig

    build_tiny_model(folder)
    # As real instruct checkpoints do: sample unless the request asks for temperature 0.
    gen = GenerationConfig.from_pretrained(folder)
    gen.do_sample = True
    gen.save_pretrained(folder)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (with /v1) of ``transformers serve`` pinned to the tiny model."""
    missing = _missing()
    if missing:
        pytest.skip(f"the local-server suite needs {', '.join(missing)}: pip install "
                    "torch==2.13.0 'transformers[serving]>=5.24,<6'")
    work = tmp_path_factory.mktemp("serve")
    _save_model(work / MODEL)
    log = work / "serve.log"
    exe = Path(sys.executable).with_name("transformers")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "serve", MODEL, "--host", "127.0.0.1", "--port", "0",
             "--log-level", "info", "--device", "cpu"],
            cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    try:
        url = _wait_for_port(proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def _wait_for_port(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        m = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", text)
        if m:
            return m.group(1)
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited ({proc.returncode}):\n{text[-3000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"transformers serve did not start in 180 s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def recorded(server: str) -> Iterator[tuple[str, Recorder]]:
    """A recording proxy in front of the server: its root URL (no /v1) and the recorder."""
    recorder = Recorder()
    proxy = _proxy(server, recorder)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}", recorder
    finally:
        proxy.shutdown()
        proxy.server_close()


@pytest.fixture
def proxy(recorded: tuple[str, Recorder]) -> tuple[str, Recorder]:
    recorded[1].clear()
    return recorded


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vlmfer.datasets.synthetic import make_caer_s_like

    root = tmp_path_factory.mktemp("data") / "CAER-S"
    make_caer_s_like(root, per_class=1, splits=("test",))
    return root
