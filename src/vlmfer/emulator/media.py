"""Media checks and token arithmetic for the emulator (Pillow and PyAV load lazily)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

_DATA_URL_RE = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?((?:;[\w-]+=[^;,]*)*)(;base64)?,(.*)$", re.S)
_B64_RE = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")

GEMINI_IMAGE_MIME = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
GEMINI_VIDEO_MIME = (
    "video/mp4", "video/mpeg", "video/mov", "video/avi", "video/x-flv", "video/mpg",
    "video/webm", "video/wmv", "video/3gpp",
)
GEMINI_AUDIO_MIME = (
    "audio/wav", "audio/mp3", "audio/aiff", "audio/aac", "audio/ogg", "audio/flac", "audio/mpeg",
)
GEMINI_OTHER_MIME = ("application/pdf", "text/plain")
OPENAI_IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")


@dataclass
class MediaInfo:
    """One media part as the emulator saw it (what the request log records)."""

    kind: str  # image | video | audio | other
    mime_type: str
    bytes: int
    sha256: str
    source: str = "inline"  # inline | file
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    detail: str | None = None
    frames: int | None = None
    fps: float | None = None
    tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def unread(cls, kind: str, mime_type: str, part: Any) -> MediaInfo:
        """A part the emulator accepts without reading it (audio, a file, a document):
        recorded by the size and hash of its JSON."""
        raw = json.dumps(part).encode()
        return cls(kind=kind, mime_type=mime_type, bytes=len(raw), sha256=sha256(raw))

    def as_log(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "mime_type": self.mime_type, "bytes": self.bytes,
            "sha256": self.sha256, "source": self.source,
        }
        for key in ("width", "height", "duration_s", "detail", "frames", "fps"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["tokens"] = self.tokens
        return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def kind_of(mime: str) -> str:
    top = mime.split("/", 1)[0].lower()
    return top if top in ("image", "video", "audio") else "other"


def decode_base64(text: str) -> bytes:
    """Decode standard or URL-safe base64; raise ValueError when it is not base64."""
    s = re.sub(r"\s+", "", text)
    if not s or not _B64_RE.match(s):
        raise ValueError("not base64")
    s = s.replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"invalid base64: {e}") from e


def decode_data_url(url: str) -> tuple[str, bytes]:
    """Split a ``data:<mime>;base64,<payload>`` URL into MIME type and bytes."""
    m = _DATA_URL_RE.match(url)
    if not m or not m.group(3):
        raise ValueError("not a base64 data URL")
    return (m.group(1) or "application/octet-stream").lower(), decode_base64(m.group(4))


def inspect_image(data: bytes) -> tuple[int, int, str]:
    """(width, height, format) of a decodable image; ValueError otherwise."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            size, fmt = im.size, im.format or "?"
            im.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"image data cannot be decoded ({type(e).__name__})") from e
    return size[0], size[1], fmt


def probe_video(data: bytes) -> float:
    """Duration in seconds of a decodable video; ValueError otherwise."""
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            if container.duration:
                return float(container.duration) / 1_000_000.0
            stream = container.streams.video[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
            n = sum(1 for _ in container.demux(stream) if True)
            rate = float(stream.average_rate or 25)
            return n / rate
    except (av.error.FFmpegError, IndexError, ValueError, OSError) as e:
        raise ValueError(f"video data cannot be decoded ({type(e).__name__})") from e


def text_tokens(text: str) -> int:
    """About four characters per token."""
    return math.ceil(len(text) / 4) if text else 0


def openai_image_tokens(width: int | None, height: int | None, detail: str, model: str) -> int:
    """The published tile arithmetic: 85 at low detail, 170 per 512 px tile + 85 otherwise."""
    base, tile = (2833, 5667) if "4o-mini" in model else (85, 170)
    if detail == "low" or not width or not height:
        return base
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        s = 2048 / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > 768:
        s = 768 / min(w, h)
        w, h = w * s, h * s
    return base + tile * math.ceil(w / 512) * math.ceil(h / 512)


def gemini_image_tokens(width: int | None, height: int | None) -> int:
    """258 when both sides are at most 384 px, else 258 per 768 px tile."""
    if not width or not height or (width <= 384 and height <= 384):
        return 258
    return 258 * math.ceil(width / 768) * math.ceil(height / 768)


def gemini_video_tokens(duration_s: float, fps: float, low: bool) -> tuple[int, int]:
    """(tokens, sampled frames): 258 (66 at low resolution) per frame plus 32/s of audio."""
    frames = max(1, round(duration_s * fps))
    per_frame = 66 if low else 258
    return frames * per_frame + math.ceil(32 * duration_s), frames


def parse_offset(value: Any) -> float | None:
    """A Duration such as ``"1.5s"`` (or a number of seconds)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    s = str(value).strip()
    if s.endswith("s"):
        s = s[:-1]
    try:
        return float(s)
    except ValueError as e:
        raise ValueError(f"invalid duration {value!r}; use a string such as '1.5s'") from e


def redact_payloads(obj: Any) -> Any:
    """A copy of a JSON value with data URLs and base64 payloads replaced by hash and size."""
    if isinstance(obj, dict):
        return {k: redact_payloads(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_payloads(v) for v in obj]
    if isinstance(obj, str):
        if obj.startswith("data:") and ";base64," in obj[:200]:
            try:
                mime, data = decode_data_url(obj)
            except ValueError:
                return {"sha256": sha256(obj.encode()), "bytes": len(obj), "undecodable": True}
            return {"sha256": sha256(data), "bytes": len(data), "mime_type": mime}
        if len(obj) >= 128 and _B64_RE.match(obj):
            try:
                data = decode_base64(obj)
            except ValueError:
                return obj
            return {"sha256": sha256(data), "bytes": len(data)}
    return obj
