"""Shared request/reply types for the emulator's provider modules."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vlmfer.emulator.media import MediaInfo
from vlmfer.emulator.policy import Decision, Question, parse_directives


class ApiError(Exception):
    """An HTTP error reply with a provider-shaped JSON body."""

    def __init__(
        self,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        kind: str | None = None,
    ) -> None:
        super().__init__(json.dumps(body)[:300])
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.kind = kind  # e.g. "fault.429", "limit.rpm"

    @property
    def message(self) -> str:
        err = self.body.get("error")
        if isinstance(err, dict):
            return str(err.get("message", ""))
        return ""


def openai_error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    kind: str | None = None,
) -> ApiError:
    """An OpenAI-style ``{"error": {message, type, param, code}}`` reply."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return ApiError(status, body, headers, kind=kind)


GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def gemini_error(
    status: int,
    message: str,
    *,
    status_name: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    kind: str | None = None,
) -> ApiError:
    """A Google-style ``{"error": {code, message, status}}`` reply."""
    err: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": status_name or GOOGLE_STATUS.get(status, "UNKNOWN"),
    }
    if details:
        err["details"] = details
    return ApiError(status, {"error": err}, headers, kind=kind)


@dataclass
class Request:
    """One HTTP request as the handlers see it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    entry: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class Reply:
    """What the server writes back (or, with ``hold``, how long to stall before hanging up)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    hold: float | None = None

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(obj).encode("utf-8"), dict(headers or {}))


@dataclass
class Prepared:
    """A validated inference request, ready for the policy and the renderer."""

    provider: str
    endpoint: str
    model: str
    question: Question
    media: list[MediaInfo] = field(default_factory=list)
    input_tokens: int = 0
    modality_tokens: dict[str, int] = field(default_factory=dict)
    output_format: str = "text"  # text | json | enum | json_string
    json_prop: str = "label"
    logprobs: bool = False
    top_logprobs: int = 0
    max_tokens: int | None = None
    thinking_budget: int | None = None
    unknown_fields: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def media_log(self) -> dict[str, Any]:
        images = [m for m in self.media if m.kind == "image"]
        videos = [m for m in self.media if m.kind == "video"]
        details = [m.detail for m in self.media if m.detail is not None]
        frames = sum(m.frames or 0 for m in videos) if videos else len(images)
        return {
            "images": len(images),
            "videos": len(videos),
            "mime_types": [m.mime_type for m in self.media],
            "sizes": [m.bytes for m in self.media],
            "detail": details,
            "frames": frames,
            "media": [m.as_log() for m in self.media],
            "input_tokens": self.input_tokens,
            "labels": list(self.question.constrained or []),
            "output_format": self.output_format,
            "logprobs": self.logprobs,
            "top_logprobs": self.top_logprobs,
        }


def tokenize_answer(text: str, label: str | None) -> tuple[list[str], int | None]:
    """Split an answer into pseudo-tokens, keeping the label whole; return its index."""
    def chunks(s: str) -> list[str]:
        return re.findall(r"\s*\w+|\s*[^\w\s]+|\s+", s)

    if label and label in text:
        pre, post = text.split(label, 1)
        toks = chunks(pre)
        return [*toks, label, *chunks(post)], len(toks)
    return chunks(text) or [text], None


def format_answer(prep: Prepared, decision: Decision) -> str:
    """The answer text in the requested output format (label, JSON or JSON string)."""
    if decision.kind != "label" or decision.label is None:
        return decision.text
    if prep.output_format == "json":
        return json.dumps({prep.json_prop: decision.label})
    if prep.output_format == "json_string":
        return json.dumps(decision.label)
    return decision.label


def truncate_answer(
    prep: Prepared, decision: Decision, text: str
) -> tuple[str, list[str], int | None, bool]:
    """Cut the answer at ``max_tokens`` (or a ``finish=length`` directive): the text, its
    pseudo-tokens, where the label starts (None if cut off) and whether it was cut."""
    tokens, label_at = tokenize_answer(text, decision.label)
    limit = prep.max_tokens
    if "finish" in prep.question.directives and prep.question.directives["finish"] == "length":
        limit = max(1, len(tokens) // 2) if len(tokens) > 1 else 1
        if len(tokens) == 1:
            tokens = [tokens[0][: max(1, len(tokens[0]) // 2)]]
            return tokens[0], tokens, None, True
    if limit is not None and len(tokens) > limit:
        tokens = tokens[:limit]
        if label_at is not None and label_at >= limit:
            label_at = None
        return "".join(tokens), tokens, label_at, True
    return text, tokens, label_at, False


#: What a request asks for back: (output format, the labels it allows, the JSON property).
OutputFormat = tuple[str, list[str] | None, str]


def text_image_request(
    provider: str,
    endpoint: str,
    model: str,
    req: Request,
    texts: list[str],
    parts: list[MediaInfo],
    *,
    text_tokens: int,
    output: OutputFormat,
    media: list[MediaInfo] | None = None,
    max_tokens: int | None = None,
) -> Prepared:
    """A request of texts and images (OpenAI's and Anthropic's APIs), ready for the policy.

    ``parts`` are the media the model sees (their hashes and tokens count); ``media`` is
    every part the request carried, as the log records it (default: ``parts``).
    """
    fmt, labels, prop = output
    image_tokens = sum(m.tokens for m in parts)
    return Prepared(
        provider=provider, endpoint=endpoint, model=model,
        question=Question(texts=texts, media_hashes=[m.sha256 for m in parts],
                          constrained=labels, directives=request_directives(texts, req)),
        media=parts if media is None else media, input_tokens=text_tokens + image_tokens,
        modality_tokens={"TEXT": text_tokens, "IMAGE": image_tokens},
        output_format=fmt, json_prop=prop, max_tokens=max_tokens,
    )


def content_parts(
    content: Any, texts: list[str], where: str, not_a_list: Callable[[str], ApiError]
) -> list[tuple[int, Any, Any]]:
    """The content of the message at ``where`` as (index, part, its ``type``), for the
    OpenAI and Anthropic APIs.

    A plain string is one text, added to ``texts``, and no parts; anything but a string or
    a list is the error ``not_a_list(where)``.
    """
    if isinstance(content, str):
        texts.append(content)
        return []
    if not isinstance(content, list):
        raise not_a_list(where)
    return [(j, part, part.get("type") if isinstance(part, dict) else None)
            for j, part in enumerate(content)]


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """A stored object as its API shows it: without the emulator's own ``_`` fields."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def list_page(data: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A list reply that holds the whole list in one page, with the cursor fields that
    OpenAI's and Anthropic's list endpoints share."""
    return {**fields, "data": data, "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}


def request_directives(texts: list[str], req: Request) -> dict[str, str]:
    """``[[emu:...]]`` directives from the request's text, then the ``x-emulator-directive``
    header (which wins)."""
    d = parse_directives(texts)
    header = req.header("x-emulator-directive")
    if header:
        d.update(parse_directives([f"[[emu:{header}]]"]))
    return d
