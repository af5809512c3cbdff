"""The Gemini side of the emulator, driven by the real google-genai SDK over HTTP."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from emulator_support import CAER, parts, post
from google import genai
from google.genai import errors, types

from vlmfer.emulator import Emulator

MODEL = "gemini-2.5-flash"


def _enum_config(labels: list[str] = CAER, **kw: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        response_mime_type="text/x.enum", response_schema={"type": "STRING", "enum": labels}, **kw)


def _video_part(data: bytes, mime: str = "video/avi", fps: float | None = None) -> types.Part:
    meta = types.VideoMetadata(fps=fps) if fps else None
    return types.Part(inline_data=types.Blob(data=data, mime_type=mime), video_metadata=meta)


def test_inline_avi_video_with_enum_and_logprobs(emu: Emulator, gem: genai.Client,
                                                 avi_bytes: bytes) -> None:
    emu.set_policy("fixed:Surprise")
    r = gem.models.generate_content(
        model=MODEL,
        contents=parts(_video_part(avi_bytes, fps=2.0), "Which emotion? Answer with one label."),
        config=_enum_config(system_instruction="You are an expert.", temperature=0,
                            response_logprobs=True, logprobs=5, seed=0),
    )
    assert r.text == "Surprise"
    assert r.candidates
    cand = r.candidates[0]
    lp = cand.logprobs_result
    assert lp is not None and lp.top_candidates and lp.chosen_candidates
    top = lp.top_candidates[0].candidates
    assert top is not None
    assert top[0].token == "Surprise" and len(top) == 5
    assert lp.chosen_candidates[0].token == "Surprise"
    assert cand.avg_logprobs is not None
    um = r.usage_metadata
    assert um is not None
    by_mod: dict[str, int | None] = {}
    for d in um.prompt_tokens_details or []:
        assert d.modality is not None
        by_mod[d.modality.value] = d.token_count
    # 2 s at 2 fps = 4 frames of 258 tokens, plus 32 tokens/s of audio
    assert by_mod["VIDEO"] == 4 * 258 and by_mod["AUDIO"] == 64
    (call,) = emu.calls("generate")
    assert call["mime_types"] == ["video/avi"] and call["videos"] == 1 and call["frames"] == 4
    assert call["media"][0]["fps"] == 2.0 and call["labels"] == CAER


def test_real_clip_and_low_media_resolution(emu: Emulator, gem: genai.Client,
                                            real_clip: Path) -> None:
    r = gem.models.generate_content(
        model=MODEL, contents=parts(_video_part(real_clip.read_bytes()), "Neutral or Emotion?"),
        config=types.GenerateContentConfig(
            media_resolution=types.MediaResolution.MEDIA_RESOLUTION_LOW))
    assert r.text in ("Neutral", "Emotion")
    call = emu.calls("generate")[0]
    assert call["frames"] == 3  # a 3 s clip at the default 1 fps
    assert call["media"][0]["tokens"] == 3 * 66 + 96


def test_x_msvideo_is_rejected(gem: genai.Client, avi_bytes: bytes) -> None:
    with pytest.raises(errors.ClientError) as info:
        gem.models.generate_content(model=MODEL,
                                    contents=parts(_video_part(avi_bytes, "video/x-msvideo"), "x"))
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert "Unsupported MIME type: video/x-msvideo" in str(info.value.message)


def test_image_with_json_schema(emu: Emulator, gem: genai.Client, png_bytes: bytes) -> None:
    emu.set_policy("fixed:Anger")
    r = gem.models.generate_content(
        model=MODEL,
        contents=parts(types.Part.from_bytes(data=png_bytes, mime_type="image/png"),
                       "Emotion List: Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise"),
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_json_schema={"type": "object", "properties": {"emotion": {
                "type": "string", "enum": ["Angry", "Happy", "Neutral"]}},
                "required": ["emotion"]}))
    assert r.parsed == {"emotion": "Angry"}  # Anger, spelled as the enum spells it
    assert r.usage_metadata is not None
    assert r.usage_metadata.prompt_token_count == 258 + emu.calls("generate")[0]["input_tokens"] \
        - 258


def test_async_client_and_enum_class(emu: Emulator, png_bytes: bytes) -> None:
    import enum

    class Emo(enum.Enum):
        HAPPY = "happy"
        NEUTRAL = "neutral"

    emu.set_policy("fixed:Happy")
    client = genai.Client(api_key="k", http_options=types.HttpOptions(
        base_url=emu.gemini_base_url, api_version="v1"))

    async def go() -> types.GenerateContentResponse:
        return await client.aio.models.generate_content(
            model=MODEL,
            contents=parts(types.Part.from_bytes(data=png_bytes, mime_type="image/png"), "Which?"),
            config=types.GenerateContentConfig(response_mime_type="text/x.enum",
                                               response_schema=Emo))

    r = asyncio.run(go())
    assert r.parsed is Emo.HAPPY
    assert emu.calls("generate")[0]["path"].startswith("/v1/models/")


def test_thinking_tokens(emu: Emulator, gem: genai.Client) -> None:
    emu.configure(thoughts_tokens=120)
    r = gem.models.generate_content(model=MODEL, contents="Neutral or Emotion? calm face")
    assert r.usage_metadata is not None and r.usage_metadata.thoughts_token_count == 120
    r = gem.models.generate_content(
        model=MODEL, contents="Neutral or Emotion? calm face",
        config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0)))
    assert r.usage_metadata is not None and not r.usage_metadata.thoughts_token_count


@pytest.mark.parametrize(("how", "prompt_blocked"), [("prompt", True), ("candidate", False)])
def test_safety_blocks(gem: genai.Client, png_bytes: bytes, how: str,
                       prompt_blocked: bool) -> None:
    r = gem.models.generate_content(model=MODEL, contents=parts(
        types.Part.from_bytes(data=png_bytes, mime_type="image/png"),
        f"Which? [[emu:block;block={how}]]"))
    assert r.text is None
    if prompt_blocked:
        assert r.candidates is None
        assert r.prompt_feedback is not None
        assert r.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    else:
        assert r.candidates
        assert r.candidates[0].finish_reason == types.FinishReason.SAFETY


def test_refusal_and_max_tokens(emu: Emulator, gem: genai.Client) -> None:
    emu.set_policy("refuse")
    r = gem.models.generate_content(model=MODEL, contents="Neutral or Emotion?")
    assert r.text and "can't help" in r.text
    emu.set_policy("neutral-biased")
    r = gem.models.generate_content(
        model=MODEL, contents="Describe the face. [[emu:gold=Happy;answer=Happy]]",
        config=types.GenerateContentConfig(max_output_tokens=3))
    assert r.candidates
    assert r.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


def test_count_tokens(gem: genai.Client, png_bytes: bytes) -> None:
    r = gem.models.count_tokens(model=MODEL, contents=parts(
        types.Part.from_bytes(data=png_bytes, mime_type="image/png"), "Which emotion?"))
    assert r.total_tokens == 258 + 4


# -- Files API ------------------------------------------------------------------------


def test_resumable_upload_then_active_then_file_data(emu: Emulator, gem: genai.Client,
                                                     avi_bytes: bytes) -> None:
    emu.set_policy("fixed:Sad")
    f = gem.files.upload(file=io.BytesIO(avi_bytes),
                         config=types.UploadFileConfig(mime_type="video/avi", display_name="clip"))
    assert f.state == types.FileState.PROCESSING
    assert f.uri and f.uri.startswith(emu.url)
    with pytest.raises(errors.ClientError) as info:  # not ACTIVE yet
        gem.models.generate_content(model=MODEL, contents=parts(
            types.Part(file_data=types.FileData(file_uri=f.uri, mime_type="video/avi")), "x"))
    assert info.value.status == "FAILED_PRECONDITION"
    polls = 0
    while f.state == types.FileState.PROCESSING:
        f = gem.files.get(name=f.name or "")
        polls += 1
    assert f.state == types.FileState.ACTIVE and polls == 1
    assert f.size_bytes == len(avi_bytes)
    r = gem.models.generate_content(model=MODEL, contents=parts(
        types.Part(file_data=types.FileData(file_uri=f.uri, mime_type=f.mime_type),
                   video_metadata=types.VideoMetadata(fps=3.0, start_offset="0.5s",
                                                      end_offset="1.5s")),
        "Emotion List: Anger, Disgust, Fear, Happy, Neutral, Sad, Surprise"))
    assert r.text == "Sad"
    call = emu.calls("generate", status=200)[0]
    assert call["media"][0]["source"] == "file" and call["frames"] == 3
    assert [c["endpoint"] for c in emu.requests[:2]] == ["gemini.upload", "gemini.upload.chunk"]
    assert emu.calls("upload.chunk")[0]["body"]["bytes"] == len(avi_bytes)
    names = [x.name for x in gem.files.list()]
    assert f.name in names
    gem.files.delete(name=f.name or "")
    with pytest.raises(errors.ClientError) as info:
        gem.files.get(name=f.name or "")
    assert info.value.code == 403


def test_failed_file(emu: Emulator, gem: genai.Client, avi_bytes: bytes) -> None:
    f = gem.files.upload(file=io.BytesIO(avi_bytes), config=types.UploadFileConfig(
        mime_type="video/avi", display_name="please-fail"))
    while f.state == types.FileState.PROCESSING:
        f = gem.files.get(name=f.name or "")
    assert f.state == types.FileState.FAILED and f.error is not None
    with pytest.raises(errors.ClientError) as info:
        gem.models.generate_content(model=MODEL, contents=parts(
            types.Part(file_data=types.FileData(file_uri=f.uri, mime_type="video/avi")), "x"))
    assert "not in an ACTIVE state" in str(info.value.message)


def test_undecodable_video_upload_fails_processing(gem: genai.Client) -> None:
    f = gem.files.upload(file=io.BytesIO(b"not a video" * 10), config=types.UploadFileConfig(
        mime_type="video/mp4", display_name="junk"))
    while f.state == types.FileState.PROCESSING:
        f = gem.files.get(name=f.name or "")
    assert f.state == types.FileState.FAILED


def test_file_active_at_once_and_time_based(emu: Emulator, gem: genai.Client,
                                            png_bytes: bytes) -> None:
    emu.configure(file_processing_polls=0)
    f = gem.files.upload(file=io.BytesIO(png_bytes), config=types.UploadFileConfig(
        mime_type="image/png"))
    assert f.state == types.FileState.ACTIVE
    emu.configure(file_processing_polls=0, file_processing_s=3600)
    f = gem.files.upload(file=io.BytesIO(png_bytes), config=types.UploadFileConfig(
        mime_type="image/png"))
    for _ in range(3):
        f = gem.files.get(name=f.name or "")
    assert f.state == types.FileState.PROCESSING


def test_unknown_file_uri_is_403(gem: genai.Client, emu: Emulator) -> None:
    with pytest.raises(errors.ClientError) as info:
        gem.models.generate_content(model=MODEL, contents=parts(types.Part(
            file_data=types.FileData(file_uri=f"{emu.url}/v1beta/files/nosuchfile",
                                     mime_type="video/mp4")), "x"))
    assert info.value.code == 403 and "nosuchfile" in str(info.value.message)


def test_multi_chunk_upload_and_bad_offset(emu: Emulator) -> None:
    key = {"x-goog-api-key": "k"}
    status, headers, _ = post(f"{emu.url}/upload/v1beta/files", {"file": {"display_name": "c"}}, {
        **key, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": "10",
        "X-Goog-Upload-Header-Content-Type": "text/plain"})
    assert status == 200
    url = {k.lower(): v for k, v in headers.items()}["x-goog-upload-url"]
    assert url.startswith("http://127.0.0.1:")
    status, headers, _ = post(url, b"hello", {"X-Goog-Upload-Command": "upload",
                                             "X-Goog-Upload-Offset": "0"})
    assert status == 200 and headers["x-goog-upload-status"] == "active"
    status, _, body = post(url, b"world", {"X-Goog-Upload-Command": "upload",
                                           "X-Goog-Upload-Offset": "3"})
    assert status == 400 and "offset" in json.loads(body)["error"]["message"]
    status, headers, body = post(url, b"world", {"X-Goog-Upload-Command": "upload, finalize",
                                                 "X-Goog-Upload-Offset": "5"})
    assert status == 200 and headers["x-goog-upload-status"] == "final"
    assert json.loads(body)["file"]["sizeBytes"] == "10"


# -- validation -------------------------------------------------------------------------


def test_missing_and_wrong_key(emu: Emulator) -> None:
    body = {"contents": [{"parts": [{"text": "x"}]}]}
    status, _, raw = post(f"{emu.url}/v1beta/models/{MODEL}:generateContent", body)
    err = json.loads(raw)["error"]
    assert status == 403 and err["status"] == "PERMISSION_DENIED" and set(err) >= {"code",
                                                                                 "message"}
    emu.configure(api_key="right-key")
    bad = genai.Client(api_key="wrong-key-secret", http_options=types.HttpOptions(
        base_url=emu.gemini_base_url, api_version="v1beta"))
    with pytest.raises(errors.ClientError) as info:
        bad.models.generate_content(model=MODEL, contents="x")
    assert info.value.code == 400 and "API key not valid" in str(info.value.message)
    assert "wrong-key-secret" not in json.dumps(emu.requests)


def test_key_in_query_is_accepted_and_redacted(emu: Emulator) -> None:
    body = {"contents": [{"parts": [{"text": "Neutral or Emotion?"}]}]}
    status, _, _ = post(f"{emu.url}/v1beta/models/{MODEL}:generateContent?key=query-secret", body)
    assert status == 200
    assert "query-secret" not in json.dumps(emu.requests)
    assert "query-secret" not in Path(str(emu.config.log_path)).read_text()


def test_unknown_model_is_404(emu: Emulator, gem: genai.Client) -> None:
    emu.configure(missing_models=["gemini-2.0-flash"])
    for model in ("gemini-does-not-exist", "gemini-2.0-flash"):
        with pytest.raises(errors.ClientError) as info:
            gem.models.generate_content(model=model, contents="x")
        assert info.value.code == 404 and info.value.status == "NOT_FOUND"
        assert f"models/{model} is not found" in str(info.value.message)


def test_logprobs_not_enabled(emu: Emulator, gem: genai.Client) -> None:
    cfg = types.GenerateContentConfig(response_logprobs=True, logprobs=3)
    with pytest.raises(errors.ClientError) as info:
        gem.models.generate_content(model="gemini-2.5-flash-no-logprobs", contents="x",
                                    config=cfg)
    assert info.value.status == "INVALID_ARGUMENT"
    assert info.value.message == "Logprobs is not enabled for models/gemini-2.5-flash-no-logprobs"
    emu.configure(logprobs_unsupported_models=["flash-lite"])
    with pytest.raises(errors.ClientError):
        gem.models.generate_content(model="gemini-2.5-flash-lite", contents="x", config=cfg)
    emu.configure(logprobs=False)
    with pytest.raises(errors.ClientError):
        gem.models.generate_content(model=MODEL, contents="x", config=cfg)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "contents is not specified"),
        ({"contents": [{"parts": []}]}, "must not be empty"),
        ({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "@@"}}]}]},
         "Base64 decoding failed"),
        ({"contents": [{"parts": [{"inline_data": {"mime_type": "image/png",
                                                   "data": base64.b64encode(b"x" * 50).decode()}}
                                  ]}]}, "Unable to process input image"),
        ({"contents": [{"parts": [{"inlineData": {"mimeType": "image/bmp", "data": "AAAA"}}]}]},
         "Unsupported MIME type: image/bmp"),
        ({"contents": [{"parts": [{"inlineData": {"mimeType": "video/mp4",
                                                  "data": base64.b64encode(b"junk").decode()}}]}]},
         "could not be processed"),
        ({"contents": [{"parts": [{"text": "x"}]}],
          "generationConfig": {"responseMimeType": "text/x.enum"}}, "enum"),
        ({"contents": [{"parts": [{"text": "x"}]}],
          "generationConfig": {"responseMimeType": "text/csv"}}, "not supported"),
        ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"logprobs": 3}},
         "response_logprobs"),
        ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": 5}},
         "temperature"),
        ({"contents": [{"parts": [{"fileData": {"fileUri": ""}}]}]}, "file_uri"),
        ({"contents": [{"parts": [{"foo": 1}]}]}, "oneof"),
    ],
)
def test_bad_generate_requests_are_400(emu: Emulator, body: dict[str, Any], words: str) -> None:
    status, _, raw = post(f"{emu.url}/v1beta/models/{MODEL}:generateContent", body,
                          {"x-goog-api-key": "k"})
    err = json.loads(raw)["error"]
    assert status == 400 and err["code"] == 400 and err["status"] == "INVALID_ARGUMENT"
    assert words in err["message"]


def test_bad_fps(gem: genai.Client, avi_bytes: bytes) -> None:
    with pytest.raises(errors.ClientError) as info:
        gem.models.generate_content(model=MODEL,
                                    contents=parts(_video_part(avi_bytes, fps=30), "x"))
    assert "fps" in str(info.value.message)


def test_inline_request_over_20_mb(emu: Emulator, gem: genai.Client, png_bytes: bytes) -> None:
    emu.configure(max_inline_bytes=2000)
    with pytest.raises(errors.ClientError) as info:
        gem.models.generate_content(model=MODEL, contents=parts(
            types.Part.from_bytes(data=png_bytes * 30, mime_type="image/png"), "x"))
    assert "Request payload size exceeds the limit: 2000 bytes" in str(info.value.message)


def test_too_many_videos(emu: Emulator, gem: genai.Client, avi_bytes: bytes) -> None:
    emu.configure(max_videos=2)
    with pytest.raises(errors.ClientError) as info:
        gem.models.generate_content(model=MODEL, contents=parts(*[_video_part(avi_bytes)] * 3, "x"))
    assert "Too many videos" in str(info.value.message)


def test_malformed_json_and_unknown_fields(emu: Emulator) -> None:
    url = f"{emu.url}/v1beta/models/{MODEL}:generateContent"
    status, _, raw = post(url, b"{not json", {"x-goog-api-key": "k"})
    assert status == 400 and json.loads(raw)["error"]["status"] == "INVALID_ARGUMENT"
    body = {"contents": [{"parts": [{"text": "Neutral or Emotion?"}]}], "extraThing": 1}
    assert post(url, body, {"x-goog-api-key": "k"})[0] == 200
    assert emu.calls("generate")[-1]["unknown_fields"] == ["extraThing"]
    emu.configure(strict_fields=True)
    status, _, raw = post(url, body, {"x-goog-api-key": "k"})
    assert status == 400 and 'Unknown name "extraThing"' in json.loads(raw)["error"]["message"]


def test_stream_and_models_list(emu: Emulator, gem: genai.Client) -> None:
    emu.set_policy("fixed:Neutral")
    text = "".join(c.text or "" for c in gem.models.generate_content_stream(
        model=MODEL, contents="Neutral or Emotion?"))
    assert text == "Neutral"
    assert emu.calls("stream_generate")[0]["answer"] == "Neutral"
    emu.configure(missing_models=["gemini-2.5-flash-lite"])
    names = [m.name for m in gem.models.list()]
    assert "models/gemini-2.5-flash" in names and "models/gemini-2.5-flash-lite" not in names
    assert gem.models.get(model=MODEL).name == f"models/{MODEL}"


def test_large_upload_goes_in_several_chunks(emu: Emulator, gem: genai.Client) -> None:
    data = bytes(range(256)) * (9 * 4096 + 3)  # just over 9 MiB: two 8 MiB chunks
    f = gem.files.upload(file=io.BytesIO(data), config=types.UploadFileConfig(
        mime_type="text/plain"))
    assert f.size_bytes == len(data)
    chunks = emu.calls("upload.chunk")
    assert len(chunks) == 2 and sum(c["body"]["bytes"] for c in chunks) == len(data)
