"""Helpers shared by the built-in predictors (no SDK imports here)."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vlmfer import presets
from vlmfer.errors import MissingKeyError, PredictorError
from vlmfer.secrets import redact as redact  # one redaction rule for every predictor
from vlmfer.types import GenerationOptions, Media, MediaSpec, Prompt, Response, Usage

if TYPE_CHECKING:
    from vlmfer.media import MediaPart, PreparedMedia

logger = logging.getLogger("vlmfer")


class WarnOnce:
    """Log each distinct warning once per predictor, so a run says it once, not per sample."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._seen: set[str] = set()

    def __call__(self, key: str, message: str) -> None:
        if key in self._seen:
            return
        self._seen.add(key)
        logger.warning("%s: %s", self._name, message)


#: The header every reply of vlmfer's emulator carries (``vlmfer.emulator.config``).
EMULATOR_HEADER = "x-vlmfer-emulator"


class SimulatorWatch:
    """An httpx event hook noting whether the server announced itself as vlmfer's emulator.

    Every request of an SDK client (answers, uploads, batch results) passes it, so a
    predictor marks its answers ``simulated`` however they reached it.
    """

    def __init__(self) -> None:
        self.seen = False

    async def __call__(self, response: Any) -> None:
        if response.headers.get(EMULATOR_HEADER):
            self.seen = True

    def hooks(self) -> dict[str, list[Any]]:
        return {"response": [self]}

    def settle(self, response: Response, cost_usd: float | None) -> Response:
        """Stamp an answer just parsed with its price and whether the emulator gave it."""
        response.cost_usd = cost_usd
        response.simulated = self.seen
        return response


def reconcile_usage(details: dict[str, Any], usage: Usage) -> None:
    """Keep the reported input tokens next to the estimate, and their ratio, so a run can
    show how far the pre-flight estimate was off."""
    details["reported_input_tokens"] = usage.input_tokens
    est = details.get("estimated_input_tokens")
    if est and usage.input_tokens:
        details["estimate_ratio"] = round(usage.input_tokens / est, 3)


#: Request fields, besides the messages and media, that shape an answer: ``details.sent``.
SENT_FIELDS = (
    "temperature", "top_p", "seed", "max_tokens", "max_completion_tokens", "max_output_tokens",
    "logprobs", "top_logprobs", "response_logprobs", "n", "response_format", "text",
    "response_mime_type", "reasoning_effort", "reasoning", "thinking_config",
    "media_resolution", "safety_settings", "extra_body",
)


def _sent_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        if isinstance(value.get("format"), Mapping):  # Responses API ``text``
            return _sent_value(value["format"])
        if "type" in value and isinstance(value["type"], str):  # a schema: its kind is enough
            return value["type"]
        return {str(k): _sent_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_sent_value(v) for v in value]
    if hasattr(value, "model_dump"):
        return _sent_value(value.model_dump(exclude_none=True))
    return value


def record_sent(
    details: dict[str, Any], request: Mapping[str, Any] | Any,
    dropped: Mapping[str, str] | None = None,
) -> None:
    """Record on a response what the request really carried, and what was not sent and why.

    ``request`` is the SDK call's keyword arguments (or a config model). ``details["sent"]``
    keeps the answer-shaping fields of ``SENT_FIELDS``; ``details["dropped"]`` maps each
    asked-for parameter that was left out to the reason, e.g.
    ``{"temperature": "gpt-5.2 does not accept it"}``.
    """
    if hasattr(request, "model_dump"):
        request = request.model_dump(exclude_none=True)
    details["sent"] = {k: _sent_value(request[k]) for k in SENT_FIELDS
                       if request.get(k) is not None and request[k] is not False}
    if dropped:
        details["dropped"] = {**details.get("dropped", {}), **dropped}


def resolve_key(
    explicit: str | None,
    env_names: Sequence[str],
    provider: str,
    *,
    suggest: str | None = None,
    hint: str = "",
) -> str:
    """The API key from the options or the environment (in ``env_names`` order),
    else a ``MissingKeyError`` that says which variable to export."""
    if explicit:
        return explicit
    for name in env_names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    names = " or ".join(env_names)
    raise MissingKeyError(
        f"no API key for {provider} predictors: set {names} in the environment, e.g. "
        f"`export {suggest or env_names[0]}=...`{hint}"
    )




