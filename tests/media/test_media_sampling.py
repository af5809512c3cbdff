"""Frame-sampling specs: parsing and which frames each kind picks."""

from __future__ import annotations

import pytest

from vlmfer.errors import ConfigError
from vlmfer.media import FrameSpec, parse_frame_spec

# A 3 s clip at 24 fps, like clip_0001.avi.
TIMES = [i / 24 for i in range(72)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("uniform:8", FrameSpec(kind="uniform", n=8)),
        ("UNIFORM:8", FrameSpec(kind="uniform", n=8)),
        ("fps:2", FrameSpec(kind="fps", fps=2.0)),
        ("fps:0.5", FrameSpec(kind="fps", fps=0.5)),
        ("middle", FrameSpec(kind="middle")),
        ("all", FrameSpec(kind="all")),
        ("uniform:8@0.5-2.5", FrameSpec(kind="uniform", n=8, start_s=0.5, end_s=2.5)),
        ("fps:1@1.5-", FrameSpec(kind="fps", fps=1.0, start_s=1.5)),
        ("all@-1", FrameSpec(kind="all", end_s=1.0)),
    ],
)
def test_parse(text: str, expected: FrameSpec) -> None:
    spec = parse_frame_spec(text)
    assert spec == expected
    assert parse_frame_spec(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("uniform", "uniform needs a count"),
        ("uniform:0", "uniform needs a count"),
        ("uniform:x", "uniform needs a count"),
        ("fps:0", "fps needs a rate"),
        ("fps:abc", "fps needs a rate"),
        ("middle:3", "middle takes no argument"),
        ("random:3", "unknown kind 'random'"),
        ("uniform:8@2-1", "window end must be after its start"),
        ("uniform:8@a-b", "not valid"),
        ("", "not valid"),
    ],
)
def test_bad_specs_name_the_valid_forms(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_frame_spec(text)


def test_uniform_takes_segment_centres() -> None:
    assert parse_frame_spec("uniform:8").select(TIMES, 3.0) == [4, 13, 22, 31, 40, 49, 58, 67]
    assert parse_frame_spec("uniform:1").select(TIMES, 3.0) == [36]
    assert parse_frame_spec("uniform:72").select(TIMES, 3.0) == list(range(72))
    assert parse_frame_spec("uniform:500").select(TIMES, 3.0) == list(range(72))


def test_middle_all_and_fps() -> None:
    assert parse_frame_spec("middle").select(TIMES, 3.0) == [36]
    assert parse_frame_spec("all").select(TIMES, 3.0) == list(range(72))
    assert parse_frame_spec("fps:2").select(TIMES, 3.0) == [0, 12, 24, 36, 48, 60]
    assert parse_frame_spec("fps:1").select(TIMES, 3.0) == [0, 24, 48]
    # Faster than the clip: every frame once, never twice.
    assert parse_frame_spec("fps:100").select(TIMES, 3.0) == list(range(72))


def test_time_windows() -> None:
    assert parse_frame_spec("all@1-1.25").select(TIMES, 3.0) == [24, 25, 26, 27, 28, 29]
    assert parse_frame_spec("middle@2-").select(TIMES, 3.0) == [60]
    assert parse_frame_spec("fps:1@0.5-2.6").select(TIMES, 3.0) == [12, 36, 60]
    assert parse_frame_spec("uniform:2@0-1").select(TIMES, 3.0) == [6, 18]
    assert parse_frame_spec("all@5-6").select(TIMES, 3.0) == []
    assert parse_frame_spec("uniform:4@-0.5").window(3.0) == (0.0, 0.5)
    assert parse_frame_spec("uniform:4@1-9").window(3.0) == (1.0, 3.0)


def test_check_media_spec_rejects_a_bad_frame_spec_up_front() -> None:
    from vlmfer.media import MediaSpec, check_media_spec

    check_media_spec(MediaSpec(frames="fps:2@1-"))
    with pytest.raises(ConfigError, match="uniform:N, fps:F, middle, all"):
        check_media_spec(MediaSpec(frames="every:3"))
