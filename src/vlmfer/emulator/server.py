"""The loopback HTTP server and the :class:`Emulator` that owns its state."""

from __future__ import annotations

import collections
import contextlib
import copy
import hashlib
import json
import math
import random
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from vlmfer.emulator import gemini_api, openai_api
from vlmfer.emulator.config import EmulatorConfig
from vlmfer.emulator.core import ApiError, Prepared, Reply, Request, gemini_error, openai_error
from vlmfer.emulator.media import redact_payloads, sha256
from vlmfer.emulator.policy import Decision, Policy
from vlmfer.predictors._common import EMULATOR_HEADER

Handler = Callable[["Emulator", Request], Reply]

_VER = r"(?P<ver>v[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    # OpenAI
    ("POST", re.compile(r"^/v1/chat/completions$"), "openai.chat", openai_api.chat_completions),
    ("POST", re.compile(r"^/v1/responses$"), "openai.responses", openai_api.responses),
    ("POST", re.compile(r"^/v1/files$"), "openai.files.create", openai_api.files_create),
    ("GET", re.compile(r"^/v1/files$"), "openai.files.list", openai_api.files_list),
    ("GET", re.compile(r"^/v1/files/(?P<id>[^/]+)$"), "openai.files.get", openai_api.files_get),
    ("GET", re.compile(r"^/v1/files/(?P<id>[^/]+)/content$"), "openai.files.content",
     openai_api.files_content),
    ("DELETE", re.compile(r"^/v1/files/(?P<id>[^/]+)$"), "openai.files.delete",
     openai_api.files_delete),
    ("POST", re.compile(r"^/v1/batches$"), "openai.batches.create", openai_api.batches_create),
    ("GET", re.compile(r"^/v1/batches$"), "openai.batches.list", openai_api.batches_list),
    ("GET", re.compile(r"^/v1/batches/(?P<id>[^/]+)$"), "openai.batches.get",
     openai_api.batches_get),
    ("POST", re.compile(r"^/v1/batches/(?P<id>[^/]+)/cancel$"), "openai.batches.cancel",
     openai_api.batches_cancel),
    ("GET", re.compile(r"^/v1/models$"), "openai.models.list", openai_api.models_list),
    ("GET", re.compile(r"^/v1/models/(?P<model>.+)$"), "openai.models.get", openai_api.models_get),
    # Gemini (any API version segment)
    ("POST", re.compile(rf"^/{_VER}/models/(?P<model>[^/:]+):generateContent$"),
     "gemini.generate", gemini_api.generate_content),
    ("POST", re.compile(rf"^/{_VER}/models/(?P<model>[^/:]+):streamGenerateContent$"),
     "gemini.stream_generate", gemini_api.stream_generate_content),
    ("GET", re.compile(rf"^/{_VER}/models$"), "gemini.models.list", gemini_api.models_list),
    ("POST", re.compile(rf"^/{_VER}/models/(?P<model>[^/:]+):countTokens$"),
     "gemini.count_tokens", gemini_api.count_tokens),
    ("POST", re.compile(rf"^/{_VER}/models/(?P<model>[^/:]+):batchGenerateContent$"),
     "gemini.batches.create", gemini_api.batches_create),
    ("GET", re.compile(rf"^/{_VER}/models/(?P<model>[^/:]+)$"), "gemini.models.get",
     gemini_api.models_get),
    ("POST", re.compile(rf"^/upload/{_VER}/files$"), "gemini.upload", gemini_api.upload),
    ("GET", re.compile(rf"^/{_VER}/files$"), "gemini.files.list", gemini_api.files_list),
    ("GET", re.compile(rf"^/(?:download/)?{_VER}/files/(?P<id>[^/:]+):download$"),
     "gemini.files.download", gemini_api.files_download),
    ("GET", re.compile(rf"^/{_VER}/files/(?P<id>[^/:]+)$"), "gemini.files.get",
     gemini_api.files_get),
    ("DELETE", re.compile(rf"^/{_VER}/files/(?P<id>[^/:]+)$"), "gemini.files.delete",
     gemini_api.files_delete),
    ("GET", re.compile(rf"^/{_VER}/batches$"), "gemini.batches.list", gemini_api.batches_list),
    ("GET", re.compile(rf"^/{_VER}/batches/(?P<id>[^/:]+)$"), "gemini.batches.get",
     gemini_api.batches_get),
    ("POST", re.compile(rf"^/{_VER}/batches/(?P<id>[^/:]+):cancel$"), "gemini.batches.cancel",
     gemini_api.batches_cancel),
    ("DELETE", re.compile(rf"^/{_VER}/batches/(?P<id>[^/:]+)$"), "gemini.batches.delete",
     gemini_api.batches_delete),
]

