"""Core data types: what flows from disk to a number.

Every type is a pydantic v2 model that rejects unknown fields, so a typo in a
config or a JSONL row is an error rather than a silent default.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["ok", "invalid", "refused", "blocked", "error"]
#: Outcomes that are not an answer. They are never a label.
NON_ANSWERS: tuple[str, ...] = ("invalid", "refused", "blocked", "error")
OUTCOMES: tuple[str, ...] = ("ok", *NON_ANSWERS)

MediaKind = Literal["image", "video"]

# Python guesses video/x-msvideo for .avi; Gemini lists video/avi.
_MIME_OVERRIDES = {".avi": "video/avi", ".mkv": "video/x-matroska", ".webp": "image/webp"}
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v"})


class Record(BaseModel):
    """Base of every vlmfer data type: strict about unknown fields."""

    model_config = ConfigDict(extra="forbid")


def stable_hash(obj: Any) -> str:
    """SHA-256 of a canonical JSON rendering (sorted keys, no whitespace)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes: a still in one read of its exact size, a large file
    streamed through one reused buffer (``read(chunk)`` would allocate ``chunk`` bytes
    for every call, a cost that shows at thousands of stills)."""
    h = hashlib.sha256()
    with path.open("rb", buffering=0) as f:
        if os.fstat(f.fileno()).st_size <= chunk:
            h.update(f.readall())
            return h.hexdigest()
        buf = memoryview(bytearray(chunk))
        while n := f.readinto(buf):
            h.update(buf[:n])
    return h.hexdigest()


def guess_kind(path: Path) -> MediaKind | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def guess_mime(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _MIME_OVERRIDES:
        return _MIME_OVERRIDES[suffix]
    mime, _ = mimetypes.guess_type(path.name)
    return mime or "application/octet-stream"


class Media(Record):
    """An image or a video file on disk.

    ``sha256`` is filled lazily (``with_hash``) so that listing a dataset never
    reads file contents; the engine hashes in a worker thread.
    """

    path: Path
    kind: MediaKind
    mime_type: str
    sha256: str | None = None

    @classmethod
    def from_path(cls, path: Path | str, *, kind: MediaKind | None = None) -> Media:
        p = Path(path)
        k = kind or guess_kind(p)
        if k is None:
            raise ValueError(
                f"{p}: cannot tell whether this is an image or a video from its suffix "
                f"{p.suffix!r}; use one of {sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES)}"
            )
        return cls(path=p, kind=k, mime_type=guess_mime(p))

    def with_hash(self) -> Media:
        if self.sha256 is not None:
            return self
        return self.model_copy(update={"sha256": file_sha256(self.path)})


class Sample(Record):
    """One dataset item. ``id`` is stable across machines (a relative path)."""

    id: str
    media: Media
    label: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    #: Samples of one group are not independent (stills cut from one clip): bootstrap
    #: intervals and paired tests resample whole groups. None: a group of its own.
    group: str | None = None


class MediaSpec(Record):
    """How media is turned into bytes for a model. Part of the cache key.

    ``frames`` is a frame-sampling spec (``uniform:8``, ``fps:2``, ``middle``,
    ``all``, optionally ``@start-end`` seconds). ``video_mode`` chooses between
    passing the clip natively (Gemini) and sending sampled frames as images.
    """

    frames: str = "uniform:8"
    video_mode: Literal["auto", "native", "frames"] = "auto"
    max_side: int | None = 768
    image_format: Literal["jpeg", "png"] = "jpeg"
    quality: int = Field(default=90, ge=1, le=100)
    max_pixels: int = 50_000_000
    face_crop: bool = False
    face_margin: float = Field(default=0.25, ge=0.0, le=2.0)
    no_face: Literal["full-frame", "skip"] = "full-frame"
    transcode: bool = False
    drop_audio: bool = False
    #: "auto" sends a JPEG that needs no change (fits, upright, RGB, no metadata) as it is;
    #: "always" decodes and re-encodes every image.
    reencode: Literal["auto", "always"] = "auto"


class GenerationOptions(Record):
    temperature: float | None = 0.0
    max_tokens: int | None = None
    seed: int | None = 0
    top_p: float | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)


class ResponseConstraint(Record):
    """Ask the backend to restrict its answer (where it can)."""

    kind: Literal["enum", "json_schema"]
    labels: list[str]


class TemplateRef(Record):
    """Which prompt template produced a prompt: recorded in every step."""

    name: str
    version: str
    sha256: str


class Prompt(Record):
    """Everything a predictor receives for one call."""

    system: str | None = None
    text: str
    media: list[Media] = Field(default_factory=list)
    media_spec: MediaSpec = Field(default_factory=MediaSpec)
    options: GenerationOptions = Field(default_factory=GenerationOptions)
    constraint: ResponseConstraint | None = None
    template: TemplateRef | None = None
    label_order: list[str] | None = None

    def key_material(self) -> dict[str, Any]:
        """What the model sees and is asked, with media by content hash.

        Not the file's path (a moved file still hits) nor ``template``, which only
        records where the text came from.
        """
        media = []
        for m in self.media:
            if m.sha256 is None:
                raise ValueError(f"{m.path}: media must be hashed (Media.with_hash) before keying")
            media.append({"sha256": m.sha256, "kind": m.kind, "mime": m.mime_type})
        material: dict[str, Any] = {
            "system": self.system,
            "text": self.text,
            "media": media,
            "media_spec": self.media_spec.model_dump() if media else None,
            "options": self.options.model_dump(),
            "constraint": self.constraint.model_dump() if self.constraint else None,
        }
        # The candidates a backend scores (logprobs) and the mock answers from; absent
        # when None so that the keys of prompts without an order stay as they were.
        if self.label_order is not None:
            material["label_order"] = list(self.label_order)
        return material

    def hash(self) -> str:
        return stable_hash(self.key_material())


class Usage(Record):
    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    cached_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            thinking_tokens=self.thinking_tokens + other.thinking_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
        )


class Response(Record):
    """What one predictor call returned.

    ``status`` says whether the model answered at all: a refusal or a safety
    block carries no text that may be parsed into a label.
    """

    text: str | None
    status: Literal["ok", "refused", "blocked"] = "ok"
    reason: str | None = None
    #: Deprecated and unused: predictors leave it None, and strategies parse ``text``
    #: (one parser, ``vlmfer.parse_label``, for every predictor). Kept so that old
    #: cache entries and third-party code still load.
    label: str | None = None
    logprobs: dict[str, float] | None = None
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    model_version: str | None = None
    latency_s: float = 0.0
    cached: bool = False
    cost_usd: float | None = None
    #: The answer came from a simulator (vlmfer's emulator or a ``mock/`` predictor).
    simulated: bool = False
    details: dict[str, Any] = Field(default_factory=dict)


class LabelMatch(Record):
    """The result of ``parse_label``: a label, or None with the reason."""

    label: str | None
    how: str
    candidates: list[str] = Field(default_factory=list)


class Step(Record):
    """One predictor call made for a sample, exactly as it happened."""

    name: str
    model: str
    prompt_hash: str
    text_sent: str
    template: TemplateRef | None = None
    label_order: list[str] | None = None
    response_text: str | None = None
    status: Literal["ok", "refused", "blocked", "error"] = "ok"
    reason: str | None = None
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    cached: bool = False
    cost_usd: float | None = None
    attempts: int = 1
    parsed: LabelMatch | None = None
    #: The snapshot that answered, as the provider reported it (``model`` is what was asked).
    model_version: str | None = None
    #: The answer came from a simulator, not from a real model.
    simulated: bool = False
    details: dict[str, Any] = Field(default_factory=dict)


class Prediction(Record):
    """The result for one sample: a label, or an explicit non-answer outcome.

    One line of ``predictions.jsonl``. The engine builds it from the strategy's
    ``Verdict`` (``pred``, ``outcome``, ``reason``, ``scores``, ``extra``) and adds
    what only it knows: ``sample_id``, ``gold``, ``group``, the ``steps`` and their
    total ``cost_usd``.
    """

    sample_id: str
    gold: str | None
    pred: str | None
    outcome: Outcome
    reason: str | None = None
    steps: list[Step] = Field(default_factory=list)
    scores: dict[str, float] | None = None
    cost_usd: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    #: The sample's group (``Sample.group``), so metrics recompute from predictions alone.
    group: str | None = None

    def model_post_init(self, __context: Any) -> None:
        if self.outcome == "ok" and self.pred is None:
            raise ValueError(f"{self.sample_id}: outcome 'ok' needs a predicted label")
        if self.outcome != "ok" and self.pred is not None:
            raise ValueError(
                f"{self.sample_id}: a non-answer ({self.outcome}) must not carry a label "
                f"({self.pred!r})"
            )


class Capabilities(Record):
    """What a predictor can take and give. Checked before the first paid call."""

    image: bool = True
    video: bool = False
    video_as_frames: bool = True
    max_images: int = 250
    logprobs: bool = False
    enum_output: bool = False
    json_schema: bool = False

    def accepts(self) -> str:
        kinds = []
        if self.image:
            kinds.append("images")
        if self.video:
            kinds.append("video (native)")
        elif self.video_as_frames and self.image:
            kinds.append("video (as sampled frames)")
        return ", ".join(kinds) or "text only"
