"""Fixtures: real clips and faces from ../shared/data, synthetic clips, and broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmfer.datasets.synthetic import write_clip


@pytest.fixture(scope="session")
def real_clip(shared_data: Path) -> Path:
    """clip_0001.avi: MPEG-4 Part 2 in AVI, 640x360, 24 fps, 72 frames, a real face."""
    return shared_data / "video" / "clip_0001.avi"


@pytest.fixture(scope="session")
def real_mp4(shared_data: Path) -> Path:
    """H.264 (with B-frames) + AAC, 472 frames."""
    return shared_data / "video" / "pexels_woman_emotions.mp4"


@pytest.fixture(autouse=True)
def media_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own transcode cache."""
    path = tmp_path / "cache"
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def synthetic_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s, 12 fps CAER-like AVI of a drawn face."""
    folder = tmp_path_factory.mktemp("clips")
    return write_clip(folder / "0001.avi", "Happy", seconds=2.0, fps=12, size=(400, 224))


@pytest.fixture(scope="session")
def synthetic_clip_with_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips_audio")
    return write_clip(folder / "0001.avi", "Sad", seconds=1.0, fps=12, size=(160, 96), audio=True)


@pytest.fixture(scope="session")
def broken(tmp_path_factory: pytest.TempPathFactory, synthetic_clip: Path) -> dict[str, Path]:
    """Deliberately broken media files, by what is wrong with them."""
    import av
    import numpy as np

    folder = tmp_path_factory.mktemp("broken")
    clip = synthetic_clip.read_bytes()
    out: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        out[name] = folder / name
        out[name].write_bytes(data)

    put("empty.avi", b"")
    put("empty.jpg", b"")
    put("text.avi", b"this is a shopping list, not a video\n" * 20)
    put("text.jpg", b"this is a shopping list, not a photo\n" * 20)
    put("truncated.avi", clip[: len(clip) // 2])
    put("header_only.avi", clip[:600])
    # An unknown FourCC: the container opens, but no decoder exists for the stream.
    tagged = bytearray(clip)
    for tag in (b"FMP4", b"XVID", b"DIVX"):
        tagged = bytearray(bytes(tagged).replace(tag, b"QQQQ"))
    put("unknown_codec.avi", bytes(tagged))
    # Audio only: a valid AVI with no video stream.
    path = folder / "audio_only.avi"
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), dtype="<i2"), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    out["audio_only.avi"] = path
    from PIL import Image

    img = Image.new("RGB", (300, 200), (200, 100, 50))
    img.save(folder / "good.jpg", quality=90)
    data = (folder / "good.jpg").read_bytes()
    put("truncated.jpg", data[: len(data) // 2])
    put("corrupt.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    return out
