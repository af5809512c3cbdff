"""The Anthropic side of the emulator: the Messages API and the Message Batches API.

It validates as the real service does: the key (``x-api-key``, or ``Authorization: Bearer``
as SDK 2.x sends it), the ``anthropic-version`` header, the required fields, image media
types that match the bytes, and the size and count limits (``EmulatorConfig.anthropic_*``).
Sampling parameters (``temperature``, ``top_p``, ``top_k``) are rejected from API version
2026-10-21 on, as the service does. Errors are ``{"type": "error", "error": {"type", "message"},
"request_id"}`` with a ``request-id`` header.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from vlmfer.emulator.core import (
    ApiError,
    Prepared,
    Reply,
    Request,
    content_parts,
    format_answer,
    list_page,
    public,
    text_image_request,
    truncate_answer,
)
from vlmfer.emulator.media import MediaInfo, inspect_image, sha256, text_tokens
from vlmfer.emulator.policy import Decision, candidates_from_schema
from vlmfer.emulator.state import Api, EmulatorState, Route, advanced

#: The API versions the emulator knows; the SDK 2.16.0 sends 2026-10-21.
VERSIONS = ("2023-01-01", "2023-06-01", "2026-10-21")
#: From this version on, the API rejects sampling parameters (any value).
NO_SAMPLING_FROM = "2026-10-21"
SAMPLING = ("temperature", "top_p", "top_k")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_FORMATS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png",
            "GIF": "image/gif", "WEBP": "image/webp"}
#: Aliases the service resolves to a dated snapshot (the SDK's model literals list both).
SNAPSHOTS = {"claude-haiku-4-5": "claude-haiku-4-5-20251001",
             "claude-opus-4-5": "claude-opus-4-5-20251101"}
_FIELDS = frozenset({
    "model", "max_tokens", "messages", "system", "metadata", "stop_sequences", "stream",
    "thinking", "tools", "tool_choice", "output_config", "service_tier", "container",
    "inference_geo", "speed", "diagnostics", "cache_control", "user_profile_id",
    "mcp_servers", "context_management", *SAMPLING,
})
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_REFUSAL = ("I can't help with identifying the emotions of people in this image.")

STATUS_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 529: "overloaded_error",
}


def anthropic_error(
    status: int, message: str, *, type_: str | None = None,
    headers: dict[str, str] | None = None, kind: str | None = None,
) -> ApiError:
    """An Anthropic-style ``{"type": "error", "error": {"type", "message"}}`` reply."""
    body = {"type": "error",
            "error": {"type": type_ or STATUS_TYPES.get(status, "api_error"), "message": message}}
    return ApiError(status, body, headers, kind=kind)


def _invalid(message: str) -> ApiError:
    return anthropic_error(400, message)


# -- validation -----------------------------------------------------------------


def _check_model(emu: EmulatorState, model: Any) -> str:
    if model is None:
        raise _invalid("model: Field required")
    if not isinstance(model, str) or not model.strip():
        raise _invalid("model: Input should be a valid string")
    if "does-not-exist" in model or model in emu.config.missing_models:
        raise anthropic_error(404, f"model: {model}")
    return model


def _sniff(data: bytes) -> str | None:
    """The media type the bytes are, by their signature."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _image(emu: EmulatorState, block: dict[str, Any], where: str) -> MediaInfo:
    source = block.get("source")
    if not isinstance(source, dict):
        raise _invalid(f"{where}.source: Field required")
    stype = source.get("type")
    if stype == "url":
        # The emulator never fetches anything; a URL is what it could not download.
        raise _invalid(f"{where}.source.url: Unable to download the file. The emulator only "
                       "accepts base64 image sources.")
    if stype == "file":
        raise _invalid(f"{where}.source.file_id: File not found (the emulator has no Files "
                       "API for Anthropic; send the image as base64).")
    if stype != "base64":
        raise _invalid(f"{where}.source.type: Input should be 'base64', 'url' or 'file'")
    where = f"{where}.source.base64"
    media_type = source.get("media_type")
    if media_type not in IMAGE_TYPES:
        raise _invalid(f"{where}.media_type: Input should be 'image/jpeg', 'image/png', "
                       "'image/gif' or 'image/webp'")
    raw = source.get("data")
    if not isinstance(raw, str) or not raw:
        raise _invalid(f"{where}.data: Field required")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"{where}.data: Invalid base64 data") from None
    limit = emu.config.anthropic_max_image_bytes
    if len(data) > limit:
        raise _invalid(f"{where}: image exceeds {limit / 1024 / 1024:g} MB maximum: "
                       f"{len(data)} bytes > {limit} bytes")
    actual = _sniff(data)
    width = height = None
    if emu.config.strict_media:
        try:
            width, height, fmt = inspect_image(data)
        except ValueError:
            raise _invalid(f"{where}.data: Could not process image") from None
        actual = _FORMATS.get(fmt, actual)
    if actual is None:
        raise _invalid(f"{where}.data: Could not process image")
    if actual != media_type:
        raise _invalid(f"{where}: Image does not match the provided media type {media_type}")
    return MediaInfo(kind="image", mime_type=media_type, bytes=len(data), sha256=sha256(data),
                     width=width, height=height, tokens=image_tokens(width, height))


