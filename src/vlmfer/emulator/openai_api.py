"""The OpenAI side of the emulator: chat completions, Responses, files, batches, models."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
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
    openai_error,
    public,
    text_image_request,
    truncate_answer,
)
from vlmfer.emulator.media import (
    MediaInfo,
    decode_data_url,
    inspect_image,
    openai_image_tokens,
    sha256,
    text_tokens,
)
from vlmfer.emulator.policy import Decision, candidates_from_schema
from vlmfer.emulator.state import Api, EmulatorState, Route, advanced

_CHAT_FIELDS = frozenset({
    "model", "messages", "response_format", "logprobs", "top_logprobs", "temperature",
    "max_tokens", "max_completion_tokens", "seed", "n", "top_p", "stop", "user", "stream",
    "stream_options", "presence_penalty", "frequency_penalty", "logit_bias", "metadata", "store",
    "tools", "tool_choice", "parallel_tool_calls", "reasoning_effort", "service_tier",
    "modalities", "audio", "prediction", "verbosity", "web_search_options", "safety_identifier",
    "prompt_cache_key", "prompt_cache_retention", "functions", "function_call",
})
#: Accepted values, in the order OpenAI's errors list them.
_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_FORMATS = ("text", "json_object", "json_schema")
_CHAT_PARTS = ("text", "image_url", "input_audio", "refusal", "file")
_RESPONSES_PARTS = ("input_text", "input_image", "input_file", "input_audio")
_RESPONSES_FIELDS = frozenset({
    "model", "input", "instructions", "text", "top_logprobs", "include", "temperature",
    "max_output_tokens", "top_p", "store", "metadata", "user", "stream", "reasoning", "tools",
    "tool_choice", "parallel_tool_calls", "previous_response_id", "truncation", "service_tier",
    "background", "prompt", "safety_identifier", "prompt_cache_key", "conversation",
    "max_tool_calls", "stream_options", "prompt_cache_retention",
})
_DETAILS = ("low", "high", "auto", "original")
#: Old private names, now shared by every provider module (vlmfer.emulator.core).
_format_answer = format_answer
_truncate = truncate_answer

_REFUSAL = "I'm sorry, but I can't help with identifying emotions in this image."


def _missing(param: str) -> ApiError:
    """OpenAI's error for a required parameter that is missing."""
    return openai_error(400, f"Missing required parameter: '{param}'.", param=param,
                        code="missing_required_parameter")


def _wrong_type(param: str, expected: str) -> ApiError:
    """OpenAI's error for a parameter of the wrong JSON type."""
    return openai_error(400, f"Invalid type for '{param}': expected {expected}.", param=param,
                        code="invalid_type")


def _not_one_of(value: Any, param: str, supported: Sequence[str]) -> ApiError:
    """OpenAI's error for a value that the parameter does not take."""
    names = ", ".join(f"'{v}'" for v in supported[:-1]) + f", and '{supported[-1]}'"
    return openai_error(400, f"Invalid value: '{value}'. Supported values are: {names}.",
                        param=param, code="invalid_value")


def _check_model(emu: EmulatorState, model: Any) -> str:
    if not isinstance(model, str) or not model.strip():
        raise openai_error(400, "you must provide a model parameter", param="model")
    if "does-not-exist" in model or model in emu.config.missing_models:
        raise openai_error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model", code="model_not_found",
        )
    return model


def _logprobs_rejected(emu: EmulatorState, model: str) -> bool:
    return any(s in model for s in emu.config.logprobs_unsupported_models)


def _image_part(
    emu: EmulatorState, model: str, url: Any, detail: Any, param: str
) -> MediaInfo:
    if detail is None:
        detail = "auto"
    if detail not in _DETAILS:
        raise openai_error(
            400,
            f"Invalid value: '{detail}'. Supported values are: 'low', 'high', 'auto' and "
            "'original'.",
            param=f"{param}.detail", code="invalid_value",
        )
    if not isinstance(url, str) or not url:
        raise _missing(f"{param}.url")
    if not url.startswith("data:"):
        # The emulator never fetches anything; a remote URL is what a real server could not get.
        raise openai_error(
            400,
            f"Timeout while downloading {url[:100]}. The emulator only accepts base64 data "
            "URLs (data:image/jpeg;base64,...).",
            param=f"{param}.url", code="invalid_image_url",
        )
    try:
        mime, data = decode_data_url(url)
    except ValueError as e:
        raise openai_error(
            400, f"Invalid 'image_url': the data URL could not be decoded ({e}).",
            param=f"{param}.url", code="invalid_image_url",
        ) from e
    width = height = None
    if emu.config.strict_media:
        try:
            width, height, fmt = inspect_image(data)
        except ValueError as e:
            raise openai_error(
                400,
                "You uploaded an unsupported image. Please make sure your image is valid and "
                "has one of the following formats: ['png', 'jpeg', 'gif', 'webp'].",
                param=f"{param}.url", code="invalid_image_format",
            ) from e
        if fmt not in ("PNG", "JPEG", "GIF", "WEBP", "MPO"):
            raise openai_error(
                400,
                f"You uploaded an unsupported image ({fmt}). Please make sure your image has "
                "one of the following formats: ['png', 'jpeg', 'gif', 'webp'].",
                param=f"{param}.url", code="invalid_image_format",
            )
    tokens = openai_image_tokens(width, height, str(detail), model)
    return MediaInfo(kind="image", mime_type=mime, bytes=len(data), sha256=sha256(data),
                     width=width, height=height, detail=str(detail), tokens=tokens)


