"""``prepare_media``: one media file and a ``MediaSpec`` in, the bytes a model sees out.

Runs in worker threads. Same file and spec, same bytes: nothing here depends
on time, randomness or thread count.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vlmfer.errors import MediaError
from vlmfer.media import face as facemod
from vlmfer.media.image import MIME, check_size, encode, open_image
from vlmfer.media.models import MediaPart, NoFaceError, PreparedMedia
from vlmfer.media.sampling import parse_frame_spec
from vlmfer.media.video import VIDEO_MIME, decode_frames, probe_video, transcode
from vlmfer.types import Media, MediaSpec, file_sha256

if TYPE_CHECKING:
    from PIL import Image

Box = tuple[int, int, int, int]


def prepare_media(
    media: Media, spec: MediaSpec, *, as_: Literal["image", "frames", "video"]
) -> PreparedMedia:
    """Turn ``media`` into parts for a model, as ``spec`` says.

    - ``as_="image"``: an image file → one encoded image.
    - ``as_="frames"``: a video → the frames ``spec.frames`` picks, in time order,
      each encoded like an image and tagged with its frame index and time.
    - ``as_="video"``: a video → the clip itself: the original bytes, or MP4/H.264
      when ``spec.transcode`` is set or ``spec.drop_audio`` has audio to drop.

    Raises ``MediaError`` (``NoFaceError`` for a skipped face) for a file that
    cannot be used, and ``ValueError`` when ``as_`` does not fit ``media.kind``.
    """
    path = Path(media.path)
    if as_ == "image":
        if media.kind != "image":
            raise ValueError(f"{path}: as_='image' needs an image; this is a {media.kind}")
        return _image(path, spec)
    if as_ not in ("frames", "video"):
        raise ValueError(f"as_ must be 'image', 'frames' or 'video', not {as_!r}")
    if media.kind != "video":
        raise ValueError(f"{path}: as_={as_!r} needs a video; this is an {media.kind}")
    if as_ == "frames":
        return _frames(path, spec)
    return _video(path, media, spec)


#: A still up to this size may be passed through on the calling (event-loop) thread: one
#: read and a header parse cost less than handing the work to a worker thread and back.
INLINE_BYTES = 512 * 1024


def prepare_inline(
    media: Media, spec: MediaSpec, *, as_: Literal["image", "frames", "video"]
) -> PreparedMedia | None:
    """``prepare_media``'s answer when it needs no decoding (a small JPEG passed through
    as it is), else None: the caller then runs ``prepare_media`` in a worker thread.

    Never raises for a bad file: that is ``prepare_media``'s to report.
    """
    if as_ != "image" or media.kind != "image":
        return None
    path = Path(media.path)
    try:
        if path.stat().st_size > INLINE_BYTES:
            return None
    except OSError:
        return None
    return _passthrough(path, spec)


def check_media_spec(spec: MediaSpec) -> None:
    """Fail early (``ConfigError``) on a bad frame spec or a face crop that cannot run."""
    parse_frame_spec(spec.frames)
    if spec.face_crop:
        facemod.check_available()


def _crop_record(box: Box | None, crop: Box | None) -> dict[str, Any]:
    return {"face_box": list(box) if box else None, "crop_box": list(crop) if crop else None}


def _image(path: Path, spec: MediaSpec) -> PreparedMedia:
    passed = _passthrough(path, spec)
    if passed is not None:
        return passed
    img, info = open_image(path, spec)
    record: dict[str, Any] = {"as": "image", "source": info}
    crop: Box | None = None
    if spec.face_crop:
        boxes = facemod.detect_faces(img)
        if not boxes and spec.no_face == "skip":
            raise NoFaceError(path)
        if boxes:
            crop = facemod.expand(boxes[0], spec.face_margin, img.width, img.height)
            img = img.crop(crop)
        record["face"] = {
            **_crop_record(boxes[0] if boxes else None, crop),
            "faces_found": len(boxes), "margin": spec.face_margin, "no_face": spec.no_face,
        }
    data, enc = encode(img, spec)
    record.update(enc)
    part = MediaPart(
        data=data, mime_type=MIME[spec.image_format], kind="image",
        width=enc["encode"]["width"], height=enc["encode"]["height"], crop_box=crop,
    )
    return PreparedMedia(source=path, parts=[part], record=record)


def _passthrough(path: Path, spec: MediaSpec) -> PreparedMedia | None:
    """The file's own bytes, when re-encoding would change nothing a model needs.

    Only a complete baseline JPEG that already fits ``max_side``, is RGB and upright,
    and carries no metadata (EXIF can hold a location) qualifies; everything else is
    decoded and re-encoded. Same file and spec, same bytes: the cache key holds.
    """
    if spec.reencode != "auto" or spec.face_crop or spec.image_format != "jpeg":
        return None
    if path.suffix.lower() not in (".jpg", ".jpeg"):
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        data = path.read_bytes()
        if len(data) < 4 or data[:2] != b"\xff\xd8" or data[-2:] != b"\xff\xd9":
            return None  # not a JPEG, or truncated: the decoder says what is wrong
        with Image.open(io.BytesIO(data)) as img:
            if (img.format != "JPEG" or img.mode != "RGB" or img.info.get("exif")
                    or img.info.get("icc_profile") or img.info.get("progressive")):
                return None
            width, height = img.size
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        return None
    if width * height > spec.max_pixels:
        return None
    if spec.max_side is not None and max(width, height) > spec.max_side:
        return None
    record: dict[str, Any] = {
        "as": "image",
        "source": {"format": "JPEG", "mode": "RGB", "width": width, "height": height,
                   "bytes": len(data)},
        "encode": {"format": "jpeg", "passthrough": True, "width": width, "height": height,
                   "bytes": len(data)},
    }
    part = MediaPart(data=data, mime_type="image/jpeg", kind="image", width=width, height=height)
    return PreparedMedia(source=path, parts=[part], record=record)


def _face_boxes(
    path: Path, images: list[Image.Image], times: list[float], spec: MediaSpec
) -> tuple[list[Box | None], list[dict[str, Any]]]:
    """One crop per frame. A frame with no face borrows the box of the nearest frame
    that has one; the ``no_face`` policy applies only when no frame has a face."""
    found = [facemod.detect_faces(img) for img in images]
    have = [i for i, boxes in enumerate(found) if boxes]
    if not have:
        if spec.no_face == "skip":
            raise NoFaceError(path, f"in any of the {len(images)} sampled frames")
        return [None] * len(images), [
            {"face_box": None, "crop_box": None, "faces_found": 0} for _ in images
        ]
    crops: list[Box | None] = []
    notes: list[dict[str, Any]] = []
    for i, img in enumerate(images):
        src = i if found[i] else min(have, key=lambda j: (abs(times[j] - times[i]), j))
        box = found[src][0]
        crop = facemod.expand(box, spec.face_margin, img.width, img.height)
        crops.append(crop)
        note = {**_crop_record(box, crop), "faces_found": len(found[i])}
        if src != i:
            note["box_from_frame"] = src
        notes.append(note)
    return crops, notes


def _frames(path: Path, spec: MediaSpec) -> PreparedMedia:
    fspec = parse_frame_spec(spec.frames)
    decoded = decode_frames(path, fspec, spec.max_pixels)
    crops: list[Box | None] = [None] * len(decoded.images)
    notes: list[dict[str, Any]] = [{} for _ in decoded.images]
    if spec.face_crop:
        crops, notes = _face_boxes(path, decoded.images, decoded.times, spec)
    parts: list[MediaPart] = []
    frames_rec: list[dict[str, Any]] = []
    enc: dict[str, Any] = {}
    for rank, t, img, crop, note in zip(
        decoded.ranks, decoded.times, decoded.images, crops, notes, strict=True
    ):
        if crop is not None:
            img = img.crop(crop)
        data, enc = encode(img, spec)
        w, h = enc["encode"]["width"], enc["encode"]["height"]
        parts.append(MediaPart(
            data=data, mime_type=MIME[spec.image_format], kind="image", width=w, height=h,
            frame_index=rank, time_s=t, crop_box=crop,
        ))
        frames_rec.append({"index": rank, "time_s": t, "width": w, "height": h,
                           "bytes": len(data), **note})
    record: dict[str, Any] = {
        "as": "frames",
        "spec": str(fspec),
        "window_s": list(decoded.window),
        "frame_indices": list(decoded.ranks),
        "timestamps_s": list(decoded.times),
        "frames": frames_rec,
        "probe": decoded.info.model_dump(),
        "encode": {"format": spec.image_format,
                   "quality": spec.quality if spec.image_format == "jpeg" else None},
        "resize": enc.get("resize"),
        "decode": decoded.stats,
    }
    if spec.face_crop:
        record["face"] = {"margin": spec.face_margin, "no_face": spec.no_face,
                          "frames_with_face": sum(1 for n in notes if n.get("faces_found"))}
    return PreparedMedia(source=path, parts=parts, record=record)


def _video(path: Path, media: Media, spec: MediaSpec) -> PreparedMedia:
    info = probe_video(path)
    check_size(path, info.width, info.height, spec)
    fspec = parse_frame_spec(spec.frames)
    window: tuple[float, float] | None = None
    if fspec.start_s is not None or fspec.end_s is not None:
        window = fspec.window(info.duration_s)
        if window[0] >= window[1]:
            raise MediaError(
                path, f"time window {window[0]:g}-{window[1]:g} s is outside the clip "
                f"({info.duration_s:g} s)"
            )
    record: dict[str, Any] = {"as": "video", "probe": info.model_dump(),
                              "window_s": list(window) if window else None}
    if spec.face_crop:
        record["face"] = "not applied: face crops apply to images and sampled frames"
    reasons = []
    if spec.transcode:
        reasons.append("transcode requested")
    if spec.drop_audio and info.has_audio:
        reasons.append("drop audio")
    if not reasons:
        data = path.read_bytes()
        mime = VIDEO_MIME.get(path.suffix.lower(), media.mime_type)
        record.update({"transcoded": False, "mime_type": mime, "bytes": len(data),
                       "window_applied": False})
        part = MediaPart(data=data, mime_type=mime, kind="video",
                         width=info.width, height=info.height)
        return PreparedMedia(source=path, parts=[part], record=record)
    sha = media.sha256 or file_sha256(path)
    data, rec = transcode(path, sha, info, window=window, max_side=spec.max_side,
                          drop_audio=spec.drop_audio)
    record.update({"transcoded": True, "why": ", ".join(reasons), "mime_type": "video/mp4",
                   "bytes": len(data), "window_applied": window is not None, "encode": rec})
    part = MediaPart(data=data, mime_type="video/mp4", kind="video",
                     width=rec["width"], height=rec["height"],
                     time_s=window[0] if window else None)
    return PreparedMedia(source=path, parts=[part], record=record)
