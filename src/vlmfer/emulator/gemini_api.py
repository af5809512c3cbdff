"""The Gemini side of the emulator: generateContent, countTokens, Files, batches."""

from __future__ import annotations

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
    format_answer,
    gemini_error,
    request_directives,
    tokenize_answer,
)
from vlmfer.emulator.media import (
    GEMINI_AUDIO_MIME,
    GEMINI_IMAGE_MIME,
    GEMINI_OTHER_MIME,
    GEMINI_VIDEO_MIME,
    MediaInfo,
    decode_base64,
    gemini_image_tokens,
    gemini_video_tokens,
    inspect_image,
    kind_of,
    parse_offset,
    probe_video,
    sha256,
    text_tokens,
)
from vlmfer.emulator.policy import Decision, Question, candidates_from_schema
from vlmfer.emulator.state import Api, EmulatorState, Route

_SUPPORTED_MIME = (*GEMINI_IMAGE_MIME, *GEMINI_VIDEO_MIME, *GEMINI_AUDIO_MIME, *GEMINI_OTHER_MIME)
_REQUEST_FIELDS = frozenset({
    "contents", "systemInstruction", "system_instruction", "generationConfig",
    "generation_config", "safetySettings", "safety_settings", "tools", "toolConfig",
    "tool_config", "cachedContent", "cached_content", "labels", "model",
})
_OUTPUT_MIME = ("text/plain", "application/json", "text/x.enum", "application/xml",
                "application/yaml")
_REFUSAL = "I'm sorry, but I can't help with identifying emotions in people's faces."
_UNKNOWN_VIDEO_S = 3.0  # duration assumed when strict_media is off and a video is not probed


def _get(d: Any, camel: str, snake: str | None = None) -> Any:
    if not isinstance(d, dict):
        return None
    if camel in d:
        return d[camel]
    if snake is None:
        snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return d.get(snake)


def _now_rfc3339(t: float | None = None) -> str:
    return dt.datetime.fromtimestamp(t if t is not None else time.time(), dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def _check_model(emu: EmulatorState, model: str, ver: str, method: str) -> str:
    model = model.removeprefix("models/")
    if "does-not-exist" in model or model in emu.config.missing_models:
        raise gemini_error(
            404,
            f"models/{model} is not found for API version {ver}, or is not supported for "
            f"{method}. Call ListModels to see the list of available models and their supported "
            "methods.",
        )
    return model


# -- files --------------------------------------------------------------------


@dataclass
class GFile:
    """A file held by the emulated Files API."""

    id: str
    display_name: str
    mime_type: str
    data: bytes
    created: float
    ver: str
    state: str = "PROCESSING"
    reports: int = 0  # how many times PROCESSING has been reported
    will_fail: str | None = None  # why it will go FAILED
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    source: str = "UPLOADED"
    extra: dict[str, Any] = field(default_factory=dict)

    def advance(self, emu: EmulatorState) -> None:
        """Move PROCESSING on once it was reported enough times and enough time passed."""
        if self.state != "PROCESSING":
            return
        cfg = emu.config
        if self.reports >= cfg.file_processing_polls and (
            time.time() - self.created >= cfg.file_processing_s
        ):
            self.state = "FAILED" if self.will_fail else "ACTIVE"
        else:
            self.reports += 1

    def as_json(self, emu: EmulatorState) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": f"files/{self.id}",
            "displayName": self.display_name,
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)),
            "createTime": _now_rfc3339(self.created),
            "updateTime": _now_rfc3339(self.created),
            "expirationTime": _now_rfc3339(self.created + 48 * 3600),
            "sha256Hash": sha256(self.data),
            "uri": f"{emu.url}/{self.ver}/files/{self.id}",
            "state": self.state,
            "source": self.source,
        }
        if self.source == "GENERATED":
            out["downloadUri"] = f"{emu.url}/download/{self.ver}/files/{self.id}:download?alt=media"
        if self.duration_s is not None and self.mime_type.startswith("video/"):
            out["videoMetadata"] = {"videoDuration": f"{self.duration_s:.3f}s"}
        if self.state == "FAILED":
            out["error"] = {"code": 400, "message": self.will_fail or "processing failed"}
        return out


def _file_id(emu: EmulatorState) -> str:
    return emu.new_id("", 12)


def _lookup_file(emu: EmulatorState, name: str) -> GFile:
    fid = name.split("files/")[-1].split("?")[0].split(":")[0]
    return emu.find(state(emu).files, fid, lambda: gemini_error(
        403, f"You do not have permission to access the File {fid} or it may not exist."))


