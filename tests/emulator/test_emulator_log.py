"""The request log: what it records, and that it never holds a key or a base64 payload."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import openai
import pytest
from emulator_support import data_url, parts
from google import genai
from google.genai import types
from openai import OpenAI
from openai.types.chat import ChatCompletionContentPartParam

from vlmfer.emulator import Emulator, EmulatorConfig

_B64_RUN = re.compile(r"[A-Za-z0-9+/]{200,}")


def test_log_has_no_key_and_no_base64(emu: Emulator, oai: OpenAI, gem: genai.Client,
                                      png_bytes: bytes, avi_bytes: bytes) -> None:
    content: list[ChatCompletionContentPartParam] = [
        {"type": "text", "text": "Neutral or Emotion?"},
        {"type": "image_url", "image_url": {"url": data_url(png_bytes), "detail": "low"}}]
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])
    gem.models.generate_content(model="gemini-2.5-flash", contents=parts(
        types.Part(inline_data=types.Blob(data=avi_bytes, mime_type="video/avi")), "Which?"))
    f = gem.files.upload(file=io.BytesIO(avi_bytes), config=types.UploadFileConfig(
        mime_type="video/avi"))
    gem.files.get(name=f.name or "")
    oai.files.create(file=("b.jsonl", b'{"a": 1}\n', "application/jsonl"), purpose="batch")

    raw = Path(str(emu.config.log_path)).read_text()
    lines = [json.loads(x) for x in raw.splitlines()]
    assert len(lines) == len(emu.requests) == 6
    for secret in ("sk-test-secret-123", "g-test-secret-456"):
        assert secret not in raw
    assert base64.b64encode(png_bytes).decode()[:60] not in raw
    assert base64.b64encode(avi_bytes).decode()[:60] not in raw
    assert not _B64_RUN.search(raw)

    chat = lines[0]
    assert chat["headers"]["authorization"] == "<redacted>"
    image = chat["body"]["messages"][0]["content"][1]["image_url"]
    assert image["url"]["bytes"] == len(png_bytes) and len(image["url"]["sha256"]) == 64
    assert image["url"]["mime_type"] == "image/png"
    gen = lines[1]
    assert gen["headers"]["x-goog-api-key"] == "<redacted>"
    inline = gen["body"]["contents"][0]["parts"][0]["inlineData"]
    assert inline["data"] == {"sha256": gen["media"][0]["sha256"], "bytes": len(avi_bytes)}
    assert gen["mime_types"] == ["video/avi"] and gen["sizes"] == [len(avi_bytes)]


def test_entry_fields_and_helpers(emu: Emulator, oai: OpenAI) -> None:
    oai.chat.completions.create(model="gpt-4o",
                                messages=[{"role": "user", "content": "Happy or Sad? smiling"}])
    (e,) = emu.calls("openai.chat")
    for key in ("time", "method", "path", "provider", "endpoint", "model", "status", "fault",
                "answer", "images", "videos", "mime_types", "sizes", "detail", "frames",
                "input_tokens", "body", "headers", "elapsed_s"):
        assert key in e, key
    assert (e["method"], e["path"], e["status"], e["answer"]) == (
        "POST", "/v1/chat/completions", 200, "Happy")
    assert emu.calls("chat", provider="openai", status=200, model="gpt-4o") == [e]
    assert emu.calls("generate") == [] and emu.calls(model="other") == []
    emu.reset()
    assert emu.requests == [] and emu.counters["requests"] == {}


def test_log_path_can_change_between_tests(emu: Emulator, oai: OpenAI, tmp_path: Path) -> None:
    other = tmp_path / "sub" / "other.jsonl"
    emu.configure(log_path=other)
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert len(other.read_text().splitlines()) == 1


def test_errors_are_logged_with_their_message(emu: Emulator, oai: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="gpt-does-not-exist",
                                    messages=[{"role": "user", "content": "x"}])
    (e,) = emu.requests
    assert e["status"] == 404 and "does not exist" in e["error"]


def test_start_stop_without_context_manager() -> None:
    emu = Emulator(EmulatorConfig())
    emu.start()
    try:
        assert emu.url.startswith("http://127.0.0.1:") and emu.port > 0
        assert emu.openai_base_url == emu.url + "/v1" and emu.gemini_base_url == emu.url
    finally:
        emu.stop()
    emu.stop()  # idempotent
