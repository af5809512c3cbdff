"""The media layer's data types: what a predictor receives and what gets recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from vlmfer.errors import MediaError
from vlmfer.types import Record


class MediaPart(Record):
    """One encoded piece of media a model sees: an image, a sampled frame, or a clip."""

    data: bytes
    mime_type: str
    kind: Literal["image", "video"]
    width: int | None = None
    height: int | None = None
    frame_index: int | None = None
    time_s: float | None = None
    #: x0, y0, x1, y1 in source pixels (x1, y1 exclusive).
    crop_box: tuple[int, int, int, int] | None = None


class PreparedMedia(Record):
    """The parts made from one media file, and a JSON-able account of how.

    ``record`` says what the model saw: frame indices and timestamps, crop
    boxes, resize, encoding, whether the clip was transcoded, probe info.
    """

    source: Path
    parts: list[MediaPart]
    record: dict[str, Any]


class VideoInfo(Record):
    """What PyAV measured about a video file (nothing is assumed about CAER)."""

    duration_s: float
    fps: float
    frame_count: int
    width: int
    height: int
    codec: str
    has_audio: bool
    audio_codec: str | None = None
    container: str | None = None


class NoFaceError(MediaError):
    """Face cropping found no face and the ``no_face`` policy is ``skip``."""

    def __init__(self, path: Path | str, detail: str = "") -> None:
        where = f" {detail}" if detail else ""
        super().__init__(
            path,
            f"no face was found{where} and the no-face policy is 'skip'. Set "
            "media no_face='full-frame' to send the whole frame instead, or turn "
            "face_crop off",
        )