def _strict_schema_check(schema: Any, name: str, path: str = "()") -> None:
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            raise openai_error(
                400,
                f"Invalid schema for response_format '{name}': In context={path}, "
                "'additionalProperties' is required to be supplied and to be false.",
                param="response_format", code="invalid_json_schema",
            )
        required = schema.get("required") or []
        missing = [p for p in props if p not in required]
        if missing:
            raise openai_error(
                400,
                f"Invalid schema for response_format '{name}': In context={path}, 'required' is "
                f"required to be supplied and to be an array including every key in properties. "
                f"Missing '{missing[0]}'.",
                param="response_format", code="invalid_json_schema",
            )
        for key, sub in props.items():
            _strict_schema_check(sub, name, f"('properties', '{key}')")


def _output_format(
    fmt: Any, param: str
) -> tuple[str, list[str] | None, str]:
    """(output format, constrained labels, json property) from a response_format / text.format."""
    if fmt is None:
        return "text", None, "label"
    if not isinstance(fmt, dict) or fmt.get("type") not in _FORMATS:
        got = fmt.get("type") if isinstance(fmt, dict) else fmt
        raise _not_one_of(got, f"{param}.type", _FORMATS)
    if fmt["type"] == "text":
        return "text", None, "label"
    if fmt["type"] == "json_object":
        return "json", None, "label"
    spec = fmt.get("json_schema", fmt)  # chat nests it; Responses puts it flat
    if not isinstance(spec, dict) or not spec.get("name"):
        raise _missing(f"{param}.json_schema.name")
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise _missing(f"{param}.json_schema.schema")
    if spec.get("strict"):
        if schema.get("type") != "object":
            raise openai_error(
                400,
                f"Invalid schema for response_format '{spec['name']}': schema must be a JSON "
                "Schema of 'type: \"object\"', got 'type: \"" + str(schema.get("type")) + "\"'.",
                param="response_format", code="invalid_json_schema",
            )
        _strict_schema_check(schema, str(spec["name"]))
    labels, prop = candidates_from_schema(schema)
    if schema.get("type") == "string" and labels:
        return "json_string", labels, "label"
    return "json", labels, prop or "label"


def _common_options(
    body: dict[str, Any], prep: Prepared, emu: EmulatorState, *, responses_api: bool
) -> None:
    temp = body.get("temperature")
    if temp is not None and (not isinstance(temp, (int, float)) or not 0 <= temp <= 2):
        raise openai_error(
            400, f"Invalid 'temperature': decimal above maximum value. Expected a value <= 2, "
            f"but got {temp} instead.", param="temperature", code="decimal_above_max_value",
        )
    top = body.get("top_logprobs")
    if top is not None and (not isinstance(top, int) or not 0 <= top <= 20):
        raise openai_error(400, f"Invalid 'top_logprobs': expected an integer from 0 to 20, got "
                           f"{top!r}.", param="top_logprobs", code="invalid_value")
    if responses_api:
        include = body.get("include") or []
        want = "message.output_text.logprobs" in include
    else:
        want = bool(body.get("logprobs"))
        if top is not None and not want:
            raise openai_error(400, "Invalid value for 'top_logprobs': logprobs must be set to "
                               "true when top_logprobs is used.", param="top_logprobs",
                               code="invalid_value")
    if any(m in prep.model for m in emu.config.reasoning_models):
        _reasoning_checks(body, prep.model, responses_api, want)
    if want and _logprobs_rejected(emu, prep.model):
        raise openai_error(400, f"logprobs are not supported with the model {prep.model}.",
                           param="logprobs", code="unsupported_parameter")
    prep.logprobs = want and emu.config.logprobs
    prep.top_logprobs = int(top or 0)
    key = "max_output_tokens" if responses_api else "max_tokens"
    limit = body.get(key, body.get("max_completion_tokens"))
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise openai_error(400, f"Invalid '{key}': integer below minimum value. Expected a value "
                           f">= 1, but got {limit!r} instead.", param=key,
                           code="integer_below_min_value")
    prep.max_tokens = limit


def _reasoning_checks(body: dict[str, Any], model: str, responses_api: bool, logprobs: bool
                      ) -> None:
    """What reasoning models refuse: a temperature other than 1, logprobs, max_tokens."""
    temp = body.get("temperature")
    if temp is not None and temp != 1:
        raise openai_error(
            400, f"Unsupported value: 'temperature' does not support {temp} with this model. "
            "Only the default (1) value is supported.", param="temperature",
            code="unsupported_value")
    if logprobs:
        raise openai_error(400, f"Unsupported parameter: 'logprobs' is not supported with the "
                           f"model {model}.", param="logprobs", code="unsupported_parameter")
    if not responses_api and body.get("max_tokens") is not None:
        raise openai_error(
            400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
            "'max_completion_tokens' instead.", param="max_tokens",
            code="unsupported_parameter")