def upload(emu: EmulatorState, req: Request) -> Reply:
    """POST /upload/{ver}/files: a resumable upload's start, chunks and finalize."""
    if "upload_id" in req.query:
        return _upload_chunk(emu, req)
    if req.header("x-goog-upload-protocol").lower() != "resumable":
        raise gemini_error(400, "The emulator supports only X-Goog-Upload-Protocol: resumable.")
    if req.header("x-goog-upload-command").lower() != "start":
        raise gemini_error(400, "A resumable upload must begin with X-Goog-Upload-Command: start.")
    meta: dict[str, Any] = {}
    if req.body:
        try:
            meta = json.loads(req.body).get("file") or {}
        except (ValueError, AttributeError) as e:
            raise gemini_error(400, f"Invalid JSON payload received. {e}") from e
    mime = (req.header("x-goog-upload-header-content-type") or _get(meta, "mimeType") or "")
    if not mime:
        raise gemini_error(400, "The upload has no MIME type; set "
                           "X-Goog-Upload-Header-Content-Type or file.mimeType.")
    declared = req.header("x-goog-upload-header-content-length")
    sid = emu.new_id("up", 20)
    ver = req.params["ver"]
    with emu._lock:
        state(emu).uploads[sid] = {
            "mime": mime, "display_name": _get(meta, "displayName") or "",
            "declared": int(declared) if declared.isdigit() else None,
            "data": bytearray(), "ver": ver,
            "name": str(_get(meta, "name") or "").removeprefix("files/") or None,
        }
    url = f"{emu.url}/upload/{ver}/files?upload_id={sid}&upload_protocol=resumable"
    req.entry["upload_id"] = sid
    return Reply(200, b"", {"x-goog-upload-url": url, "x-goog-upload-status": "active",
                            "x-goog-upload-chunk-granularity": str(8 * 1024 * 1024)})


def _upload_chunk(emu: EmulatorState, req: Request) -> Reply:
    sid = req.query["upload_id"]
    req.entry["upload_id"] = sid
    sess = emu.find(state(emu).uploads, sid, lambda: gemini_error(
        404, f"No upload session {sid}; it was finalized or never started."))
    command = req.header("x-goog-upload-command").lower()
    buf: bytearray = sess["data"]
    if "query" in command:
        return Reply(200, b"", {"x-goog-upload-status": "active",
                                "x-goog-upload-size-received": str(len(buf))})
    if "upload" in command:
        offset = req.header("x-goog-upload-offset")
        if offset and int(offset) != len(buf):
            raise gemini_error(400, f"Upload offset {offset} does not match the {len(buf)} bytes "
                               "received so far.")
        buf.extend(req.body)
    if "finalize" not in command:
        return Reply(200, b"", {"x-goog-upload-status": "active",
                                "x-goog-upload-size-received": str(len(buf))})
    with emu._lock:
        state(emu).uploads.pop(sid, None)
    if sess["declared"] is not None and sess["declared"] != len(buf):
        raise gemini_error(400, f"The upload declared {sess['declared']} bytes but "
                           f"{len(buf)} arrived.")
    f = _new_file(emu, bytes(buf), sess["mime"], sess["display_name"], sess["ver"], sess["name"])
    req.entry["file"] = {"name": f"files/{f.id}", "mime_type": f.mime_type,
                         "bytes": len(f.data), "sha256": sha256(f.data)}
    return Reply.json({"file": f.as_json(emu)}, headers={"x-goog-upload-status": "final"})


def _new_file(
    emu: EmulatorState, data: bytes, mime: str, display_name: str, ver: str, name: str | None = None
) -> GFile:
    f = GFile(id=name or _file_id(emu), display_name=display_name, mime_type=mime, data=data,
              created=time.time(), ver=ver)
    if "fail" in display_name.lower():
        f.will_fail = f"File processing failed (display name {display_name!r} asks the emulator "
        f.will_fail += "to fail it)."
    elif emu.config.strict_media and mime.startswith("video/"):
        try:
            f.duration_s = probe_video(data)
        except ValueError as e:
            f.will_fail = f"The video could not be processed: {e}."
    elif emu.config.strict_media and mime.startswith("image/"):
        try:
            f.width, f.height, _ = inspect_image(data)
        except ValueError as e:
            f.will_fail = f"The image could not be processed: {e}."
    if emu.config.file_processing_polls == 0 and emu.config.file_processing_s == 0:
        f.state = "FAILED" if f.will_fail else "ACTIVE"
    else:
        f.reports = 1  # the upload response itself reports PROCESSING
    with emu._lock:
        state(emu).files[f.id] = f
    return f


def files_get(emu: EmulatorState, req: Request) -> Reply:
    """GET /{ver}/files/{id}: each poll moves PROCESSING toward ACTIVE (or FAILED)."""
    f = _lookup_file(emu, req.params["id"])
    with emu._lock:
        f.advance(emu)
        req.entry["file_state"] = f.state
        return Reply.json(f.as_json(emu))


def files_list(emu: EmulatorState, req: Request) -> Reply:
    """GET /{ver}/files (paged by pageSize / pageToken)."""
    size = max(1, min(100, int(req.query.get("pageSize") or 10)))
    start = int(req.query.get("pageToken") or 0)
    with emu._lock:
        files = list(state(emu).files.values())
        page = [f.as_json(emu) for f in files[start : start + size]]
    out: dict[str, Any] = {"files": page} if page else {}
    if start + size < len(files):
        out["nextPageToken"] = str(start + size)
    return Reply.json(out)


def files_delete(emu: EmulatorState, req: Request) -> Reply:
    """DELETE /{ver}/files/{id}."""
    f = _lookup_file(emu, req.params["id"])
    with emu._lock:
        state(emu).files.pop(f.id, None)
    return Reply.json({})


