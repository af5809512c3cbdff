"""Content-free inputs for contextual calibration: a mid-grey image or a blank clip
with the same size (and, for a clip, the same frame rate and frame count) as a sample.

The files are written once under ``<cache dir>/content-free/`` and reused, so their
content hash, and with it the engine's response cache, is shared by every sample of
the same shape. The cache dir is ``$VLMFER_CACHE_DIR`` or the platform's user cache
folder for "vlmfer".
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from vlmfer.errors import MediaError
from vlmfer.types import Media

#: Mid-grey, in 8-bit RGB.
GREY = 128

_lock = threading.Lock()


def cache_dir() -> Path:
    """``$VLMFER_CACHE_DIR``, else the user cache folder for "vlmfer"."""
    env = os.environ.get("VLMFER_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("vlmfer"))


def content_free_media(media: Media) -> Media:
    """A content-free stand-in for ``media`` (same shape), created on first use."""
    folder = cache_dir() / "content-free"
    if media.kind == "image":
        width, height = _image_size(media.path)
        path = folder / f"grey-{width}x{height}.png"
        _create_once(path, lambda tmp: _write_grey_png(tmp, width, height))
    else:
        width, height, rate, frames = _video_shape(media.path)
        suffix = ".avi" if media.path.suffix.lower() == ".avi" else ".mp4"
        fps = str(rate.numerator)
        if rate.denominator != 1:
            fps += f"_{rate.denominator}"
        path = folder / f"blank-{width}x{height}-{fps}fps-{frames}f{suffix}"
        _create_once(path, lambda tmp: _write_blank_clip(tmp, width, height, rate, frames))
    return Media.from_path(path)


def _create_once(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` unless it exists; safe against concurrent writers."""
    if path.exists():
        return
    with _lock:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            write(tmp)
            tmp.chmod(0o644)
            try:
                # A hard link never replaces a file another process wrote first.
                os.link(tmp, path)
            except FileExistsError:
                pass
            except OSError:
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise MediaError(path, f"cannot read the image size for a content-free input: {e}") from e


def _write_grey_png(path: Path, width: int, height: int) -> None:
    from PIL import Image

    Image.new("RGB", (width, height), (GREY, GREY, GREY)).save(path, format="PNG")


def _video_shape(path: Path) -> tuple[int, int, Fraction, int]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(path, "no video stream")
            stream = container.streams.video[0]
            width, height = int(stream.width), int(stream.height)
            rate = Fraction(stream.average_rate or stream.guessed_rate or 25)
            frames = int(stream.frames or 0)
            if frames <= 0 and stream.duration and stream.time_base:
                frames = round(float(stream.duration * stream.time_base) * rate)
            if frames <= 0:
                frames = sum(1 for _ in container.decode(stream))
    except av.FFmpegError as e:
        raise MediaError(path, f"cannot read the video shape for a content-free input: {e}") from e
    if frames <= 0 or width <= 0 or height <= 0:
        raise MediaError(path, f"video has no frames ({width}x{height}, {frames} frames)")
    return width, height, rate, frames


def _write_blank_clip(path: Path, width: int, height: int, rate: Fraction, frames: int) -> None:
    import av
    import numpy as np

    # yuv420p needs even sizes; a 1-pixel difference does not change a blank clip.
    w, h = width + width % 2, height + height % 2
    grey = np.full((h, w, 3), GREY, dtype=np.uint8)
    with av.open(str(path), mode="w", options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        stream.thread_count = 1
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(grey, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
