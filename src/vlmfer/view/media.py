"""A sample's media as the model saw it, re-created by the media layer and cached.

The media layer is deterministic: the same file and ``MediaSpec`` give the same
bytes. So the viewer does not need the run to have kept the encoded stills or
frames: it re-creates them from the file and the run's recorded ``[media]``
settings, the way the predictor did, and caches them in the view cache (never
in the run's own files, which stay shareable without them).

Which file: the dataset root in the manifest plus the sample id (sample ids are
relative paths), or the path a predictor recorded in its step's media account
when that lies under the same root. Nothing outside the dataset root is ever
read, so a crafted predictions file cannot make the viewer serve other files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from vlmfer.errors import MediaError
from vlmfer.report.thumbs import THUMB_SIDE, thumbnail_jpeg
from vlmfer.types import Media, MediaSpec, Prediction, guess_kind

SentAs = Literal["image", "frames", "video"]
_SENT_AS = ("image", "frames", "video")
_EXT = {"image/jpeg": "jpg", "image/png": "png", "video/mp4": "mp4"}


def _base(root: str | None) -> Path | None:
    """The folder media paths are relative to (a manifest dataset's root is its file)."""
    if not root:
        return None
    path = Path(root).resolve()
    return path.parent if path.is_file() else path


def _inside(base: Path, candidate: str | Path) -> Path | None:
    try:
        path = (base / candidate).resolve()
    except (OSError, ValueError):
        return None
    return path if path.is_relative_to(base) and path.is_file() else None


def media_accounts(pred: Prediction) -> list[dict[str, Any]]:
    """The media accounts predictors recorded (``details["media"]``), first step first."""
    for step in pred.steps:
        found = step.details.get("media")
        if isinstance(found, list) and found:
            return [m for m in found if isinstance(m, dict)]
    return []


def source_path(manifest: dict[str, Any], pred: Prediction) -> Path | None:
    """The sample's media file, under the manifest's dataset root; None when not found."""
    base = _base((manifest.get("dataset") or {}).get("root"))
    if base is None:
        return None
    for account in media_accounts(pred):
        src = account.get("source")
        if isinstance(src, str) and (found := _inside(base, src)) is not None:
            return found
    return _inside(base, pred.sample_id)


def run_spec(manifest: dict[str, Any]) -> tuple[MediaSpec, str | None]:
    """The run's ``MediaSpec``, and a note when it had to be assumed."""
    recorded = manifest.get("media")
    if not isinstance(recorded, dict):
        return MediaSpec(), "the manifest records no [media] settings: the defaults are assumed"
    try:
        return MediaSpec.model_validate(recorded), None
    except ValidationError:
        return MediaSpec(), ("the manifest's [media] settings are not valid for this version "
                             "of vlmfer: the defaults are assumed")


def sent_as(manifest: dict[str, Any], pred: Prediction, path: Path) -> tuple[SentAs, str | None]:
    """How the model got the media, and a note when that was inferred, not recorded."""
    for account in media_accounts(pred):
        how = account.get("as")
        if how in _SENT_AS:
            return how, None
    if guess_kind(path) == "image":
        return "image", None
    spec, _ = run_spec(manifest)
    if spec.video_mode == "native":
        return "video", None
    guess: SentAs = "frames"
    return guess, ("the predictor recorded no media account; shown as sampled frames, "
                   "re-created from the run's [media] settings")


def _key(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs time


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


class SampleMedia:
    """The prepared media of one sample of one run, cached under ``cache_dir``."""

    def __init__(self, manifest: dict[str, Any], pred: Prediction, cache_dir: Path) -> None:
        self.manifest = manifest
        self.pred = pred
        self.cache_dir = cache_dir
        self.path = source_path(manifest, pred)

    def _folder(self, how: str, spec: MediaSpec) -> Path:
        assert self.path is not None
        return self.cache_dir / "media" / _key(str(self.path), _stamp(self.path), how,
                                               spec.model_dump(mode="json"))

    def info(self) -> dict[str, Any]:
        """What the model saw: how it was sent, each part (frame index, time, size), notes."""
        if self.path is None:
            root = (self.manifest.get("dataset") or {}).get("root")
            why = ("the manifest records no dataset root" if not root else
                   f"no file for this sample under the dataset root {root}")
            return {"as": None, "parts": [], "notes": [why], "error": None}
        how, note = sent_as(self.manifest, self.pred, self.path)
        spec, spec_note = run_spec(self.manifest)
        notes = [n for n in (note, spec_note) if n]
        folder = self._folder(how, spec)
        cached = folder / "info.json"
        try:
            info: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
            return {**info, "notes": notes}
        except (OSError, ValueError):
            pass
        info = self._prepare(how, spec, folder)
        _write(cached, json.dumps(info).encode("utf-8"))
        return {**info, "notes": notes}

    def _prepare(self, how: SentAs, spec: MediaSpec, folder: Path) -> dict[str, Any]:
        from vlmfer.media import prepare_media

        assert self.path is not None
        try:
            prepared = prepare_media(Media.from_path(self.path), spec, as_=how)
        except (MediaError, ValueError) as e:
            return {"as": how, "parts": [], "error": str(e)}
        parts = []
        for i, part in enumerate(prepared.parts):
            ext = _EXT.get(part.mime_type, "bin")
            _write(folder / f"part-{i}.{ext}", part.data)
            parts.append({"index": i, "kind": part.kind, "mime_type": part.mime_type,
                          "file": f"part-{i}.{ext}", "width": part.width,
                          "height": part.height, "frame_index": part.frame_index,
                          "time_s": part.time_s, "bytes": len(part.data)})
        return {"as": how, "parts": parts, "error": None,
                "spec": spec.model_dump(mode="json"),
                "record": {k: v for k, v in prepared.record.items() if k != "frames"}}

    def part(self, index: int) -> tuple[bytes, str] | None:
        """The bytes of part ``index`` as the model saw them, and their MIME type."""
        info = self.info()
        parts = info.get("parts") or []
        if self.path is None or not 0 <= index < len(parts):
            return None
        meta = parts[index]
        spec, _ = run_spec(self.manifest)
        file = self._folder(info["as"], spec) / meta["file"]
        try:
            return file.read_bytes(), meta["mime_type"]
        except OSError:
            # The cache could not be written (or was cleared): prepare again, in memory.
            from vlmfer.media import prepare_media

            prepared = prepare_media(Media.from_path(self.path), spec, as_=info["as"])
            part = prepared.parts[index]
            return part.data, part.mime_type

    def thumbnail(self) -> bytes | None:
        """A small JPEG (an image, or a video's middle frame), cached in ``thumbs/``."""
        if self.path is None:
            return None
        file = self.cache_dir / "thumbs" / f"{_key(str(self.path), _stamp(self.path))}.jpg"
        try:
            return file.read_bytes()
        except OSError:
            pass
        data = thumbnail_jpeg(self.path, side=THUMB_SIDE)
        if data is not None:
            _write(file, data)
        return data