def files_download(emu: EmulatorState, req: Request) -> Reply:
    """GET /{ver}/files/{id}:download?alt=media (generated files only, as in the real API)."""
    f = _lookup_file(emu, req.params["id"])
    if f.source != "GENERATED":
        raise gemini_error(400, f"File files/{f.id} was uploaded; only generated files (such as "
                           "batch results) can be downloaded.")
    emu.sleep(emu.config.download_latency_s)
    return Reply(200, f.data, content_type=f.mime_type or "application/octet-stream")


# -- generateContent ----------------------------------------------------------


def _part_media(
    emu: EmulatorState, part: dict[str, Any], where: str, low_res: bool
) -> MediaInfo | None:
    inline = _get(part, "inlineData")
    file_data = _get(part, "fileData")
    vm = _get(part, "videoMetadata") or {}
    part_res = _get(part, "mediaResolution")
    if isinstance(part_res, dict):
        part_res = _get(part_res, "level")
    low = low_res if part_res is None else str(part_res).endswith("LOW")
    if inline is not None:
        mime = str(_get(inline, "mimeType") or "").lower()
        if not mime:
            raise gemini_error(400, f"* GenerateContentRequest.{where}.inline_data.mime_type: "
                               "mime_type is not specified")
        if mime not in _SUPPORTED_MIME:
            raise gemini_error(400, f"Unsupported MIME type: {mime}")
        raw = _get(inline, "data")
        try:
            data = decode_base64(raw if isinstance(raw, str) else "")
        except ValueError as e:
            raise gemini_error(
                400, f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding "
                "failed.") from e
        info = MediaInfo(kind=kind_of(mime), mime_type=mime, bytes=len(data), sha256=sha256(data))
        duration = None
        if info.kind == "image" and emu.config.strict_media:
            try:
                info.width, info.height, _ = inspect_image(data)
            except ValueError as e:
                raise gemini_error(400, "Unable to process input image. Please retry or report "
                                   "in https://developers.generativeai.google/guide/"
                                   "troubleshooting") from e
        elif info.kind == "video" and emu.config.strict_media:
            try:
                duration = probe_video(data)
            except ValueError as e:
                raise gemini_error(400, f"Request contains an invalid argument: the video at "
                                   f"{where}.inline_data could not be processed ({e}).") from e
    elif file_data is not None:
        uri = _get(file_data, "fileUri")
        if not uri:
            raise gemini_error(400, f"* GenerateContentRequest.{where}.file_data.file_uri: "
                               "file_uri is not specified")
        f = _lookup_file(emu, str(uri))
        if f.state != "ACTIVE":
            raise gemini_error(
                400, f"The File {f.id} is not in an ACTIVE state and usage is not allowed.",
                status_name="FAILED_PRECONDITION")
        mime = str(_get(file_data, "mimeType") or f.mime_type).lower()
        if mime not in _SUPPORTED_MIME:
            raise gemini_error(400, f"Unsupported MIME type: {mime}")
        info = MediaInfo(kind=kind_of(mime), mime_type=mime, bytes=len(f.data),
                         sha256=sha256(f.data), source="file", width=f.width, height=f.height)
        info.extra["file"] = f"files/{f.id}"
        duration = f.duration_s
    else:
        return None
    if info.kind == "image":
        info.tokens = gemini_image_tokens(info.width, info.height)
        if low:
            info.tokens = min(info.tokens, 66)
    elif info.kind == "video":
        fps = _get(vm, "fps")
        if fps is not None and (not isinstance(fps, (int, float)) or not 0 < fps <= 24):
            raise gemini_error(400, f"* GenerateContentRequest.{where}.video_metadata.fps: fps "
                               f"must be in (0, 24], got {fps!r}")
        fps = float(fps or 1.0)
        try:
            start = parse_offset(_get(vm, "startOffset")) or 0.0
            end = parse_offset(_get(vm, "endOffset"))
        except ValueError as e:
            raise gemini_error(400, f"{where}.video_metadata: {e}") from e
        full = duration if duration is not None else _UNKNOWN_VIDEO_S
        end = full if end is None else min(end, full)
        if end <= start:
            raise gemini_error(400, f"{where}.video_metadata: end_offset must be after "
                               f"start_offset and inside the {full:.2f}s video.")
        clip = end - start
        info.duration_s = round(full, 3)
        info.fps = fps
        tokens, info.frames = gemini_video_tokens(clip, fps, low)
        info.extra["audio_tokens"] = math.ceil(32 * clip)
        info.tokens = tokens
    elif info.kind == "audio":
        info.tokens = 32 * 3
    else:
        info.tokens = max(1, info.bytes // 4)
    return info


def _prepare_request(
    emu: EmulatorState, body: dict[str, Any], model: str, req: Request, endpoint: str
) -> Prepared:
    contents = _get(body, "contents")
    if not isinstance(contents, list) or not contents:
        raise gemini_error(400, "* GenerateContentRequest.contents: contents is not specified")
    gc = _get(body, "generationConfig") or {}
    media_res = str(_get(gc, "mediaResolution") or "")
    low = media_res.endswith("LOW")
    texts: list[str] = []
    media: list[MediaInfo] = []
    sys_inst = _get(body, "systemInstruction")
    if isinstance(sys_inst, dict):
        texts.extend(str(p.get("text", "")) for p in sys_inst.get("parts") or []
                     if isinstance(p, dict) and "text" in p)
    elif isinstance(sys_inst, str):
        texts.append(sys_inst)
    for ci, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            raise gemini_error(400, f"* GenerateContentRequest.contents[{ci}].parts: contents."
                               "parts must not be empty.")
        role = content.get("role")
        if role not in (None, "user", "model", "function"):
            raise gemini_error(400, f"Please use a valid role: user, model. (got {role!r} at "
                               f"contents[{ci}].role)")
        for pi, part in enumerate(parts):
            where = f"contents[{ci}].parts[{pi}]"
            if not isinstance(part, dict):
                raise gemini_error(400, f"Invalid JSON payload received. {where} must be an "
                                   "object.")
            if "text" in part:
                texts.append(str(part["text"]))
                continue
            info = _part_media(emu, part, where, low)
            if info is None and not any(k in part for k in (
                    "functionCall", "functionResponse", "executableCode", "codeExecutionResult",
                    "thought", "thoughtSignature", "function_call", "function_response")):
                raise gemini_error(400, f"* GenerateContentRequest.{where}.data: required oneof "
                                   "field 'data' must have one initialized field")
            if info is not None:
                media.append(info)
    videos = [m for m in media if m.kind == "video"]
    if len(videos) > emu.config.max_videos:
        raise gemini_error(400, f"Too many videos in the request: {len(videos)}; the maximum is "
                           f"{emu.config.max_videos}.")

    # output format and logprobs
    mime = _get(gc, "responseMimeType")
    schema = _get(gc, "responseSchema")
    json_schema = _get(gc, "responseJsonSchema") or _get(gc, "_responseJsonSchema")
    if mime is not None and mime not in _OUTPUT_MIME:
        raise gemini_error(400, f"* GenerateContentRequest.generation_config.response_mime_type: "
                           f"allowed mimetypes are {', '.join(repr(m) for m in _OUTPUT_MIME)}. "
                           f"{mime!r} is not supported.")
    fmt, labels, prop = "text", None, "label"
    if mime == "text/x.enum":
        labels, _ = candidates_from_schema(schema or json_schema)
        if not labels:
            raise gemini_error(400, "* GenerateContentRequest.generation_config.response_schema: "
                               "response_mime_type text/x.enum needs a response_schema of type "
                               "STRING with an enum.")
        fmt = "enum"
    elif mime == "application/json":
        sch = json_schema or schema
        labels, p = candidates_from_schema(sch)
        root_type = str(sch.get("type", "")).lower() if isinstance(sch, dict) else ""
        fmt = "json_string" if root_type == "string" and labels else "json"
        prop = p or "label"
    elif schema is not None or json_schema is not None:
        raise gemini_error(400, "* GenerateContentRequest.generation_config.response_mime_type: "
                           "a response schema needs response_mime_type 'application/json' or "
                           "'text/x.enum'.")
    temp = _get(gc, "temperature")
    if temp is not None and (not isinstance(temp, (int, float)) or not 0 <= temp <= 2):
        raise gemini_error(400, f"* GenerateContentRequest.generation_config.temperature: "
                           f"temperature must be in [0.0, 2.0], got {temp!r}")
    want_lp = bool(_get(gc, "responseLogprobs"))
    k = _get(gc, "logprobs")
    if k is not None and (not isinstance(k, int) or not 0 <= k <= 20):
        raise gemini_error(400, f"* GenerateContentRequest.generation_config.logprobs: logprobs "
                           f"must be in [0, 20], got {k!r}")
    if k and not want_lp:
        raise gemini_error(400, "* GenerateContentRequest.generation_config.logprobs: logprobs "
                           "can only be set when response_logprobs is true.")
    if want_lp and (not emu.config.logprobs
                    or any(s in model for s in emu.config.logprobs_unsupported_models)):
        raise gemini_error(400, f"Logprobs is not enabled for models/{model}")
    max_out = _get(gc, "maxOutputTokens")
    if max_out is not None and (not isinstance(max_out, int) or max_out < 1):
        raise gemini_error(400, "* GenerateContentRequest.generation_config.max_output_tokens: "
                           f"must be a positive integer, got {max_out!r}")
    thinking = _get(gc, "thinkingConfig") or {}
    budget = _get(thinking, "thinkingBudget")
    if len(req.body) > emu.config.max_inline_bytes:
        raise gemini_error(400, f"Request payload size exceeds the limit: "
                           f"{emu.config.max_inline_bytes} bytes. Use the Files API for large "
                           f"media.")

    text_tok = sum(text_tokens(t) for t in texts)
    modality = {"TEXT": text_tok}
    for m in media:
        key = {"image": "IMAGE", "video": "VIDEO", "audio": "AUDIO"}.get(m.kind, "DOCUMENT")
        modality[key] = modality.get(key, 0) + m.tokens - int(m.extra.get("audio_tokens", 0))
        if m.extra.get("audio_tokens"):
            modality["AUDIO"] = modality.get("AUDIO", 0) + int(m.extra["audio_tokens"])
    prep = Prepared(
        provider="gemini", endpoint=endpoint, model=model,
        question=Question(texts=texts, media_hashes=[m.sha256 for m in media],
                          constrained=labels, directives=request_directives(texts, req)),
        media=media, input_tokens=sum(modality.values()), modality_tokens=modality,
        output_format=fmt, json_prop=prop, logprobs=want_lp, top_logprobs=int(k or 0),
        max_tokens=max_out, thinking_budget=budget if isinstance(budget, int) else None,
    )
    prep.unknown_fields = sorted(key for key in body if key not in _REQUEST_FIELDS)
    if prep.unknown_fields and emu.config.strict_fields:
        raise gemini_error(400, f'Invalid JSON payload received. Unknown name '
                           f'"{prep.unknown_fields[0]}": Cannot find field.')
    return prep


def prepare_generate(emu: EmulatorState, body: dict[str, Any], req: Request) -> Prepared:
    """Validate a generateContent body like the real API."""
    model = _check_model(emu, req.params["model"], req.params.get("ver", "v1beta"),
                         "generateContent")
    return _prepare_request(emu, body, model, req, "generate")


def _usage(emu: EmulatorState, prep: Prepared, output: int) -> dict[str, Any]:
    thoughts = emu.config.thoughts_tokens
    if prep.thinking_budget is not None and prep.thinking_budget >= 0:
        thoughts = min(thoughts, prep.thinking_budget)
    out: dict[str, Any] = {
        "promptTokenCount": prep.input_tokens,
        "totalTokenCount": prep.input_tokens + output + thoughts,
        "promptTokensDetails": [{"modality": k, "tokenCount": v}
                                for k, v in prep.modality_tokens.items() if v],
    }
    if output:
        out["candidatesTokenCount"] = output
        out["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": output}]
    if thoughts:
        out["thoughtsTokenCount"] = thoughts
    return out