def prepare_chat(emu: EmulatorState, body: dict[str, Any], req: Request) -> Prepared:
    """Validate a chat.completions body like the real API."""
    model = _check_model(emu, body.get("model"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _missing("messages")
    texts: list[str] = []
    media: list[MediaInfo] = []
    text_tok = 0
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _wrong_type(where, "an object")
        role = msg.get("role")
        if role not in _ROLES:
            raise _not_one_of(role, f"{where}.role", _ROLES)
        text_tok += 4
        content = msg.get("content")
        if content is None and role == "assistant":
            continue
        for j, part, ptype in content_parts(content, texts, where, lambda w: _wrong_type(
                f"{w}.content", "one of a string or array of objects")):
            pwhere = f"{where}.content[{j}]"
            if ptype == "text":
                if not isinstance(part.get("text"), str):
                    raise _missing(f"{pwhere}.text")
                texts.append(part["text"])
            elif ptype == "image_url":
                if role != "user":
                    raise openai_error(400, f"Invalid '{pwhere}': image content parts are only "
                                       "allowed in messages with role 'user'.", param=pwhere,
                                       code="invalid_value")
                iu = part.get("image_url")
                url, detail = (iu.get("url"), iu.get("detail")) if isinstance(iu, dict) else (
                    iu, None)
                media.append(_image_part(emu, model, url, detail, f"{pwhere}.image_url"))
            elif ptype in ("input_audio", "file", "refusal"):
                media.append(MediaInfo.unread("audio" if ptype == "input_audio" else "other",
                                              ptype, part))
            else:
                raise _not_one_of(ptype, f"{pwhere}.type", _CHAT_PARTS)
    _check_image_cap(emu, media)
    prep = text_image_request(
        "openai", "chat", model, req, texts, media,
        text_tokens=text_tok + sum(text_tokens(t) for t in texts) + 3,
        output=_output_format(body.get("response_format"), "response_format"),
    )
    prep.unknown_fields = sorted(k for k in body if k not in _CHAT_FIELDS)
    _reject_unknown(emu, prep.unknown_fields)
    _common_options(body, prep, emu, responses_api=False)
    prep.extra["n"] = int(body.get("n") or 1)
    if body.get("stream"):
        req.entry["stream"] = True
        opts = body.get("stream_options")
        req.entry["stream_usage"] = bool(isinstance(opts, dict) and opts.get("include_usage"))
    return prep


def _check_image_cap(emu: EmulatorState, media: list[MediaInfo]) -> None:
    n = sum(1 for m in media if m.kind == "image")
    if n > emu.config.max_images:
        raise openai_error(
            400,
            f"Too many images in request: {n}. The maximum is {emu.config.max_images} images "
            "per request.",
            param="messages", code="too_many_images",
        )


def _reject_unknown(emu: EmulatorState, unknown: list[str]) -> None:
    if unknown and emu.config.strict_fields:
        raise openai_error(400, f"Unrecognized request argument supplied: {unknown[0]}",
                           param=unknown[0], code="unknown_parameter")


def _token_logprobs(
    prep: Prepared, decision: Decision, tokens: list[str], label_at: int | None
) -> list[dict[str, Any]]:
    ranked = decision.logprobs()
    out = []
    for i, tok in enumerate(tokens):
        if i == label_at and ranked:
            lp = dict(ranked)[tok] if tok in dict(ranked) else ranked[0][1]
            tops = ranked[: prep.top_logprobs]
        else:
            lp = -1e-6
            tops = [(tok, lp)][: prep.top_logprobs]
        out.append({
            "token": tok, "logprob": lp, "bytes": list(tok.encode("utf-8")),
            "top_logprobs": [
                {"token": t, "logprob": p, "bytes": list(t.encode("utf-8"))} for t, p in tops
            ],
        })
    return out


def _usage_chat(prep: Prepared, completion: int, thoughts: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prep.input_tokens,
        "completion_tokens": completion + thoughts,
        "total_tokens": prep.input_tokens + completion + thoughts,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": thoughts, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def render_chat(
    emu: EmulatorState, prep: Prepared, decision: Decision, fault: str | None, shape: float
) -> dict[str, Any]:
    """A ChatCompletion for the policy's decision."""
    thoughts = emu.config.thoughts_tokens
    logprobs: dict[str, Any] | None = None
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None,
                               "annotations": []}
    completion = 0
    kind = decision.kind
    block_as = prep.question.directives.get("block", "")
    if kind == "block" and (block_as == "refusal" or (not block_as and shape < 0.5 and fault)):
        kind = "refuse"
    if kind == "block":
        finish = "content_filter"
    elif kind == "refuse":
        finish = "stop"
        message["refusal"] = _REFUSAL
        completion = text_tokens(_REFUSAL)
        if prep.logprobs:
            logprobs = {"content": None, "refusal": []}
    else:
        text = format_answer(prep, decision)
        text, tokens, label_at, cut = truncate_answer(prep, decision, text)
        finish = "length" if cut else "stop"
        message["content"] = text
        completion = len(tokens)
        if prep.logprobs:
            logprobs = {"content": _token_logprobs(prep, decision, tokens, label_at),
                        "refusal": None}
    choices = [
        {"index": i, "message": dict(message), "logprobs": logprobs, "finish_reason": finish}
        for i in range(max(1, prep.extra.get("n", 1)))
    ]
    return {
        "id": emu.new_id("chatcmpl-", 24),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": emu.config.snapshots.get(prep.model, prep.model),
        "choices": choices,
        "usage": _usage_chat(prep, completion, thoughts),
        "service_tier": "default",
        "system_fingerprint": "fp_emulator",
    }


def fault_reply(emu: EmulatorState, prep: Prepared, fault: str) -> ApiError:
    """The error an injected 429 / 500 fault answers with."""
    if fault == "429":
        retry = emu.config.retry_after_s
        return openai_error(
            429,
            f"Rate limit reached for {prep.model} (injected by the emulator). Please try again "
            f"in {retry:g}s.",
            type_="requests", code="rate_limit_exceeded",
            headers={"Retry-After": f"{max(0, round(retry))}",
                     "retry-after-ms": f"{int(retry * 1000)}"},
            kind="fault.429",
        )
    return openai_error(
        500,
        "The server had an error while processing your request. Sorry about that! "
        "(injected by the emulator)",
        type_="server_error", code=None, kind="fault.500",
    )


def chat_completions(emu: EmulatorState, req: Request) -> Reply:
    """POST /v1/chat/completions (``stream=true`` answers as server-sent events)."""
    reply = emu.run_inference(req, prepare_chat, render_chat, fault_reply)
    if reply.status == 200 and reply.hold is None and req.entry.get("stream"):
        reply = _as_event_stream(reply, bool(req.entry.get("stream_usage")))
    return reply


def _as_event_stream(reply: Reply, include_usage: bool) -> Reply:
    """Re-send a finished ChatCompletion as chat.completion.chunk events."""
    try:
        done = json.loads(reply.body)
    except ValueError:  # a malformed-body fault: send the broken bytes as one event
        return Reply(200, b"data: " + reply.body + b"\n\n", content_type="text/event-stream")
    head = {k: done[k] for k in ("id", "created", "model", "system_fingerprint")}
    head["object"] = "chat.completion.chunk"
    events = []
    for c in done["choices"]:
        msg = c["message"]
        delta = {"role": "assistant", "content": msg["content"], "refusal": msg["refusal"]}
        events.append({**head, "choices": [{"index": c["index"], "delta": delta,
                                            "logprobs": c["logprobs"], "finish_reason": None}]})
        events.append({**head, "choices": [{"index": c["index"], "delta": {},
                                            "logprobs": None,
                                            "finish_reason": c["finish_reason"]}]})
    if include_usage:
        events.append({**head, "choices": [], "usage": done["usage"]})
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return Reply(200, body + b"data: [DONE]\n\n", content_type="text/event-stream")


# -- Responses API ------------------------------------------------------------


def prepare_responses(emu: EmulatorState, body: dict[str, Any], req: Request) -> Prepared:
    """Validate a responses.create body."""
    model = _check_model(emu, body.get("model"))
    inp = body.get("input")
    if inp is None:
        raise _missing("input")
    texts: list[str] = []
    media: list[MediaInfo] = []
    if isinstance(body.get("instructions"), str):
        texts.append(body["instructions"])
    items = [{"role": "user", "content": inp}] if isinstance(inp, str) else inp
    if not isinstance(items, list):
        raise _wrong_type("input", "a string or an array")
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise _wrong_type(where, "an object")
        for j, part, ptype in content_parts(item.get("content"), texts, where,
                                            lambda w: _missing(f"{w}.content")):
            pwhere = f"{where}.content[{j}]"
            if ptype in ("input_text", "output_text", "text"):
                texts.append(str(part.get("text", "")))
            elif ptype == "input_image":
                if part.get("file_id"):
                    raise openai_error(400, f"Invalid '{pwhere}.file_id': the emulator accepts "
                                       "images only as data URLs in image_url.",
                                       param=f"{pwhere}.file_id", code="invalid_value")
                media.append(_image_part(emu, model, part.get("image_url"), part.get("detail"),
                                         pwhere))
            elif ptype in ("input_file", "input_audio"):
                media.append(MediaInfo.unread("other", ptype, part))
            else:
                raise _not_one_of(ptype, f"{pwhere}.type", _RESPONSES_PARTS)
    _check_image_cap(emu, media)
    text_cfg = body.get("text") or {}
    prep = text_image_request(
        "openai", "responses", model, req, texts, media,
        text_tokens=sum(text_tokens(t) for t in texts) + 4 * len(items),
        output=_output_format(
            text_cfg.get("format") if isinstance(text_cfg, dict) else None, "text.format"),
    )
    prep.unknown_fields = sorted(k for k in body if k not in _RESPONSES_FIELDS)
    _reject_unknown(emu, prep.unknown_fields)
    _common_options(body, prep, emu, responses_api=True)
    if body.get("stream"):
        raise openai_error(400, "The emulator does not stream /v1/responses; call it without "
                           "stream=True.", param="stream", code="unsupported_value")
    return prep


def render_responses(
    emu: EmulatorState, prep: Prepared, decision: Decision, fault: str | None, shape: float
) -> dict[str, Any]:
    """A Response object for the policy's decision."""
    thoughts = emu.config.thoughts_tokens
    status, incomplete = "completed", None
    output: list[dict[str, Any]] = []
    completion = 0
    kind = decision.kind
    block_as = prep.question.directives.get("block", "")
    if kind == "block" and (block_as == "refusal" or (not block_as and shape < 0.5 and fault)):
        kind = "refuse"
    msg_id = emu.new_id("msg_", 24)
    if kind == "block":
        status, incomplete = "incomplete", {"reason": "content_filter"}
    elif kind == "refuse":
        completion = text_tokens(_REFUSAL)
        output.append({"type": "message", "id": msg_id, "status": "completed",
                       "role": "assistant",
                       "content": [{"type": "refusal", "refusal": _REFUSAL}]})
    else:
        text = format_answer(prep, decision)
        text, tokens, label_at, cut = truncate_answer(prep, decision, text)
        completion = len(tokens)
        part: dict[str, Any] = {"type": "output_text", "text": text, "annotations": []}
        if prep.logprobs:
            part["logprobs"] = _token_logprobs(prep, decision, tokens, label_at)
        if cut:
            status, incomplete = "incomplete", {"reason": "max_output_tokens"}
        output.append({"type": "message", "id": msg_id,
                       "status": "incomplete" if cut else "completed", "role": "assistant",
                       "content": [part]})
    return {
        "id": emu.new_id("resp_", 24),
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": emu.config.snapshots.get(prep.model, prep.model),
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": incomplete,
        "top_logprobs": prep.top_logprobs,
        "usage": {
            "input_tokens": prep.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion + thoughts,
            "output_tokens_details": {"reasoning_tokens": thoughts},
            "total_tokens": prep.input_tokens + completion + thoughts,
        },
    }


def responses(emu: EmulatorState, req: Request) -> Reply:
    """POST /v1/responses."""
    return emu.run_inference(req, prepare_responses, render_responses, fault_reply)


# -- models -------------------------------------------------------------------


def models_get(emu: EmulatorState, req: Request) -> Reply:
    """GET /v1/models/{model}."""
    model = _check_model(emu, req.params["model"])
    req.entry["model"] = model
    return Reply.json({"id": model, "object": "model", "created": 1700000000,
                       "owned_by": "vlmfer-emulator"})


def models_list(emu: EmulatorState, req: Request) -> Reply:
    """GET /v1/models."""
    names = ["gpt-4o", "gpt-4o-mini", "gpt-5.2"]
    return Reply.json({"object": "list", "data": [
        {"id": n, "object": "model", "created": 1700000000, "owned_by": "vlmfer-emulator"}
        for n in names]})


# -- files --------------------------------------------------------------------

_PURPOSES = ("batch", "assistants", "fine-tune", "vision", "user_data", "evals")


@dataclass
class OFile:
    """An uploaded (or generated) OpenAI file."""

    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.data),
                "created_at": self.created_at, "filename": self.filename,
                "purpose": self.purpose, "status": "processed", "expires_at": None,
                "status_details": None}


