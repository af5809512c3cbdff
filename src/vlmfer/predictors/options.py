"""Options of the built-in predictors.

These models import no SDK, so an unknown or misspelt option fails with a
``ConfigError`` before anything heavy loads (and before any key is looked up).
Keys are ``SecretStr``: they never appear in ``repr``, logs or manifests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from vlmfer.errors import ConfigError, close_match


class PredictorOptions(BaseModel):
    """Base of every predictor's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    #: A TOML or JSON price table that overrides the built-in one (see pricing.py).
    price_file: Path | None = None

    def public(self) -> dict[str, Any]:
        """The options for a manifest: JSON-able, and without the key."""
        data = self.model_dump(mode="json", exclude={"api_key"})
        return {k: v for k, v in data.items() if v is not None}


class OpenAIOptions(PredictorOptions):
    """Options of ``openai/<model>`` (the OpenAI API or an OpenAI-compatible server)."""

    base_url: str | None = None
    api_key: SecretStr | None = None
    api: Literal["chat", "responses"] = "chat"
    detail: Literal["low", "high", "auto", "original"] = "auto"
    #: None: 60 s, or 600 s on a local server (a CPU or a busy GPU can take minutes).
    timeout_s: float | None = Field(default=None, gt=0)
    #: Whether ``base_url`` is a local server (None: decided from its host; see
    #: docs/local-servers.md). A local server gets the timeout above, at most
    #: ``max_concurrent_requests`` requests at once, and no retry of timeouts.
    local: bool | None = None
    #: Requests in flight at once from this predictor (None: 2 on a local server, else
    #: no cap beyond the run's concurrency).
    max_concurrent_requests: int | None = Field(default=None, ge=1, le=4096)
    #: Retry a request that timed out (None: not on a local server, whose abandoned
    #: generation keeps running and delays every later request).
    retry_timeouts: bool | None = None
    #: Check a compatible server before the run (GET /models, and one tiny request per
    #: feature the strategy needs). None: for every base_url but the official API.
    probe: bool | None = None
    max_images: int = Field(default=250, ge=1, le=250)
    #: ``auto``: ``max_completion_tokens`` on api.openai.com, ``max_tokens`` elsewhere.
    max_tokens_param: Literal["auto", "max_tokens", "max_completion_tokens"] = "auto"
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    #: Vendor extras for compatible servers (e.g. vLLM's guided decoding).
    extra_body: dict[str, Any] | None = None
    # Capability overrides for servers that lack a feature (None: assume supported).
    supports_detail: bool | None = None
    supports_json_schema: bool | None = None
    supports_logprobs: bool | None = None
    supports_enum: bool | None = None
    supports_video_frames: bool | None = None
    #: None: sent, except to reasoning models on api.openai.com (they take only the default).
    supports_temperature: bool | None = None


class GeminiOptions(PredictorOptions):
    """Options of ``gemini/<model>`` (the Gemini Developer API through google-genai)."""

    base_url: str | None = None
    api_key: SecretStr | None = None
    #: Pinned: the SDK's own default moved from v1beta to v1.
    api_version: str = "v1beta"
    timeout_s: float = Field(default=120.0, gt=0)
    media_resolution: Literal["low", "medium", "high"] | None = None
    #: ``auto`` follows the prompt's MediaSpec.video_mode; there, ``auto`` means native.
    video_mode: Literal["auto", "native", "frames"] = "auto"
    #: Requests whose inline parts (base64 included) exceed this go through the Files API.
    inline_limit_bytes: int = Field(default=20_000_000, ge=1)
    upload_poll_s: float = Field(default=1.0, gt=0)
    upload_timeout_s: float = Field(default=300.0, gt=0)
    #: ``{"HARM_CATEGORY_HARASSMENT": "BLOCK_NONE", ...}``
    safety_settings: dict[str, str] | None = None
    thinking_budget: int | None = Field(default=None, ge=-1)
    thinking_level: Literal["minimal", "low", "medium", "high"] | None = None
    #: None follows MediaSpec.transcode; True sends AVI and others as MP4.
    transcode: bool | None = None
    video_fps: float | None = Field(default=None, gt=0, le=24)
    video_start_s: float | None = Field(default=None, ge=0)
    video_end_s: float | None = Field(default=None, gt=0)
    max_images: int = Field(default=3000, ge=1)
    supports_logprobs: bool | None = None


class MockOptions(PredictorOptions):
    """Options of ``mock/<policy>``.

    The mock is offline, so it knows the gold label only if told: ``gold`` maps
    a media SHA-256 (or path) to its label, ``gold_file`` is a JSON mapping or a
    CSV ``path,label`` manifest, and ``gold_from_folder`` reads the label from
    the parent folder name (true of every built-in dataset layout).
    """

    labels: list[str] | None = None
    gold: dict[str, str] | None = None
    gold_file: Path | None = None
    gold_from_folder: bool = True
    seed: int = 0
    #: Probability of Neutral under ``neutral-biased``.
    neutral_rate: float = Field(default=0.6, ge=0.0, le=1.0)


OptionsT = TypeVar("OptionsT", bound=PredictorOptions)


def parse_options(cls: type[OptionsT], provider: str, options: dict[str, Any]) -> OptionsT:
    """Validate options, turning pydantic's error into one that lists the valid names.

    A plugin predictor gets the same messages by calling it with its own model::

        opts = parse_options(ProxyOptions, "myproxy", options)
    """
    valid = sorted(cls.model_fields)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        hints = [f"{u!r} (did you mean {c!r}?)" if (c := close_match(u, valid)) else repr(u)
                 for u in unknown]
        raise ConfigError(
            f"unknown option(s) {', '.join(hints)} for {provider} predictors. "
            f"Valid options: {', '.join(valid)}"
        )
    try:
        return cls(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid option for {provider} predictors: {problems}") from None
