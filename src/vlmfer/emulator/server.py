"""The loopback HTTP server: the :class:`Emulator`, serving every provider's routes.

Each provider module describes its API (``openai_api.API``, ``gemini_api.API``,
``anthropic_api.API``); this module routes requests to them by path and by the headers
their SDKs send, and records each request. The shared state and the inference path live in
``vlmfer.emulator.state``, which the provider modules import instead of this module.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from vlmfer.emulator import anthropic_api, gemini_api, openai_api
from vlmfer.emulator.config import EmulatorConfig
from vlmfer.emulator.core import ApiError, Reply, Request
from vlmfer.emulator.gemini_api import GFile
from vlmfer.emulator.openai_api import OFile
from vlmfer.emulator.state import (
    FAULT_KINDS,
    Api,
    EmulatorState,
    Handler,
    Route,
    _body_for_log,
    parse_json_object,
)
from vlmfer.predictors._common import EMULATOR_HEADER

__all__ = ["APIS", "FAULT_KINDS", "Emulator", "Handler", "Route", "parse_json_object"]

#: Which provider a request belongs to: the first whose SDK headers (or path) claim it.
#: Anthropic first (its SDK also sends ``Authorization: Bearer``), Gemini before OpenAI
#: (``/v1/...`` is both OpenAI's prefix and a Gemini API version); Gemini by default.
APIS: tuple[Api, ...] = (anthropic_api.API, gemini_api.API, openai_api.API)
_DEFAULT = gemini_api.API
#: Every route, in the order they are tried (the claiming provider's first).
_ROUTES: list[Route] = [r for api in (openai_api.API, gemini_api.API, anthropic_api.API)
                        for r in api.routes]

_SECRET_HEADERS = frozenset({"authorization", "x-goog-api-key", "api-key", "x-api-key", "cookie"})


def _redact_path(path: str) -> str:
    return re.sub(r"([?&](?:key|api_key)=)[^&]*", r"\1<redacted>", path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True
    emulator: Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "vlmfer-emulator"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.emulator._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's per-request stderr line; the emulator keeps its own log."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _serve(self) -> None:
        emu = self.server.emulator
        try:
            body = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = emu._handle(req, raw_path=self.path)
        if reply.hold is not None:
            emu._stopping.wait(reply.hold)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            # Every reply says it is simulated; predictors record it on each answer.
            self.send_header(EMULATOR_HEADER, "1")
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            self.close_connection = True



class Emulator(EmulatorState):
    """A loopback server that speaks enough of the OpenAI, Gemini and Anthropic APIs for
    their SDKs.

    Use it as a context manager (or ``start()`` / ``stop()``)::

        with Emulator(EmulatorConfig(policy="fixed:Happy")) as emu:
            client = OpenAI(base_url=emu.openai_base_url, api_key="k", max_retries=0)
    """

    def __init__(self, config: EmulatorConfig | None = None, *, port: int = 0) -> None:
        super().__init__(config, APIS)
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind 127.0.0.1 and serve from a background thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.emulator = self
        self._server = server
        self._port = server.server_address[1]
        self._open_log(self._config.log_path)
        self._logging = True
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"vlmfer-emulator-{self._port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, hang up open connections and close the log file."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        with self._lock:
            self._logging = False
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- public properties ----------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() or use 'with'")
        return f"http://127.0.0.1:{self._port}"

    @property
    def openai_base_url(self) -> str:
        """The ``base_url`` for ``openai.OpenAI`` / ``AsyncOpenAI``."""
        return f"{self.url}/v1"

    @property
    def gemini_base_url(self) -> str:
        """The ``HttpOptions.base_url`` for ``genai.Client`` (pin ``api_version`` too)."""
        return self.url

    @property
    def anthropic_base_url(self) -> str:
        """The ``base_url`` for ``anthropic.Anthropic`` / ``AsyncAnthropic`` (no ``/v1``)."""
        return self.url

    # -- each provider's objects, for tests and tools --------------------------

    @property
    def openai_files(self) -> dict[str, OFile]:
        return openai_api.state(self).files

    @property
    def openai_batches(self) -> dict[str, dict[str, Any]]:
        return openai_api.state(self).batches

    @property
    def gemini_files(self) -> dict[str, GFile]:
        return gemini_api.state(self).files

    @property
    def gemini_uploads(self) -> dict[str, dict[str, Any]]:
        return gemini_api.state(self).uploads

    @property
    def gemini_batches(self) -> dict[str, dict[str, Any]]:
        return gemini_api.state(self).batches

    @property
    def anthropic_batches(self) -> dict[str, dict[str, Any]]:
        return anthropic_api.state(self).batches

    # -- HTTP -------------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)


    @staticmethod
    def _provider_of(req: Request) -> Api:
        for api in APIS:
            if api.claims(req):
                return api
        return _DEFAULT

    def _route(self, req: Request, provider: str) -> tuple[str, Handler] | None:
        ordered = sorted(_ROUTES, key=lambda r: not r.kind.startswith(provider + "."))
        for method, pattern, kind, handler in ordered:
            m = pattern.match(req.path)
            if m:
                if method != req.method:
                    continue
                req.params = {k: v for k, v in m.groupdict().items() if v is not None}
                if kind == "gemini.upload" and "upload_id" in req.query:
                    kind = "gemini.upload.chunk"
                return kind, handler
        return None

    def _handle(self, req: Request, *, raw_path: str) -> Reply:
        t0 = time.time()
        api = self._provider_of(req)
        entry: dict[str, Any] = {
            "time": round(t0, 6),
            "method": req.method,
            "path": _redact_path(raw_path),
            "provider": api.name,
            "endpoint": None,
            "model": None,
            "status": None,
            "fault": None,
            "answer": None,
        }
        req.entry = entry
        reply: Reply
        try:
            routed = self._route(req, api.name)
            if routed is None:
                raise api.not_found(req)
            kind, handler = routed
            api = self.apis[kind.split(".", 1)[0]]
            entry["provider"] = api.name
            entry["endpoint"] = kind
            self.count("requests", kind)
            if kind not in api.open_kinds:
                api.authorize(self, req)
            if len(req.body) > self._config.max_body_bytes:
                raise api.error(
                    413, f"Request body of {len(req.body)} bytes exceeds the emulator's "
                    f"max_body_bytes ({self._config.max_body_bytes})."
                )
            reply = handler(self, req)
        except ApiError as e:
            reply = Reply.json(e.body, e.status, e.headers)
            entry["error"] = e.message
            if e.kind:
                entry["error_kind"] = e.kind
        except Exception as e:  # an emulator bug must still answer, and say so
            tb = traceback.format_exc(limit=6)
            exc = api.error(500, f"emulator internal error: {type(e).__name__}: {e}")
            reply = Reply.json(exc.body, 500)
            entry["error"] = exc.message
            entry["traceback"] = tb
        if api.request_id_header and reply.hold is None:
            reply.headers.setdefault(api.request_id_header,
                                     self.new_id(api.request_id_prefix, 24))
        entry["status"] = None if reply.hold is not None else reply.status
        entry["elapsed_s"] = round(time.time() - t0, 6)
        entry["headers"] = {
            k: ("<redacted>" if k in _SECRET_HEADERS else v) for k, v in req.headers.items()
        }
        entry.setdefault("body", _body_for_log(req))
        self.count("status", "timeout" if reply.hold is not None else str(reply.status))
        self._append(entry)
        return reply
