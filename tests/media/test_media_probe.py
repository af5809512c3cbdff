"""Probing real and synthetic clips, and the MediaError each broken file gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmfer.errors import MediaError
from vlmfer.media import MediaSpec, VideoInfo, prepare_media, probe_video
from vlmfer.types import Media


def test_probe_real_caer_like_clip(real_clip: Path) -> None:
    info = probe_video(real_clip)
    assert info == VideoInfo(duration_s=3.0, fps=24.0, frame_count=72, width=640, height=360,
                             codec="mpeg4", has_audio=False, audio_codec=None, container="avi")


def test_quick_probe_trusts_the_header(real_clip: Path, broken: dict[str, Path]) -> None:
    assert probe_video(real_clip, quick=True) == probe_video(real_clip)
    # The header of a truncated file still promises every frame: only a full probe notices.
    assert probe_video(broken["truncated.avi"], quick=True).frame_count == 24
    with pytest.raises(MediaError, match="truncated"):
        probe_video(broken["truncated.avi"])


def test_probe_real_mp4_with_audio(real_mp4: Path) -> None:
    info = probe_video(real_mp4)
    assert info.codec == "h264" and info.has_audio and info.audio_codec == "aac"
    assert info.frame_count == 472
    assert info.fps == pytest.approx(23.976, abs=1e-3)
    assert info.duration_s == pytest.approx(19.69, abs=0.01)


def test_probe_measures_synthetic_clips(synthetic_clip: Path,
                                        synthetic_clip_with_audio: Path) -> None:
    info = probe_video(synthetic_clip)
    assert (info.frame_count, info.fps, info.duration_s) == (24, 12.0, 2.0)
    assert (info.width, info.height, info.codec) == (400, 224, "mpeg4")
    assert not info.has_audio
    audio = probe_video(synthetic_clip_with_audio)
    assert audio.has_audio and audio.audio_codec == "pcm_s16le"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.avi", r"file is empty \(0 bytes\)"),
        ("text.avi", "not a video file PyAV can read"),
        ("header_only.avi", "not a video file PyAV can read|truncated|corrupt"),
        ("truncated.avi", "truncated video: its header promises 24 frames but only"),
        ("audio_only.avi", r"has no video stream \(streams: audio\)"),
        ("unknown_codec.avi", "unsupported video codec"),
    ],
)
def test_broken_videos_raise_media_error(broken: dict[str, Path], name: str, reason: str) -> None:
    path = broken[name]
    with pytest.raises(MediaError, match=reason) as info:
        probe_video(path)
    assert info.value.path == path
    assert str(path) in str(info.value)
    media = Media.from_path(path)
    for as_ in ("frames", "video"):
        with pytest.raises(MediaError, match=reason):
            prepare_media(media, MediaSpec(), as_=as_)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="file does not exist"):
        probe_video(tmp_path / "gone.avi")