_SECRET_HEADERS = frozenset({"authorization", "x-goog-api-key", "api-key", "x-api-key", "cookie"})
FAULT_KINDS = ("429", "500", "timeout", "malformed", "block")


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


class Emulator:
    """A loopback server that speaks enough of the OpenAI and Gemini APIs for their SDKs.

    Use it as a context manager (or ``start()`` / ``stop()``)::

        with Emulator(EmulatorConfig(policy="fixed:Happy")) as emu:
            client = OpenAI(base_url=emu.openai_base_url, api_key="k", max_retries=0)
    """

    def __init__(self, config: EmulatorConfig | None = None, *, port: int = 0) -> None:
        self._lock = threading.RLock()
        self._config = config or EmulatorConfig()
        self._policy = self._make_policy(self._config)
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._log: list[dict[str, Any]] = []
        self._log_file: IO[str] | None = None
        self._counters: dict[str, dict[str, int]] = self._empty_counters()
        self._windows: dict[str, collections.deque[tuple[float, int]]] = {}
        self._seen: dict[str, int] = {}
        self._ids = 0
        # Provider state, guarded by _lock.
        self.openai_files: dict[str, openai_api.OFile] = {}
        self.openai_batches: dict[str, dict[str, Any]] = {}
        self.gemini_files: dict[str, gemini_api.GFile] = {}
        self.gemini_uploads: dict[str, dict[str, Any]] = {}
        self.gemini_batches: dict[str, dict[str, Any]] = {}

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
    def config(self) -> EmulatorConfig:
        return self._config

    @config.setter
    def config(self, cfg: EmulatorConfig) -> None:
        policy = self._make_policy(cfg)
        with self._lock:
            old_log = self._config.log_path
            self._config = cfg
            self._policy = policy
            if self._server is not None and cfg.log_path != old_log:
                if self._log_file is not None:
                    self._log_file.close()
                    self._log_file = None
                self._open_log(cfg.log_path)

    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change some config fields (validated), e.g. ``emu.configure(rpm=5)``."""
        data = self._config.model_dump()
        data.update(changes)
        cfg = EmulatorConfig.model_validate(data)
        self.config = cfg
        return cfg

    def set_policy(self, policy: str) -> None:
        """Switch the answer policy, e.g. ``emu.set_policy("fixed:Sad")``."""
        self.configure(policy=policy)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every recorded request, oldest first (the same dicts as the JSONL log)."""
        with self._lock:
            return list(self._log)

    @property
    def counters(self) -> dict[str, dict[str, int]]:
        """Counts by group: requests, status, faults, limits, answers, outcomes."""
        with self._lock:
            return copy.deepcopy(self._counters)

    def calls(
        self,
        endpoint: str | None = None,
        *,
        provider: str | None = None,
        status: int | None = None,
        model: str | None = None,
    ) -> list[dict[str, Any]]:
        """Recorded requests filtered by endpoint (``"chat"`` or ``"openai.chat"``), etc."""
        out = []
        for e in self.requests:
            kind = str(e.get("endpoint", ""))
            if endpoint is not None and endpoint not in (kind, kind.split(".", 1)[-1]):
                continue
            if provider is not None and e.get("provider") != provider:
                continue
            if status is not None and e.get("status") != status:
                continue
            if model is not None and e.get("model") != model:
                continue
            out.append(e)
        return out

    def reset(self) -> None:
        """Clear the request log, counters, rate-limit windows and fault history."""
        with self._lock:
            self._log.clear()
            self._counters = self._empty_counters()
            self._windows.clear()
            self._seen.clear()

    # -- helpers used by the provider modules ---------------------------------

    @property
    def policy(self) -> Policy:
        return self._policy

    def new_id(self, prefix: str, n: int = 12) -> str:
        with self._lock:
            self._ids += 1
            i = self._ids
        digest = hashlib.sha256(f"{self._port}:{i}:{time.time_ns()}".encode()).hexdigest()
        return f"{prefix}{digest[:n]}"

    def count(self, group: str, key: str, n: int = 1) -> None:
        with self._lock:
            g = self._counters.setdefault(group, {})
            g[key] = g.get(key, 0) + n

    def draw_fault(self, material: bytes, directives: dict[str, str]) -> tuple[str | None, float]:
        """The fault for this request (or None) and a second uniform draw for its shape."""
        forced = directives.get("fault")
        key = sha256(material)
        with self._lock:
            n = self._seen.get(key, 0)
            self._seen[key] = n + 1
        rng = random.Random(
            int.from_bytes(hashlib.sha256(f"{self._config.seed}:{key}:{n}".encode()).digest()[:8],
                           "big")
        )
        x, shape = rng.random(), rng.random()
        if forced:
            return (forced if forced in FAULT_KINDS else None), shape
        f = self._config.faults
        acc = 0.0
        for kind, rate in zip(FAULT_KINDS, (f.http_429, f.http_500, f.timeout, f.malformed,
                                            f.block), strict=True):
            acc += rate
            if x < acc:
                return kind, shape
        return None, shape

    def check_limits(self, provider: str, model: str, tokens: int) -> dict[str, str]:
        """Raise a 429 when this request would exceed the RPM or TPM sliding 60 s window.

        Returns OpenAI's ``x-ratelimit-*`` headers describing the window after this request.
        """
        cfg = self._config
        if cfg.rpm is None and cfg.tpm is None:
            return {}
        now = time.monotonic()
        span = cfg.rate_window_s
        with self._lock:
            win = self._windows.setdefault(f"{provider}:{model}", collections.deque())
            while win and win[0][0] <= now - span:
                win.popleft()
            which, wait = None, 0.0
            if cfg.rpm is not None and len(win) >= cfg.rpm:
                which, wait = "rpm", win[len(win) - cfg.rpm][0] + span - now
            elif cfg.tpm is not None:
                used = sum(t for _, t in win)
                if used + tokens > cfg.tpm:
                    which = "tpm"
                    wait = span
                    freed = 0
                    for t0, t in win:
                        freed += t
                        if used - freed + tokens <= cfg.tpm:
                            wait = t0 + span - now
                            break
            if which is None:
                win.append((now, tokens))
                return self._ratelimit_headers(win, now) if provider == "openai" else {}
            self.count("limits", which)
        retry = max(1, math.ceil(wait))
        if provider == "openai":
            limit = cfg.rpm if which == "rpm" else cfg.tpm
            unit = "requests" if which == "rpm" else "tokens"
            raise openai_error(
                429,
                f"Rate limit reached for {model} on {unit} per min ({which.upper()}): "
                f"Limit {limit}. Please try again in {retry}s.",
                type_=unit, code="rate_limit_exceeded",
                headers={"Retry-After": str(retry), "retry-after-ms": str(retry * 1000)},
                kind=f"limit.{which}",
            )
        raise gemini_error(
            429,
            f"You exceeded your current quota ({which.upper()} limit for {model}). "
            f"Please retry in {retry}s.",
            details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                      "retryDelay": f"{retry}s"}],
            headers={"Retry-After": str(retry)},
            kind=f"limit.{which}",
        )

    def _ratelimit_headers(
        self, win: collections.deque[tuple[float, int]], now: float
    ) -> dict[str, str]:
        cfg = self._config
        reset = f"{max(0, math.ceil(win[0][0] + 60.0 - now))}s" if win else "0s"
        out: dict[str, str] = {}
        if cfg.rpm is not None:
            out.update({"x-ratelimit-limit-requests": str(cfg.rpm),
                        "x-ratelimit-remaining-requests": str(max(0, cfg.rpm - len(win))),
                        "x-ratelimit-reset-requests": reset})
        if cfg.tpm is not None:
            used = sum(t for _, t in win)
            out.update({"x-ratelimit-limit-tokens": str(cfg.tpm),
                        "x-ratelimit-remaining-tokens": str(max(0, cfg.tpm - used)),
                        "x-ratelimit-reset-tokens": reset})
        return out

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def record_answer(self, decision: Decision) -> None:
        self.count("outcomes", decision.kind)
        if decision.kind == "label" and decision.label is not None:
            self.count("answers", decision.label)
        elif decision.kind == "description" and decision.emotion:
            self.count("answers", f"description:{decision.emotion}")

    def run_inference(
        self,
        req: Request,
        prepare: Callable[[Emulator, dict[str, Any], Request], Prepared],
        render: Callable[[Emulator, Prepared, Decision, str | None, float], dict[str, Any]],
        fault_reply: Callable[[Emulator, Prepared, str], ApiError],
    ) -> Reply:
        """The shared path of every inference endpoint: validate, limit, fault, answer."""
        body = parse_json_object(req, req.entry.get("provider", "openai"))
        prep = prepare(self, body, req)
        entry = req.entry
        entry["model"] = prep.model
        entry.update(prep.media_log())
        if prep.unknown_fields:
            entry["unknown_fields"] = prep.unknown_fields
        if prep.question.directives:
            entry["directives"] = dict(prep.question.directives)
        limit_headers = self.check_limits(prep.provider, prep.model, prep.input_tokens)
        fault, shape = self.draw_fault(req.body, prep.question.directives)
        if fault is not None:
            entry["fault"] = fault
            self.count("faults", fault)
        if fault == "timeout":
            return Reply(hold=self._config.timeout_s)
        self.sleep(float(prep.question.directives.get("latency", self._config.latency)))
        if fault in ("429", "500"):
            raise fault_reply(self, prep, fault)
        decision = self._policy.decide(prep.question)
        if fault == "block":
            decision = Decision(kind="block", text="", gold=decision.gold)
        self.record_answer(decision)
        out = render(self, prep, decision, "block" if fault == "block" else None, shape)
        entry["answer"] = decision.text if decision.kind != "block" else None
        entry["outcome"] = decision.kind
        if decision.label is not None:
            entry["label"] = decision.label
        if decision.gold is not None:
            entry["gold"] = decision.gold
        data = json.dumps(out).encode("utf-8")
        if fault == "malformed":
            data = data[: max(1, len(data) // 2)]
        return Reply(200, data, limit_headers)

    def run_batch_request(
        self,
        provider: str,
        url: str,
        body: Any,
        prepare: Callable[[Emulator, dict[str, Any], Request], Prepared],
        render: Callable[[Emulator, Prepared, Decision, str | None, float], dict[str, Any]],
        fault_reply: Callable[[Emulator, Prepared, str], ApiError],
        *,
        batch_id: str,
        item: str | None,
    ) -> tuple[int, dict[str, Any]]:
        """One request inside a batch: validated and answered like an online one, and logged
        as a ``<provider>.batch_request`` entry (no latency, no limits)."""
        fake = Request("POST", url, {}, {}, json.dumps(body).encode())
        kind = f"{provider}.batch_request"
        entry: dict[str, Any] = {
            "time": round(time.time(), 6), "method": "POST", "path": url,
            "provider": provider, "endpoint": kind, "batch_id": batch_id, "item": item,
            "model": None, "status": None, "fault": None, "answer": None,
        }
        fake.entry = entry
        result: dict[str, Any]
        try:
            if not isinstance(body, dict):
                err = openai_error if provider == "openai" else gemini_error
                raise err(400, "Each batch request body must be a JSON object.")
            prep = prepare(self, body, fake)
            entry["model"] = prep.model
            entry.update(prep.media_log())
            fault, shape = self.draw_fault(fake.body, prep.question.directives)
            if fault is not None:
                entry["fault"] = fault
                self.count("faults", f"batch.{fault}")
            if fault in ("429", "500", "timeout", "malformed"):
                raise fault_reply(self, prep, "429" if fault == "429" else "500")
            decision = self._policy.decide(prep.question)
            if fault == "block":
                decision = Decision(kind="block", text="", gold=decision.gold)
            self.record_answer(decision)
            result = render(self, prep, decision, fault, shape)
            status = 200
            entry["answer"] = decision.text if decision.kind != "block" else None
            entry["outcome"] = decision.kind
            if decision.label is not None:
                entry["label"] = decision.label
            if decision.gold is not None:
                entry["gold"] = decision.gold
        except ApiError as e:
            status, result = e.status, e.body
            entry["error"] = e.message
        entry["status"] = status
        entry["body"] = redact_payloads(body)
        self.count("requests", kind)
        self._append(entry)
        return status, result

    # -- internals ------------------------------------------------------------

    @staticmethod
    def _empty_counters() -> dict[str, dict[str, int]]:
        return {k: {} for k in ("requests", "status", "faults", "limits", "answers", "outcomes")}

    @staticmethod
    def _make_policy(cfg: EmulatorConfig) -> Policy:
        return Policy(cfg.policy, seed=cfg.seed, oracle=cfg.oracle, neutral_rate=cfg.neutral_rate)

    def _open_log(self, path: Path | None) -> None:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _authorize(self, req: Request, provider: str) -> None:
        expected = self._config.api_key
        if provider == "openai":
            auth = req.header("authorization")
            key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            key = key or req.header("api-key")
            if not key:
                raise openai_error(
                    401,
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    code=None,
                )
            if expected is not None and key != expected:
                # Like the real service, echo the presented key, masked: clients must not
                # write it anywhere (the secret scans look for the key itself).
                masked = f"{key[:8]}{'*' * 8}{key[-4:]}" if len(key) > 12 else "****"
                raise openai_error(
                    401,
                    f"Incorrect API key provided: {masked}. You can find your API key in your "
                    "account settings.",
                    code="invalid_api_key",
                )
            return
        key = req.header("x-goog-api-key") or req.query.get("key", "")
        if not key:
            raise gemini_error(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if expected is not None and key != expected:
            raise gemini_error(
                400,
                "API key not valid. Please pass a valid API key.",
                details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                          "reason": "API_KEY_INVALID", "domain": "googleapis.com"}],
            )

    @staticmethod
    def _provider_of(req: Request) -> str:
        # /v1/... is both OpenAI's prefix and a Gemini API version: the client's headers decide.
        if req.header("x-goog-api-key") or req.header("x-goog-api-client") or "key" in req.query:
            return "gemini"
        if ":" in req.path or req.path.startswith(("/upload/", "/download/")):
            return "gemini"
        if req.header("authorization") or req.path.startswith("/v1/") or req.path == "/v1":
            return "openai"
        return "gemini"

    def _route(self, req: Request, provider: str) -> tuple[str, Handler] | None:
        ordered = sorted(_ROUTES, key=lambda r: not r[2].startswith(provider + "."))
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
        provider = self._provider_of(req)
        entry: dict[str, Any] = {
            "time": round(t0, 6),
            "method": req.method,
            "path": _redact_path(raw_path),
            "provider": provider,
            "endpoint": None,
            "model": None,
            "status": None,
            "fault": None,
            "answer": None,
        }
        req.entry = entry
        reply: Reply
        try:
            routed = self._route(req, provider)
            if routed is None:
                raise self._not_found(req, provider)
            kind, handler = routed
            provider = entry["provider"] = kind.split(".", 1)[0]
            entry["endpoint"] = kind
            self.count("requests", kind)
            if kind != "gemini.upload.chunk":  # the upload URL itself authorizes a chunk
                self._authorize(req, provider)
            if len(req.body) > self._config.max_body_bytes:
                raise (openai_error if provider == "openai" else _gemini_413)(
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
            err = openai_error if provider == "openai" else gemini_error
            exc = err(500, f"emulator internal error: {type(e).__name__}: {e}")
            reply = Reply.json(exc.body, 500)
            entry["error"] = exc.message
            entry["traceback"] = tb
        if provider == "openai" and reply.hold is None:
            reply.headers.setdefault("x-request-id", self.new_id("req_", 24))
        entry["status"] = None if reply.hold is not None else reply.status
        entry["elapsed_s"] = round(time.time() - t0, 6)
        entry["headers"] = {
            k: ("<redacted>" if k in _SECRET_HEADERS else v) for k, v in req.headers.items()
        }
        entry.setdefault("body", _body_for_log(req))
        self.count("status", "timeout" if reply.hold is not None else str(reply.status))
        self._append(entry)
        return reply

    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, default=str)
        with self._lock:
            self._log.append(entry)
            if self._log_file is not None:
                self._log_file.write(line + "\n")
                self._log_file.flush()

    @staticmethod
    def _not_found(req: Request, provider: str) -> ApiError:
        if provider == "openai":
            return openai_error(404, f"Invalid URL ({req.method} {req.path})", code=None)
        return gemini_error(404, f"Method not found: {req.method} {req.path}")


def _gemini_413(status: int, message: str) -> ApiError:
    return gemini_error(400, message)


def _body_for_log(req: Request) -> Any:
    if not req.body:
        return None
    ctype = req.header("content-type")
    if "json" in ctype or req.body[:1] in (b"{", b"["):
        try:
            return redact_payloads(json.loads(req.body))
        except ValueError:
            pass
    return {"sha256": sha256(req.body), "bytes": len(req.body), "content_type": ctype or None}


def parse_json_object(req: Request, provider: str) -> dict[str, Any]:
    """The request body as a JSON object, or the provider's 400 for a malformed body."""
    try:
        body = json.loads(req.body or b"null")
    except ValueError as e:
        if provider == "openai":
            raise openai_error(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                "but what was sent was not valid JSON.)",
            ) from e
        raise gemini_error(400, f"Invalid JSON payload received. {e}") from e
    if not isinstance(body, dict):
        if provider == "openai":
            raise openai_error(400, "The request body must be a JSON object.")
        raise gemini_error(400, "Invalid JSON payload received. Expected an object.")
    return body
