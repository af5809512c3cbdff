"""The core data types: media kinds and MIME types, hashes, usage sums, what a type refuses."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from vlmfer.types import (
    Capabilities,
    GenerationOptions,
    Media,
    MediaSpec,
    Prediction,
    Usage,
    file_sha256,
    guess_kind,
    guess_mime,
    stable_hash,
)


def test_stable_hash_is_the_sha256_of_canonical_json() -> None:
    obj = {"b": [1, "é"], "a": {"y": None, "x": Path("p")}}
    text = '{"a":{"x":"p","y":null},"b":[1,"é"]}'
    assert stable_hash(obj) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert stable_hash({"a": 1, "b": 2}) == stable_hash({"b": 2, "a": 1})


def test_file_sha256_reads_in_chunks_and_hashes_every_byte(tmp_path: Path) -> None:
    data = bytes(range(256)) * 50
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == file_sha256(path, chunk=7) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(("name", "kind", "mime"), [
    ("a.JPG", "image", "image/jpeg"),
    ("a.png", "image", "image/png"),
    ("a.webp", "image", "image/webp"),
    ("clip.AVI", "video", "video/avi"),
    ("clip.mkv", "video", "video/x-matroska"),
    ("clip.mp4", "video", "video/mp4"),
    ("notes.txt", None, "text/plain"),
    ("blob.zzz", None, "application/octet-stream"),
])
def test_kind_and_mime_come_from_the_suffix(name: str, kind: str | None, mime: str) -> None:
    assert guess_kind(Path(name)) == kind
    assert guess_mime(Path(name)) == mime


def test_media_from_path_fills_kind_and_mime_and_hashes_lazily(tmp_path: Path) -> None:
    path = tmp_path / "face.png"
    path.write_bytes(b"not really a png")
    media = Media.from_path(path)
    assert (media.kind, media.mime_type, media.sha256) == ("image", "image/png", None)
    hashed = media.with_hash()
    assert hashed.sha256 == hashlib.sha256(b"not really a png").hexdigest()
    assert hashed.with_hash() is hashed
    assert Media.from_path(path, kind="video").kind == "video"


def test_an_unknown_suffix_names_the_file_and_the_valid_suffixes() -> None:
    with pytest.raises(ValueError) as info:
        Media.from_path("data/x.docx")
    text = str(info.value)
    assert text.startswith("data/x.docx: cannot tell whether this is an image or a video")
    assert "'.docx'" in text and "'.avi'" in text and "'.jpg'" in text


def test_usage_adds_field_by_field() -> None:
    a = Usage(input_tokens=1, output_tokens=2, thinking_tokens=3, cached_input_tokens=4)
    b = Usage(input_tokens=10, output_tokens=20, thinking_tokens=30, cached_input_tokens=40)
    assert a + b == Usage(input_tokens=11, output_tokens=22, thinking_tokens=33,
                          cached_input_tokens=44)


def test_a_prediction_is_a_label_or_an_explicit_non_answer() -> None:
    assert Prediction(sample_id="x", gold=None, pred="Sad", outcome="ok").pred == "Sad"
    assert Prediction(sample_id="x", gold="Sad", pred=None, outcome="refused").pred is None
    with pytest.raises(ValueError, match=r"x: a non-answer \(blocked\) must not carry a label "
                                         r"\('Neutral'\)"):
        Prediction(sample_id="x", gold="Sad", pred="Neutral", outcome="blocked")
    with pytest.raises(ValueError, match="x: outcome 'ok' needs a predicted label"):
        Prediction(sample_id="x", gold="Sad", pred=None, outcome="ok")


def test_unknown_fields_are_errors_not_silent_defaults() -> None:
    with pytest.raises(ValidationError, match="temprature"):
        GenerationOptions.model_validate({"temprature": 0.5})
    with pytest.raises(ValidationError):
        GenerationOptions(top_logprobs=21)
    with pytest.raises(ValidationError):
        MediaSpec(quality=0)


def test_the_defaults_that_the_cache_key_and_docs_rely_on() -> None:
    assert json.loads(GenerationOptions().model_dump_json()) == {
        "temperature": 0.0, "max_tokens": None, "seed": 0, "top_p": None, "logprobs": False,
        "top_logprobs": None}
    spec = MediaSpec()
    assert (spec.frames, spec.video_mode, spec.max_side, spec.image_format, spec.quality) == (
        "uniform:8", "auto", 768, "jpeg", 90)


@pytest.mark.parametrize(("caps", "text"), [
    (Capabilities(), "images, video (as sampled frames)"),
    (Capabilities(video=True), "images, video (native)"),
    (Capabilities(video_as_frames=False), "images"),
    (Capabilities(image=False, video=True), "video (native)"),
    (Capabilities(image=False), "text only"),
])
def test_capabilities_say_what_a_predictor_accepts(caps: Capabilities, text: str) -> None:
    assert caps.accepts() == text