def _parse_multipart(req: Request) -> dict[str, tuple[str | None, bytes]]:
    ctype = req.header("content-type")
    if "multipart/form-data" not in ctype or "boundary=" not in ctype:
        raise openai_error(400, "Files must be uploaded as multipart/form-data with a 'file' "
                           "and a 'purpose' field.", param="file")
    boundary = ctype.split("boundary=", 1)[1].split(";")[0].strip().strip('"').encode()
    fields: dict[str, tuple[str | None, bytes]] = {}
    for chunk in req.body.split(b"--" + boundary):
        chunk = chunk.removeprefix(b"\r\n")
        if not chunk or chunk.startswith(b"--"):
            continue
        head, _, data = chunk.partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        name = filename = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition"):
                for item in line.split(";"):
                    k, _, v = item.strip().partition("=")
                    if k == "name":
                        name = v.strip('"')
                    elif k == "filename":
                        filename = v.strip('"')
        if name:
            fields[name] = (filename, data)
    return fields


def files_create(emu: EmulatorState, req: Request) -> Reply:
    """POST /v1/files (multipart: file, purpose)."""
    fields = _parse_multipart(req)
    purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace")
    if not purpose:
        raise _missing("purpose")
    if purpose not in _PURPOSES:
        raise openai_error(
            400, f"Invalid value: '{purpose}'. Supported values are: "
            + ", ".join(f"'{p}'" for p in _PURPOSES) + ".", param="purpose", code="invalid_value")
    if "file" not in fields:
        raise _missing("file")
    filename, data = fields["file"]
    filename = filename or "upload"
    if purpose == "batch":
        if not filename.endswith(".jsonl"):
            raise openai_error(400, f"Invalid file format for Batch API. Must be .jsonl (got "
                               f"'{filename}').", param="file", code="invalid_file_format")
        if len(data) > emu.config.batch_max_bytes:
            raise openai_error(
                400,
                f"File is too large for the Batch API: {len(data)} bytes, limit "
                f"{emu.config.batch_max_bytes} bytes. Split the requests over several files.",
                param="file", code="file_too_large",
            )
    f = OFile(emu.new_id("file-", 24), filename, purpose, data, int(time.time()))
    with emu._lock:
        state(emu).files[f.id] = f
    req.entry["file_id"] = f.id
    return Reply.json(f.as_json())