def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _defaults() -> str:
    return (
        f"current defaults: openai/{presets.DEFAULT_OPENAI_MODEL}, "
        f"gemini/{presets.DEFAULT_GEMINI_MODEL} (vlmfer.presets); the seed study's "
        "gemini-2.0-flash was shut down on 2026-06-01 and gpt-4o is scheduled to shut down "
        "on 2027-01-14"
    )


#: Words with which a server says a request parameter (not its load) caused the error.
_PARAMETER_WORDS = re.compile(
    r"\b(param(eter)?s?|fields?|unexpected|unsupported|not supported|unrecognized|"
    r"unknown (argument|option)|extra inputs|invalid value)\b",
    re.IGNORECASE,
)
#: Bodies with which a server says the path, not the model, does not exist.
_ROUTE_MISSING = re.compile(r"^\s*(not found|invalid url\b.*|404 page not found)\s*$",
                            re.IGNORECASE)


def server_error_text(body: Any, raw: str | None = None, limit: int = 500) -> str:
    """The server's own words for an error.

    ``error.message`` (OpenAI, vLLM), ``error`` as a string, ``message``, or FastAPI's
    ``detail`` (a string, or a list of ``{"loc": [...], "msg": ...}``); else the start of
    the raw body.
    """
    text = ""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            text = str(err["message"])
        elif isinstance(err, str) and err:
            text = err
        elif body.get("message"):
            text = str(body["message"])
        elif "detail" in body:
            text = _detail_text(body["detail"])
    elif isinstance(body, str):
        text = body
    if not text and raw:
        text = raw
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc") or [] if x != "body")
                msg = str(item.get("msg") or item)
                parts.append(f"{loc}: {msg}" if loc else msg)
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return detail if isinstance(detail, str) else json.dumps(detail)


def names_a_parameter(detail: str) -> bool:
    """Whether an error text blames a request parameter: systematic, never transient."""
    return bool(_PARAMETER_WORDS.search(detail))


def status_error(
    status: int,
    detail: str,
    *,
    predictor: str,
    key_env: str,
    where: str,
    retry_after: float | None = None,
    compatible: bool = False,
    local: bool = False,
) -> PredictorError:
    """Classify an HTTP error status and say what to do about it.

    ``compatible``: ``where`` is an OpenAI-compatible server, not the provider's own API.
    ``local``: a server on this machine or network; its plain 500 is a crash of the
    handler on this request, which a retry only repeats.
    """
    head = f"{predictor}: HTTP {status} from {where}: {detail or '(empty body)'}"
    if status == 429:
        return PredictorError(
            f"{head} (rate limited; the engine backs off"
            + (f" {retry_after:g} s as asked)" if retry_after is not None else ")"),
            retryable=True, retry_after=retry_after, status=status, kind="rate_limit",
        )
    # A 5xx that names a parameter is systematic; so is a compatible server's 4xx (the
    # official APIs' 400s keep their own advice below).
    if names_a_parameter(detail) and (status >= 500 or (compatible and status in (400, 422))):
        return PredictorError(
            f"{head}. The server rejected a request parameter; this is not transient, so "
            "it is not retried. Turn the parameter off with a predictor option (see "
            "docs/local-servers.md: supports_logprobs, supports_json_schema, "
            "max_tokens_param, extra_body) or fix the option's value",
            retryable=False, status=status, kind="bad_parameter",
        )
    if status == 500 and local:
        return PredictorError(
            f"{head}. The local server failed on this request; a retry would fail the same "
            "way, so it is not retried. Its own log says why",
            retryable=False, status=status, kind="server",
        )
    if status in (408, 409) or status >= 500:
        return PredictorError(
            f"{head} (transient server error; the engine retries)",
            retryable=True, retry_after=retry_after, status=status,
            kind="timeout" if status == 408 else "server",
        )
    if status == 401:
        return PredictorError(
            f"{head}. The API key was rejected: check {key_env} (or the api_key option) "
            "holds a valid key for this server",
            retryable=False, status=status, kind="auth",
        )
    if status == 403:
        return PredictorError(
            f"{head}. The key has no access to this model or feature: check the key's "
            f"project and permissions ({key_env})",
            retryable=False, status=status, kind="permission",
        )
    if status == 404 and _ROUTE_MISSING.match(detail or "not found"):
        hint = ("; its OpenAI-compatible API usually lives under /v1: try --base-url "
                f"{where.rstrip('/')}/v1" if not where.rstrip("/").endswith("/v1") else "")
        return PredictorError(
            f"{head}. The server has no such endpoint: base_url must be the API root that "
            f"holds /chat/completions and /models{hint}",
            retryable=False, status=status, kind="not_found",
        )
    if status == 404:
        advice = (f"GET {where.rstrip('/')}/models lists the ids it serves; pass one with "
                  "--model openai/<id>" if compatible else
                  f"pick another with --model; {_defaults()}")
        return PredictorError(
            f"{head}. The model id does not exist on this server (or was retired); {advice}",
            retryable=False, status=status, kind="not_found",
        )
    if status in (400, 413, 422):
        return PredictorError(
            f"{head}. The request was rejected: check the predictor options, the media "
            "(size, type, count) and the generation options",
            retryable=False, status=status, kind="bad_request",
        )
    return PredictorError(head, retryable=False, status=status, kind="api_error")


