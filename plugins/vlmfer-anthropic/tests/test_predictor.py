"""anthropic/<model> through the Python API: the real SDK, the emulator, the wire requests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import vlmfer
from claude_support import KEY
from vlmfer.emulator import Emulator
from vlmfer.errors import ConfigError, MissingKeyError, PredictorError
from vlmfer.types import GenerationOptions, Media, Prompt, ResponseConstraint

LABELS = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]


def _prompt(path: Path, **options: Any) -> Prompt:
    media = Media.from_path(path).with_hash()
    return Prompt(system="You are an expert in facial expressions.",
                  text="Which emotion? Answer with one label: " + ", ".join(LABELS) + ".",
                  media=[media], options=GenerationOptions(**options), label_order=LABELS)


def _predict(predictor: Any, prompt: Prompt) -> Any:
    async def go() -> Any:
        try:
            return await predictor.predict(prompt)
        finally:
            await predictor.aclose()

    return asyncio.run(go())


def _first_image(images: Path) -> Path:
    return sorted(images.glob("test/Happy/*.png"))[0]


def test_an_image_goes_as_a_base64_block_and_the_answer_is_recorded(
    emu: Emulator, images: Path
) -> None:
    emu.set_policy("fixed:Happy")
    p = vlmfer.get_predictor("anthropic/claude-haiku-4-5", base_url=emu.anthropic_base_url)
    r = _predict(p, _prompt(_first_image(images)))
    assert r.status == "ok" and r.text == "Happy" and r.finish_reason == "stop"
    assert r.model_version == "claude-haiku-4-5-20251001"  # the snapshot that answered
    assert r.details["request_id"].startswith("req_")
    assert r.usage.input_tokens > 0 and r.usage.output_tokens == 1
    assert r.cost_usd is not None and r.cost_usd > 0
    (call,) = emu.calls("anthropic.messages")
    body = call["body"]
    (message,) = body["messages"]
    image, text = message["content"]
    assert image["type"] == "image" and image["source"]["type"] == "base64"
    assert image["source"]["media_type"] == "image/jpeg"  # the media layer's encode
    assert call["mime_types"] == ["image/jpeg"]
    assert text["text"].startswith("Which emotion?")
    assert body["system"] == "You are an expert in facial expressions."
    assert body["max_tokens"] == 1024  # always sent: the API requires it
    # API version 2026-10-21 takes no sampling parameters: temperature=0 is not sent, and
    # the response says so.
    assert "temperature" not in body
    assert call["headers"]["anthropic-version"] == "2026-10-21"
    assert r.details["sent"] == {"max_tokens": 1024}
    assert "temperature" in r.details["dropped"] and "seed" in r.details["dropped"]


def test_temperature_is_sent_and_recorded_on_an_api_version_that_takes_it(
    emu: Emulator, images: Path
) -> None:
    p = vlmfer.get_predictor("anthropic/claude-sonnet-4-6", base_url=emu.anthropic_base_url,
                             api_version="2023-06-01", max_tokens=20)
    r = _predict(p, _prompt(_first_image(images), temperature=0.0, seed=None))
    (call,) = emu.calls("anthropic.messages")
    assert call["headers"]["anthropic-version"] == "2023-06-01"
    assert call["body"]["temperature"] == 0.0 and call["body"]["max_tokens"] == 20
    assert r.details["sent"] == {"max_tokens": 20, "temperature": 0.0}
    assert "dropped" not in r.details


def test_a_constrained_answer_uses_structured_output(emu: Emulator, images: Path) -> None:
    emu.set_policy("fixed:Sad")
    p = vlmfer.get_predictor("anthropic/claude-sonnet-5-5", base_url=emu.anthropic_base_url)
    prompt = _prompt(_first_image(images)).model_copy(
        update={"constraint": ResponseConstraint(kind="enum", labels=LABELS)})
    r = _predict(p, prompt)
    assert r.text == "Sad" and r.label == "Sad" and r.details["raw_text"] == '{"label": "Sad"}'
    fmt = emu.calls("anthropic.messages")[0]["body"]["output_config"]["format"]
    assert fmt["type"] == "json_schema"
    assert fmt["schema"]["properties"]["label"]["enum"] == LABELS


def test_a_refusal_is_refused_and_a_cut_answer_is_length(emu: Emulator, images: Path) -> None:
    emu.set_policy("refuse")
    p = vlmfer.get_predictor("anthropic/claude-sonnet-5-5", base_url=emu.anthropic_base_url)
    r = _predict(p, _prompt(_first_image(images)))
    assert r.status == "refused" and r.text is None and r.label is None
    assert r.finish_reason == "refusal" and r.details["stop_reason"] == "refusal"
    emu.set_policy("fixed:Surprise")
    emu.configure(thoughts_tokens=2)
    p = vlmfer.get_predictor("anthropic/claude-sonnet-5-5", base_url=emu.anthropic_base_url)
    r = _predict(p, _prompt(_first_image(images), max_tokens=2))
    assert r.finish_reason == "length" and r.details["stop_reason"] == "max_tokens"
    assert r.text is None  # thinking used the whole budget: no answer, not a label


@pytest.mark.parametrize(("fault", "kind"), [("429", "rate_limit"), ("529", "overloaded")])
def test_429_and_529_are_retryable_with_the_servers_retry_after(
    emu: Emulator, images: Path, fault: str, kind: str
) -> None:
    emu.configure(retry_after_s=7)
    p = vlmfer.get_predictor("anthropic/claude-sonnet-5-5", base_url=emu.anthropic_base_url)
    prompt = _prompt(_first_image(images))
    prompt = prompt.model_copy(update={"text": prompt.text + f" [[emu:fault={fault}]]"})
    with pytest.raises(PredictorError) as e:
        _predict(p, prompt)
    assert e.value.retryable and e.value.kind == kind and e.value.retry_after == 7.0
    assert e.value.status == int(fault) and "request-id req_" in str(e.value)
    assert len(emu.calls("anthropic.messages")) == 1  # the SDK did not retry by itself


def test_a_rejected_key_and_an_unknown_model_are_not_retryable(
    emu: Emulator, images: Path
) -> None:
    emu.configure(api_key="another-key")
    p = vlmfer.get_predictor("anthropic/claude-sonnet-5-5", base_url=emu.anthropic_base_url)
    with pytest.raises(PredictorError) as e:
        _predict(p, _prompt(_first_image(images)))
    assert not e.value.retryable and e.value.kind == "auth"
    assert "ANTHROPIC_API_KEY" in str(e.value) and KEY not in str(e.value)
    emu.configure(api_key=None)
    p = vlmfer.get_predictor("anthropic/claude-does-not-exist",
                             base_url=emu.anthropic_base_url)
    with pytest.raises(PredictorError) as e:
        _predict(p, _prompt(_first_image(images)))
    assert not e.value.retryable and e.value.kind == "not_found" and e.value.status == 404


def test_the_limits_are_checked_before_any_call(emu: Emulator, images: Path) -> None:
    p = vlmfer.get_predictor("anthropic/claude-sonnet-5-5", base_url=emu.anthropic_base_url,
                             max_images=1)
    prompt = _prompt(_first_image(images))
    prompt = prompt.model_copy(update={"media": prompt.media * 2})
    with pytest.raises(PredictorError, match="2 images, over max_images=1"):
        _predict(p, prompt)
    assert emu.requests == []


def test_options_are_checked_and_the_key_comes_only_from_the_environment(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match=r"Valid options: .*api_version"):
        vlmfer.get_predictor("anthropic/claude-sonnet-5-5", temprature=0)
    with pytest.raises(ConfigError, match="unknown option"):
        vlmfer.get_predictor("anthropic/claude-sonnet-5-5", api_key=KEY)
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(MissingKeyError, match="export ANTHROPIC_API_KEY"):
        vlmfer.get_predictor("anthropic/claude-sonnet-5-5", base_url=emu.anthropic_base_url)


def test_capabilities_say_there_are_no_logprobs(emu: Emulator) -> None:
    p = vlmfer.get_predictor("anthropic/claude-sonnet-5-5", base_url=emu.anthropic_base_url)
    caps = p.capabilities
    assert not caps.logprobs and caps.image and not caps.video and caps.video_as_frames
    assert caps.max_images == 100
    assert p.batch_jobs() is not None  # the batch capability, through the public surface