def _get_file(emu: EmulatorState, file_id: str) -> OFile:
    return emu.find(state(emu).files, file_id, lambda: openai_error(
        404, f"No such File object: {file_id}", param="id", code=None))


def files_get(emu: EmulatorState, req: Request) -> Reply:
    """GET /v1/files/{id}."""
    return Reply.json(_get_file(emu, req.params["id"]).as_json())


def files_list(emu: EmulatorState, req: Request) -> Reply:
    """GET /v1/files."""
    purpose = req.query.get("purpose")
    with emu._lock:
        files = [f.as_json() for f in state(emu).files.values()
                 if purpose is None or f.purpose == purpose]
    return Reply.json({"object": "list", "data": files, "has_more": False})


def files_content(emu: EmulatorState, req: Request) -> Reply:
    """GET /v1/files/{id}/content."""
    f = _get_file(emu, req.params["id"])
    emu.sleep(emu.config.download_latency_s)
    return Reply(200, f.data, content_type="application/octet-stream")


def files_delete(emu: EmulatorState, req: Request) -> Reply:
    """DELETE /v1/files/{id}."""
    f = _get_file(emu, req.params["id"])
    with emu._lock:
        state(emu).files.pop(f.id, None)
    return Reply.json({"id": f.id, "object": "file", "deleted": True})


