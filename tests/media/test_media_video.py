"""``prepare_media(..., as_="video")``: pass-through, MP4 transcoding and its cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vlmfer.media import MediaSpec, VideoInfo, media_cache_dir, prepare_media, probe_video
from vlmfer.types import Media


def _probe_bytes(data: bytes, tmp_path: Path, name: str = "out.mp4") -> VideoInfo:
    path = tmp_path / name
    path.write_bytes(data)
    return probe_video(path)


def test_avi_passes_through_as_video_avi(real_clip: Path) -> None:
    prepared = prepare_media(Media.from_path(real_clip), MediaSpec(), as_="video")
    (part,) = prepared.parts
    assert part.kind == "video"
    assert part.mime_type == "video/avi"  # not Python's video/x-msvideo
    assert part.data == real_clip.read_bytes()
    assert (part.width, part.height) == (640, 360)
    assert prepared.record["transcoded"] is False
    assert prepared.record["probe"]["codec"] == "mpeg4"


def test_mp4_passes_through_and_drop_audio_without_audio_needs_no_transcode(
    real_mp4: Path, synthetic_clip: Path, media_cache: Path
) -> None:
    prepared = prepare_media(Media.from_path(real_mp4), MediaSpec(), as_="video")
    assert prepared.parts[0].mime_type == "video/mp4"
    silent = prepare_media(Media.from_path(synthetic_clip), MediaSpec(drop_audio=True),
                           as_="video")
    assert silent.record["transcoded"] is False
    assert not media_cache.exists()


def test_transcode_to_h264_mp4_is_cached_and_deterministic(
    real_clip: Path, tmp_path: Path, media_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = Media.from_path(real_clip)
    spec = MediaSpec(transcode=True)
    prepared = prepare_media(media, spec, as_="video")
    (part,) = prepared.parts
    assert part.mime_type == "video/mp4" and part.kind == "video"
    info = _probe_bytes(part.data, tmp_path)
    assert info.codec == "h264" and info.frame_count == 72
    assert (info.width, info.height) == (640, 360)
    record = prepared.record
    assert record["transcoded"] is True and record["why"] == "transcode requested"
    assert record["encode"]["codec"] == "libx264" and record["encode"]["audio"] == "none"
    key = record["encode"]["cache_key"]
    cached = media_cache / "media" / key[:2] / f"{key}.mp4"
    assert media_cache_dir() == media_cache / "media"
    assert cached.read_bytes() == part.data
    stamp = cached.stat().st_mtime_ns
    again = prepare_media(media.with_hash(), spec, as_="video")
    assert again.parts[0].data == part.data and cached.stat().st_mtime_ns == stamp
    assert again.record == record
    # A fresh cache makes the same bytes again.
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(tmp_path / "other-cache"))
    fresh = prepare_media(media, spec, as_="video")
    assert fresh.parts[0].data == part.data
    assert (tmp_path / "other-cache" / "media" / key[:2] / f"{key}.mp4").is_file()


def test_transcode_with_window_and_downscale(real_mp4: Path, tmp_path: Path) -> None:
    spec = MediaSpec(drop_audio=True, frames="uniform:8@2-4", max_side=320)
    prepared = prepare_media(Media.from_path(real_mp4), spec, as_="video")
    info = _probe_bytes(prepared.parts[0].data, tmp_path)
    assert (info.width, info.height) == (320, 180)
    assert not info.has_audio
    assert info.duration_s == pytest.approx(2.0, abs=0.1)
    assert prepared.record["why"] == "drop audio"
    assert prepared.record["window_applied"] is True
    assert prepared.record["window_s"] == [2.0, 4.0]
    assert prepared.parts[0].time_s == 2.0


def test_transcode_keeps_audio_as_aac_unless_dropped(
    synthetic_clip_with_audio: Path, tmp_path: Path
) -> None:
    media = Media.from_path(synthetic_clip_with_audio)
    kept = prepare_media(media, MediaSpec(transcode=True), as_="video")
    info = _probe_bytes(kept.parts[0].data, tmp_path, "kept.mp4")
    assert info.has_audio and info.audio_codec == "aac"
    assert kept.record["encode"]["audio"] == "aac"
    dropped = prepare_media(media, MediaSpec(drop_audio=True), as_="video")
    info = _probe_bytes(dropped.parts[0].data, tmp_path, "dropped.mp4")
    assert not info.has_audio
    assert dropped.record["encode"]["cache_key"] != kept.record["encode"]["cache_key"]


def test_passthrough_records_an_unapplied_window(real_clip: Path) -> None:
    prepared = prepare_media(Media.from_path(real_clip), MediaSpec(frames="uniform:8@1-2",
                                                                   face_crop=True),
                             as_="video")
    assert prepared.record["window_s"] == [1.0, 2.0]
    assert prepared.record["window_applied"] is False
    assert prepared.record["face"].startswith("not applied")


def test_video_window_outside_the_clip(real_clip: Path) -> None:
    from vlmfer.errors import MediaError

    with pytest.raises(MediaError, match="outside the clip"):
        prepare_media(Media.from_path(real_clip), MediaSpec(frames="all@4-5", transcode=True),
                      as_="video")


def test_import_media_loads_no_heavy_module() -> None:
    code = (
        "import sys, vlmfer.media\n"
        "heavy = {'av', 'cv2', 'PIL', 'numpy'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