def render_generate(
    emu: EmulatorState, prep: Prepared, decision: Decision, fault: str | None, shape: float
) -> dict[str, Any]:
    """A GenerateContentResponse for the policy's decision."""
    base = {"modelVersion": emu.config.snapshots.get(prep.model, prep.model),
            "responseId": emu.new_id("", 22)}
    if decision.kind == "block":
        how = prep.question.directives.get("block", "")
        if how == "partial":
            # The real service can stop a candidate mid-answer: some text, then SAFETY.
            return {"candidates": [{"finishReason": "SAFETY", "index": 0,
                                    "content": {"role": "model", "parts": [{"text": "Hap"}]},
                                    "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH",
                 "blocked": True}]}], "usageMetadata": _usage(emu, prep, 1), **base}
        if how not in ("prompt", "candidate"):
            how = "candidate" if (fault and shape >= 0.5) else "prompt"
        if how == "prompt":
            return {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH",
                 "blocked": True}]}, "usageMetadata": _usage(emu, prep, 0), **base}
        return {"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH",
             "blocked": True}]}], "usageMetadata": _usage(emu, prep, 0), **base}
    text = _REFUSAL if decision.kind == "refuse" else format_answer(prep, decision)
    tokens, label_at = tokenize_answer(text, decision.label if decision.kind == "label" else None)
    finish = "STOP"
    limit = prep.max_tokens
    if prep.question.directives.get("finish") == "length":
        limit = max(1, len(tokens) // 2)
        if len(tokens) == 1:
            tokens = [tokens[0][: max(1, len(tokens[0]) // 2)]]
            label_at = None
            limit = None
            finish = "MAX_TOKENS"
    if limit is not None and len(tokens) > limit:
        tokens = tokens[:limit]
        if label_at is not None and label_at >= limit:
            label_at = None
        finish = "MAX_TOKENS"
    text = "".join(tokens)
    cand: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"},
                            "finishReason": finish, "index": 0}
    if prep.logprobs:
        ranked = decision.logprobs()
        chosen, top = [], []
        for i, tok in enumerate(tokens):
            if i == label_at and ranked:
                lp = dict(ranked).get(tok, ranked[0][1])
                alts = ranked[: prep.top_logprobs]
            else:
                lp = -1e-6
                alts = [(tok, lp)][: prep.top_logprobs]
            chosen.append({"token": tok, "logProbability": lp})
            top.append({"candidates": [{"token": t, "logProbability": p} for t, p in alts]})
        result: dict[str, Any] = {"chosenCandidates": chosen,
                                  "logProbabilitySum": sum(c["logProbability"] for c in chosen)}
        if prep.top_logprobs:
            result["topCandidates"] = top
        cand["logprobsResult"] = result
        cand["avgLogprobs"] = result["logProbabilitySum"] / max(1, len(chosen))
    return {"candidates": [cand], "usageMetadata": _usage(emu, prep, len(tokens)), **base}


def fault_reply(emu: EmulatorState, prep: Prepared, fault: str) -> ApiError:
    """The error an injected 429 / 500 fault answers with."""
    if fault == "429":
        retry = emu.config.retry_after_s
        return gemini_error(
            429, "Resource has been exhausted (e.g. check quota). (injected by the emulator)",
            details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                      "retryDelay": f"{retry:g}s"}],
            headers={"Retry-After": f"{max(0, round(retry))}"}, kind="fault.429",
        )
    return gemini_error(500, "An internal error has occurred. Please retry or report in "
                        "https://developers.generativeai.google/guide/troubleshooting "
                        "(injected by the emulator)", kind="fault.500")


def generate_content(emu: EmulatorState, req: Request) -> Reply:
    """POST /{ver}/models/{model}:generateContent."""
    return emu.run_inference(req, prepare_generate, render_generate, fault_reply)


def stream_generate_content(emu: EmulatorState, req: Request) -> Reply:
    """POST /{ver}/models/{model}:streamGenerateContent?alt=sse (the whole answer, one event)."""
    reply = emu.run_inference(req, prepare_generate, render_generate, fault_reply)
    if reply.status == 200 and reply.hold is None:
        reply = Reply(200, b"data: " + reply.body + b"\r\n\r\n",
                      content_type="text/event-stream")
    return reply


def models_list(emu: EmulatorState, req: Request) -> Reply:
    """GET /{ver}/models."""
    names = ["gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-3.5-flash"]
    return Reply.json({"models": [
        {"name": f"models/{n}", "displayName": n, "inputTokenLimit": 1048576,
         "outputTokenLimit": 65536,
         "supportedGenerationMethods": ["generateContent", "countTokens",
                                        "batchGenerateContent"]}
        for n in names if n not in emu.config.missing_models]})


def count_tokens(emu: EmulatorState, req: Request) -> Reply:
    """POST /{ver}/models/{model}:countTokens."""
    body = emu.json_body(req)
    model = _check_model(emu, req.params["model"], req.params.get("ver", "v1beta"),
                         "countTokens")
    inner = _get(body, "generateContentRequest") or body
    if not isinstance(inner, dict):
        raise gemini_error(400, "Invalid JSON payload received. generateContentRequest must be "
                           "an object.")
    prep = _prepare_request(emu, {k: v for k, v in inner.items() if k != "model"}, model, req,
                            "count_tokens")
    req.entry["model"] = model
    req.entry.update(prep.media_log())
    return Reply.json({"totalTokens": prep.input_tokens,
                       "promptTokensDetails": [{"modality": k, "tokenCount": v}
                                               for k, v in prep.modality_tokens.items() if v]})


def models_get(emu: EmulatorState, req: Request) -> Reply:
    """GET /{ver}/models/{model}."""
    model = _check_model(emu, req.params["model"], req.params["ver"], "get")
    req.entry["model"] = model
    return Reply.json({
        "name": f"models/{model}", "version": "001", "displayName": model,
        "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
        "supportedGenerationMethods": ["generateContent", "countTokens",
                                       "batchGenerateContent"],
    })


# -- batches ------------------------------------------------------------------

_TERMINAL = ("BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED",
             "BATCH_STATE_EXPIRED")


def batches_create(emu: EmulatorState, req: Request) -> Reply:
    """POST /{ver}/models/{model}:batchGenerateContent (inlined requests or a JSONL file)."""
    body = emu.json_body(req)
    model = _check_model(emu, req.params["model"], req.params["ver"], "batchGenerateContent")
    req.entry["model"] = model
    batch = _get(body, "batch")
    if not isinstance(batch, dict):
        raise gemini_error(400, "* BatchGenerateContentRequest.batch: batch is not specified")
    cfg = _get(batch, "inputConfig")
    if not isinstance(cfg, dict):
        raise gemini_error(400, "* BatchGenerateContentRequest.batch.input_config: input_config "
                           "is not specified")
    inlined = _get(_get(cfg, "requests"), "requests")
    file_name = _get(cfg, "fileName")
    if inlined is None and not file_name:
        raise gemini_error(400, "* BatchGenerateContentRequest.batch.input_config: set either "
                           "requests or file_name.")
    if inlined is not None:
        if not isinstance(inlined, list) or not inlined:
            raise gemini_error(400, "* BatchGenerateContentRequest.batch.input_config.requests:"
                               " requests must not be empty.")
        if len(req.body) > emu.config.max_inline_bytes:
            raise gemini_error(400, f"Request payload size exceeds the limit: "
                               f"{emu.config.max_inline_bytes} bytes. Put the requests in a "
                               "JSONL file and pass its name instead.")
    else:
        f = _lookup_file(emu, str(file_name))
        if f.state != "ACTIVE":
            raise gemini_error(400, f"The File {f.id} is not in an ACTIVE state and usage is "
                               "not allowed.", status_name="FAILED_PRECONDITION")
    display = str(_get(batch, "displayName") or "")
    outcome = emu.config.batch_outcome
    for o in ("failed", "expired"):
        if f"emulator:{o}" in display.lower():
            outcome = o
    bid = emu.new_id("", 16)
    now = time.time()
    job: dict[str, Any] = {
        "id": bid, "model": model, "display_name": display, "state": "BATCH_STATE_PENDING",
        "create": now, "update": now, "end": None, "ver": req.params["ver"],
        "inlined": inlined, "file": str(file_name) if file_name else None,
        "outcome": outcome, "output": None, "stats": None, "t0": time.monotonic(),
        "error": None, "priority": _get(batch, "priority"),
    }
    with emu._lock:
        state(emu).batches[bid] = job
    req.entry["batch_id"] = f"batches/{bid}"
    return Reply.json(_operation(job))


def _operation(job: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "model": f"models/{job['model']}", "displayName": job["display_name"],
        "createTime": _now_rfc3339(job["create"]), "updateTime": _now_rfc3339(job["update"]),
        "state": job["state"], "name": f"batches/{job['id']}",
    }
    if job["end"] is not None:
        meta["endTime"] = _now_rfc3339(job["end"])
    n = len(job["inlined"] or []) if job["inlined"] is not None else None
    stats = job["stats"] or ({"requestCount": str(n), "pendingRequestCount": str(n)}
                             if n is not None else {})
    meta["batchStats"] = stats
    if job["output"] is not None:
        meta["output"] = job["output"]
    op: dict[str, Any] = {"name": f"batches/{job['id']}", "metadata": meta}
    if job["state"] in _TERMINAL:
        op["done"] = True
        if job["error"]:
            op["error"] = job["error"]
        elif job["output"] is not None:
            op["response"] = {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1main."
                         "GenerateContentBatchOutput", **job["output"]}
    return op


def _get_job(emu: EmulatorState, bid: str) -> dict[str, Any]:
    return emu.find(state(emu).batches, bid,
                    lambda: gemini_error(404, f"Batch batches/{bid} was not found."))


def batches_get(emu: EmulatorState, req: Request) -> Reply:
    """GET /{ver}/batches/{id}: advances the job, running it once its delay has passed."""
    job = _get_job(emu, req.params["id"])
    with emu._lock:
        _advance(emu, job)
        req.entry["batch_state"] = job["state"]
        return Reply.json(_operation(job))


def batches_list(emu: EmulatorState, req: Request) -> Reply:
    """GET /{ver}/batches."""
    with emu._lock:
        ops = [_operation(j) for j in state(emu).batches.values()]
    return Reply.json({"operations": ops} if ops else {})


def batches_cancel(emu: EmulatorState, req: Request) -> Reply:
    """POST /{ver}/batches/{id}:cancel."""
    job = _get_job(emu, req.params["id"])
    with emu._lock:
        if job["state"] in _TERMINAL:
            raise gemini_error(400, f"Batch batches/{job['id']} is already in state "
                               f"{job['state']} and cannot be cancelled.",
                               status_name="FAILED_PRECONDITION")
        job["state"] = "BATCH_STATE_CANCELLED"
        job["end"] = job["update"] = time.time()
    return Reply.json({})


def batches_delete(emu: EmulatorState, req: Request) -> Reply:
    """DELETE /{ver}/batches/{id}."""
    job = _get_job(emu, req.params["id"])
    with emu._lock:
        state(emu).batches.pop(job["id"], None)
    return Reply.json({})


def _advance(emu: EmulatorState, job: dict[str, Any]) -> None:
    if job["state"] in _TERMINAL:
        return
    job["update"] = time.time()
    if job["state"] == "BATCH_STATE_PENDING":
        job["state"] = "BATCH_STATE_RUNNING"
    if time.monotonic() - job["t0"] < emu.config.batch_latency_s:
        return
    _process(emu, job)


def _run_one(
    emu: EmulatorState, job: dict[str, Any], request: Any, item: Any
) -> dict[str, Any]:
    """One batch request -> {"response": ...} or {"error": {...}}."""
    model = job["model"]

    def prepare(emu: EmulatorState, body: dict[str, Any], req: Request) -> Prepared:
        return _prepare_request(emu, {k: v for k, v in body.items() if k != "model"}, model,
                                req, "batch")

    status, out = emu.run_batch_request(
        "gemini", f"/{job['ver']}/models/{model}:generateContent", request, prepare,
        render_generate, fault_reply, batch_id=f"batches/{job['id']}",
        item=None if item is None else str(item))
    if status == 200:
        return {"response": out}
    err = out.get("error", {})
    return {"error": {"code": err.get("code", status), "message": err.get("message", ""),
                      "status": err.get("status", "UNKNOWN")}}


def _process(emu: EmulatorState, job: dict[str, Any]) -> None:
    now = time.time()
    job["end"] = now
    if job["outcome"] == "failed":
        job["state"] = "BATCH_STATE_FAILED"
        job["error"] = {"code": 13, "message": "The batch failed (made to fail by the emulator)."}
        emu.count("batches", "gemini.failed")
        return
    if job["outcome"] == "expired":
        job["state"] = "BATCH_STATE_EXPIRED"
        job["error"] = {"code": 4, "message": "The batch expired before it could complete."}
        emu.count("batches", "gemini.expired")
        return
    ok = failed = 0
    if job["inlined"] is not None:
        results = []
        for item in job["inlined"]:
            request = _get(item, "request") if isinstance(item, dict) else None
            meta = _get(item, "metadata") if isinstance(item, dict) else None
            key = _get(meta, "key") if isinstance(meta, dict) else None
            one = _run_one(emu, job, request, key)
            if meta is not None:
                one["metadata"] = meta
            ok += "response" in one
            failed += "error" in one
            results.append(one)
        job["output"] = {"inlinedResponses": {"inlinedResponses": results}}
    else:
        src = state(emu).files.get(str(job["file"]).removeprefix("files/"))
        lines_out = []
        if src is None:
            job["state"] = "BATCH_STATE_FAILED"
            job["error"] = {"code": 5, "message": f"Input file {job['file']} no longer exists."}
            return
        for i, line in enumerate(src.data.decode("utf-8", "replace").splitlines()):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                res = {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                                 "message": f"line {i + 1} is not a JSON "
                                                            "object"}}
                key = None
            else:
                key = obj.get("key")
                res = _run_one(emu, job, obj.get("request"), key)
            if key is not None:
                res = {"key": key, **res}
            ok += "response" in res
            failed += "error" in res
            lines_out.append(json.dumps(res))
        out = _new_file(emu, ("\n".join(lines_out) + "\n").encode(), "application/jsonl",
                        f"batch-{job['id']}-responses", job["ver"], name=f"batch{job['id']}")
        out.source = "GENERATED"
        out.state = "ACTIVE"
        job["output"] = {"responsesFile": f"files/{out.id}"}
    job["stats"] = {"requestCount": str(ok + failed), "successfulRequestCount": str(ok),
                    "failedRequestCount": str(failed), "pendingRequestCount": "0"}
    job["state"] = "BATCH_STATE_SUCCEEDED"
    emu.count("batches", "gemini.succeeded")