# -- batches ------------------------------------------------------------------

_BATCH_ENDPOINTS = ("/v1/chat/completions", "/v1/responses")
_TERMINAL = ("completed", "failed", "expired", "cancelled")


def batches_create(emu: EmulatorState, req: Request) -> Reply:
    """POST /v1/batches."""
    body = emu.json_body(req)
    for key in ("input_file_id", "endpoint", "completion_window"):
        if not body.get(key):
            raise _missing(key)
    endpoints = (*_BATCH_ENDPOINTS, "/v1/embeddings", "/v1/completions")
    if body["endpoint"] not in endpoints:
        raise _not_one_of(body["endpoint"], "endpoint", endpoints)
    if body["endpoint"] not in _BATCH_ENDPOINTS:
        raise openai_error(400, f"The emulator's batches support only {_BATCH_ENDPOINTS}.",
                           param="endpoint", code="invalid_value")
    if body["completion_window"] != "24h":
        raise openai_error(400, f"Invalid value: '{body['completion_window']}'. Supported values "
                           "are: '24h'.", param="completion_window", code="invalid_value")
    f = _get_file(emu, str(body["input_file_id"]))
    if f.purpose != "batch":
        raise openai_error(400, f"File {f.id} has purpose '{f.purpose}'; a batch input file "
                           "must be uploaded with purpose 'batch'.", param="input_file_id",
                           code="invalid_value")
    metadata = body.get("metadata") or {}
    now = int(time.time())
    batch: dict[str, Any] = {
        "id": emu.new_id("batch_", 24), "object": "batch", "endpoint": body["endpoint"],
        "errors": None, "input_file_id": f.id, "completion_window": "24h",
        "status": "validating", "output_file_id": None, "error_file_id": None,
        "created_at": now, "in_progress_at": None, "expires_at": now + 86400,
        "finalizing_at": None, "completed_at": None, "failed_at": None, "expired_at": None,
        "cancelling_at": None, "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "metadata": metadata, "model": None, "usage": None,
        "_t0": time.monotonic(),
        "_outcome": _batch_outcome(emu, metadata),
    }
    with emu._lock:
        state(emu).batches[batch["id"]] = batch
    req.entry["batch_id"] = batch["id"]
    return Reply.json(public(batch))


def _batch_outcome(emu: EmulatorState, metadata: dict[str, Any]) -> str:
    marker = " ".join(str(v) for v in metadata.values()).lower()
    for outcome in ("failed", "expired"):
        if f"emulator:{outcome}" in marker:
            return outcome
    return emu.config.batch_outcome


def _get_batch(emu: EmulatorState, batch_id: str) -> dict[str, Any]:
    return emu.find(state(emu).batches, batch_id, lambda: openai_error(
        404, f"No batch found with id '{batch_id}'.", param="batch_id", code="batch_not_found"))


