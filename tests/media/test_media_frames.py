"""``prepare_media(..., as_="frames")``: sampled frames of real and synthetic clips."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vlmfer.errors import MediaError
from vlmfer.media import MediaSpec, PreparedMedia, parse_frame_spec, prepare_media
from vlmfer.media.video import decode_frames
from vlmfer.types import Media


def _all_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_uniform_8_of_a_real_clip(real_clip: Path) -> None:
    prepared = prepare_media(Media.from_path(real_clip), MediaSpec(frames="uniform:8"),
                             as_="frames")
    assert isinstance(prepared, PreparedMedia)
    assert prepared.source == real_clip
    assert [p.frame_index for p in prepared.parts] == [4, 13, 22, 31, 40, 49, 58, 67]
    assert [p.time_s for p in prepared.parts] == pytest.approx(
        [i / 24 for i in (4, 13, 22, 31, 40, 49, 58, 67)], abs=1e-6
    )
    for part in prepared.parts:
        assert part.kind == "image" and part.mime_type == "image/jpeg"
        with Image.open(io.BytesIO(part.data)) as img:
            assert img.format == "JPEG" and img.size == (640, 360) == (part.width, part.height)
    record = prepared.record
    json.dumps(record)
    assert record["spec"] == "uniform:8"
    assert record["frame_indices"] == [4, 13, 22, 31, 40, 49, 58, 67]
    assert record["probe"]["frame_count"] == 72
    assert record["encode"] == {"format": "jpeg", "quality": 90}
    # Only kept frames were converted, and whole GOPs were skipped.
    assert record["decode"]["frames_converted"] == 8
    assert record["decode"]["packets_decoded"] < 72


@pytest.mark.parametrize("spec", ["uniform:8", "fps:3", "middle", "uniform:5@0.4-2.2"])
def test_sparse_decoding_gives_the_same_pixels_as_decoding_everything(
    real_clip: Path, spec: str
) -> None:
    everything = _all_frames(real_clip)
    decoded = decode_frames(real_clip, parse_frame_spec(spec), 10**8)
    for rank, img in zip(decoded.ranks, decoded.images, strict=True):
        assert np.array_equal(np.asarray(img), everything[rank])


def test_sparse_decoding_of_h264_with_b_frames(real_mp4: Path) -> None:
    everything = _all_frames(real_mp4)
    decoded = decode_frames(real_mp4, parse_frame_spec("uniform:6"), 10**8)
    assert decoded.stats["jumps"] >= 1
    for rank, img in zip(decoded.ranks, decoded.images, strict=True):
        assert np.array_equal(np.asarray(img), everything[rank])


def test_same_clip_and_spec_give_the_same_bytes_from_many_threads(real_clip: Path) -> None:
    media = Media.from_path(real_clip)
    spec = MediaSpec(frames="uniform:4", max_side=320)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: prepare_media(media, spec, as_="frames"), range(8)))
    first = [p.data for p in results[0].parts]
    assert all([p.data for p in r.parts] == first for r in results)
    assert all(r.record == results[0].record for r in results)
    assert (results[0].parts[0].width, results[0].parts[0].height) == (320, 180)
    assert results[0].record["resize"] == {"from": [640, 360], "to": [320, 180],
                                           "max_side": 320, "filter": "bilinear"}


def test_png_frames_and_windows_on_a_synthetic_clip(synthetic_clip: Path) -> None:
    media = Media.from_path(synthetic_clip)
    prepared = prepare_media(media, MediaSpec(frames="fps:2@0.5-", image_format="png"),
                             as_="frames")
    assert [p.frame_index for p in prepared.parts] == [6, 12, 18]
    assert [p.time_s for p in prepared.parts] == [0.5, 1.0, 1.5]
    assert {p.mime_type for p in prepared.parts} == {"image/png"}
    assert prepared.record["window_s"] == [0.5, 2.0]
    assert prepared.record["encode"] == {"format": "png", "quality": None}
    with Image.open(io.BytesIO(prepared.parts[0].data)) as img:
        assert img.format == "PNG" and img.size == (400, 224)


def test_all_frames_in_time_order(synthetic_clip: Path) -> None:
    prepared = prepare_media(Media.from_path(synthetic_clip), MediaSpec(frames="all"),
                             as_="frames")
    assert [p.frame_index for p in prepared.parts] == list(range(24))
    times = [p.time_s or 0.0 for p in prepared.parts]
    assert times == sorted(times)


def test_window_past_the_end_is_a_media_error(synthetic_clip: Path) -> None:
    with pytest.raises(MediaError, match=r"picks no frame: the window 5-2 s holds none"):
        prepare_media(Media.from_path(synthetic_clip), MediaSpec(frames="uniform:4@5-"),
                      as_="frames")


def test_frames_over_the_pixel_cap(synthetic_clip: Path) -> None:
    with pytest.raises(MediaError, match=r"400x224 frames are over the pixel cap "
                                         r"max_pixels=10000"):
        prepare_media(Media.from_path(synthetic_clip), MediaSpec(max_pixels=10_000),
                      as_="frames")


def test_kind_mismatch_is_a_programming_error(synthetic_clip: Path, shared_data: Path) -> None:
    with pytest.raises(ValueError, match="as_='image' needs an image"):
        prepare_media(Media.from_path(synthetic_clip), MediaSpec(), as_="image")
    face = Media.from_path(shared_data / "london_faces" / "Happy" / "001.jpg")
    with pytest.raises(ValueError, match="needs a video"):
        prepare_media(face, MediaSpec(), as_="frames")