def image_tokens(width: int | None, height: int | None) -> int:
    """Anthropic's rule: about width x height / 750, after fitting the long edge into 1568 px
    and the area into 1.15 megapixels."""
    if not width or not height:
        return 1600
    scale = min(1.0, 1568 / max(width, height), math.sqrt(1_150_000 / (width * height)))
    return max(1, math.ceil(width * scale * height * scale / 750))


def _check_sizes(emu: EmulatorState, media: list[MediaInfo]) -> None:
    cfg = emu.config
    if len(media) > cfg.anthropic_max_images:
        raise _invalid(f"messages: Too many images: {len(media)} images were provided, the "
                       f"maximum is {cfg.anthropic_max_images}")
    many = len(media) > 20
    side = cfg.anthropic_many_images_side if many else cfg.anthropic_max_image_side
    for i, m in enumerate(media):
        if max(m.width or 0, m.height or 0) > side:
            raise _invalid(f"messages: image {i + 1}: image dimensions exceed max allowed size"
                           f"{' for requests with over 20 images' if many else ''}: "
                           f"{side} pixels")


def _text_of(block: Any, where: str) -> str:
    if not isinstance(block, dict) or not isinstance(block.get("text"), str):
        raise _invalid(f"{where}.text: Field required")
    return str(block["text"])


def _system_texts(system: Any) -> list[str]:
    if system is None:
        return []
    if isinstance(system, str):
        return [system]
    if isinstance(system, list):
        return [_text_of(b, f"system.{i}") for i, b in enumerate(system)]
    raise _invalid("system: Input should be a valid string or a list of text blocks")


def _output_format(body: dict[str, Any]) -> tuple[str, list[str] | None, str]:
    cfg = body.get("output_config")
    fmt = cfg.get("format") if isinstance(cfg, dict) else None
    if fmt is None:
        return "text", None, "label"
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise _invalid("output_config.format.type: Input should be 'json_schema'")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise _invalid("output_config.format.schema: Field required")
    labels, prop = candidates_from_schema(schema)
    return "json", labels, prop or "label"


def version_of(req: Request) -> str:
    return req.header("anthropic-version")