def batches_get(emu: EmulatorState, req: Request) -> Reply:
    """GET /v1/batches/{id}: advances the batch, processing it once its delay has passed."""
    return advanced(emu, _get_batch(emu, req.params["id"]), _advance)


def batches_list(emu: EmulatorState, req: Request) -> Reply:
    """GET /v1/batches."""
    with emu._lock:
        data = [public(b) for b in state(emu).batches.values()]
    return Reply.json(list_page(data, object="list"))


def batches_cancel(emu: EmulatorState, req: Request) -> Reply:
    """POST /v1/batches/{id}/cancel."""
    b = _get_batch(emu, req.params["id"])
    with emu._lock:
        if b["status"] in _TERMINAL:
            raise openai_error(409, f"Cannot cancel a batch with status '{b['status']}'.",
                               param="batch_id", code="batch_not_cancellable")
        b["status"] = "cancelling"
        b["cancelling_at"] = int(time.time())
        return Reply.json(public(b))


def _advance(emu: EmulatorState, b: dict[str, Any]) -> None:
    now = int(time.time())
    if b["status"] == "cancelling":
        b["status"], b["cancelled_at"] = "cancelled", now
        return
    if b["status"] in _TERMINAL:
        return
    if b["status"] == "validating":
        b["status"], b["in_progress_at"] = "in_progress", now
    if time.monotonic() - b["_t0"] < emu.config.batch_latency_s:
        return
    _process(emu, b)


