"""Emulator configuration: pydantic models that reject unknown keys."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

POLICY_HELP = (
    "valid policies: 'neutral-biased', 'oracle', 'fixed:<Label>', 'confusion:<path.json>', "
    "'refuse', 'block'"
)


#: The dated snapshot an alias answers as (OpenAI's ``model``, Gemini's ``modelVersion``), as the
#: real services reported in 2026; any other name answers as itself.
DEFAULT_SNAPSHOTS: dict[str, str] = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-5.2": "gpt-5.2-2025-12-11",
    "gemini-2.0-flash": "gemini-2.0-flash-001",
}


class FaultRates(BaseModel):
    """Probability per inference request of each injected fault.

    The kinds are mutually exclusive, so the rates must sum to at most 1. Which
    request gets which fault is decided by a RNG seeded from the config seed, the
    request's content and how many times that content was seen before, so a run
    is reproducible and a retried request gets a fresh draw.
    """

    model_config = ConfigDict(extra="forbid")

    http_429: float = Field(default=0.0, ge=0.0, le=1.0, description="429 with Retry-After")
    http_500: float = Field(default=0.0, ge=0.0, le=1.0, description="500 internal error")
    timeout: float = Field(
        default=0.0, ge=0.0, le=1.0, description="hold the connection, then close it unanswered"
    )
    malformed: float = Field(default=0.0, ge=0.0, le=1.0, description="200 with truncated JSON")
    block: float = Field(default=0.0, ge=0.0, le=1.0, description="a safety block")
    http_529: float = Field(
        default=0.0, ge=0.0, le=1.0,
        description="529 overloaded (Anthropic's overloaded_error; the other APIs answer 500)",
    )

    @model_validator(mode="after")
    def _sum_at_most_one(self) -> FaultRates:
        total = (self.http_429 + self.http_500 + self.timeout + self.malformed + self.block
                 + self.http_529)
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"fault rates sum to {total:.3f}; they are exclusive outcomes of one draw, "
                "so their sum must be at most 1"
            )
        return self


class EmulatorConfig(BaseModel):
    """How the loopback emulator behaves. Every field can be changed between tests."""

    model_config = ConfigDict(extra="forbid")

    latency: float = Field(default=0.0, ge=0.0, description="seconds each inference call sleeps")
    policy: str = Field(default="neutral-biased", description=POLICY_HELP)
    neutral_rate: float = Field(
        default=0.6, ge=0.0, le=1.0, description="P(Neutral) under the neutral-biased policy"
    )
    seed: int = 0
    faults: FaultRates = Field(default_factory=FaultRates)
    rpm: int | None = Field(default=None, ge=1, description="requests per minute, per model")
    tpm: int | None = Field(default=None, ge=1, description="input tokens per minute, per model")
    rate_window_s: float = Field(
        default=60.0, gt=0.0,
        description="the sliding window of rpm/tpm; shorter only to test limits in scaled time",
    )
    logprobs: bool = Field(
        default=True, description="False: OpenAI omits logprobs, Gemini rejects responseLogprobs"
    )
    log_path: Path | None = None
    oracle: dict[str, str] = Field(
        default_factory=dict, description="sha256 of media bytes -> gold label"
    )
    api_key: str | None = Field(default=None, repr=False)
    snapshots: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_SNAPSHOTS),
        description="model name -> the snapshot its answers report; change it to move an alias",
    )

    timeout_s: float = Field(default=30.0, ge=0.0, description="how long a timeout fault holds")
    retry_after_s: float = Field(default=1.0, ge=0.0, description="Retry-After of a 429 fault")
    missing_models: list[str] = Field(default_factory=list)
    logprobs_unsupported_models: list[str] = Field(default_factory=lambda: ["no-logprobs"])
    reasoning_models: list[str] = Field(
        default_factory=list,
        description="OpenAI model-name substrings that reject temperature != 1, logprobs and "
        "max_tokens, as reasoning models do",
    )
    max_images: int = Field(default=250, ge=1, description="OpenAI images per request")
    max_inline_bytes: int = Field(default=20 * 1024 * 1024, ge=1, description="Gemini request")
    max_videos: int = Field(default=10, ge=1, description="Gemini videos per request")
    max_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    thoughts_tokens: int = Field(default=0, ge=0, description="thinking tokens per answer")
    strict_media: bool = Field(default=True, description="decode images (Pillow), videos (PyAV)")
    strict_fields: bool = Field(
        default=False, description="reject unknown top-level request fields as the cloud APIs do"
    )

    file_processing_polls: int = Field(
        default=1, ge=0, description="GETs a Gemini upload reports PROCESSING before ACTIVE"
    )
    file_processing_s: float = Field(default=0.0, ge=0.0)
    batch_latency_s: float = Field(
        default=0.0, ge=0.0, description="a batch completes on the first GET after this delay"
    )
    batch_outcome: Literal["completed", "failed", "expired"] = "completed"
    download_latency_s: float = Field(
        default=0.0, ge=0.0, description="seconds a file content download takes (batch results)"
    )
    batch_max_requests: int = Field(default=50_000, ge=1, description="OpenAI requests per batch")
    batch_max_bytes: int = Field(
        default=200 * 1024 * 1024, ge=1, description="OpenAI batch input file bytes"
    )
    # Anthropic's limits (platform.claude.com docs: vision "General limits", API overview
    # "request size limits", batch processing "Batch limitations"; read 2026-12-02).
    anthropic_max_images: int = Field(
        default=100, ge=1, description="Anthropic images per request (200k-context models)"
    )
    anthropic_max_image_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1, description="Anthropic bytes per image (decoded)"
    )
    anthropic_max_image_side: int = Field(default=8000, ge=1, description="pixels per side")
    anthropic_many_images_side: int = Field(
        default=2000, ge=1, description="pixels per side when a request has over 20 images"
    )
    anthropic_max_request_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1, description="Anthropic Messages request body"
    )
    anthropic_batch_max_requests: int = Field(
        default=100_000, ge=1, description="Anthropic requests per Message Batch"
    )
    anthropic_batch_max_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1, description="Anthropic Message Batch body"
    )

    @field_validator("policy")
    @classmethod
    def _check_policy(cls, v: str) -> str:
        if v in ("neutral-biased", "oracle", "refuse", "block"):
            return v
        if v.startswith("fixed:") and v[len("fixed:") :].strip():
            return v
        if v.startswith("confusion:") and v[len("confusion:") :].strip():
            path = Path(v[len("confusion:") :])
            if not path.is_file():
                raise ValueError(
                    f"confusion matrix file {str(path)!r} does not exist; give the path of a "
                    "JSON file {'labels': [...], 'matrix': [[...]]}"
                )
            from vlmfer.emulator.policy import load_confusion

            load_confusion(path)  # a bad matrix fails here, with its reason
            return v
        raise ValueError(f"unknown emulator policy {v!r}; {POLICY_HELP}")
