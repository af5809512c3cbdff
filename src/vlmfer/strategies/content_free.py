"""Content-free inputs for contextual calibration: images or clips with the same size
(and, for a clip, the same frame rate and frame count) as a sample, that show nothing.

Four fills are available, in the spirit of Zhao et al. (2021), who averaged the prior
over several content-free strings ("N/A", "" and "[MASK]") because one is a noisy
estimate: flat ``grey`` (128), ``black`` (0) and ``white`` (255), and ``noise``
(uniform RGB noise whose bytes come from SHAKE-256 of a fixed text, so they are the same
on every machine and every version; a clip gets fresh noise in every frame).

The files are written once under ``<cache dir>/content-free/`` and reused, so their
content hash, and with it the engine's response cache, is shared by every sample of
the same shape. The cache dir is ``$VLMFER_CACHE_DIR`` or the platform's user cache
folder for "vlmfer".
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Literal, get_args

from vlmfer.errors import MediaError
from vlmfer.paths import cache_dir
from vlmfer.types import Media

#: Mid-grey, in 8-bit RGB.
GREY = 128

Fill = Literal["grey", "black", "white", "noise"]
#: Every content-free fill, in the order they are asked.
FILLS: tuple[Fill, ...] = get_args(Fill)
_LEVEL = {"grey": GREY, "black": 0, "white": 255}

_lock = threading.Lock()


def content_free_media(media: Media, fill: Fill = "grey") -> Media:
    """A content-free stand-in for ``media`` (same shape, ``fill``), created on first use."""
    if fill not in FILLS:
        raise ValueError(f"unknown content-free fill {fill!r}; choose from {list(FILLS)}")
    folder = cache_dir() / "content-free"
    if media.kind == "image":
        width, height = _image_size(media.path)
        path = folder / f"{fill}-{width}x{height}.png"
        _create_once(path, lambda tmp: _write_png(tmp, width, height, fill))
    else:
        width, height, rate, frames = _video_shape(media.path)
        suffix = ".avi" if media.path.suffix.lower() == ".avi" else ".mp4"
        fps = str(rate.numerator)
        if rate.denominator != 1:
            fps += f"_{rate.denominator}"
        # The grey clip keeps its first name, so caches written before the other fills hit.
        stem = "blank" if fill == "grey" else f"{fill}-clip"
        path = folder / f"{stem}-{width}x{height}-{fps}fps-{frames}f{suffix}"
        _create_once(path, lambda tmp: _write_clip(tmp, width, height, rate, frames, fill))
    return Media.from_path(path)


def _pixels(width: int, height: int, fill: Fill, frame: int = 0) -> bytes:
    """RGB bytes of one ``width`` × ``height`` picture of ``fill``."""
    n = width * height * 3
    if fill == "noise":
        seed = f"vlmfer content-free noise {width}x{height} frame {frame}".encode()
        return hashlib.shake_256(seed).digest(n)
    return bytes([_LEVEL[fill]]) * n


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


def _write_png(path: Path, width: int, height: int, fill: Fill) -> None:
    from PIL import Image

    Image.frombytes("RGB", (width, height), _pixels(width, height, fill)).save(
        path, format="PNG"
    )


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


def _write_clip(
    path: Path, width: int, height: int, rate: Fraction, frames: int, fill: Fill
) -> None:
    import av
    import numpy as np

    # yuv420p needs even sizes; a 1-pixel difference does not change a content-free clip.
    w, h = width + width % 2, height + height % 2
    with av.open(str(path), mode="w", options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        stream.thread_count = 1
        for i in range(frames):
            rgb = np.frombuffer(_pixels(w, h, fill, i if fill == "noise" else 0), np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb.reshape(h, w, 3), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