def transport_error(
    exc: BaseException, *, predictor: str, where: str, retry_timeout: bool = True
) -> PredictorError:
    """A connection failure (retryable) or a timeout (retryable unless ``retry_timeout``
    is false: a local server keeps generating the abandoned answer)."""
    is_timeout = "timeout" in type(exc).__name__.lower() or isinstance(exc, TimeoutError)
    kind = "timeout" if is_timeout else "connection"
    what = "timed out" if is_timeout else "could not connect"
    if is_timeout and not retry_timeout:
        return PredictorError(
            f"{predictor}: timed out ({type(exc).__name__}) talking to {where}. Not retried: "
            "the server keeps generating the abandoned answer, and a retry would queue "
            "behind it. Raise timeout_s (--set model.timeout_s=1200), lower max_tokens, or "
            "set model.retry_timeouts=true",
            retryable=False, kind=kind,
        )
    return PredictorError(
        f"{predictor}: {what} ({type(exc).__name__}: {redact(str(exc)) or 'no detail'}) "
        f"talking to {where}; "
        "check the server is up and reachable (base_url), or raise timeout_s",
        retryable=True, kind=kind,
    )


def malformed_error(detail: str, *, predictor: str, where: str) -> PredictorError:
    """A response the SDK could not parse, or one missing its answer: retryable."""
    return PredictorError(
        f"{predictor}: malformed response from {where}: {detail}",
        retryable=True, kind="malformed",
    )


async def prepare(
    media: Media, spec: MediaSpec, as_: Literal["image", "frames", "video"]
) -> PreparedMedia:
    """Run the media layer in a worker thread (decoding and encoding block).

    A small JPEG that goes out as it is skips the thread: the hand-off would cost more.
    """
    from vlmfer.media import prepare_inline, prepare_media

    quick = prepare_inline(media, spec, as_=as_)
    if quick is not None:
        return quick
    return await asyncio.to_thread(prepare_media, media, spec, as_=as_)


def data_url(part: MediaPart) -> str:
    return f"data:{part.mime_type};base64,{base64.b64encode(part.data).decode('ascii')}"


def frames_caption(parts: Sequence[MediaPart], index: int | None = None) -> str:
    """Say that images are frames of one clip, in time order, with their timestamps."""
    stamps = ", ".join(
        f"Frame {i} at {p.time_s:.2f} s" if p.time_s is not None else f"Frame {i}"
        for i, p in enumerate(parts, start=1)
    )
    which = f"video {index}" if index is not None else "one video clip"
    return (
        f"The next {len(parts)} images are frames of {which}, in time order: {stamps}."
    )


def image_size(path: Path) -> tuple[int, int]:
    """Width and height from the image header (no full decode); 768x768 if unreadable.

    An estimate must never fail: a file that cannot be used (a decompression bomb too)
    gets its clear ``MediaError`` when the media layer prepares it.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except (OSError, ValueError, Image.DecompressionBombError):
        return (768, 768)


def scaled(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """The size after the media layer fits the longest side into ``max_side``."""
    w, h = size
    if max_side and max(w, h) > max_side:
        s = max_side / max(w, h)
        return max(1, round(w * s)), max(1, round(h * s))
    return w, h


def media_record(prepared: Sequence[PreparedMedia]) -> list[dict[str, Any]]:
    """What the model saw: the media layer's account of frames, crops and encodes."""
    return [dict(p.record, source=str(p.source)) for p in prepared]


# ---------------------------------------------------------------- labels and logprobs

def _clean(text: str) -> str:
    return text.strip().strip("\"'`*.,:;!").strip().lower()


