"""Media preparation timings on one core: sampled frames, transcoding, still images.

Uses the real CAER-like clip ../shared/data/video/clip_0001.avi (3 s, 640x360,
MPEG-4 Part 2) when present, else a synthetic clip of the same shape. Prints
medians and ratios against the targets; asserts nothing.

    python benchmarks/media.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
from PIL import Image

from vlmfer.datasets.synthetic import draw_face_image, write_clip
from vlmfer.media import MediaSpec, parse_frame_spec, prepare_media
from vlmfer.media.video import decode_frames
from vlmfer.types import Media

SHARED = Path(os.environ.get("VLMFER_SHARED_DATA")
              or Path(__file__).resolve().parents[1] / ".." / "shared" / "data")

TARGETS_MS = {"frames": 40.0, "transcode": 200.0, "image": 10.0}


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm up: imports, codec set-up, page cache
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return statistics.median(runs)


def decode_everything(path: Path, convert: bool) -> int:
    n = 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if convert:
                frame.to_image()
            n += 1
    return n


def verdict(ms: float, target: float) -> str:
    return f"target <= {target:g} ms: {'met' if ms <= target else 'MISSED'}"


def bench_clip(label: str, clip: Path, repeat: int, scratch: Path) -> None:
    media = Media.from_path(clip)
    spec = MediaSpec(frames="uniform:8")
    frames = parse_frame_spec(spec.frames)
    print(f"\n{label}: {clip.name}")
    full_rgb = median_ms(lambda: decode_everything(clip, True), repeat)
    full = median_ms(lambda: decode_everything(clip, False), repeat)
    sparse = median_ms(lambda: decode_frames(clip, frames, spec.max_pixels), repeat)
    stats = decode_frames(clip, frames, spec.max_pixels).stats
    prepared = median_ms(lambda: prepare_media(media, spec, as_="frames"), repeat)
    print(f"  decode every frame + RGB      {full_rgb:8.1f} ms")
    print(f"  decode every frame, no RGB    {full:8.1f} ms")
    print(f"  sample 8 frames (decode only) {sparse:8.1f} ms   "
          f"{full_rgb / sparse:.1f}x faster than every frame + RGB, "
          f"{full / sparse:.1f}x than every frame ({stats['packets_decoded']} packets decoded, "
          f"{stats['jumps']} jumps, {stats['frames_converted']} converted)")
    print(f"  8 JPEG frames per clip        {prepared:8.1f} ms   "
          f"(JPEG encoding {prepared - sparse:.1f} ms; {verdict(prepared, TARGETS_MS['frames'])})")

    counter = iter(range(10**9))

    def transcode_fresh() -> None:
        # A new cache folder each time, so every call really transcodes.
        os.environ["VLMFER_CACHE_DIR"] = str(scratch / f"cache-{next(counter)}")
        prepare_media(media, MediaSpec(transcode=True), as_="video")

    tc = median_ms(transcode_fresh, max(3, repeat // 3))
    os.environ["VLMFER_CACHE_DIR"] = str(scratch / "cache-hit")
    prepare_media(media, MediaSpec(transcode=True), as_="video")
    hit = median_ms(lambda: prepare_media(media, MediaSpec(transcode=True), as_="video"), repeat)
    print(f"  AVI -> MP4/H.264 transcode    {tc:8.1f} ms   ({verdict(tc, TARGETS_MS['transcode'])};"
          f" cached: {hit:.1f} ms, {tc / hit:.0f}x)")


def bench_image(repeat: int, scratch: Path) -> None:
    face = SHARED / "london_faces" / "Happy" / "001.jpg"
    source = Image.open(face).convert("RGB") if face.is_file() else draw_face_image("Happy")
    still = scratch / "still_1280x720.jpg"
    canvas = Image.new("RGB", (1280, 720), (70, 90, 110))
    canvas.paste(source.resize((600, 600)), (340, 60))
    canvas.save(still, quality=92)
    media = Media.from_path(still)
    print(f"\nimage: a 1280x720 JPEG still ({still.stat().st_size // 1024} KiB)")
    spec = MediaSpec()
    ms = median_ms(lambda: prepare_media(media, spec, as_="image"), repeat)
    out = prepare_media(media, spec, as_="image").parts[0]
    print(f"  prepare (-> {out.width}x{out.height} JPEG q{spec.quality}) {ms:8.1f} ms   "
          f"({verdict(ms, TARGETS_MS['image'])})")
    png = median_ms(lambda: prepare_media(media, MediaSpec(image_format="png"), as_="image"),
                    repeat)
    print(f"  prepare as PNG                {png:8.1f} ms")
    try:
        crop = median_ms(lambda: prepare_media(media, MediaSpec(face_crop=True), as_="image"),
                         repeat)
        print(f"  prepare with face crop        {crop:8.1f} ms")
    except Exception as exc:  # the face extra may be missing
        print(f"  prepare with face crop        skipped ({exc})")
    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), (90, 30, 30)).save(buf, format="JPEG", quality=85)
    big = scratch / "photo_4000x3000.jpg"
    big.write_bytes(buf.getvalue())
    ms_big = median_ms(lambda: prepare_media(Media.from_path(big), spec, as_="image"), repeat)
    print(f"  prepare a 4000x3000 photo     {ms_big:8.1f} ms   (decoded at reduced scale)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        print(f"pinned to one core (cpu {cpu})")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        real = SHARED / "video" / "clip_0001.avi"
        if real.is_file():
            bench_clip("real CAER-like clip", real, args.repeat, scratch)
        else:
            print(f"\n(no real clip at {real}: using a synthetic one of the same shape)")
        synthetic = write_clip(scratch / "synthetic.avi", "Happy", seconds=3.0, fps=24,
                               size=(640, 360))
        bench_clip("synthetic clip, 3 s, 24 fps, 640x360", synthetic, args.repeat, scratch)
        bench_image(args.repeat, scratch)


if __name__ == "__main__":
    main()
