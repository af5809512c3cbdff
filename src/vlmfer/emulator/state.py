"""The emulator's state and its shared inference path, apart from HTTP.

``EmulatorState`` owns the configuration, the answer policy, the request log, counters,
rate-limit windows, fault draws and each provider's objects (files, batches). Each
provider module (``openai_api``, ``gemini_api``, ``anthropic_api``) describes itself as an
:class:`Api` (its routes, auth, error shapes) and works on an ``EmulatorState``; the HTTP
server (``server.EmulatorState``) puts them together. Nothing here imports a provider module, so
the imports run one way: providers -> state -> core.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar

from vlmfer.emulator.config import EmulatorConfig
from vlmfer.emulator.core import ApiError, Prepared, Reply, Request, public
from vlmfer.emulator.media import redact_payloads, sha256
from vlmfer.emulator.policy import Decision, Policy

T = TypeVar("T")

Handler = Callable[["EmulatorState", Request], Reply]
FAULT_KINDS = ("429", "500", "timeout", "malformed", "block", "529")


class Route(NamedTuple):
    """One endpoint: ``(method, path pattern, kind, handler)``; ``kind`` is
    ``<provider>.<endpoint>``, as the request log records it."""

    method: str
    pattern: re.Pattern[str]
    kind: str
    handler: Handler


@dataclass(frozen=True)
class Api:
    """One provider's API as the emulator serves it."""

    name: str
    routes: tuple[Route, ...]
    #: Whether a request's headers (or path) say it comes from this provider's SDK.
    claims: Callable[[Request], bool]
    #: Raise the provider's auth error when the request's key is missing or wrong.
    authorize: Callable[[EmulatorState, Request], None]
    #: An error reply in the provider's shape, for a status and a message.
    error: Callable[[int, str], ApiError]
    #: The reply for a path this provider does not serve.
    not_found: Callable[[Request], ApiError]
    #: The reply for a body that is not JSON (a message) or not a JSON object (None).
    invalid_json: Callable[[str | None], ApiError]
    #: The 429 for an exceeded window: (which: "rpm"|"tpm", model, retry_s, limit).
    rate_limited: Callable[[str, str, int, int], ApiError]
    #: A fresh per-emulator state object (files, batches) for this provider.
    new_state: Callable[[], Any] = dict
    #: The header naming each reply (``x-request-id``, ``request-id``), if any.
    request_id_header: str | None = None
    request_id_prefix: str = "req_"
    #: Whether successful replies carry OpenAI's ``x-ratelimit-*`` headers.
    ratelimit_headers: bool = False
    #: Whether this API's routes skip authorization (e.g. an upload URL authorizes itself).
    open_kinds: frozenset[str] = frozenset()