# -- the API as the server sees it ---------------------------------------------


@dataclass
class GeminiState:
    """Gemini's objects in one emulator."""

    files: dict[str, GFile] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)


def state(emu: EmulatorState) -> GeminiState:
    """The Gemini files, upload sessions and batches of ``emu``."""
    st: GeminiState = emu.api_state("gemini")
    return st


def _claims(req: Request) -> bool:
    if req.header("x-goog-api-key") or req.header("x-goog-api-client") or "key" in req.query:
        return True
    return ":" in req.path or req.path.startswith(("/upload/", "/download/"))


def authorize(emu: EmulatorState, req: Request) -> None:
    """``x-goog-api-key`` (or ``?key=``), answered as Google does (a bad key is a 400)."""
    expected = emu.config.api_key
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


def _error(status: int, message: str) -> ApiError:
    # Google answers an oversized body with INVALID_ARGUMENT, not 413.
    return gemini_error(400 if status == 413 else status, message)


def _not_found(req: Request) -> ApiError:
    return gemini_error(404, f"Method not found: {req.method} {req.path}")


def _invalid_json(detail: str | None) -> ApiError:
    if detail is None:
        return gemini_error(400, "Invalid JSON payload received. Expected an object.")
    return gemini_error(400, f"Invalid JSON payload received. {detail}")


