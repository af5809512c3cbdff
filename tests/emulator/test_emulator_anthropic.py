"""The Anthropic side of the emulator, driven by the real anthropic SDK over HTTP.

The anthropic SDK comes with the vlmfer-anthropic plugin (CI installs it before the suite).
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from emulator_support import CAER, post
from PIL import Image

from vlmfer.emulator import Emulator, FaultRates

anthropic = pytest.importorskip("anthropic", reason="the anthropic SDK (vlmfer-anthropic)")

KEY = "sk-ant-emulator-test-0b6e"


@pytest.fixture
def claude(emu: Emulator) -> Any:
    return anthropic.Anthropic(base_url=emu.anthropic_base_url, api_key=KEY, max_retries=0,
                               timeout=20)


def _image(data: bytes, media_type: str = "image/png") -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type,
                                        "data": base64.b64encode(data).decode()}}


def _ask(*blocks: dict[str, Any], text: str = "Which emotion? Answer with one label: "
         "Anger, Disgust, Fear, Happy, Neutral, Sad, Surprise.") -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": text}]}]


def _schema() -> dict[str, Any]:
    return {"format": {"type": "json_schema", "schema": {
        "type": "object", "properties": {"label": {"type": "string", "enum": CAER}},
        "required": ["label"], "additionalProperties": False}}}


def test_a_message_with_images_and_a_schema(emu: Emulator, claude: Any,
                                            png_bytes: bytes) -> None:
    emu.set_policy("fixed:Sad")
    msg = claude.messages.create(
        model="claude-haiku-4-5", max_tokens=32, system="You are an expert.",
        messages=_ask(_image(png_bytes), _image(png_bytes)), output_config=_schema())
    assert msg.type == "message" and msg.role == "assistant"
    assert [b.type for b in msg.content] == ["text"]
    assert json.loads(msg.content[0].text) == {"label": "Sad"}
    assert msg.stop_reason == "end_turn"
    assert msg.model == "claude-haiku-4-5-20251001"  # the snapshot behind the alias
    assert msg.usage.input_tokens > 2 and msg.usage.output_tokens >= 1
    assert msg.usage.cache_read_input_tokens == 0
    assert msg._request_id and msg._request_id.startswith("req_")
    (call,) = emu.calls("anthropic.messages")
    assert call["provider"] == "anthropic" and call["status"] == 200
    assert call["images"] == 2 and call["mime_types"] == ["image/png", "image/png"]
    assert call["labels"] == CAER and call["model"] == "claude-haiku-4-5"
    # What the SDK sent: its auth header (redacted in the log), the API version, the body.
    assert call["headers"]["authorization"] == "<redacted>"
    assert call["headers"]["anthropic-version"] == "2026-10-21"
    assert call["body"]["max_tokens"] == 32
    assert KEY not in json.dumps(emu.requests)


def test_required_fields_and_headers_are_checked(emu: Emulator, png_bytes: bytes) -> None:
    url = f"{emu.anthropic_base_url}/v1/messages"
    ok_headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    body = {"model": "claude-sonnet-5-5", "max_tokens": 8, "messages": _ask()}
    status, headers, raw = post(url, body, {"anthropic-version": "2023-06-01"})
    assert status == 401
    assert json.loads(raw) == {"type": "error", "error": {
        "type": "authentication_error", "message": "x-api-key header is required"}}
    assert headers.get("request-id", "").startswith("req_")
    status, _, raw = post(url, body, {"x-api-key": KEY})
    assert status == 400 and "anthropic-version: header is required" in raw.decode()
    for field in ("model", "max_tokens", "messages"):
        status, _, raw = post(url, {k: v for k, v in body.items() if k != field}, ok_headers)
        err = json.loads(raw)["error"]
        assert status == 400 and err == {"type": "invalid_request_error",
                                          "message": f"{field}: Field required"}
    status, _, _ = post(url, body, ok_headers)
    assert status == 200


def test_sampling_parameters_follow_the_api_version(emu: Emulator) -> None:
    url = f"{emu.anthropic_base_url}/v1/messages"
    body = {"model": "claude-sonnet-5-5", "max_tokens": 8, "messages": _ask(),
            "temperature": 0}
    status, _, raw = post(url, body, {"x-api-key": KEY, "anthropic-version": "2026-10-21"})
    assert status == 400 and "temperature: Extra inputs are not permitted" in raw.decode()
    status, _, _ = post(url, body, {"x-api-key": KEY, "anthropic-version": "2023-06-01"})
    assert status == 200


def test_images_are_checked_against_their_bytes_and_the_limits(
    emu: Emulator, claude: Any, png_bytes: bytes
) -> None:
    with pytest.raises(anthropic.BadRequestError, match="does not match the provided media "
                       "type image/jpeg"):
        claude.messages.create(model="claude-sonnet-5-5", max_tokens=8,
                               messages=_ask(_image(png_bytes, "image/jpeg")))
    with pytest.raises(anthropic.BadRequestError, match="media_type"):
        claude.messages.create(model="claude-sonnet-5-5", max_tokens=8,
                               messages=_ask(_image(png_bytes, "image/bmp")))
    emu.configure(anthropic_max_image_bytes=len(png_bytes) - 1)
    with pytest.raises(anthropic.BadRequestError, match="image exceeds"):
        claude.messages.create(model="claude-sonnet-5-5", max_tokens=8,
                               messages=_ask(_image(png_bytes)))
    emu.configure(anthropic_max_image_bytes=5 * 1024 * 1024, anthropic_max_images=2)
    with pytest.raises(anthropic.BadRequestError, match="Too many images"):
        claude.messages.create(model="claude-sonnet-5-5", max_tokens=8,
                               messages=_ask(*[_image(png_bytes)] * 3))
    buf = io.BytesIO()
    Image.new("RGB", (2100, 10)).save(buf, "PNG")
    emu.configure(anthropic_max_images=100)
    claude.messages.create(model="claude-sonnet-5-5", max_tokens=8,
                           messages=_ask(_image(buf.getvalue())))  # 2100 px alone is fine
    with pytest.raises(anthropic.BadRequestError, match="2000 pixels"):
        claude.messages.create(model="claude-sonnet-5-5", max_tokens=8,
                               messages=_ask(_image(buf.getvalue()),
                                             *[_image(png_bytes)] * 20))


def test_refusal_max_tokens_and_errors_have_the_real_shapes(
    emu: Emulator, claude: Any, png_bytes: bytes
) -> None:
    emu.set_policy("refuse")
    msg = claude.messages.create(model="claude-sonnet-5-5", max_tokens=8,
                                 messages=_ask(_image(png_bytes)))
    assert msg.stop_reason == "refusal" and msg.stop_details.type == "refusal"
    assert [b.type for b in msg.content] == []
    emu.set_policy("fixed:Surprise")
    emu.configure(thoughts_tokens=3)
    msg = claude.messages.create(model="claude-sonnet-5-5", max_tokens=4,
                                 messages=_ask(_image(png_bytes), text="Describe the face."))
    assert msg.stop_reason == "max_tokens"  # thinking used most of the budget
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.usage.output_tokens == 4
    with pytest.raises(anthropic.NotFoundError) as nf:
        claude.messages.create(model="claude-does-not-exist", max_tokens=8, messages=_ask())
    assert nf.value.type == "not_found_error" and nf.value.request_id


def test_faults_429_and_529(emu: Emulator, claude: Any) -> None:
    emu.configure(retry_after_s=3)
    with pytest.raises(anthropic.RateLimitError) as rl:
        claude.messages.create(model="claude-sonnet-5-5", max_tokens=8,
                               messages=_ask(text="Which emotion? [[emu:fault=429]]"))
    assert rl.value.response.headers["retry-after"] == "3"
    with pytest.raises(anthropic.OverloadedError) as ov:
        claude.messages.create(model="claude-sonnet-5-5", max_tokens=8,
                               messages=_ask(text="Which emotion? [[emu:fault=529]]"))
    assert ov.value.status_code == 529 and ov.value.type == "overloaded_error"
    emu.configure(faults=FaultRates(http_529=1.0))
    with pytest.raises(anthropic.OverloadedError):
        claude.messages.create(model="claude-sonnet-5-5", max_tokens=8, messages=_ask())
    assert emu.counters["faults"]["529"] == 2


def test_a_wrong_key_is_an_authentication_error(emu: Emulator, claude: Any) -> None:
    emu.configure(api_key="the-right-key")
    with pytest.raises(anthropic.AuthenticationError) as e:
        claude.messages.create(model="claude-sonnet-5-5", max_tokens=8, messages=_ask())
    assert e.value.type == "authentication_error"
    assert KEY not in json.dumps(emu.requests)


def test_rate_limits_answer_429_with_retry_after(emu: Emulator, claude: Any) -> None:
    emu.configure(rpm=1)
    claude.messages.create(model="claude-sonnet-5-5", max_tokens=8, messages=_ask())
    with pytest.raises(anthropic.RateLimitError) as e:
        claude.messages.create(model="claude-sonnet-5-5", max_tokens=8, messages=_ask())
    assert int(e.value.response.headers["retry-after"]) >= 1


def test_message_batches_round_trip(emu: Emulator, claude: Any, png_bytes: bytes) -> None:
    emu.set_policy("fixed:Happy")
    params = {"model": "claude-sonnet-5-5", "max_tokens": 16,
              "messages": _ask(_image(png_bytes))}
    batch = claude.messages.batches.create(requests=[
        {"custom_id": "a-1", "params": params},
        {"custom_id": "b-2", "params": {**params, "model": "claude-does-not-exist"}},
        {"custom_id": "c-3", "params": {**params, "max_tokens": 0}},
    ])
    assert batch.processing_status == "in_progress" and batch.request_counts.processing == 3
    got = claude.messages.batches.retrieve(batch.id)
    assert got.processing_status == "ended"
    assert got.request_counts.succeeded == 1 and got.request_counts.errored == 2
    assert got.results_url.startswith(emu.url)
    results = {r.custom_id: r.result for r in claude.messages.batches.results(batch.id)}
    assert results["a-1"].type == "succeeded"
    assert results["a-1"].message.content[0].text == "Happy"
    assert results["a-1"].message.usage.service_tier == "batch"
    assert results["b-2"].type == "errored"
    assert results["b-2"].error.error.type == "not_found_error"
    assert results["c-3"].type == "errored" and "max_tokens" in results["c-3"].error.error.message
    items = {c["item"]: c for c in emu.calls("anthropic.batch_request")}
    assert set(items) == {"a-1", "b-2", "c-3"} and items["a-1"]["images"] == 1
    claude.messages.batches.delete(batch.id)
    assert emu.anthropic_batches == {}


def test_expired_and_failed_batches(emu: Emulator, claude: Any) -> None:
    params = {"model": "claude-sonnet-5-5", "max_tokens": 16, "messages": _ask()}
    emu.configure(batch_outcome="expired")
    batch = claude.messages.batches.create(
        requests=[{"custom_id": f"r{i}", "params": params} for i in range(4)])
    kinds = [r.result.type for r in claude.messages.batches.results(batch.id)]
    assert kinds == ["succeeded", "succeeded", "expired", "expired"]
    emu.configure(batch_outcome="failed")
    batch = claude.messages.batches.create(requests=[{"custom_id": "x", "params": params}])
    (only,) = list(claude.messages.batches.results(batch.id))
    assert only.result.type == "errored"
    with pytest.raises(anthropic.BadRequestError, match="custom_id"):
        claude.messages.batches.create(requests=[{"custom_id": "x", "params": params},
                                                 {"custom_id": "x", "params": params}])


def test_openai_and_gemini_still_route_beside_anthropic(emu: Emulator, oai: Any,
                                                       claude: Any) -> None:
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    claude.messages.create(model="claude-sonnet-5-5", max_tokens=8, messages=_ask())
    assert [m.id for m in oai.models.list()][:1] == ["gpt-4o"]
    assert "claude-sonnet-5-5" in [m.id for m in claude.models.list()]
    assert [c["endpoint"] for c in emu.requests] == [
        "openai.chat", "anthropic.messages", "openai.models.list", "anthropic.models.list"]