class EmulatorState:
    """Everything the provider modules share; the server adds HTTP on top."""

    def __init__(self, config: EmulatorConfig | None, apis: Sequence[Api]) -> None:
        self._lock = threading.RLock()
        self._config = config or EmulatorConfig()
        self._policy = self._make_policy(self._config)
        self.apis: dict[str, Api] = {api.name: api for api in apis}
        self._log: list[dict[str, Any]] = []
        self._log_file: IO[str] | None = None
        self._logging = False  # the log file is open while serving
        self._counters: dict[str, dict[str, int]] = self._empty_counters()
        self._windows: dict[str, collections.deque[tuple[float, int]]] = {}
        self._seen: dict[str, int] = {}
        self._ids = 0
        self._port = 0
        self._stopping = threading.Event()
        # Provider objects (files, batches), guarded by _lock.
        self._api_state: dict[str, Any] = {api.name: api.new_state() for api in apis}

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the server checks that it is running)."""
        return f"http://127.0.0.1:{self._port}"

    def api_state(self, provider: str) -> Any:
        """The objects one provider keeps (its ``Api.new_state()``)."""
        return self._api_state[provider]

    def find(self, table: Mapping[str, T], key: str, missing: Callable[[], ApiError]) -> T:
        """``table[key]`` (a provider's files, uploads or batches), read under the lock;
        else ``missing()`` is raised: the provider's own not-found error."""
        with self._lock:
            found = table.get(key)
        if found is None:
            raise missing()
        return found

    def json_body(self, req: Request) -> dict[str, Any]:
        """The request body as a JSON object, or the provider's 400 for a malformed body."""
        api = self.apis[str(req.entry.get("provider") or next(iter(self.apis)))]
        return parse_json_object(req, api)

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
            if self._logging and cfg.log_path != old_log:
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
                                            f.block, f.http_529), strict=True):
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
                api = self.apis[provider]
                return self._ratelimit_headers(win, now) if api.ratelimit_headers else {}
            self.count("limits", which)
        retry = max(1, math.ceil(wait))
        limit = (cfg.rpm if which == "rpm" else cfg.tpm) or 0
        raise self.apis[provider].rate_limited(which, model, retry, limit)

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
        prepare: Callable[[EmulatorState, dict[str, Any], Request], Prepared],
        render: Callable[[EmulatorState, Prepared, Decision, str | None, float], dict[str, Any]],
        fault_reply: Callable[[EmulatorState, Prepared, str], ApiError],
    ) -> Reply:
        """The shared path of every inference endpoint: validate, limit, fault, answer."""
        body = self.json_body(req)
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
        if fault in ("429", "500", "529"):
            raise fault_reply(self, prep, fault)
        decision = self._decide(prep, fault)
        out = render(self, prep, decision, "block" if fault == "block" else None, shape)
        _log_decision(entry, decision)
        data = json.dumps(out).encode("utf-8")
        if fault == "malformed":
            data = data[: max(1, len(data) // 2)]
        return Reply(200, data, limit_headers)

    def run_batch_request(
        self,
        provider: str,
        url: str,
        body: Any,
        prepare: Callable[[EmulatorState, dict[str, Any], Request], Prepared],
        render: Callable[[EmulatorState, Prepared, Decision, str | None, float], dict[str, Any]],
        fault_reply: Callable[[EmulatorState, Prepared, str], ApiError],
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
                raise self.apis[provider].error(
                    400, "Each batch request body must be a JSON object.")
            prep = prepare(self, body, fake)
            entry["model"] = prep.model
            entry.update(prep.media_log())
            fault, shape = self.draw_fault(fake.body, prep.question.directives)
            if fault is not None:
                entry["fault"] = fault
                self.count("faults", f"batch.{fault}")
            if fault in ("429", "500", "529", "timeout", "malformed"):
                raise fault_reply(self, prep, fault if fault in ("429", "529") else "500")
            decision = self._decide(prep, fault)
            result = render(self, prep, decision, fault, shape)
            status = 200
            _log_decision(entry, decision)
        except ApiError as e:
            status, result = e.status, e.body
            entry["error"] = e.message
        entry["status"] = status
        entry["body"] = redact_payloads(body)
        self.count("requests", kind)
        self._append(entry)
        return status, result

    # -- internals ------------------------------------------------------------

    def _decide(self, prep: Prepared, fault: str | None) -> Decision:
        """The policy's answer, withheld when the drawn fault is a block; counted."""
        decision = self._policy.decide(prep.question)
        if fault == "block":
            decision = Decision(kind="block", text="", gold=decision.gold)
        self.record_answer(decision)
        return decision

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


    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, default=str)
        with self._lock:
            self._log.append(entry)
            if self._log_file is not None:
                self._log_file.write(line + "\n")
                self._log_file.flush()



def advanced(
    emu: EmulatorState, batch: dict[str, Any],
    advance: Callable[[EmulatorState, dict[str, Any]], None],
) -> Reply:
    """The reply to a GET on ``batch``: ``advance`` it first (a batch moves on only when a
    client looks, and is processed once its delay has passed), then show it."""
    with emu._lock:
        advance(emu, batch)
        return Reply.json(public(batch))


def _log_decision(entry: dict[str, Any], decision: Decision) -> None:
    entry["answer"] = decision.text if decision.kind != "block" else None
    entry["outcome"] = decision.kind
    if decision.label is not None:
        entry["label"] = decision.label
    if decision.gold is not None:
        entry["gold"] = decision.gold


def parse_json_object(req: Request, api: Api) -> dict[str, Any]:
    """The request body as a JSON object, or ``api``'s 400 for a malformed body."""
    try:
        body = json.loads(req.body or b"null")
    except ValueError as e:
        raise api.invalid_json(str(e)) from e
    if not isinstance(body, dict):
        raise api.invalid_json(None)
    return body


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
