"""``gemini/<model>``: the Gemini Developer API through google-genai, with native video.

Imported only when such a predictor is built (it imports google-genai).
Images are inline parts. A video is sent natively: inline while the whole
request stays under ``inline_limit_bytes`` (base64 included), otherwise
uploaded through the Files API once per content hash and deleted in
``aclose()``. The SDK makes one attempt per call (no ``retry_options``); the
engine owns retries.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import time
from collections.abc import Iterator
from typing import Any, Literal

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from vlmfer.errors import ConfigError, MediaError, PredictorError
from vlmfer.media import PreparedMedia
from vlmfer.predictors import pricing, tokens
from vlmfer.predictors._common import (
    SimulatorWatch,
    WarnOnce,
    candidate_labels,
    frames_caption,
    image_size,
    label_logprobs,
    malformed_error,
    media_record,
    parse_retry_after,
    prepare,
    reconcile_usage,
    record_sent,
    redact,
    resolve_key,
    scaled,
    set_options,
    status_error,
    top_k,
    transport_error,
)
from vlmfer.predictors.base import Predictor
from vlmfer.predictors.gemini_batch import GeminiJobs
from vlmfer.predictors.gemini_files import (
    TRANSPORT_ERRORS,
    UPLOAD_PREFIX,
    GeminiFiles,
    Upload,
    UploadFailed,
    UploadTimeout,
    enum_value,
)
from vlmfer.predictors.options import GeminiOptions
from vlmfer.types import Capabilities, Media, Prompt, Response, Usage

KEY_ENVS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")  # the SDK's own precedence
KEY_HINT = "GEMINI_API_KEY (or GOOGLE_API_KEY)"
OFFICIAL_URL = "https://generativelanguage.googleapis.com"

#: Candidate finish reasons that mean the answer was withheld for safety or policy.
BLOCKING_FINISH = frozenset({
    "SAFETY", "PROHIBITED_CONTENT", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "BLOCKLIST",
    "SPII", "RECITATION", "IMAGE_RECITATION",
})
#: Gemini finish reasons in the OpenAI vocabulary, so reports compare across providers.
FINISH_NAMES = {"STOP": "stop", "MAX_TOKENS": "length"}

# Old private names, kept for code that imported them from here.
_TRANSPORT_ERRORS = TRANSPORT_ERRORS
_enum_value = enum_value


def _safety_settings(raw: dict[str, str] | None) -> list[types.SafetySetting] | None:
    if not raw:
        return None
    categories = {c.value for c in types.HarmCategory}
    thresholds = {t.value for t in types.HarmBlockThreshold}
    out = []
    for category, threshold in raw.items():
        cat, thr = category.upper(), threshold.upper()
        if cat not in categories:
            raise ConfigError(f"gemini option safety_settings: unknown category {category!r}. "
                              f"Valid: {', '.join(sorted(categories))}")
        if thr not in thresholds:
            raise ConfigError(f"gemini option safety_settings[{category!r}]: unknown threshold "
                              f"{threshold!r}. Valid: {', '.join(sorted(thresholds))}")
        out.append(types.SafetySetting(category=types.HarmCategory(cat),
                                       threshold=types.HarmBlockThreshold(thr)))
    return out


def _b64_len(n: int) -> int:
    return 4 * math.ceil(n / 3)


class GeminiPredictor(Predictor):
    """One ``generateContent`` call per ``predict`` (plus Files API uploads for big videos)."""

    provider = "gemini"
    # A remote answer depends on the request alone: a vlmfer upgrade keeps the cache.
    code_in_cache_identity = False

    def __init__(self, model: str, options: GeminiOptions | None = None) -> None:
        self.model = model.removeprefix("models/")
        self.options = opts = options or GeminiOptions()
        key = resolve_key(
            opts.api_key.get_secret_value() if opts.api_key else None, KEY_ENVS, "gemini",
            suggest="GEMINI_API_KEY",
        )
        self.base_url = opts.base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL") or OFFICIAL_URL
        self._safety = _safety_settings(opts.safety_settings)
        http: dict[str, Any] = {
            "base_url": self.base_url,
            "api_version": opts.api_version,
            "timeout": int(opts.timeout_s * 1000),
        }
        self._simulator = SimulatorWatch()
        http["async_client_args"] = {"event_hooks": self._simulator.hooks()}
        if importlib.util.find_spec("aiohttp") is not None:
            # With aiohttp installed the SDK would use it and retry connection
            # errors by itself; an explicit transport keeps it on httpx2, one attempt.
            http["async_client_args"]["transport"] = httpx2.AsyncHTTPTransport()
        self._secret = key  # only to scrub it from error messages
        self._client = genai.Client(api_key=key, http_options=types.HttpOptions(**http))
        self._warn = WarnOnce(self.name)
        self._logprobs_rejected: str | None = None
        self.files = GeminiFiles(self._client, owner=self.name, poll_s=opts.upload_poll_s,
                                 timeout_s=opts.upload_timeout_s)
        self.capabilities = Capabilities(
            image=True, video=True, video_as_frames=True, max_images=opts.max_images,
            logprobs=opts.supports_logprobs is not False, enum_output=True, json_schema=True,
        )
        self._prices = pricing.price_table(opts.price_file)

    # ---------------------------------------------------------------- contract

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "base_url": self.base_url, "options": self.options.public()}

    def cache_identity(self) -> dict[str, Any]:
        o = self.options
        return {
            "name": self.name,
            "base_url": self.base_url,
            "api_version": o.api_version,
            "media_resolution": o.media_resolution,
            "video_mode": o.video_mode,
            "transcode": o.transcode,
            "video_metadata": [o.video_fps, o.video_start_s, o.video_end_s],
            "safety_settings": o.safety_settings,
            "thinking": [o.thinking_budget, o.thinking_level],
        }

    def cost_usd(self, response: Response) -> float | None:
        return self._prices.response_cost("gemini", self.model, response)

    def estimate_input_tokens(self, prompt: Prompt) -> int:
        """Text at ~4 characters a token; images and video by Gemini's published rates."""
        from vlmfer.media import probe_video

        total = tokens.text_tokens(prompt.system) + tokens.text_tokens(prompt.text)
        spec = prompt.media_spec
        for m in prompt.media:
            if m.kind == "image":
                total += tokens.gemini_image_tokens(*scaled(image_size(m.path), spec.max_side))
                continue
            try:
                info = probe_video(m.path)
            except MediaError:
                total += tokens.gemini_video_tokens(3.0, fps=self.options.video_fps or 1.0)
                continue
            if self._video_as(prompt) == "frames":
                n = tokens.frames_in_spec(spec.frames, duration_s=info.duration_s,
                                          frame_count=info.frame_count)
                w, h = scaled((info.width, info.height), spec.max_side)
                total += n * tokens.gemini_image_tokens(w, h)
            else:
                window = None
                if "@" in spec.frames:
                    from vlmfer.media import parse_frame_spec

                    fs = parse_frame_spec(spec.frames)
                    if fs.start_s is not None or fs.end_s is not None:
                        window = list(fs.window(info.duration_s))
                total += self._video_tokens(info.duration_s,
                                            info.has_audio and not spec.drop_audio, window)
        return total

    def _video_window(
        self, duration_s: float, window: list[float] | None
    ) -> tuple[float | None, float | None]:
        """Start and end offsets: the options, else the frame spec's ``@start-end`` window."""
        o = self.options
        if o.video_start_s is not None or o.video_end_s is not None:
            return o.video_start_s, o.video_end_s
        if window:
            return float(window[0]), float(window[1])
        return None, None

    def _video_tokens(
        self, duration_s: float, has_audio: bool, window: list[float] | None = None
    ) -> int:
        start, end = self._video_window(duration_s, window)
        lo = start or 0.0
        hi = min(end, duration_s) if end is not None else duration_s
        return tokens.gemini_video_tokens(
            max(0.0, hi - lo), fps=self.options.video_fps or 1.0,
            media_resolution=self.options.media_resolution, has_audio=has_audio,
        )

    def _video_as(self, prompt: Prompt) -> str:
        mode = self.options.video_mode
        if mode == "auto":
            mode = prompt.media_spec.video_mode
        return "frames" if mode == "frames" else "video"

    async def aclose(self) -> None:
        """Delete this predictor's uploads (not those a batch retains), then close the client."""
        await self.files.delete_media()
        await self._client.aio.aclose()

    async def cleanup_uploads(self, prefix: str = UPLOAD_PREFIX) -> list[str]:
        """Delete every file whose display name starts with ``prefix`` (crash leftovers).

        Returns the names deleted.
        """
        try:
            return await self.files.cleanup(prefix)
        except genai_errors.APIError as exc:
            raise self._api_error(exc) from None
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, predictor=self.name, where=self.base_url) from exc

    # ---------------------------------------------------------------- errors

    def _api_error(self, exc: genai_errors.APIError) -> PredictorError:
        headers = getattr(getattr(exc, "response", None), "headers", None)
        retry_after = parse_retry_after(headers)
        if retry_after is None:
            retry_after = _retry_info(exc.details)
        code = int(exc.code) if exc.code else 0
        detail = redact(exc.message or str(exc.status or exc), self._secret)
        if code == 400 and ("API_KEY_INVALID" in str(exc.details)
                            or "api key not valid" in detail.lower()):
            # Google answers a bad key with 400, not 401.
            return PredictorError(
                f"{self.name}: HTTP 400 from {self.base_url}: {detail}. The API key was "
                f"rejected: check {KEY_HINT} (or the api_key option) holds a valid key",
                retryable=False, status=code, kind="auth",
            )
        if code == 0:
            return malformed_error(detail, predictor=self.name, where=self.base_url)
        return status_error(code, detail, predictor=self.name, key_env=KEY_HINT,
                            where=self.base_url, retry_after=retry_after)

    # ---------------------------------------------------------------- uploads

    async def _upload(self, data: bytes, mime_type: str) -> Upload:
        try:
            return await self.files.media(data, mime_type)
        except UploadFailed as exc:
            raise PredictorError(
                f"{self.name}: {exc}. Check the video decodes and its type is supported, or "
                "set transcode=true to send MP4",
                retryable=False, kind="upload_failed",
            ) from None
        except UploadTimeout as exc:
            raise PredictorError(
                f"{self.name}: upload {exc} (upload_timeout_s); the next attempt polls it again",
                retryable=True, kind="upload_timeout",
            ) from None

    # ---------------------------------------------------------------- request

    async def _prepare(self, prompt: Prompt) -> list[tuple[Media, PreparedMedia]]:
        """Media through the media layer (in a worker thread), before any network call."""
        spec = prompt.media_spec
        transcode = self.options.transcode
        if transcode is not None and transcode != spec.transcode:
            spec = spec.model_copy(update={"transcode": transcode})
        as_video = self._video_as(prompt)
        prepared = []
        for m in prompt.media:
            as_: Literal["image", "frames", "video"] = "image"
            if m.kind == "video":
                as_ = "video" if as_video == "video" else "frames"
            prepared.append((m, await prepare(m, spec, as_)))
        return prepared

    async def _parts(
        self, prompt: Prompt, prepared: list[tuple[Media, PreparedMedia]], details: dict[str, Any]
    ) -> list[types.Part]:
        """The request parts: inline, or uploaded when the request would be too large."""
        as_video = self._video_as(prompt)
        n_images = sum(len(p.parts) for m, p in prepared if p.parts and
                       p.parts[0].kind == "image")
        if n_images > self.options.max_images:
            raise PredictorError(
                f"{self.name}: this request would carry {n_images} images, over max_images="
                f"{self.options.max_images}; sample fewer frames or send native video",
                retryable=False, kind="too_many_images",
            )
        # Decide what goes inline: the whole request must stay under the limit.
        all_parts = [part for _, p in prepared for part in p.parts]
        size = sum(_b64_len(len(part.data)) for part in all_parts)
        # Text and JSON framing count too (a small allowance for the framing).
        size += len((prompt.text or "").encode()) + len((prompt.system or "").encode()) + 2048
        to_upload: set[int] = set()
        for part in sorted(all_parts, key=lambda x: -len(x.data)):
            if size <= self.options.inline_limit_bytes:
                break
            to_upload.add(id(part))
            size -= _b64_len(len(part.data))

        parts: list[types.Part] = []
        sent: list[dict[str, Any]] = []
        estimate = tokens.text_tokens(prompt.text) + tokens.text_tokens(prompt.system)
        n_videos = sum(1 for m in prompt.media if m.kind == "video")
        # Gemini's guidance: video first, then images, then the question.
        order = sorted(range(len(prepared)), key=lambda i: prepared[i][0].kind != "video")
        for i in order:
            m, prep = prepared[i]
            native = m.kind == "video" and as_video == "video"
            if m.kind == "video" and not native:
                caption = frames_caption(prep.parts, i + 1 if n_videos > 1 else None)
                parts.append(types.Part(text=caption))
                estimate += tokens.text_tokens(caption)
            meta = self._video_metadata(prep.record) if native else None
            if meta is not None:
                details.setdefault("video_metadata", []).append(
                    meta.model_dump(mode="json", exclude_none=True))
            for part in prep.parts:
                if id(part) in to_upload:
                    up = await self._upload(part.data, part.mime_type)
                    parts.append(types.Part(
                        file_data=types.FileData(file_uri=up.uri, mime_type=up.mime_type),
                        video_metadata=meta))
                    sent.append({"via": "file", "mime_type": up.mime_type, "file": up.name,
                                 "bytes": len(part.data)})
                else:
                    parts.append(types.Part(
                        inline_data=types.Blob(data=part.data, mime_type=part.mime_type),
                        video_metadata=meta))
                    sent.append({"via": "inline", "mime_type": part.mime_type,
                                 "bytes": len(part.data)})
                if native:
                    estimate += self._native_estimate(prep.record)
                elif part.width and part.height:
                    estimate += tokens.gemini_image_tokens(part.width, part.height)
        parts.append(types.Part(text=prompt.text))
        details["parts"] = sent
        details["estimated_input_tokens"] = estimate
        if prepared:
            details["media"] = media_record([p for _, p in prepared])
        return parts

    @staticmethod
    def _pending_window(record: dict[str, Any]) -> list[float] | None:
        """The frame spec's time window, unless the media layer already cut the clip to it."""
        window = record.get("window_s")
        if window and not record.get("window_applied"):
            return [float(window[0]), float(window[1])]
        return None

    def _native_estimate(self, record: dict[str, Any]) -> int:
        probe = record.get("probe") or {}
        duration = probe.get("duration_s")
        if not isinstance(duration, (int, float)):
            return 0
        window = record.get("window_s")
        if window and record.get("window_applied"):
            duration = float(window[1]) - float(window[0])
        encode = record.get("encode") or {}
        has_audio = bool(probe.get("has_audio")) and encode.get("audio") != "dropped"
        return self._video_tokens(float(duration), has_audio, self._pending_window(record))

    def _video_metadata(self, record: dict[str, Any]) -> types.VideoMetadata | None:
        """fps and start/end offsets for a native video part (None when all default)."""
        probe = record.get("probe") or {}
        duration = float(probe.get("duration_s") or 0.0)
        start, end = self._video_window(duration, self._pending_window(record))
        fps = self.options.video_fps
        if fps is None and start is None and end is None:
            return None
        return types.VideoMetadata(
            fps=fps,
            start_offset=f"{start:g}s" if start is not None else None,
            end_offset=f"{end:g}s" if end is not None else None,
        )

    def _config(self, prompt: Prompt, logprobs: bool, k: int) -> types.GenerateContentConfig:
        o = prompt.options
        cfg: dict[str, Any] = {}
        if prompt.system:
            cfg["system_instruction"] = prompt.system
        cfg.update(set_options(o, temperature="temperature", top_p="top_p", seed="seed",
                               max_tokens="max_output_tokens"))
        if logprobs:
            cfg["response_logprobs"] = True
            cfg["logprobs"] = k
        c = prompt.constraint
        if c is not None and c.kind == "enum":
            cfg["response_mime_type"] = "text/x.enum"
            cfg["response_schema"] = {"type": "STRING", "enum": list(c.labels)}
        elif c is not None:
            cfg["response_mime_type"] = "application/json"
            cfg["response_json_schema"] = {
                "type": "object",
                "properties": {"label": {"type": "string", "enum": list(c.labels)}},
                "required": ["label"],
            }
        res = self.options.media_resolution
        if res is not None:
            cfg["media_resolution"] = types.MediaResolution(f"MEDIA_RESOLUTION_{res.upper()}")
        if self._safety:
            cfg["safety_settings"] = self._safety
        if self.options.thinking_budget is not None or self.options.thinking_level is not None:
            cfg["thinking_config"] = types.ThinkingConfig(
                thinking_budget=self.options.thinking_budget,
                thinking_level=(types.ThinkingLevel(self.options.thinking_level.upper())
                                if self.options.thinking_level else None),
            )
        return types.GenerateContentConfig(**cfg)

    def _logprob_plan(self, prompt: Prompt, details: dict[str, Any]) -> tuple[list[str], bool, int]:
        """Candidate labels, whether to ask for logprobs, and how many alternatives."""
        labels = candidate_labels(prompt) or []
        want_logprobs = prompt.options.logprobs
        if want_logprobs and self.options.supports_logprobs is False:
            want_logprobs = False
            details["dropped"] = {"logprobs": "supports_logprobs=false"}
            self._warn("logprobs", "logprobs disabled by supports_logprobs=false; asking "
                       "without them")
        elif want_logprobs and self._logprobs_rejected:
            want_logprobs = False
            details["logprobs_fallback"] = self._logprobs_rejected
            details["dropped"] = {"logprobs": f"the model rejected them: "
                                              f"{self._logprobs_rejected}"}
        return labels, want_logprobs, top_k(prompt, labels)

    @contextlib.contextmanager
    def _classified(self) -> Iterator[None]:
        """Turn SDK and transport exceptions into one classified ``PredictorError``."""
        try:
            yield
        except genai_errors.APIError as exc:
            # Not chained: the SDK's exception text carries the raw body (see redact()).
            raise self._api_error(exc) from None
        except genai_errors.UnknownApiResponseError as exc:
            raise malformed_error(redact(str(exc)[:300], self._secret), predictor=self.name,
                                  where=self.base_url) from None
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, predictor=self.name, where=self.base_url) from exc
        except ValueError as exc:  # json.JSONDecodeError and pydantic errors on a bad body
            raise malformed_error(f"{type(exc).__name__}: {str(exc)[:300]}",
                                  predictor=self.name, where=self.base_url) from exc

    async def predict(self, prompt: Prompt) -> Response:
        """One ``generateContent`` call (one more, without logprobs, if they are rejected)."""
        details: dict[str, Any] = {}
        labels, want_logprobs, k = self._logprob_plan(prompt, details)
        prepared = await self._prepare(prompt)
        start = time.perf_counter()
        with self._classified():
            parts = await self._parts(prompt, prepared, details)
            contents = [types.Content(role="user", parts=parts)]
            try:
                raw = await self._client.aio.models.generate_content(
                    model=self.model, contents=contents,
                    config=self._config(prompt, want_logprobs, k))
            except genai_errors.ClientError as exc:
                if not (want_logprobs and _logprobs_rejected(exc)):
                    raise
                # A capability fallback, not a transient retry: this model takes no
                # logprobs, so ask again without them and stop asking for this run.
                self._logprobs_rejected = redact(exc.message or "logprobs rejected")
                self._warn("logprobs-rejected", f"the model rejected logprobs "
                           f"({self._logprobs_rejected}); "
                           "continuing without them for the rest of the run")
                details["logprobs_fallback"] = self._logprobs_rejected
                details["dropped"] = {"logprobs": f"the model rejected them: "
                                                  f"{self._logprobs_rejected}"}
                want_logprobs = False
                raw = await self._client.aio.models.generate_content(
                    model=self.model, contents=contents,
                    config=self._config(prompt, False, k))
        latency = time.perf_counter() - start
        kind = prompt.constraint.kind if prompt.constraint else None
        record_sent(details, self._config(prompt, want_logprobs, k))
        response = self._parse(raw, labels, kind, details)
        response.latency_s = latency
        return self._simulator.settle(response, self.cost_usd(response))

    # ---------------------------------------------------------------- batch

    @property
    def client(self) -> genai.Client:
        """The SDK client (its base_url, api_version and key), for the batch API."""
        return self._client

    def batch_jobs(self) -> GeminiJobs:
        """Gemini batch mode through this predictor's client and Files API."""
        return GeminiJobs(self.name, self.model, self._client, self.base_url, self.files)

    async def batch_request(self, prompt: Prompt) -> tuple[dict[str, Any], dict[str, Any]]:
        """One ``GenerateContentRequest`` as the REST API takes it, and the parse context.

        The parts are built as for ``predict``: inline, or by Files API reference when the
        request would exceed ``inline_limit_bytes`` (uploading now). Such uploads are kept
        past ``aclose()``: the batch still needs them. Their names are in the context
        (``uploads``), for the batch driver to delete after collection.
        """
        details: dict[str, Any] = {}
        labels, want_logprobs, k = self._logprob_plan(prompt, details)
        prepared = await self._prepare(prompt)
        with self._classified():
            parts = await self._parts(prompt, prepared, details)
        contents = [types.Content(role="user", parts=parts)]
        config = self._config(prompt, want_logprobs, k)
        record_sent(details, config)
        body = self._wire_request(contents, config)
        uploads = [p["file"] for p in details.get("parts", []) if p.get("via") == "file"]
        self.files.retain(uploads)
        kind = prompt.constraint.kind if prompt.constraint else None
        return body, {"labels": labels, "kind": kind, "details": details, "uploads": uploads}

    def _wire_request(
        self, contents: list[types.Content], config: types.GenerateContentConfig
    ) -> dict[str, Any]:
        """The JSON body ``generate_content`` would send, by the SDK's own serializer."""
        from google.genai import _common
        from google.genai import models as genai_models

        params = types._GenerateContentParameters(model=self.model, contents=contents,
                                                  config=config)
        body: dict[str, Any] = genai_models._GenerateContentParameters_to_mldev(
            self._client._api_client, params, None, params)
        for internal in ("config", "_url", "_query"):
            body.pop(internal, None)
        wire: dict[str, Any] = _common.encode_unserializable_types(
            _common.convert_to_dict(body))
        return wire

    def parse_batch_result(self, body: Any, context: dict[str, Any]) -> Response:
        """Parse one batch result (a ``GenerateContentResponse``, or its REST JSON) exactly as
        ``predict`` parses an answer; marked ``details["batch"]`` and priced at the batch rate.
        """
        if isinstance(body, dict):
            from google.genai import models as genai_models

            with self._classified():  # the SDK's own reading of a REST reply
                body = types.GenerateContentResponse._from_response(
                    response=genai_models._GenerateContentResponse_from_mldev(body), kwargs={})
        details = {**context.get("details", {}), "batch": True}
        response = self._parse(body, list(context.get("labels") or []), context.get("kind"),
                               details)
        return self._simulator.settle(response, self.cost_usd(response))

    # ---------------------------------------------------------------- parsing

    def _parse(self, raw: Any, labels: list[str], kind: str | None,
               details: dict[str, Any]) -> Response:
        if not isinstance(raw, types.GenerateContentResponse):
            raise malformed_error(f"unexpected response type {type(raw).__name__}",
                                  predictor=self.name, where=self.base_url)
        usage = _usage(raw.usage_metadata)
        reconcile_usage(details, usage)
        common: dict[str, Any] = {"usage": usage, "model_version": raw.model_version,
                                  "details": details}
        feedback = raw.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            reason = enum_value(feedback.block_reason)
            if feedback.block_reason_message:
                details["block_message"] = feedback.block_reason_message
            return Response(text=None, status="blocked", reason=reason,
                            finish_reason="content_filter", **common)
        if not raw.candidates:
            raise malformed_error("no candidates and no block reason", predictor=self.name,
                                  where=self.base_url)
        cand = raw.candidates[0]
        finish_raw = enum_value(cand.finish_reason)
        details["finish_reason_raw"] = finish_raw
        text = _candidate_text(cand)
        # A blocking finish is a block even with partial text: that text was cut off by a
        # safety filter and must not be parsed into a label (OpenAI's content_filter agrees).
        if finish_raw in BLOCKING_FINISH:
            if text:
                details["partial_text"] = text
            ratings = [
                {"category": enum_value(r.category), "probability": enum_value(r.probability),
                 "blocked": r.blocked}
                for r in (cand.safety_ratings or []) if r.blocked or r.probability
            ]
            if ratings:
                details["safety_ratings"] = ratings
            return Response(text=None, status="blocked", reason=finish_raw,
                            finish_reason="content_filter", **common)
        finish = FINISH_NAMES.get(finish_raw or "", (finish_raw or "").lower() or None)
        logprobs = None
        lr = cand.logprobs_result
        if lr is not None and lr.top_candidates and lr.chosen_candidates and text and labels:
            positions = [
                (chosen.token or "",
                 [(c.token or "", c.log_probability if c.log_probability is not None else
                   -math.inf) for c in (top.candidates or [])])
                for chosen, top in zip(lr.chosen_candidates, lr.top_candidates, strict=False)
            ]
            logprobs = label_logprobs(positions, text, labels, kind)
        return Response(text=text, logprobs=logprobs, finish_reason=finish, **common)


def _candidate_text(cand: Any) -> str | None:
    if cand.content is None or not cand.content.parts:
        return None
    texts = [p.text for p in cand.content.parts if p.text and not p.thought]
    return "".join(texts) if texts else None


def _usage(meta: Any) -> Usage:
    if meta is None:
        return Usage()
    return Usage(
        input_tokens=meta.prompt_token_count or 0,
        output_tokens=meta.candidates_token_count or 0,
        thinking_tokens=meta.thoughts_token_count or 0,
        cached_input_tokens=meta.cached_content_token_count or 0,
    )


def _logprobs_rejected(exc: genai_errors.ClientError) -> bool:
    text = f"{exc.message or ''} {exc.details}".lower()
    return exc.code == 400 and "logprobs" in text and (
        "not enabled" in text or "not supported" in text)


def _retry_info(details: Any) -> float | None:
    """``google.rpc.RetryInfo.retryDelay`` (e.g. "13s") from an error body, if present."""
    error = details.get("error", details) if isinstance(details, dict) else None
    items = error.get("details") if isinstance(error, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            delay = str(item.get("retryDelay", ""))
            try:
                return float(delay.rstrip("s"))
            except ValueError:
                return None
    return None