def constrained_label(text: str | None, labels: Sequence[str], kind: str) -> str | None:
    """The label of a constrained answer (an enum value or ``{"label": ...}``), if exact."""
    if text is None:
        return None
    value: Any = text
    if kind == "json_schema" or text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            value = obj.get("label")
        elif kind == "json_schema":
            return None
    if not isinstance(value, str):
        return None
    wanted = _clean(value)
    hits = [label for label in labels if label.lower() == wanted]
    return hits[0] if len(hits) == 1 else None


def label_start(text: str, kind: str | None) -> int:
    """Character offset where the label starts in a (possibly JSON) answer."""
    if kind == "json_schema" or text.lstrip().startswith("{"):
        m = re.search(r'"label"\s*:\s*"', text)
        if m:
            return m.end()
    m = re.search(r"[^\s\"'`*{]", text)
    return m.start() if m else 0


def label_logprobs(
    positions: Sequence[tuple[str, Iterable[tuple[str, float]]]],
    text: str,
    labels: Sequence[str],
    kind: str | None,
) -> dict[str, float] | None:
    """Turn per-position top alternatives into label -> log-probability.

    ``positions`` holds, for each generated token, the chosen token and its top
    alternatives. The position where the label starts is found by offset (so a
    ``{"label": "Happy"}`` answer works as well as a bare ``Happy``); each
    alternative is matched to labels case-insensitively, by prefix for labels
    that span several tokens, and ambiguous prefixes (``S`` for Sad and Surprise)
    are dropped. Alternatives naming the same label are summed in probability.
    """
    if not positions or not labels:
        return None
    target = label_start(text, kind)
    offset = 0
    chosen_index = None
    skip = 0
    for i, (token, _) in enumerate(positions):
        if offset <= target < offset + max(1, len(token)):
            chosen_index = i
            skip = target - offset
            break
        offset += len(token)
    if chosen_index is None:
        return None
    chosen_token, alternatives = positions[chosen_index]
    prefix = chosen_token[:skip]
    # Only a prefix with real text (e.g. '":"' glued to the label) must match;
    # spaces and quotes are stripped from every alternative anyway.
    strict = bool(prefix.strip(" \t\n\"'`*{:"))
    # How short a piece may be and still stand for a label: as short as the answer's own
    # first piece (a tokenizer that splits '"Fear"' as '"F' + 'ear'), else three letters,
    # so that a word such as "A" never counts as the start of "Anger".
    own = chosen_token[skip:] if strict else chosen_token
    min_piece = max(1, min(3, len(own.strip(" \t\n\"'`*{}:"))))
    found: dict[str, list[float]] = {}
    for token, logprob in alternatives:
        if strict:
            if not token.startswith(prefix):
                continue
            token = token[skip:]
        piece = token.strip(" \t\n\"'`*{}:").lower()
        if not piece:
            continue
        exact = [lab for lab in labels if lab.lower() == piece]
        # A label split into tokens starts with a piece of it; one or two letters ("A",
        # "N") are words of their own far more often than the start of a label.
        hits = exact or ([lab for lab in labels if lab.lower().startswith(piece)]
                         if len(piece) >= min_piece else [])
        if len(hits) != 1:
            continue
        found.setdefault(hits[0], []).append(logprob)
    if not found:
        return None
    return {lab: _logsumexp(values) for lab, values in found.items()}


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if math.isinf(top):
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


def set_options(options: GenerationOptions, **names: str) -> dict[str, Any]:
    """The generation ``options`` that are set (not None), under the API's names for them.

    >>> set_options(GenerationOptions(temperature=0.0, top_p=None), temperature="temp",
    ...             top_p="topP")
    {'temp': 0.0}
    """
    return {api: value for field, api in names.items()
            if (value := getattr(options, field)) is not None}


def candidate_labels(prompt: Prompt) -> list[str] | None:
    """The labels a constrained answer may take, in the order the prompt gives them."""
    if prompt.constraint is not None:
        return list(prompt.constraint.labels)
    if prompt.label_order:
        return list(prompt.label_order)
    return None


def top_k(prompt: Prompt, labels: Sequence[str] | None) -> int:
    """How many alternatives to ask for: enough to cover the labels, within 1..20."""
    if prompt.options.top_logprobs:
        return prompt.options.top_logprobs
    return max(5, min(20, len(labels) if labels else 5))
