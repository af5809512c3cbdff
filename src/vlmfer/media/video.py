"""Video with PyAV: probe, index, sparse decoding of sampled frames, MP4 transcoding.

Frames are found with one demux pass (packets only, nothing decoded), which
gives exact frame counts, presentation times and keyframes. Sampled frames are
then decoded from the nearest keyframe before each, skipping whole GOPs where
that pays, and only kept frames are converted to RGB.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmfer.errors import MediaError
from vlmfer.media.files import check_file, why
from vlmfer.media.models import VideoInfo
from vlmfer.media.sampling import FrameSpec
from vlmfer.paths import cache_dir
from vlmfer.types import stable_hash

if TYPE_CHECKING:
    from PIL import Image

#: libx264 settings of transcoded clips. A fixed thread count keeps the bytes
#: the same on machines with different core counts.
X264 = {"preset": "veryfast", "crf": "23", "threads": "1"}
#: Bump when the transcode recipe changes, so cached clips are remade.
TRANSCODE_VERSION = 1
#: How many earlier keyframes to try when a frame does not come out of a GOP.
_RETRIES = 2


@contextmanager
def open_video(path: Path) -> Iterator[tuple[Any, Any]]:
    """Open ``path`` and yield ``(container, video_stream)``, mapping failures to MediaError."""
    import av

    check_file(path)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"not a video file PyAV can read ({why(exc)})") from None
    except OSError as exc:
        raise MediaError(path, f"cannot open video: {why(exc)}") from None
    try:
        if not container.streams.video:
            kinds = sorted({str(s.type) for s in container.streams}) or ["none"]
            raise MediaError(path, f"has no video stream (streams: {', '.join(kinds)})")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            tag = getattr(stream, "codec_tag", None) or "unknown"
            raise MediaError(
                path,
                f"unsupported video codec (tag {tag!r}): this PyAV build has no decoder for "
                "it; convert the file to MP4/H.264 or MPEG-4",
            )
        yield container, stream
    finally:
        container.close()


@dataclass
class VideoIndex:
    """Every frame of the first video stream, found by demuxing (no decoding)."""

    info: VideoInfo
    #: Non-empty packets in decode order (kept only when asked for).
    packets: list[Any] = field(default_factory=list)
    #: Per frame in presentation order: its pts, time in seconds and packet index.
    pts: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    packet_of: list[int] = field(default_factory=list)
    #: Packet indices of keyframes, ascending.
    keyframes: list[int] = field(default_factory=list)


def build_index(path: Path, container: Any, stream: Any, *, keep_packets: bool) -> VideoIndex:
    import av

    entries: list[tuple[int, int, bool]] = []  # (pts, packet index, keyframe)
    packets: list[Any] = []
    total = 0
    try:
        for packet in container.demux(stream):
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None:
                continue  # the empty packet that ends the stream
            total += 1
            if packet.size == 0:
                continue  # a dropped frame (AVI) decodes to nothing
            entries.append((ts, len(entries), bool(packet.is_keyframe)))
            if keep_packets:
                packets.append(packet)
    except av.error.FFmpegError as exc:
        raise MediaError(
            path, f"corrupt video: reading failed after {total} packets ({why(exc)})"
        ) from None
    header = int(stream.frames or 0)
    if header and total < header:
        raise MediaError(
            path,
            f"truncated video: its header promises {header} frames but only {total} could be "
            "read; re-download or re-encode the file",
        )
    if not entries:
        raise MediaError(path, "the video stream holds no frames")
    tb = stream.time_base or Fraction(1, 1)
    ordered = sorted(entries)
    t0 = stream.start_time if stream.start_time is not None else ordered[0][0]
    times = [float((pts - t0) * tb) for pts, _, _ in ordered]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if stream.duration:
        duration = float(stream.duration * tb)
    elif container.duration:
        duration = container.duration / 1_000_000
    else:
        duration = 0.0
    if rate:
        fps = float(rate)
    elif times[-1] > 0:
        fps = (len(times) - 1) / times[-1]
    else:
        fps = 1.0
    duration = max(duration, times[-1] + 1 / fps)
    ctx = stream.codec_context
    audio = container.streams.audio
    info = VideoInfo(
        duration_s=round(duration, 6),
        fps=round(fps, 6),
        frame_count=len(ordered),
        width=int(ctx.width),
        height=int(ctx.height),
        codec=str(ctx.name),
        has_audio=bool(audio),
        audio_codec=(audio[0].codec_context.name if audio and audio[0].codec_context else None),
        container=str(container.format.name),
    )
    return VideoIndex(
        info=info,
        packets=packets,
        pts=[pts for pts, _, _ in ordered],
        times=[round(t, 6) for t in times],
        packet_of=[i for _, i, _ in ordered],
        keyframes=[i for _, i, key in entries if key] or [0],
    )


def probe_video(path: Path, *, quick: bool = False) -> VideoInfo:
    """Measure a video: duration, fps, frame count, size, codec and audio presence.

    Reads every packet (decoding nothing) to count frames exactly and to catch
    truncated files. ``quick=True`` trusts the container's header instead when
    it states a frame count and a duration (for estimates over many files).
    Raises ``MediaError`` for empty, corrupt, truncated or non-video files, and
    for codecs PyAV cannot decode.
    """
    path = Path(path)
    with open_video(path) as (container, stream):
        if quick and stream.frames and stream.duration and stream.time_base:
            rate = stream.average_rate or stream.guessed_rate
            duration = float(stream.duration * stream.time_base)
            ctx = stream.codec_context
            audio = container.streams.audio
            return VideoInfo(
                duration_s=round(duration, 6),
                fps=round(float(rate) if rate else stream.frames / duration, 6),
                frame_count=int(stream.frames),
                width=int(ctx.width),
                height=int(ctx.height),
                codec=str(ctx.name),
                has_audio=bool(audio),
                audio_codec=(
                    audio[0].codec_context.name if audio and audio[0].codec_context else None
                ),
                container=str(container.format.name),
            )
        return build_index(path, container, stream, keep_packets=False).info


@dataclass
class DecodedFrames:
    """Sampled frames in time order, with what it took to get them."""

    info: VideoInfo
    window: tuple[float, float]
    ranks: list[int]
    times: list[float]
    images: list[Image.Image]
    stats: dict[str, int]


def decode_frames(path: Path, fspec: FrameSpec, max_pixels: int) -> DecodedFrames:
    """Decode the frames ``fspec`` picks, converting only those to RGB images."""
    import av

    path = Path(path)
    with open_video(path) as (container, stream):
        index = build_index(path, container, stream, keep_packets=True)
        info = index.info
        if info.width * info.height > max_pixels:
            raise MediaError(
                path,
                f"{info.width}x{info.height} frames are over the pixel cap "
                f"max_pixels={max_pixels}; raise max_pixels in the media options if you "
                "trust this file",
            )
        window = fspec.window(info.duration_s)
        ranks = fspec.select(index.times, info.duration_s)
        if not ranks:
            raise MediaError(
                path,
                f"frame spec {str(fspec)!r} picks no frame: the window {window[0]:g}-"
                f"{window[1]:g} s holds none of the clip's {info.frame_count} frames "
                f"({info.duration_s:g} s)",
            )
        ctx = stream.codec_context
        ctx.thread_count = 1  # callers already run one decode per worker thread
        wanted = {index.pts[r] for r in ranks}
        got: dict[int, Image.Image] = {}
        packets = index.packets
        stats = {"packets_decoded": 0, "jumps": 0, "frames_converted": 0}
        pos = -1

        def feed_until(pts: int) -> bool:
            nonlocal pos
            while pts not in got:
                pos += 1
                if pos > len(packets):
                    return False
                frames = ctx.decode(packets[pos] if pos < len(packets) else None)
                stats["packets_decoded"] += pos < len(packets)
                for frame in frames:
                    if frame.pts in wanted and frame.pts not in got:
                        got[frame.pts] = frame.to_image()
                        stats["frames_converted"] += 1
            return True

        try:
            for rank in ranks:
                pts = index.pts[rank]
                k = bisect_right(index.keyframes, index.packet_of[rank]) - 1
                starts = index.keyframes[max(0, k - _RETRIES): k + 1][::-1]
                for attempt, start in enumerate(starts):
                    if attempt > 0 or pos + 1 < start:
                        # Jump over whole GOPs: cheaper than decoding them.
                        ctx.flush_buffers()
                        pos = start - 1
                        stats["jumps"] += 1
                    if feed_until(pts):
                        break
                if pts not in got:
                    raise MediaError(
                        path,
                        f"corrupt video: frame {rank} (t={index.times[rank]:.3f} s) could not "
                        "be decoded",
                    )
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"corrupt video: decoding failed ({why(exc)})") from None
        return DecodedFrames(
            info=info,
            window=window,
            ranks=ranks,
            times=[index.times[r] for r in ranks],
            images=[got[index.pts[r]] for r in ranks],
            stats=stats,
        )


# --- transcoding ---------------------------------------------------------

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def media_cache_dir() -> Path:
    """Where transcoded clips are kept: ``media/`` in ``vlmfer.paths.cache_dir()``."""
    return cache_dir() / "media"


def _even(n: int) -> int:
    return max(2, n - n % 2)


def transcode_key(sha256: str, window: tuple[float, float] | None, size: tuple[int, int],
                  drop_audio: bool) -> str:
    import av

    return stable_hash({
        "source": sha256, "window": window, "size": size, "drop_audio": drop_audio,
        "x264": X264, "version": TRANSCODE_VERSION, "av": av.__version__,
    })


def transcode_size(info: VideoInfo, max_side: int | None) -> tuple[int, int]:
    """Output size: fits ``max_side`` and is even, as yuv420p needs."""
    w, h = info.width, info.height
    if max_side is not None and max(w, h) > max_side:
        scale = max_side / max(w, h)
        w, h = round(w * scale), round(h * scale)
    return _even(w), _even(h)


def transcode(
    path: Path,
    sha256: str,
    info: VideoInfo,
    *,
    window: tuple[float, float] | None,
    max_side: int | None,
    drop_audio: bool,
) -> tuple[bytes, dict[str, Any]]:
    """MP4/H.264 bytes of ``path`` (cut to ``window``, fit to ``max_side``), cached on disk."""
    size = transcode_size(info, max_side)
    key = transcode_key(sha256, window, size, drop_audio)
    record: dict[str, Any] = {"codec": "libx264", **{k: v for k, v in X264.items()},
                              "width": size[0], "height": size[1], "cache_key": key}
    folder = media_cache_dir() / key[:2]
    target = folder / f"{key}.mp4"
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    sidecar = target.with_suffix(".json")
    with lock:
        if target.is_file() and sidecar.is_file():
            try:
                record.update(json.loads(sidecar.read_text()))
                return target.read_bytes(), record
            except (OSError, ValueError):
                pass  # a damaged entry is made again below
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{key}.", suffix=".mp4", dir=folder)
            os.close(fd)
        except OSError:
            # No writable cache: transcode into a temporary folder instead.
            with tempfile.TemporaryDirectory() as scratch:
                out = Path(scratch) / "clip.mp4"
                record.update(_write_mp4(path, out, info, window, size, drop_audio))
                record["cache_key"] = None
                return out.read_bytes(), record
        tmp = Path(tmp_name)
        tmp_json = tmp.with_suffix(".json")
        try:
            written = _write_mp4(path, tmp, info, window, size, drop_audio)
            data = tmp.read_bytes()
            tmp_json.write_text(json.dumps(written))
            os.replace(tmp, target)
            os.replace(tmp_json, sidecar)
        finally:
            tmp.unlink(missing_ok=True)
            tmp_json.unlink(missing_ok=True)
        record.update(written)
        return data, record


def _audio_note(info: VideoInfo, drop_audio: bool) -> str:
    if not info.has_audio:
        return "none"
    return "dropped" if drop_audio else "aac"


def _write_mp4(
    path: Path,
    out_path: Path,
    info: VideoInfo,
    window: tuple[float, float] | None,
    size: tuple[int, int],
    drop_audio: bool,
) -> dict[str, Any]:
    import av

    start, end = window if window is not None else (0.0, float("inf"))
    frames = 0
    with open_video(path) as (container, vin):
        ain = container.streams.audio[0] if (info.has_audio and not drop_audio) else None
        if ain is not None and ain.codec_context is None:
            ain = None
        rate = vin.average_rate or vin.guessed_rate or Fraction(round(info.fps * 1000), 1000)
        rate = Fraction(rate).limit_denominator(1001)
        vin.codec_context.thread_count = 1
        try:
            with av.open(str(out_path), "w", format="mp4") as out:
                vout = out.add_stream("libx264", rate=rate, options=dict(X264))
                vout.width, vout.height = size
                vout.pix_fmt = "yuv420p"
                aout = None
                if ain is not None:
                    aout = out.add_stream("aac", rate=ain.codec_context.sample_rate)
                    # AVI often leaves the channel layout unspecified; AAC needs one.
                    channels = ain.codec_context.layout.nb_channels
                    aout.layout = "mono" if channels == 1 else "stereo"
                streams = [vin] if ain is None else [vin, ain]
                if start > 0:
                    t0 = vin.start_time or 0
                    container.seek(t0 + int(start / vin.time_base), stream=vin, backward=True)
                vt0 = vin.start_time or 0
                resize = size != (info.width, info.height)
                video_done = False
                audio_done = aout is None
                for packet in container.demux(*streams):
                    if packet.stream.type == "video":
                        for frame in packet.decode():
                            if frame.pts is None:
                                t = start + frames / info.fps
                            else:
                                t = float((frame.pts - vt0) * vin.time_base)
                            if t >= end - 1e-6:
                                video_done = True
                            if t < start - 1e-6 or video_done:
                                continue
                            if resize:
                                frame = frame.reformat(width=size[0], height=size[1],
                                                       format="yuv420p", interpolation="AREA")
                            elif frame.format.name != "yuv420p":
                                frame = frame.reformat(format="yuv420p")
                            frame.pts = frames
                            frame.time_base = 1 / rate
                            frames += 1
                            out.mux(vout.encode(frame))
                    elif aout is not None:
                        for aframe in packet.decode():
                            if aframe.time is not None and aframe.time >= end:
                                audio_done = True
                            if aframe.time is None or audio_done or aframe.time < start - 1e-6:
                                continue
                            aframe.pts = None
                            out.mux(aout.encode(aframe))
                    # Stop reading once the window is over, not at the end of the file.
                    if video_done and audio_done:
                        break
                out.mux(vout.encode(None))
                if aout is not None:
                    out.mux(aout.encode(None))
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"transcoding to MP4 failed ({why(exc)})") from None
    if frames == 0:
        raise MediaError(path, f"transcoding kept no frame (window {start:g}-{end:g} s)")
    return {"frames": frames, "fps": float(rate), "audio": _audio_note(info, drop_audio)}


#: Video MIME types as the providers list them (Python guesses video/x-msvideo for AVI).
VIDEO_MIME = {
    ".avi": "video/avi",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/mov",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".webm": "video/webm",
    ".wmv": "video/wmv",
    ".flv": "video/x-flv",
    ".3gp": "video/3gpp",
    ".mkv": "video/x-matroska",
}
