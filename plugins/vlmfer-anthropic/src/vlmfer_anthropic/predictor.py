"""``anthropic/<model>``: one Messages API call per ``predict``, through the anthropic SDK.

Images go as base64 ``image`` blocks with their media type; Claude takes no video, so a
video goes as sampled frames in time order, with their indices and timestamps in the text
(as for GPT). The SDK's own retries are off: the engine owns retries, and a failure surfaces
as one classified ``PredictorError`` (429 and 529 retryable, with the server's
``retry-after``; a bad key or an unknown model is not).
"""

from __future__ import annotations

import base64
import math
import os
import time
from typing import Any

import anthropic
from pydantic import ValidationError
from vlmfer.errors import MediaError, PredictorError
from vlmfer.media import PreparedMedia
from vlmfer.predictors.base import Predictor
from vlmfer.predictors.common import (
    WarnOnce,
    candidate_labels,
    constrained_label,
    frames_caption,
    image_size,
    malformed_error,
    media_record,
    parse_retry_after,
    prepare,
    redact,
    resolve_key,
    scaled,
    status_error,
    transport_error,
)
from vlmfer.predictors.pricing import usage_cost
from vlmfer.types import Capabilities, Prompt, Response, Usage

from vlmfer_anthropic import options as limits
from vlmfer_anthropic.jobs import AnthropicJobs
from vlmfer_anthropic.options import (
    BASE_URL_ENV,
    KEY_ENV,
    NO_SAMPLING_FROM,
    OFFICIAL_URL,
    AnthropicOptions,
)
from vlmfer_anthropic.prices import LONG_PROMPT, price_table

#: Claude's stop reasons in the vocabulary the other predictors use.
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
          "model_context_window_exceeded": "length", "refusal": "refusal"}


def label_schema(labels: list[str]) -> dict[str, Any]:
    """A JSON schema whose only field is one of ``labels``."""
    return {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": list(labels)}},
        "required": ["label"],
        "additionalProperties": False,
    }


def image_tokens(width: int, height: int) -> int:
    """Anthropic's estimate: width x height / 750, after the service fits the long edge into
    1568 px and the area into 1.15 megapixels (platform.claude.com, vision guide)."""
    scale = min(1.0, 1568 / max(width, height), math.sqrt(1_150_000 / (width * height)))
    return max(1, math.ceil(width * scale * height * scale / 750))