def _batch_line_error(code: str, message: str, line: int | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": None, "line": line}


def _process(emu: EmulatorState, b: dict[str, Any]) -> None:
    """Run every request of the input file through the policy; write output and error files."""
    now = int(time.time())
    f = state(emu).files.get(b["input_file_id"])
    lines = f.data.decode("utf-8", "replace").splitlines() if f else []
    lines = [ln for ln in lines if ln.strip()]
    errors: list[dict[str, Any]] = []
    parsed: list[dict[str, Any]] = []
    if f is None:
        errors.append(_batch_line_error("file_not_found", "The input file was deleted."))
    if len(lines) > emu.config.batch_max_requests:
        errors.append(_batch_line_error(
            "too_many_requests",
            f"The batch input file has {len(lines)} requests; the limit is "
            f"{emu.config.batch_max_requests} per batch.",
        ))
    seen_ids: set[str] = set()
    models: set[str] = set()
    for i, line in enumerate(lines, start=1):
        try:
            obj = json.loads(line)
        except ValueError:
            errors.append(_batch_line_error("invalid_json_line",
                                            "This line is not parseable as valid JSON.", i))
            continue
        if not isinstance(obj, dict) or not all(k in obj for k in ("custom_id", "method", "url",
                                                                       "body")):
            errors.append(_batch_line_error(
                "invalid_request", "Each line needs custom_id, method, url and body.", i))
            continue
        if obj["url"] != b["endpoint"]:
            errors.append(_batch_line_error(
                "mismatched_endpoint",
                f"The url '{obj['url']}' does not match the batch endpoint '{b['endpoint']}'.",
                i))
            continue
        if obj["custom_id"] in seen_ids:
            errors.append(_batch_line_error(
                "duplicate_custom_id",
                f"The custom_id '{obj['custom_id']}' is used more than once.", i))
            continue
        seen_ids.add(obj["custom_id"])
        if isinstance(obj["body"], dict):
            models.add(str(obj["body"].get("model")))
        parsed.append(obj)
    if len(models) > 1:
        errors.append(_batch_line_error(
            "mismatched_model", f"All requests in a batch must use the same model; found "
                                f"{sorted(models)}."))
    if b["_outcome"] == "failed" and not errors:
        errors.append(_batch_line_error("emulated_failure",
                                        "This batch was made to fail by the emulator."))
    if errors:
        b.update(status="failed", failed_at=now, errors={"object": "list", "data": errors})
        b["request_counts"] = {"total": len(lines), "completed": 0, "failed": 0}
        return
    out_lines: list[str] = []
    err_lines: list[str] = []
    expire_from = len(parsed) // 2 if b["_outcome"] == "expired" else len(parsed)
    prepare = prepare_chat if b["endpoint"] == "/v1/chat/completions" else prepare_responses
    render = render_chat if b["endpoint"] == "/v1/chat/completions" else render_responses
    usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    for i, obj in enumerate(parsed):
        rid = emu.new_id("batch_req_", 24)
        if i >= expire_from:
            err_lines.append(json.dumps({"id": rid, "custom_id": obj["custom_id"],
                                         "response": None, "error": {
                                             "code": "batch_expired",
                                             "message": "This request could not be executed "
                                                        "before the completion window "
                                                        "expired."}}))
            continue
        status, body = _run_line(emu, obj, prepare, render, b["id"])
        line = json.dumps({"id": rid, "custom_id": obj["custom_id"],
                           "response": {"status_code": status, "request_id": emu.new_id("req_"),
                                        "body": body}, "error": None})
        if status == 200:
            out_lines.append(line)
            u = body.get("usage") or {}
            inp = u.get("prompt_tokens", u.get("input_tokens", 0))
            outp = u.get("completion_tokens", u.get("output_tokens", 0))
            usage["input_tokens"] += inp
            usage["output_tokens"] += outp
            usage["total_tokens"] += inp + outp
        else:
            err_lines.append(line)
    for lines_, key, suffix in ((out_lines, "output_file_id", "output"),
                                (err_lines, "error_file_id", "error")):
        if lines_:
            of = OFile(emu.new_id("file-", 24), f"{b['id']}_{suffix}.jsonl",
                       f"batch_{suffix}", ("\n".join(lines_) + "\n").encode(), now)
            state(emu).files[of.id] = of
            b[key] = of.id
    b["request_counts"] = {"total": len(parsed), "completed": len(out_lines),
                           "failed": len(err_lines)}
    b["usage"] = {**usage, "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 0}}
    b["model"] = next(iter(models), None)
    if b["_outcome"] == "expired":
        b.update(status="expired", expired_at=now)
    else:
        b.update(status="completed", finalizing_at=now, completed_at=now)
    emu.count("batches", f"openai.{b['status']}")


def _run_line(
    emu: EmulatorState, obj: dict[str, Any], prepare: Any, render: Any, batch_id: str
) -> tuple[int, Any]:
    return emu.run_batch_request("openai", str(obj["url"]), obj["body"], prepare, render,
                                 fault_reply, batch_id=batch_id, item=str(obj["custom_id"]))


# -- the API as the server sees it ---------------------------------------------


@dataclass
class OpenAIState:
    """OpenAI's objects in one emulator."""

    files: dict[str, OFile] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)


def state(emu: EmulatorState) -> OpenAIState:
    """The OpenAI files and batches of ``emu``."""
    st: OpenAIState = emu.api_state("openai")
    return st


def _claims(req: Request) -> bool:
    return bool(req.header("authorization")) or req.path.startswith("/v1/") or req.path == "/v1"


def authorize(emu: EmulatorState, req: Request) -> None:
    """``Authorization: Bearer`` (or Azure's ``api-key``), checked like the real service."""
    expected = emu.config.api_key
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


def _error(status: int, message: str) -> ApiError:
    return openai_error(status, message)


def _not_found(req: Request) -> ApiError:
    return openai_error(404, f"Invalid URL ({req.method} {req.path})", code=None)


def _invalid_json(detail: str | None) -> ApiError:
    if detail is None:
        return openai_error(400, "The request body must be a JSON object.")
    return openai_error(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you "
        "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
        "but what was sent was not valid JSON.)",
    )


def _rate_limited(which: str, model: str, retry: int, limit: int) -> ApiError:
    unit = "requests" if which == "rpm" else "tokens"
    return openai_error(
        429,
        f"Rate limit reached for {model} on {unit} per min ({which.upper()}): "
        f"Limit {limit}. Please try again in {retry}s.",
        type_=unit, code="rate_limit_exceeded",
        headers={"Retry-After": str(retry), "retry-after-ms": str(retry * 1000)},
        kind=f"limit.{which}",
    )


ROUTES: tuple[Route, ...] = (
    Route("POST", re.compile(r"^/v1/chat/completions$"), "openai.chat", chat_completions),
    Route("POST", re.compile(r"^/v1/responses$"), "openai.responses", responses),
    Route("POST", re.compile(r"^/v1/files$"), "openai.files.create", files_create),
    Route("GET", re.compile(r"^/v1/files$"), "openai.files.list", files_list),
    Route("GET", re.compile(r"^/v1/files/(?P<id>[^/]+)$"), "openai.files.get", files_get),
    Route("GET", re.compile(r"^/v1/files/(?P<id>[^/]+)/content$"), "openai.files.content",
          files_content),
    Route("DELETE", re.compile(r"^/v1/files/(?P<id>[^/]+)$"), "openai.files.delete",
          files_delete),
    Route("POST", re.compile(r"^/v1/batches$"), "openai.batches.create", batches_create),
    Route("GET", re.compile(r"^/v1/batches$"), "openai.batches.list", batches_list),
    Route("GET", re.compile(r"^/v1/batches/(?P<id>[^/]+)$"), "openai.batches.get",
          batches_get),
    Route("POST", re.compile(r"^/v1/batches/(?P<id>[^/]+)/cancel$"), "openai.batches.cancel",
          batches_cancel),
    Route("GET", re.compile(r"^/v1/models$"), "openai.models.list", models_list),
    Route("GET", re.compile(r"^/v1/models/(?P<model>.+)$"), "openai.models.get", models_get),
)

API = Api(
    name="openai", routes=ROUTES, claims=_claims, authorize=authorize, error=_error,
    not_found=_not_found, invalid_json=_invalid_json, rate_limited=_rate_limited,
    new_state=OpenAIState, request_id_header="x-request-id", request_id_prefix="req_",
    ratelimit_headers=True,
)
