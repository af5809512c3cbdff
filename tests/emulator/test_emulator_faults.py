"""Injected faults and rate limits, seen through the real SDKs."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest
from emulator_support import data_url, post
from google import genai
from google.genai import errors, types
from openai import OpenAI
from openai.types.chat import ChatCompletionContentPartParam

from vlmfer.emulator import Emulator, EmulatorConfig, FaultRates

MODEL = "gemini-2.5-flash"


def _chat(client: OpenAI, text: str = "Neutral or Emotion?", **kw: Any) -> Any:
    return client.chat.completions.create(
        model=kw.pop("model", "gpt-4o"), messages=[{"role": "user", "content": text}], **kw)


def test_openai_429_with_retry_after(emu: Emulator, oai: OpenAI) -> None:
    emu.configure(faults=FaultRates(http_429=1.0), retry_after_s=7)
    with pytest.raises(openai.RateLimitError) as info:
        _chat(oai)
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.response.headers["retry-after-ms"] == "7000"
    assert info.value.code == "rate_limit_exceeded"
    assert emu.counters["faults"] == {"429": 1}
    assert emu.calls("chat")[0]["fault"] == "429"


def test_gemini_429_resource_exhausted(emu: Emulator, gem: genai.Client) -> None:
    emu.configure(faults=FaultRates(http_429=1.0), retry_after_s=3)
    with pytest.raises(errors.ClientError) as info:
        gem.models.generate_content(model=MODEL, contents="Neutral or Emotion?")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    assert info.value.details["error"]["details"][0]["retryDelay"] == "3s"
    assert info.value.response.headers["retry-after"] == "3"


def test_500(emu: Emulator, oai: OpenAI, gem: genai.Client) -> None:
    emu.configure(faults=FaultRates(http_500=1.0))
    with pytest.raises(openai.InternalServerError):
        _chat(oai)
    with pytest.raises(errors.ServerError) as info:
        gem.models.generate_content(model=MODEL, contents="x")
    assert info.value.code == 500 and info.value.status == "INTERNAL"
    assert emu.counters["faults"] == {"500": 2}


def test_timeouts(emu: Emulator) -> None:
    emu.configure(faults=FaultRates(timeout=1.0), timeout_s=2.0)
    client = OpenAI(base_url=emu.openai_base_url, api_key="k", max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        _chat(client)
    gem = genai.Client(api_key="k", http_options=types.HttpOptions(
        base_url=emu.gemini_base_url, api_version="v1beta", timeout=300))
    with pytest.raises(httpx2.TimeoutException):
        gem.models.generate_content(model=MODEL, contents="x")
    assert emu.counters["faults"] == {"timeout": 2}
    assert emu.counters["status"] == {"timeout": 2}


def test_timeout_hangs_up_without_a_response(emu: Emulator) -> None:
    emu.configure(faults=FaultRates(timeout=1.0), timeout_s=0.2)
    client = OpenAI(base_url=emu.openai_base_url, api_key="k", max_retries=0, timeout=10)
    with pytest.raises(openai.APIConnectionError):
        _chat(client)


def test_malformed_bodies(emu: Emulator, oai: OpenAI, gem: genai.Client) -> None:
    emu.configure(faults=FaultRates(malformed=1.0))
    with pytest.raises(ValueError):  # the SDK lets the JSON decoding error through
        _chat(oai)
    with pytest.raises((ValueError, errors.APIError)):
        gem.models.generate_content(model=MODEL, contents="x")
    status, _, body = post(emu.openai_base_url + "/chat/completions",
                           {"model": "m", "messages": [{"role": "user", "content": "x"}]},
                           {"Authorization": "Bearer k"})
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)


def test_block_faults_take_both_shapes(emu: Emulator, oai: OpenAI, gem: genai.Client) -> None:
    emu.configure(faults=FaultRates(block=1.0))
    shapes = set()
    for i in range(12):
        c = _chat(oai, f"Neutral or Emotion? #{i}").choices[0]
        assert c.message.content is None
        shapes.add("refusal" if c.message.refusal else c.finish_reason)
    assert shapes == {"refusal", "content_filter"}
    shapes = set()
    for i in range(12):
        r = gem.models.generate_content(model=MODEL, contents=f"Neutral or Emotion? #{i}")
        assert r.text is None
        if r.prompt_feedback and r.prompt_feedback.block_reason:
            shapes.add("prompt")
        else:
            assert r.candidates
            shapes.add(r.candidates[0].finish_reason)
    assert shapes == {"prompt", types.FinishReason.SAFETY}
    assert emu.counters["faults"] == {"block": 24}
    assert emu.counters["outcomes"] == {"block": 24}


def test_fault_marker_overrides_rates(oai: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        _chat(oai, "x [[emu:fault=500]]")
    with pytest.raises(openai.RateLimitError):
        _chat(oai, "x", extra_headers={"X-Emulator-Directive": "fault=429"})


def test_faults_are_reproducible_and_retries_get_fresh_draws() -> None:
    def pattern() -> list[int]:
        cfg = EmulatorConfig(seed=5, faults=FaultRates(http_500=0.4))
        with Emulator(cfg, port=0) as emu:
            client = OpenAI(base_url=emu.openai_base_url, api_key="k", max_retries=0)
            statuses = []
            for i in range(15):
                try:
                    _chat(client, f"Neutral or Emotion? #{i % 5}")
                    statuses.append(200)
                except openai.InternalServerError:
                    statuses.append(500)
            return statuses

    first = pattern()
    assert first == pattern()
    assert 200 in first and 500 in first
    # the same request (i % 5) does not always get the same fate: retries can succeed
    by_request = {i: {first[j] for j in range(i, 15, 5)} for i in range(5)}
    assert any(len(v) == 2 for v in by_request.values())


def test_rates_must_sum_to_at_most_one() -> None:
    with pytest.raises(ValueError, match="at most 1"):
        FaultRates(http_429=0.6, http_500=0.6)
    with pytest.raises(ValueError):
        FaultRates(http_429=1.5)
    with pytest.raises(ValueError):
        FaultRates(htp_429=0.1)  # type: ignore[call-arg]


def test_rpm_limit(emu: Emulator, oai: OpenAI, gem: genai.Client) -> None:
    emu.configure(rpm=3)
    remaining = []
    for _ in range(3):
        raw = oai.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Neutral or Emotion?"}])
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.request_id and raw.request_id.startswith("req_")
        remaining.append(raw.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]
    with pytest.raises(openai.RateLimitError) as info:
        _chat(oai)
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 60
    assert "RPM" in str(info.value)
    _chat(oai, model="gpt-4o-mini")  # limits are per model
    for _ in range(3):
        gem.models.generate_content(model=MODEL, contents="Neutral or Emotion?")
    with pytest.raises(errors.ClientError) as ginfo:
        gem.models.generate_content(model=MODEL, contents="Neutral or Emotion?")
    assert ginfo.value.code == 429 and ginfo.value.status == "RESOURCE_EXHAUSTED"
    assert emu.counters["limits"] == {"rpm": 2}
    assert len(emu.calls(status=429)) == 2
    emu.reset()  # clears the windows too
    _chat(oai)


def test_tpm_limit(emu: Emulator, oai: OpenAI, png_bytes: bytes) -> None:
    emu.configure(tpm=150)
    content: list[ChatCompletionContentPartParam] = [
        {"type": "text", "text": "Neutral or Emotion?"},
        {"type": "image_url", "image_url": {"url": data_url(png_bytes), "detail": "low"}}]
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])
    with pytest.raises(openai.RateLimitError) as info:
        oai.chat.completions.create(model="gpt-4o",
                                    messages=[{"role": "user", "content": content}])
    assert "TPM" in str(info.value)
    assert emu.counters["limits"] == {"tpm": 1}


def test_latency_marker_and_counters(emu: Emulator, oai: OpenAI) -> None:
    _chat(oai, "Neutral or Emotion? [[emu:latency=0.05]]")
    assert emu.calls("chat")[0]["directives"] == {"latency": "0.05"}
    assert emu.counters["requests"] == {"openai.chat": 1}
    assert emu.counters["status"] == {"200": 1}