class AnthropicPredictor(Predictor):
    """Claude through the Messages API; provider batch through the Message Batches API."""

    provider = "anthropic"

    def __init__(self, model: str, options: AnthropicOptions | None = None) -> None:
        self.model = model
        self.options = opts = options or AnthropicOptions()
        key = resolve_key(None, [KEY_ENV], "anthropic")
        self.base_url = opts.base_url or os.environ.get(BASE_URL_ENV) or OFFICIAL_URL
        self._secret = key  # only to scrub it from error messages
        headers = {"anthropic-version": opts.api_version} if opts.api_version else None
        self._client = anthropic.AsyncAnthropic(
            api_key=key, base_url=self.base_url, max_retries=0, timeout=opts.timeout_s,
            default_headers=headers,
        )
        self.api_version = opts.api_version or anthropic._constants.ANTHROPIC_API_VERSION
        self._warn = WarnOnce(self.name)
        schema = opts.supports_json_schema is not False
        self.capabilities = Capabilities(
            image=True, video=False, video_as_frames=True, max_images=opts.max_images,
            # The Messages API returns no log-probabilities.
            logprobs=False, enum_output=schema, json_schema=schema,
        )
        self._prices = price_table(opts.price_file)

    # ---------------------------------------------------------------- contract

    @property
    def sampling_accepted(self) -> bool:
        """Whether this API version still takes ``temperature``."""
        return self.api_version < NO_SAMPLING_FROM

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "base_url": self.base_url, "api_version": self.api_version,
                "options": self.options.public()}

    def cache_identity(self) -> dict[str, Any]:
        o = self.options
        return {"name": self.name, "base_url": self.base_url, "api_version": self.api_version,
                "max_tokens": o.max_tokens, "thinking": o.thinking, "effort": o.effort,
                "json_schema": self.capabilities.json_schema}

    def cost_usd(self, response: Response) -> float | None:
        batch = bool(response.details.get("batch"))
        for model in dict.fromkeys([response.model_version or self.model, self.model]):
            price = self._prices.lookup("anthropic", model)
            if price is None:
                continue
            long = LONG_PROMPT.get(f"anthropic/{model}") or LONG_PROMPT.get(
                f"anthropic/{self.model}")
            if long is not None and response.usage.input_tokens > long[0]:
                price = long[1]
            return usage_cost(response.usage, price, batch=batch)
        return None

    def estimate_input_tokens(self, prompt: Prompt) -> int:
        """Text at ~4 characters a token; images by Anthropic's pixel rule."""
        from vlmfer.media import probe_video
        from vlmfer.predictors.tokens import frames_in_spec

        total = max(1, (len(prompt.text) + len(prompt.system or "")) // 4) + 8
        spec = prompt.media_spec
        for m in prompt.media:
            if m.kind == "image":
                total += image_tokens(*scaled(image_size(m.path), spec.max_side))
                continue
            try:
                info = probe_video(m.path)
            except MediaError:
                total += 8 * image_tokens(768, 432)
                continue
            n = frames_in_spec(spec.frames, duration_s=info.duration_s,
                               frame_count=info.frame_count)
            w, h = scaled((info.width, info.height), spec.max_side)
            total += min(n, self.options.max_images) * (image_tokens(w, h) + 8)
        return total

    async def aclose(self) -> None:
        await self._client.close()

    # ---------------------------------------------------------------- request

    def _check_limits(self, prepared: list[PreparedMedia]) -> int:
        parts = [p for prep in prepared for p in prep.parts]
        n = len(parts)
        if n > self.options.max_images:
            raise PredictorError(
                f"{self.name}: this request would carry {n} images, over max_images="
                f"{self.options.max_images} (Anthropic: 100 per request on 200k-context "
                "models, 600 on others); sample fewer frames (e.g. frames='uniform:8')",
                retryable=False, kind="too_many_images",
            )
        side = limits.MANY_IMAGES_SIDE if n > limits.MANY_IMAGES else limits.MAX_IMAGE_SIDE
        for part in parts:
            if part.mime_type not in limits.IMAGE_TYPES:
                raise PredictorError(
                    f"{self.name}: an image is {part.mime_type}; Claude takes "
                    f"{', '.join(limits.IMAGE_TYPES)}. Set media.image_format to jpeg or png",
                    retryable=False, kind="bad_request")
            if len(part.data) > limits.MAX_IMAGE_BYTES:
                raise PredictorError(
                    f"{self.name}: an image is {len(part.data)} bytes, over Anthropic's 5 MB "
                    "per image; lower media.max_side or media.quality",
                    retryable=False, kind="bad_request")
            if max(part.width or 0, part.height or 0) > side:
                raise PredictorError(
                    f"{self.name}: an image is {part.width}x{part.height} px, over Anthropic's "
                    f"{side} px per side"
                    + (f" for requests with over {limits.MANY_IMAGES} images" if n >
                       limits.MANY_IMAGES else "") + "; lower media.max_side",
                    retryable=False, kind="bad_request")
        return n

    async def _content(self, prompt: Prompt) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        prepared = [await prepare(m, prompt.media_spec,
                                  "image" if m.kind == "image" else "frames")
                    for m in prompt.media]
        n_images = self._check_limits(prepared)
        content: list[dict[str, Any]] = []
        n_videos = sum(1 for m in prompt.media if m.kind == "video")
        estimate = max(1, (len(prompt.text) + len(prompt.system or "")) // 4)
        for i, (m, prep) in enumerate(zip(prompt.media, prepared, strict=True), start=1):
            if m.kind == "video":
                caption = frames_caption(prep.parts, i if n_videos > 1 else None)
                content.append({"type": "text", "text": caption})
                estimate += max(1, len(caption) // 4)
            for part in prep.parts:
                content.append({"type": "image", "source": {
                    "type": "base64", "media_type": part.mime_type,
                    "data": base64.b64encode(part.data).decode("ascii")}})
                if part.width and part.height:
                    estimate += image_tokens(part.width, part.height)
        content.append({"type": "text", "text": prompt.text})
        details: dict[str, Any] = {"images": n_images, "estimated_input_tokens": estimate}
        if prepared:
            details["media"] = media_record(prepared)
        return content, details

    async def _request(
        self, prompt: Prompt
    ) -> tuple[dict[str, Any], list[str], str | None, dict[str, Any]]:
        """The ``messages.create`` arguments, the candidate labels, the constraint kind and
        details; shared by ``predict`` and ``batch_request`` so both send the same request."""
        content, details = await self._content(prompt)
        o = prompt.options
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": o.max_tokens or self.options.max_tokens,
            "messages": [{"role": "user", "content": content}],
        }
        if prompt.system:
            kwargs["system"] = prompt.system
        sent: dict[str, Any] = {"max_tokens": kwargs["max_tokens"]}
        dropped: dict[str, str] = {}
        if o.temperature is not None:
            if self.sampling_accepted:
                # SDK 2.x has no temperature argument; older API versions take it.
                kwargs["extra_body"] = {"temperature": o.temperature}
                sent["temperature"] = o.temperature
            else:
                dropped["temperature"] = (f"anthropic-version {self.api_version} takes no "
                                          "sampling parameters; the model's default applies")
                self._warn("temperature", f"temperature={o.temperature} is not sent: "
                           f"{dropped['temperature']} (set api_version='2023-06-01' to send it)")
        if o.top_p is not None:
            dropped["top_p"] = "not sent (Claude's sampling parameters are not used)"
        if o.seed is not None:
            dropped["seed"] = "the Messages API takes no seed"
        if o.logprobs:
            dropped["logprobs"] = "the Messages API returns no log-probabilities"
            self._warn("logprobs", "Claude returns no log-probabilities; asking without them")
        output_config: dict[str, Any] = {}
        kind = None
        if prompt.constraint is not None:
            if self.capabilities.json_schema:
                kind = prompt.constraint.kind
                output_config["format"] = {"type": "json_schema",
                                           "schema": label_schema(prompt.constraint.labels)}
            else:
                dropped[f"constraint:{prompt.constraint.kind}"] = "supports_json_schema=false"
        if self.options.effort is not None:
            output_config["effort"] = self.options.effort
        if output_config:
            kwargs["output_config"] = output_config
        if self.options.thinking is not None:
            kwargs["thinking"] = {"type": self.options.thinking}
        details["sent"] = sent
        if dropped:
            details["dropped"] = sorted(dropped)
            details["dropped_why"] = dropped
        return kwargs, candidate_labels(prompt) or [], kind, details

    async def predict(self, prompt: Prompt) -> Response:
        """One Messages call; media is prepared in a worker thread first."""
        kwargs, labels, kind, details = await self._request(prompt)
        start = time.perf_counter()
        try:
            raw = await self._client.messages.create(**kwargs)
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc) from None
        except anthropic.APIConnectionError as exc:  # includes APITimeoutError
            raise transport_error(exc, predictor=self.name, where=self.base_url) from exc
        except (anthropic.APIResponseValidationError, ValidationError, ValueError) as exc:
            raise malformed_error(redact(f"{type(exc).__name__}: {str(exc)[:300]}",
                                         self._secret),
                                  predictor=self.name, where=self.base_url) from exc
        latency = time.perf_counter() - start
        details["request_id"] = getattr(raw, "_request_id", None)
        response = self._parse(raw, labels, kind, details)
        response.latency_s = latency
        response.cost_usd = self.cost_usd(response)
        return response

    def _status_error(self, exc: anthropic.APIStatusError) -> PredictorError:
        detail = redact(exc.api_message or exc.message, self._secret)
        rid = f" (request-id {exc.request_id})" if exc.request_id else ""
        retry_after = parse_retry_after(exc.response.headers)
        if exc.status_code == 529:
            return PredictorError(
                f"{self.name}: HTTP 529 overloaded_error from {self.base_url}: {detail}{rid} "
                "(the service is overloaded; the engine backs off and retries)",
                retryable=True, retry_after=retry_after, status=529, kind="overloaded")
        if exc.status_code == 404:
            return PredictorError(
                f"{self.name}: HTTP 404 not_found_error from {self.base_url}: {detail}{rid}. "
                f"The model id does not exist (or was retired); pick another with --model, "
                "e.g. anthropic/claude-sonnet-5-5 or anthropic/claude-haiku-5-5",
                retryable=False, status=404, kind="not_found")
        err = status_error(exc.status_code, detail + rid, predictor=self.name, key_env=KEY_ENV,
                           where=self.base_url, retry_after=retry_after)
        return err

    # ---------------------------------------------------------------- parsing

    def _parse(self, raw: Any, labels: list[str], kind: str | None,
               details: dict[str, Any]) -> Response:
        from anthropic.types import Message, TextBlock

        if not isinstance(raw, Message):
            raise malformed_error(f"expected a message, got {type(raw).__name__}",
                                  predictor=self.name, where=self.base_url)
        usage = _usage(raw.usage, details)
        details["reported_input_tokens"] = usage.input_tokens
        est = details.get("estimated_input_tokens")
        if est and usage.input_tokens:
            details["estimate_ratio"] = round(usage.input_tokens / est, 3)
        stop = raw.stop_reason
        details["stop_reason"] = stop
        finish = FINISH.get(stop or "", stop)
        common: dict[str, Any] = {"usage": usage, "model_version": raw.model,
                                  "finish_reason": finish, "details": details}
        # Thinking blocks are not the answer.
        texts = [b.text for b in raw.content if isinstance(b, TextBlock)]
        text = "".join(texts) if texts else None
        if stop == "refusal":
            sd = raw.stop_details
            reason = (getattr(sd, "explanation", None) or getattr(sd, "category", None)
                      or "refusal")
            if text:
                details["partial_text"] = text
            return Response(text=None, status="refused", reason=str(reason), **common)
        label = constrained_label(text, labels, kind) if kind else None
        if kind == "enum" and label is not None and text is not None:
            # The enum goes as a one-field JSON schema: unwrap it, so that an enum answer
            # is the label itself on every predictor.
            details["raw_text"] = text
            text = label
        return Response(text=text, label=label, **common)

    # ---------------------------------------------------------------- batch

    def batch_jobs(self) -> AnthropicJobs:
        """The Message Batches API through this predictor's client (same base_url and key)."""
        return AnthropicJobs(self.name, self._client, self.base_url, self._secret)

    async def batch_request(self, prompt: Prompt) -> tuple[dict[str, Any], dict[str, Any]]:
        """One batch request's ``params`` (exactly what ``predict`` sends, ``extra_body``
        merged in as the SDK does) and the JSON context its parsing needs."""
        kwargs, labels, kind, details = await self._request(prompt)
        body = {k: v for k, v in kwargs.items() if k != "extra_body"}
        body.update(kwargs.get("extra_body") or {})
        return body, {"labels": labels, "kind": kind, "details": details}

    def parse_batch_result(self, body: Any, context: dict[str, Any]) -> Response:
        """Parse one succeeded result's ``message`` exactly as ``predict`` parses an answer;
        marked ``details["batch"]`` and priced at the batch rate."""
        from anthropic.types import Message

        if isinstance(body, dict):
            try:
                body = Message.model_validate(body)
            except ValidationError as exc:
                raise malformed_error(f"a batch result is not a message ({exc.error_count()} "
                                      "problems)", predictor=self.name,
                                      where=self.base_url) from None
        details = {**context.get("details", {}), "batch": True}
        response = self._parse(body, list(context.get("labels") or []), context.get("kind"),
                               details)
        response.cost_usd = self.cost_usd(response)
        return response


def _usage(usage: Any, details: dict[str, Any]) -> Usage:
    """vlmfer's usage: input includes cache reads and writes (Anthropic reports them apart),
    output excludes thinking (reported inside output_tokens)."""
    cache_read = usage.cache_read_input_tokens or 0
    cache_write = usage.cache_creation_input_tokens or 0
    if cache_write:
        details["cache_creation_input_tokens"] = cache_write
    thinking = 0
    otd = getattr(usage, "output_tokens_details", None)
    if otd is not None:
        thinking = otd.thinking_tokens or 0
    if getattr(usage, "service_tier", None):
        details["service_tier"] = usage.service_tier
    return Usage(
        input_tokens=usage.input_tokens + cache_read + cache_write,
        output_tokens=max(0, usage.output_tokens - thinking),
        thinking_tokens=thinking,
        cached_input_tokens=cache_read,
    )
