"""Small JPEG thumbnails of sample media, for the report's confusion gallery.

Everything here is best effort: a missing, unreadable or odd file gives None
and the report shows a placeholder. A thumbnail never stops a report.
"""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path
from typing import Any

from vlmfer.types import guess_kind

log = logging.getLogger("vlmfer")

#: The longest side of a thumbnail, in pixels.
THUMB_SIDE = 160
# Decoding stops after this many frames past the seek point, so a broken
# index cannot make one thumbnail decode a whole film.
_MAX_DECODE = 240


def media_path(root: str | Path | None, sample_id: str) -> Path | None:
    """The file of ``sample_id`` under the dataset ``root``, or None.

    Sample ids are relative paths. An id that would leave the root (``..``, an
    absolute path) gives None, so a crafted predictions file cannot make the
    report embed arbitrary files.
    """
    if not root:
        return None
    base = Path(root).resolve()
    try:
        path = (base / sample_id).resolve()
    except (OSError, ValueError):
        return None
    if not path.is_relative_to(base):
        return None
    return path


def _to_jpeg(image: Any, side: int) -> bytes:
    img = image.convert("RGB")
    img.thumbnail((side, side))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def _image_thumb(path: Path, side: int) -> bytes:
    from PIL import Image

    with Image.open(path) as img:
        img.seek(0)  # the first frame of an animated image
        # A JPEG then decodes at 1/2, 1/4 or 1/8 scale, as long as both sides stay at least
        # ``side``: 2 ms instead of 5 for a 712x400 still (no-op for other formats).
        img.draft("RGB", (side, side))
        return _to_jpeg(img, side)


def _video_thumb(path: Path, side: int) -> bytes | None:
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        target = None
        if stream.duration and stream.time_base:
            target = stream.start_time or 0
            target += stream.duration // 2
        elif container.duration:  # in microseconds (av.time_base)
            target = None if stream.time_base is None else int(
                container.duration / 2 / 1_000_000 / stream.time_base
            )
        frame = None
        if target:
            container.seek(target, stream=stream)  # lands on the keyframe before target
        for i, f in enumerate(container.decode(stream)):
            frame = f
            if target is None or f.pts is None or f.pts >= target or i >= _MAX_DECODE:
                break
        if frame is None:
            return None
        return _to_jpeg(frame.to_image(), side)


def thumbnail_jpeg(path: Path, *, side: int = THUMB_SIDE) -> bytes | None:
    """A small JPEG of an image, or of a video's middle frame; None when unreadable."""
    try:
        if not path.is_file():
            return None
        kind = guess_kind(path)
        if kind == "image":
            return _image_thumb(path, side)
        if kind == "video":
            return _video_thumb(path, side)
    except Exception as e:  # any decoder failure just means "no thumbnail"
        log.debug("no thumbnail for %s: %s: %s", path, type(e).__name__, e)
    return None


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` for embedding in HTML."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
