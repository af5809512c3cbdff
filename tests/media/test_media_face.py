"""Face crops with OpenCV's Haar cascade, on real faces and real video frames."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from vlmfer.errors import MediaError
from vlmfer.media import MediaSpec, NoFaceError, prepare_media
from vlmfer.media.face import detect_faces, expand
from vlmfer.types import Media

cv2 = pytest.importorskip("cv2", reason="face cropping needs the vlmfer[face] extra")
if not hasattr(cv2, "CascadeClassifier"):
    pytest.skip(f"OpenCV {cv2.__version__} has no Haar cascade: install "
                "'opencv-python-headless>=4.9,<5'", allow_module_level=True)


def test_every_london_face_is_found_and_cropped(shared_data: Path) -> None:
    paths = sorted((shared_data / "london_faces").glob("*/*.jpg"))
    assert len(paths) == 48
    spec = MediaSpec(face_crop=True, face_margin=0.2)
    for path in paths:
        prepared = prepare_media(Media.from_path(path), spec, as_="image")
        (part,) = prepared.parts
        assert part.crop_box is not None, path
        x0, y0, x1, y1 = part.crop_box
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 320
        # The photos are centred portraits: the face is in the middle, and large.
        assert 100 < (x0 + x1) / 2 < 220 and 90 < (y0 + y1) / 2 < 230, (path, part.crop_box)
        assert 90 <= x1 - x0 <= 320
        assert (part.width, part.height) == (x1 - x0, y1 - y0)
        face = prepared.record["face"]
        assert face["crop_box"] == list(part.crop_box)
        assert face["faces_found"] >= 1 and face["margin"] == 0.2


def test_margin_grows_the_box_and_is_clipped(shared_data: Path) -> None:
    path = shared_data / "london_faces" / "Happy" / "001.jpg"
    tight = prepare_media(Media.from_path(path), MediaSpec(face_crop=True, face_margin=0.0),
                          as_="image")
    wide = prepare_media(Media.from_path(path), MediaSpec(face_crop=True, face_margin=2.0),
                         as_="image")
    assert tight.parts[0].crop_box == tuple(tight.record["face"]["face_box"])
    assert wide.parts[0].crop_box == (0, 0, 320, 320)
    assert expand((10, 10, 20, 20), 0.5, 100, 100) == (5, 5, 25, 25)


def test_the_largest_face_is_kept(shared_data: Path) -> None:
    small = Image.open(shared_data / "london_faces" / "Happy" / "002.jpg").convert("RGB")
    large = Image.open(shared_data / "london_faces" / "Neutral" / "005.jpg").convert("RGB")
    canvas = Image.new("RGB", (960, 480), (90, 90, 90))
    canvas.paste(small.resize((200, 200)), (40, 140))
    canvas.paste(large.resize((440, 440)), (480, 20))
    boxes = detect_faces(canvas)
    assert len(boxes) >= 2
    x0, y0, x1, y1 = boxes[0]
    assert x0 >= 480  # the big face on the right comes first
    assert all((b[2] - b[0]) * (b[3] - b[1]) <= (x1 - x0) * (y1 - y0) for b in boxes)


def test_no_face_policy(tmp_path: Path) -> None:
    path = tmp_path / "wall.png"
    Image.new("RGB", (300, 200), (120, 130, 140)).save(path)
    media = Media.from_path(path)
    with pytest.raises(NoFaceError, match=r"no face was found.*no_face='full-frame'") as info:
        prepare_media(media, MediaSpec(face_crop=True, no_face="skip"), as_="image")
    assert info.value.path == path
    assert isinstance(info.value, MediaError)  # the engine records an error outcome
    full = prepare_media(media, MediaSpec(face_crop=True), as_="image")
    assert full.parts[0].crop_box is None
    assert (full.parts[0].width, full.parts[0].height) == (300, 200)
    assert full.record["face"] == {"face_box": None, "crop_box": None, "faces_found": 0,
                                   "margin": 0.25, "no_face": "full-frame"}


def test_face_crop_on_real_video_frames(real_clip: Path) -> None:
    spec = MediaSpec(frames="uniform:8", face_crop=True)
    prepared = prepare_media(Media.from_path(real_clip), spec, as_="frames")
    assert len(prepared.parts) == 8
    for part, note in zip(prepared.parts, prepared.record["frames"], strict=True):
        assert part.crop_box is not None
        x0, y0, x1, y1 = part.crop_box
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 360
        assert x1 - x0 >= 200  # the woman's face fills much of the frame
        assert note["crop_box"] == list(part.crop_box)
        with Image.open(io.BytesIO(part.data)) as img:
            assert img.size == (x1 - x0, y1 - y0)
    assert prepared.record["face"]["frames_with_face"] >= 7


def test_video_frames_without_any_face(tmp_path: Path) -> None:
    import av
    import numpy as np

    path = tmp_path / "blank.avi"
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((96, 160, 3), 20 * i, np.uint8),
                                               format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    media = Media.from_path(path)
    with pytest.raises(NoFaceError, match="in any of the 3 sampled frames"):
        prepare_media(media, MediaSpec(frames="uniform:3", face_crop=True, no_face="skip"),
                      as_="frames")
    full = prepare_media(media, MediaSpec(frames="uniform:3", face_crop=True), as_="frames")
    assert [p.crop_box for p in full.parts] == [None, None, None]


def test_missing_opencv_names_the_extra(shared_data: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        sys.modules["cv2"] = None  # as if opencv-python-headless were not installed
        from vlmfer.errors import MissingDependencyError
        from vlmfer.media import MediaSpec, check_media_spec, prepare_media
        from vlmfer.types import Media
        media = Media.from_path({str(shared_data / "london_faces" / "Happy" / "001.jpg")!r})
        try:
            prepare_media(media, MediaSpec(face_crop=True), as_="image")
        except MissingDependencyError as exc:
            print(exc)
        try:
            check_media_spec(MediaSpec(face_crop=True))
        except MissingDependencyError as exc:
            print(exc)
        prepare_media(media, MediaSpec(), as_="image")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines == ["face cropping requires optional dependencies. Install with: "
                     "pip install vlmfer[face]"] * 2