def prepare_messages(
    emu: EmulatorState, body: dict[str, Any], req: Request, *, version: str | None = None
) -> Prepared:
    """Validate a Messages API body like the real service."""
    version = version or version_of(req)
    unknown = sorted(k for k in body if k not in _FIELDS)
    if unknown:
        raise _invalid(f"{unknown[0]}: Extra inputs are not permitted")
    sent = [k for k in SAMPLING if k in body]
    if sent and version >= NO_SAMPLING_FROM:
        raise _invalid(f"{sent[0]}: Extra inputs are not permitted")
    temp = body.get("temperature")
    if temp is not None and (not isinstance(temp, (int, float)) or not 0 <= temp <= 1):
        raise _invalid("temperature: Input should be less than or equal to 1")
    model = _check_model(emu, body.get("model"))
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise _invalid("max_tokens: Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise _invalid("max_tokens: Input should be greater than or equal to 1")
    messages = body.get("messages")
    if messages is None:
        raise _invalid("messages: Field required")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages: at least one message is required")
    texts = _system_texts(body.get("system"))
    media: list[MediaInfo] = []
    for i, msg in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(msg, dict):
            raise _invalid(f"{where}: Input should be a valid dictionary")
        role = msg.get("role")
        if role not in ("user", "assistant"):
            raise _invalid(f"{where}.role: Input should be 'user' or 'assistant'")
        for j, block, btype in content_parts(msg.get("content"), texts, where, lambda w: _invalid(
                f"{w}.content: Input should be a valid string or list")):
            bwhere = f"{where}.content.{j}"
            if btype == "text":
                texts.append(_text_of(block, bwhere))
            elif btype == "image":
                if role != "user":
                    raise _invalid(f"{bwhere}: image blocks are only allowed in user messages")
                media.append(_image(emu, block, f"{bwhere}.image"))
            elif btype in ("document", "thinking", "redacted_thinking", "tool_use",
                           "tool_result", "search_result"):
                media.append(MediaInfo.unread("other", str(btype), block))
            else:
                raise _invalid(f"{bwhere}.type: Input tag '{btype}' found using 'type' does not "
                               "match any of the expected tags: 'text', 'image', 'document', ...")
    images = [m for m in media if m.kind == "image"]
    _check_sizes(emu, images)
    prep = text_image_request(
        "anthropic", "messages", model, req, texts, images, media=media,
        text_tokens=sum(text_tokens(t) for t in texts) + 4 * len(messages),
        output=_output_format(body), max_tokens=max_tokens,
    )
    prep.extra["version"] = version
    if sent:
        prep.extra["sampling"] = {k: body[k] for k in sent}
    if body.get("stream"):
        raise _invalid("stream: the emulator answers Messages requests without streaming")
    return prep


# -- answers --------------------------------------------------------------------


def snapshot(model: str) -> str:
    """The model id the service reports: the dated snapshot behind an alias."""
    return SNAPSHOTS.get(model, model)


def render_message(
    emu: EmulatorState, prep: Prepared, decision: Decision, fault: str | None, shape: float
) -> dict[str, Any]:
    """A ``message`` object for the policy's decision."""
    thoughts = emu.config.thoughts_tokens
    content: list[dict[str, Any]] = []
    if thoughts:
        # Thinking counts towards max_tokens and output_tokens, as on the service.
        content.append({"type": "thinking", "thinking": "(emulated reasoning)",
                        "signature": "emulator"})
    out: dict[str, Any] = {"stop_details": None}
    completion = 0
    if decision.kind in ("refuse", "block"):
        stop = "refusal"
        out["stop_details"] = {"type": "refusal", "category": None, "explanation": _REFUSAL}
    else:
        budget = (prep.max_tokens or 1) - thoughts
        if budget <= 0:
            stop = "max_tokens"
        else:
            prep.max_tokens = budget
            text, tokens, _, cut = truncate_answer(prep, decision,
                                                   format_answer(prep, decision))
            stop = "max_tokens" if cut else "end_turn"
            completion = len(tokens)
            content.append({"type": "text", "text": text})
    return {
        "id": emu.new_id("msg_", 24), "type": "message", "role": "assistant",
        "model": snapshot(prep.model), "content": content, "stop_reason": stop,
        "stop_sequence": None, **out,
        "usage": {
            "input_tokens": prep.input_tokens, "output_tokens": completion + thoughts,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "service_tier": "batch" if prep.extra.get("batch") else "standard",
        },
    }


def fault_reply(emu: EmulatorState, prep: Prepared, fault: str) -> ApiError:
    """The error an injected fault answers with: 429, 529 overloaded, or 500."""
    retry = {"retry-after": f"{max(0, round(emu.config.retry_after_s))}"}
    if fault == "429":
        return anthropic_error(
            429, f"Number of requests has exceeded your rate limit for {prep.model} "
            "(injected by the emulator).", headers=retry, kind="fault.429")
    if fault == "529":
        return anthropic_error(529, "Overloaded (injected by the emulator)", headers=retry,
                               kind="fault.529")
    return anthropic_error(500, "Internal server error (injected by the emulator)",
                           kind="fault.500")


def messages(emu: EmulatorState, req: Request) -> Reply:
    """POST /v1/messages."""
    if len(req.body) > emu.config.anthropic_max_request_bytes:
        raise anthropic_error(413, f"Request exceeds the maximum allowed number of bytes "
                              f"({emu.config.anthropic_max_request_bytes}).")
    return emu.run_inference(req, prepare_messages, render_message, fault_reply)


def count_tokens(emu: EmulatorState, req: Request) -> Reply:
    """POST /v1/messages/count_tokens."""
    body = emu.json_body(req)
    body.setdefault("max_tokens", 1)  # counting takes no max_tokens
    prep = prepare_messages(emu, body, req)
    req.entry["model"] = prep.model
    return Reply.json({"input_tokens": prep.input_tokens})


# -- models ---------------------------------------------------------------------

_MODELS = ("claude-sonnet-5-5", "claude-haiku-5-5", "claude-opus-5-5", "claude-haiku-4-5")


def _model_json(model: str) -> dict[str, Any]:
    return {"type": "model", "id": model, "display_name": model,
            "created_at": "2026-06-01T00:00:00Z"}


def models_list(emu: EmulatorState, req: Request) -> Reply:
    """GET /v1/models."""
    data = [_model_json(m) for m in _MODELS]
    return Reply.json(list_page(data))


def models_get(emu: EmulatorState, req: Request) -> Reply:
    """GET /v1/models/{model}."""
    model = _check_model(emu, req.params["model"])
    req.entry["model"] = model
    return Reply.json(_model_json(model))


# -- message batches ------------------------------------------------------------


@dataclass
class AnthropicState:
    """Anthropic's objects in one emulator."""

    batches: dict[str, dict[str, Any]] = field(default_factory=dict)


def state(emu: EmulatorState) -> AnthropicState:
    """The Message Batches of ``emu``."""
    st: AnthropicState = emu.api_state("anthropic")
    return st


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def batches_create(emu: EmulatorState, req: Request) -> Reply:
    """POST /v1/messages/batches: ``{"requests": [{"custom_id", "params"}, ...]}``."""
    cfg = emu.config
    if len(req.body) > cfg.anthropic_batch_max_bytes:
        raise anthropic_error(413, f"Message Batch exceeds the maximum size of "
                              f"{cfg.anthropic_batch_max_bytes} bytes.")
    body = emu.json_body(req)
    unknown = sorted(k for k in body if k != "requests")
    if unknown:
        raise _invalid(f"{unknown[0]}: Extra inputs are not permitted")
    requests = body.get("requests")
    if requests is None:
        raise _invalid("requests: Field required")
    if not isinstance(requests, list) or not requests:
        raise _invalid("requests: List should have at least 1 item")
    if len(requests) > cfg.anthropic_batch_max_requests:
        raise _invalid(f"requests: a Message Batch holds at most "
                       f"{cfg.anthropic_batch_max_requests} requests, got {len(requests)}")
    seen: set[str] = set()
    for i, item in enumerate(requests):
        if not isinstance(item, dict) or not isinstance(item.get("params"), dict):
            raise _invalid(f"requests.{i}.params: Field required")
        cid = item.get("custom_id")
        if not isinstance(cid, str) or not _CUSTOM_ID.match(cid):
            raise _invalid(f"requests.{i}.custom_id: String should match pattern "
                           "'^[a-zA-Z0-9_-]{1,64}$'")
        if cid in seen:
            raise _invalid(f"requests.{i}.custom_id: Duplicate custom_id {cid!r}")
        seen.add(cid)
    now = time.time()
    batch: dict[str, Any] = {
        "id": emu.new_id("msgbatch_", 24), "type": "message_batch",
        "processing_status": "in_progress",
        "request_counts": {"processing": len(requests), "succeeded": 0, "errored": 0,
                           "canceled": 0, "expired": 0},
        "created_at": _iso(now), "expires_at": _iso(now + 86400), "ended_at": None,
        "archived_at": None, "cancel_initiated_at": None, "results_url": None,
        "_t0": time.monotonic(), "_requests": requests, "_version": version_of(req),
        "_host": req.header("host"), "_results": None, "_outcome": cfg.batch_outcome,
    }
    with emu._lock:
        state(emu).batches[batch["id"]] = batch
    req.entry["batch_id"] = batch["id"]
    return Reply.json(public(batch))


def _get(emu: EmulatorState, batch_id: str) -> dict[str, Any]:
    return emu.find(state(emu).batches, batch_id, lambda: anthropic_error(
        404, f"message_batch_id: no Message Batch with id {batch_id!r}"))


def batches_get(emu: EmulatorState, req: Request) -> Reply:
    """GET /v1/messages/batches/{id}: processes the batch once its delay has passed."""
    return advanced(emu, _get(emu, req.params["id"]), _advance)


def batches_list(emu: EmulatorState, req: Request) -> Reply:
    """GET /v1/messages/batches (newest first)."""
    with emu._lock:
        data = [public(b) for b in reversed(state(emu).batches.values())]
    return Reply.json(list_page(data))


def batches_cancel(emu: EmulatorState, req: Request) -> Reply:
    """POST /v1/messages/batches/{id}/cancel."""
    b = _get(emu, req.params["id"])
    with emu._lock:
        if b["processing_status"] == "in_progress":
            b["processing_status"] = "canceling"
            b["cancel_initiated_at"] = _iso(time.time())
        return Reply.json(public(b))


def batches_delete(emu: EmulatorState, req: Request) -> Reply:
    """DELETE /v1/messages/batches/{id} (only once it has ended)."""
    b = _get(emu, req.params["id"])
    with emu._lock:
        if b["processing_status"] != "ended":
            raise _invalid(f"Message Batch {b['id']} is still in progress; cancel it first.")
        state(emu).batches.pop(b["id"], None)
    return Reply.json({"id": b["id"], "type": "message_batch_deleted"})


def batches_results(emu: EmulatorState, req: Request) -> Reply:
    """GET /v1/messages/batches/{id}/results: one JSON object per line, by custom_id."""
    b = _get(emu, req.params["id"])
    with emu._lock:
        _advance(emu, b)
        if b["processing_status"] != "ended":
            raise _invalid(f"Message Batch {b['id']} has not ended yet; its results are not "
                           "available.")
        lines = list(b["_results"] or [])
    emu.sleep(emu.config.download_latency_s)
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return Reply(200, data, content_type="application/binary")


def _advance(emu: EmulatorState, b: dict[str, Any]) -> None:
    if b["processing_status"] == "ended":
        return
    if b["processing_status"] == "canceling":
        _process(emu, b, canceled=True)
        return
    if time.monotonic() - b["_t0"] < emu.config.batch_latency_s:
        return
    _process(emu, b)


def _errored(message: str, type_: str = "api_error") -> dict[str, Any]:
    return {"type": "errored", "error": {"type": "error",
                                         "error": {"type": type_, "message": message}}}


def _process(emu: EmulatorState, b: dict[str, Any], *, canceled: bool = False) -> None:
    """Answer every request through the policy; end the batch."""
    requests = b["_requests"]
    outcome = b["_outcome"]
    expire_from = len(requests) // 2 if outcome == "expired" else len(requests)
    version = b["_version"]

    def prepare(e: EmulatorState, body: dict[str, Any], fake: Request) -> Prepared:
        prep = prepare_messages(e, body, fake, version=version)
        prep.extra["batch"] = True
        return prep

    results: list[dict[str, Any]] = []
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    for i, item in enumerate(requests):
        cid = item["custom_id"]
        if canceled:
            result: dict[str, Any] = {"type": "canceled"}
        elif i >= expire_from:
            result = {"type": "expired"}
        elif outcome == "failed":
            result = _errored("This request was made to fail by the emulator (batch_outcome"
                              "=failed).")
        else:
            status, body = emu.run_batch_request(
                "anthropic", "/v1/messages", item["params"], prepare, render_message,
                fault_reply, batch_id=b["id"], item=cid)
            if status == 200:
                result = {"type": "succeeded", "message": body}
            else:
                err = body.get("error") if isinstance(body, dict) else None
                result = {"type": "errored", "error": {
                    "type": "error", "error": err or {"type": "api_error", "message": str(body)},
                    "request_id": emu.new_id("req_", 24)}}
        counts[{"succeeded": "succeeded", "errored": "errored", "canceled": "canceled",
                "expired": "expired"}[result["type"]]] += 1
        results.append({"custom_id": cid, "result": result})
    b["_results"] = results
    b["request_counts"] = counts
    b["processing_status"] = "ended"
    b["ended_at"] = _iso(time.time())
    base = f"http://{b['_host']}" if b["_host"] else emu.url
    b["results_url"] = f"{base}/v1/messages/batches/{b['id']}/results"
    emu.count("batches", f"anthropic.{'canceled' if canceled else outcome}")


# -- the API as the server sees it ------------------------------------------------


def _claims(req: Request) -> bool:
    return bool(req.header("anthropic-version") or req.header("x-api-key")
                or req.path.startswith("/v1/messages"))


def authorize(emu: EmulatorState, req: Request) -> None:
    """``x-api-key`` or ``Authorization: Bearer`` (SDK 2.x), then ``anthropic-version``."""
    auth = req.header("authorization")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    # The service reads x-api-key first when both are present.
    key = req.header("x-api-key") or bearer
    if not key:
        raise anthropic_error(401, "x-api-key header is required")
    expected = emu.config.api_key
    if expected is not None and key != expected:
        raise anthropic_error(401, "invalid x-api-key")
    version = version_of(req)
    if not version:
        raise _invalid("anthropic-version: header is required")
    if version not in VERSIONS:
        raise _invalid(f"anthropic-version: invalid version {version!r}; known versions: "
                       f"{', '.join(VERSIONS)}")


def _error(status: int, message: str) -> ApiError:
    return anthropic_error(status, message)


def _not_found(req: Request) -> ApiError:
    return anthropic_error(404, f"Not found: {req.method} {req.path}")


def _invalid_json(detail: str | None) -> ApiError:
    if detail is None:
        return _invalid("The request body must be a JSON object.")
    return _invalid(f"There was an error parsing the body: {detail}")


def _rate_limited(which: str, model: str, retry: int, limit: int) -> ApiError:
    unit = "requests" if which == "rpm" else "input tokens"
    return anthropic_error(
        429, f"This request would exceed the rate limit for your organization of {limit} "
        f"{unit} per minute for {model}. Please retry after {retry} seconds.",
        headers={"retry-after": str(retry)}, kind=f"limit.{which}")


ROUTES: tuple[Route, ...] = (
    Route("POST", re.compile(r"^/v1/messages$"), "anthropic.messages", messages),
    Route("POST", re.compile(r"^/v1/messages/count_tokens$"), "anthropic.count_tokens",
          count_tokens),
    Route("POST", re.compile(r"^/v1/messages/batches$"), "anthropic.batches.create",
          batches_create),
    Route("GET", re.compile(r"^/v1/messages/batches$"), "anthropic.batches.list",
          batches_list),
    Route("GET", re.compile(r"^/v1/messages/batches/(?P<id>[^/]+)$"),
          "anthropic.batches.get", batches_get),
    Route("GET", re.compile(r"^/v1/messages/batches/(?P<id>[^/]+)/results$"),
          "anthropic.batches.results", batches_results),
    Route("POST", re.compile(r"^/v1/messages/batches/(?P<id>[^/]+)/cancel$"),
          "anthropic.batches.cancel", batches_cancel),
    Route("DELETE", re.compile(r"^/v1/messages/batches/(?P<id>[^/]+)$"),
          "anthropic.batches.delete", batches_delete),
    Route("GET", re.compile(r"^/v1/models$"), "anthropic.models.list", models_list),
    Route("GET", re.compile(r"^/v1/models/(?P<model>[^/]+)$"), "anthropic.models.get",
          models_get),
)

API = Api(
    name="anthropic", routes=ROUTES, claims=_claims, authorize=authorize, error=_error,
    not_found=_not_found, invalid_json=_invalid_json, rate_limited=_rate_limited,
    new_state=AnthropicState, request_id_header="request-id", request_id_prefix="req_",
)