def _rate_limited(which: str, model: str, retry: int, limit: int) -> ApiError:
    return gemini_error(
        429,
        f"You exceeded your current quota ({which.upper()} limit for {model}). "
        f"Please retry in {retry}s.",
        details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                  "retryDelay": f"{retry}s"}],
        headers={"Retry-After": str(retry)},
        kind=f"limit.{which}",
    )


_VER = r"(?P<ver>v[^/]+)"
ROUTES: tuple[Route, ...] = (
    # Any API version segment.
    Route("POST", re.compile(rf"^/{_VER}/models/(?P<model>[^/:]+):generateContent$"),
          "gemini.generate", generate_content),
    Route("POST", re.compile(rf"^/{_VER}/models/(?P<model>[^/:]+):streamGenerateContent$"),
          "gemini.stream_generate", stream_generate_content),
    Route("GET", re.compile(rf"^/{_VER}/models$"), "gemini.models.list", models_list),
    Route("POST", re.compile(rf"^/{_VER}/models/(?P<model>[^/:]+):countTokens$"),
          "gemini.count_tokens", count_tokens),
    Route("POST", re.compile(rf"^/{_VER}/models/(?P<model>[^/:]+):batchGenerateContent$"),
          "gemini.batches.create", batches_create),
    Route("GET", re.compile(rf"^/{_VER}/models/(?P<model>[^/:]+)$"), "gemini.models.get",
          models_get),
    Route("POST", re.compile(rf"^/upload/{_VER}/files$"), "gemini.upload", upload),
    Route("GET", re.compile(rf"^/{_VER}/files$"), "gemini.files.list", files_list),
    Route("GET", re.compile(rf"^/(?:download/)?{_VER}/files/(?P<id>[^/:]+):download$"),
          "gemini.files.download", files_download),
    Route("GET", re.compile(rf"^/{_VER}/files/(?P<id>[^/:]+)$"), "gemini.files.get",
          files_get),
    Route("DELETE", re.compile(rf"^/{_VER}/files/(?P<id>[^/:]+)$"), "gemini.files.delete",
          files_delete),
    Route("GET", re.compile(rf"^/{_VER}/batches$"), "gemini.batches.list", batches_list),
    Route("GET", re.compile(rf"^/{_VER}/batches/(?P<id>[^/:]+)$"), "gemini.batches.get",
          batches_get),
    Route("POST", re.compile(rf"^/{_VER}/batches/(?P<id>[^/:]+):cancel$"),
          "gemini.batches.cancel", batches_cancel),
    Route("DELETE", re.compile(rf"^/{_VER}/batches/(?P<id>[^/:]+)$"), "gemini.batches.delete",
          batches_delete),
)

API = Api(
    name="gemini", routes=ROUTES, claims=_claims, authorize=authorize, error=_error,
    not_found=_not_found, invalid_json=_invalid_json, rate_limited=_rate_limited,
    new_state=GeminiState,
    # The upload URL itself authorizes a chunk, as Google's does.
    open_kinds=frozenset({"gemini.upload.chunk"}),
)
