"""The synthetic CAER / CAER-S generators used by the demo and the tests."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

from vlmfer.datasets.caer import CAER_CLASSES
from vlmfer.datasets.synthetic import draw_face_image, make_caer_like, make_caer_s_like


def test_caer_s_like_tree_has_the_angry_quirk_and_is_deterministic(tmp_path: Path) -> None:
    files = make_caer_s_like(tmp_path / "a", per_class=2, splits=("train", "test"))
    assert len(files) == 28
    names = {p.relative_to(tmp_path / "a").parent.as_posix() for p in files}
    assert "train/Angry" in names and "test/Anger" in names
    assert "train/Anger" not in names and "test/Angry" not in names
    with Image.open(files[0]) as img:
        assert img.format == "PNG" and img.size == (712, 400) and img.mode == "RGB"
    again = make_caer_s_like(tmp_path / "b", per_class=2, splits=("train", "test"))
    assert [p.read_bytes() for p in files] == [p.read_bytes() for p in again]


def test_expressions_differ_between_labels() -> None:
    faces = {label: np.asarray(draw_face_image(label, size=(356, 200))) for label in CAER_CLASSES}
    # Same seed and scene per label would differ only by expression; different labels differ.
    for a in CAER_CLASSES:
        for b in CAER_CLASSES:
            if a < b:
                assert not np.array_equal(faces[a], faces[b])
    neutral_k0 = np.asarray(draw_face_image("Happy", size=(356, 200), intensity=0.0))
    happy = np.asarray(draw_face_image("Happy", size=(356, 200), intensity=1.0))
    assert np.abs(neutral_k0.astype(int) - happy.astype(int)).sum() > 0


def test_caer_like_clips_are_mpeg4_avi_whose_face_changes(tmp_path: Path) -> None:
    files = make_caer_like(tmp_path / "a", per_class=1, seconds=1.0, fps=10, size=(160, 96))
    assert [p.relative_to(tmp_path / "a").as_posix() for p in files][:2] == [
        "test/Anger/0001.avi", "test/Disgust/0001.avi",
    ]
    with av.open(str(files[0])) as container:
        stream = container.streams.video[0]
        assert container.format.name == "avi"
        assert stream.codec_context.name == "mpeg4"
        assert (stream.codec_context.width, stream.codec_context.height) == (160, 96)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == 10
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 0.5
    again = make_caer_like(tmp_path / "b", per_class=1, seconds=1.0, fps=10, size=(160, 96))
    assert [p.read_bytes() for p in files] == [p.read_bytes() for p in again]


def test_caer_like_clip_with_audio(tmp_path: Path) -> None:
    (clip,) = make_caer_like(tmp_path, per_class=1, seconds=0.5, size=(64, 48),
                             audio=True)[:1]
    with av.open(str(clip)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
