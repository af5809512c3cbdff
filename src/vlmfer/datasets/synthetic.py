"""Tiny CAER-like and CAER-S-like trees of drawn cartoon faces, for the demo and tests.

The expression depends on the label (mouth curve and opening, eyebrows, eye
size), so a model, or a person, can tell the classes apart. Output is
deterministic: the same arguments give byte-identical files on one machine.
PIL and PyAV are imported when a generator runs.

    from vlmfer.datasets.synthetic import make_caer_s_like
    make_caer_s_like("tmp/CAER-S", per_class=4, splits=("train", "test"))
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from vlmfer.datasets.caer import CAER_CLASSES

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["EXPRESSIONS", "draw_face_image", "make_caer_like", "make_caer_s_like"]


@dataclass(frozen=True)
class Expression:
    """Face parameters at full intensity; 0 everywhere is a neutral face."""

    mouth_curve: float = 0.0  # >0 corners up (smile), <0 corners down
    mouth_open: float = 0.0  # 0 closed .. 1 wide open
    brow_tilt: float = 0.0  # >0 inner ends down (anger), <0 inner ends up (sadness)
    brow_raise: float = 0.0  # >0 raised, <0 lowered
    eye_size: float = 1.0  # relative eye opening
    asymmetry: float = 0.0  # one-sided sneer (disgust)


EXPRESSIONS: dict[str, Expression] = {
    "Anger": Expression(mouth_curve=-0.5, brow_tilt=1.0, brow_raise=-0.4, eye_size=0.75),
    "Disgust": Expression(mouth_curve=-0.4, brow_tilt=0.5, eye_size=0.6, asymmetry=1.0),
    "Fear": Expression(mouth_curve=-0.3, mouth_open=0.55, brow_tilt=-0.6, brow_raise=0.7,
                       eye_size=1.45),
    "Happy": Expression(mouth_curve=1.0, mouth_open=0.25, brow_raise=0.15, eye_size=0.8),
    "Neutral": Expression(),
    "Sad": Expression(mouth_curve=-0.9, brow_tilt=-1.0, brow_raise=0.2, eye_size=0.85),
    "Surprise": Expression(mouth_open=1.0, brow_raise=1.0, eye_size=1.6),
}

_SKIN = [(241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172)]


def _mix(e: Expression, k: float) -> Expression:
    return Expression(
        mouth_curve=e.mouth_curve * k,
        mouth_open=e.mouth_open * k,
        brow_tilt=e.brow_tilt * k,
        brow_raise=e.brow_raise * k,
        eye_size=1.0 + (e.eye_size - 1.0) * k,
        asymmetry=e.asymmetry * k,
    )


@dataclass(frozen=True)
class _Scene:
    background: tuple[int, int, int]
    props: tuple[tuple[int, int, int, int, tuple[int, int, int]], ...]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    cx: float
    cy: float
    r: float


def _scene(rng: random.Random, size: tuple[int, int]) -> _Scene:
    w, h = size
    bg = (rng.randint(40, 200), rng.randint(40, 200), rng.randint(40, 200))
    props = []
    for _ in range(rng.randint(2, 4)):
        x0, y0 = rng.randint(0, max(0, w - 20)), rng.randint(0, max(0, h - 20))
        props.append((x0, y0, x0 + rng.randint(w // 20, w // 3 + 1),
                      y0 + rng.randint(h // 20, h // 2 + 1),
                      (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))))
    r = h * rng.uniform(0.28, 0.36)
    cx = rng.uniform(r * 0.9, w - r * 0.9)
    cy = rng.uniform(r * 1.05, h - r * 1.05)
    hair = (rng.randint(10, 90), rng.randint(10, 60), rng.randint(0, 40))
    return _Scene(bg, tuple(props), rng.choice(_SKIN), hair, cx, cy, r)


def _draw(scene: _Scene, e: Expression, size: tuple[int, int], dx: float = 0.0) -> Image.Image:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, scene.background)
    d = ImageDraw.Draw(img)
    for x0, y0, x1, y1, color in scene.props:
        d.rectangle((x0, y0, x1, y1), fill=color)
    cx, cy, r = scene.cx + dx, scene.cy, scene.r
    ink = (30, 20, 20)
    line = max(2, round(r / 25))
    # head, hair, ears
    d.ellipse((cx - 0.95 * r, cy - 1.1 * r, cx + 0.95 * r, cy + 0.2 * r), fill=scene.hair)
    for side in (-1, 1):
        ex = cx + side * 0.8 * r
        d.ellipse((ex - 0.12 * r, cy - 0.15 * r, ex + 0.12 * r, cy + 0.2 * r), fill=scene.skin)
    d.ellipse((cx - 0.8 * r, cy - r, cx + 0.8 * r, cy + r), fill=scene.skin, outline=ink)
    # eyes
    for side in (-1, 1):
        ex, ey = cx + side * 0.32 * r, cy - 0.18 * r
        ew, eh = 0.15 * r, 0.09 * r * e.eye_size
        if e.asymmetry and side == 1:
            eh *= 1 - 0.35 * e.asymmetry
        d.ellipse((ex - ew, ey - eh, ex + ew, ey + eh), fill=(250, 250, 250), outline=ink)
        pr = min(ew, eh) * 0.75
        d.ellipse((ex - pr, ey - pr, ex + pr, ey + pr), fill=(40, 30, 20))
    # eyebrows: the inner end moves with tilt, both ends with raise
    for side in (-1, 1):
        base = cy - 0.38 * r - e.brow_raise * 0.12 * r
        inner_x, outer_x = cx + side * 0.12 * r, cx + side * 0.5 * r
        inner_y = base + e.brow_tilt * 0.1 * r
        outer_y = base - e.brow_tilt * 0.03 * r
        if e.asymmetry and side == -1:
            inner_y += 0.06 * r * e.asymmetry
        d.line((inner_x, inner_y, outer_x, outer_y), fill=ink, width=line * 2)
    # nose, with disgust wrinkles
    d.line((cx, cy - 0.05 * r, cx - 0.06 * r, cy + 0.2 * r, cx + 0.04 * r, cy + 0.22 * r),
           fill=ink, width=line)
    for i in range(round(3 * e.asymmetry)):
        y = cy + 0.02 * r + i * 0.05 * r
        d.line((cx - 0.2 * r, y, cx - 0.1 * r, y + 0.02 * r), fill=ink, width=line)
    # mouth: a parabola whose corners rise with the curve, opened vertically
    mw, my = 0.34 * r, cy + 0.5 * r
    pts = []
    for i in range(21):
        t = -1 + i / 10
        tilt = e.asymmetry * 0.08 * r * (t + 1) / 2
        pts.append((cx + t * mw, my - e.mouth_curve * 0.14 * r * t * t - tilt))
    if e.mouth_open > 0.05:
        gap = e.mouth_open * 0.22 * r
        lower = [(x, y + gap * (1 - ((x - cx) / mw) ** 2)) for x, y in reversed(pts)]
        d.polygon(pts + lower, fill=(110, 20, 30), outline=ink)
    else:
        d.line(pts, fill=(120, 30, 30), width=line * 2)
    return img


def draw_face_image(
    label: str, *, size: tuple[int, int] = (712, 400), seed: int = 0, intensity: float = 1.0
) -> Image.Image:
    """One cartoon face showing ``label`` (a CAER class) at ``intensity`` (0 = neutral)."""
    if label not in EXPRESSIONS:
        raise ValueError(f"unknown label {label!r}; use one of {', '.join(EXPRESSIONS)}")
    rng = random.Random(f"vlmfer-synthetic:{seed}:{label}")
    return _draw(_scene(rng, size), _mix(EXPRESSIONS[label], intensity), size)


def _folder(split: str, label: str) -> str:
    # The real CAER-S archive spells Anger as Angry in train/ only.
    return "Angry" if (split == "train" and label == "Anger") else label


def make_caer_s_like(
    root: Path | str,
    *,
    per_class: int = 4,
    splits: tuple[str, ...] = ("test",),
    size: tuple[int, int] = (712, 400),
    seed: int = 0,
    fmt: Literal["png", "jpg"] = "png",
) -> list[Path]:
    """Write ``<root>/<split>/<Class>/NNNN.png`` stills; return the files written.

    As in the real archive, ``train/`` spells Anger as ``Angry``.
    """
    out: list[Path] = []
    root = Path(root)
    for split in splits:
        for label in CAER_CLASSES:
            folder = root / split / _folder(split, label)
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(1, per_class + 1):
                rng = random.Random(f"vlmfer-synthetic:{seed}:{split}:{label}:{i}")
                img = _draw(_scene(rng, size), _mix(EXPRESSIONS[label], rng.uniform(0.8, 1.0)),
                            size)
                path = folder / f"{i:04d}.{fmt}"
                if fmt == "png":
                    img.save(path, format="PNG", compress_level=1)
                else:
                    img.save(path, format="JPEG", quality=90)
                out.append(path)
    return out


def write_clip(
    path: Path | str,
    label: str,
    *,
    seconds: float = 2.0,
    fps: int = 12,
    size: tuple[int, int] = (400, 224),
    seed: int = 0,
    audio: bool = False,
    gop: int = 12,
) -> Path:
    """Write one AVI (MPEG-4 Part 2) clip whose face moves into ``label``'s expression."""
    import av
    import numpy as np

    path = Path(path)
    rng = random.Random(f"vlmfer-synthetic:{seed}:{path.parent.name}:{path.name}:{label}")
    scene = _scene(rng, size)
    n = max(1, round(seconds * fps))
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 600_000
        stream.codec_context.gop_size = gop
        stream.codec_context.thread_count = 1
        astream = None
        if audio:
            astream = container.add_stream("pcm_s16le", rate=16000)
            astream.layout = "mono"
        for i in range(n):
            t = i / max(1, n - 1)
            # The expression builds up over the clip, as in a short TV shot.
            k = 0.35 + 0.65 * (3 * t * t - 2 * t * t * t)
            dx = 0.03 * scene.r * math.sin(2 * math.pi * i / max(1, n))
            img = _draw(scene, _mix(EXPRESSIONS[label], k), size, dx)
            frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if astream is not None:
            samples = round(seconds * 16000)
            tone = (0.2 * 32767 * np.sin(2 * np.pi * 440 * np.arange(samples) / 16000))
            chunk = 1600
            for start in range(0, samples, chunk):
                data = tone[start:start + chunk].astype("<i2").reshape(1, -1)
                aframe = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
                aframe.sample_rate = 16000
                aframe.pts = start
                container.mux(astream.encode(aframe))
            container.mux(astream.encode(None))
    return path


def make_caer_like(
    root: Path | str,
    *,
    per_class: int = 2,
    splits: tuple[str, ...] = ("test",),
    seconds: float = 2.0,
    fps: int = 12,
    size: tuple[int, int] = (400, 224),
    seed: int = 0,
    audio: bool = False,
) -> list[Path]:
    """Write ``<root>/<split>/<Class>/NNNN.avi`` clips (MPEG-4 Part 2, like CAER).

    Returns the files written. The face's expression grows over each clip.
    """
    out: list[Path] = []
    root = Path(root)
    for split in splits:
        for label in CAER_CLASSES:
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(1, per_class + 1):
                out.append(write_clip(folder / f"{i:04d}.avi", label, seconds=seconds, fps=fps,
                                      size=size, seed=seed, audio=audio))
    return out
