"""The media layer: from a ``Media`` file to the bytes a model sees.

``prepare_media`` is the entry point; predictors call it from worker threads.
Importing this package loads neither PyAV, OpenCV nor Pillow: they load when
media is prepared.

    from vlmfer.media import prepare_media
    prepared = prepare_media(sample.media, MediaSpec(frames="uniform:8"), as_="frames")
    [(p.frame_index, p.time_s) for p in prepared.parts]
"""

from __future__ import annotations

import warnings
from typing import Any

from vlmfer.media.models import MediaPart, NoFaceError, PreparedMedia, VideoInfo
from vlmfer.media.prepare import check_media_spec, prepare_inline, prepare_media
from vlmfer.media.sampling import FrameSpec, parse_frame_spec
from vlmfer.media.video import VIDEO_MIME, media_cache_dir, probe_video
from vlmfer.types import MediaSpec

__all__ = [
    "VIDEO_MIME",
    "FrameSpec",
    "MediaPart",
    "MediaSpec",
    "NoFaceError",
    "PreparedMedia",
    "VideoInfo",
    "check_media_spec",
    "media_cache_dir",
    "parse_frame_spec",
    "prepare_inline",
    "prepare_media",
    "probe_video",
]


def __getattr__(name: str) -> Any:
    if name == "cache_dir":  # one cache_dir() now: vlmfer.paths; this was its media/ subfolder
        warnings.warn("vlmfer.media.cache_dir is deprecated; use vlmfer.media.media_cache_dir",
                      DeprecationWarning, stacklevel=2)
        return media_cache_dir
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
