"""``openai/<model>``: the real openai SDK over real HTTP to the loopback emulator."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from predictor_support import FAKE_KEY, Emulator, get_predictor, run
from support import refused_port

from vlmfer.errors import PredictorError
from vlmfer.types import GenerationOptions, Media, MediaSpec, Prompt, Response, ResponseConstraint

LABELS = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]
QUESTION = "Which emotion does the face show? Choose one of: " + ", ".join(LABELS) + "."


def _openai(emu: Emulator, model: str = "gpt-4o", **options: Any) -> Any:
    return get_predictor(f"openai/{model}", base_url=emu.openai_base_url, api_key=FAKE_KEY,
                         **options)


def _ask(predictor: Any, *prompts: Prompt) -> list[Response]:
    """Send prompts one after another on one event loop, then close the predictor."""

    async def go() -> list[Response]:
        try:
            return [await predictor.predict(p) for p in prompts]
        finally:
            await predictor.aclose()

    return run(go())


def _fail(predictor: Any, prompt: Prompt) -> PredictorError:
    async def go() -> PredictorError:
        try:
            await predictor.predict(prompt)
        except PredictorError as exc:
            return exc
        finally:
            await predictor.aclose()
        raise AssertionError("the call did not fail")

    return run(go())


def _image(path: Path, text: str = QUESTION, **kw: Any) -> Prompt:
    return Prompt(text=text, media=[Media.from_path(path)], **kw)


def _body(entry: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = entry["body"]
    return body


# ---------------------------------------------------------------- answers


def test_image_with_schema_and_logprobs(emu: Emulator, happy_jpg: Path) -> None:
    p = _openai(emu, detail="low")
    [r] = _ask(p, _image(happy_jpg, constraint=ResponseConstraint(kind="json_schema",
                                                                  labels=LABELS),
                         options=GenerationOptions(logprobs=True, top_logprobs=7, seed=4,
                                                   temperature=0.0, max_tokens=20)))
    assert r.status == "ok" and r.label is None
    assert json.loads(r.text or "") == {"label": "Happy"}
    assert r.logprobs is not None and max(r.logprobs, key=r.logprobs.__getitem__) == "Happy"
    assert set(r.logprobs) <= set(LABELS) and len(r.logprobs) > 1
    assert r.details["detail"] == "low" and r.model_version
    assert r.usage.input_tokens > 0 and r.details["estimated_input_tokens"] > 0
    assert r.cost_usd is not None and r.cost_usd > 0  # gpt-4o has a known price
    assert r.details["media"][0]["source"] == str(happy_jpg)

    [call] = emu.calls("openai.chat")
    assert call["model"] == "gpt-4o" and call["mime_types"] == ["image/jpeg"]
    assert call["detail"] == ["low"] and call["logprobs"] is True
    body = _body(call)
    assert body["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"] \
        == LABELS
    assert body["response_format"]["json_schema"]["strict"] is True
    assert (body["seed"], body["temperature"], body["top_logprobs"]) == (4, 0.0, 7)
    # Not api.openai.com: the classic parameter name unless configured otherwise.
    assert body["max_tokens"] == 20


def test_enum_answer_is_the_bare_label(emu: Emulator, happy_jpg: Path) -> None:
    [r] = _ask(_openai(emu), _image(happy_jpg, constraint=ResponseConstraint(kind="enum",
                                                                           labels=LABELS)))
    assert (r.text, r.label) == ("Happy", None)
    assert json.loads(r.details["raw_text"]) == {"label": "Happy"}


def test_video_goes_as_timestamped_frames_in_time_order(emu: Emulator, clip_avi: Path) -> None:
    p = _openai(emu, detail="low")
    prompt = Prompt(text=QUESTION, media=[Media.from_path(clip_avi)],
                    media_spec=MediaSpec(frames="uniform:6"))
    [r] = _ask(p, prompt)
    assert r.status == "ok" and r.details["images"] == 6
    [call] = emu.calls("openai.chat")
    assert call["frames"] == 6 and call["mime_types"] == ["image/jpeg"] * 6
    content = _body(call)["messages"][-1]["content"]
    caption = content[0]["text"]
    assert caption.startswith("The next 6 images are frames of one video clip, in time order")
    stamps = [float(s.split(" at ")[1].split(" s")[0]) for s in caption.split("Frame ")[1:]]
    assert stamps == sorted(stamps) and len(stamps) == 6
    assert [part["type"] for part in content] == ["text"] + ["image_url"] * 6 + ["text"]
    assert content[-1]["text"] == QUESTION
    # The estimate and the reported usage sit side by side in the run log.
    assert r.details["reported_input_tokens"] == r.usage.input_tokens
    assert 0.5 < r.details["estimate_ratio"] < 2.0


def test_more_images_than_the_cap_fail_before_any_call(emu: Emulator, clip_avi: Path) -> None:
    p = _openai(emu, max_images=4)
    prompt = Prompt(text=QUESTION, media=[Media.from_path(clip_avi)],
                    media_spec=MediaSpec(frames="uniform:6"))
    err = _fail(p, prompt)
    assert not err.retryable and err.kind == "too_many_images"
    assert "6 images" in str(err) and "cap of 4" in str(err)
    assert emu.calls("openai.chat") == []


def test_responses_api(emu: Emulator, happy_jpg: Path) -> None:
    p = _openai(emu, api="responses", detail="high")
    [r] = _ask(p, _image(happy_jpg, constraint=ResponseConstraint(kind="json_schema",
                                                                  labels=LABELS),
                         options=GenerationOptions(logprobs=True, max_tokens=16)))
    assert r.status == "ok" and r.details["api"] == "responses"
    assert json.loads(r.text or "") == {"label": "Happy"}
    assert r.logprobs is not None and "Happy" in r.logprobs
    [call] = emu.calls("openai.responses")
    assert call["detail"] == ["high"] and call["mime_types"] == ["image/jpeg"]
    body = _body(call)
    assert body["text"]["format"]["type"] == "json_schema"
    assert body["include"] == ["message.output_text.logprobs"]
    assert body["max_output_tokens"] == 16 and "seed" not in body
    # Sent explicitly: some compatible servers stream unless told not to.
    assert body["stream"] is False


#: Every kind of request the predictor builds: (predictor options, prompt fields, media).
WIRE_CASES: dict[str, tuple[dict[str, Any], dict[str, Any], tuple[str, ...]]] = {
    "chat: schema, logprobs, every option, system": (
        {"detail": "low"},
        {"system": "You rate faces.",
         "constraint": ResponseConstraint(kind="json_schema", labels=LABELS),
         "options": GenerationOptions(logprobs=True, top_logprobs=5, seed=4, temperature=0.0,
                                      top_p=0.9, max_tokens=20)},
        ("image",)),
    "chat: enum, reasoning effort, vendor extra_body, max_completion_tokens": (
        {"reasoning_effort": "low", "extra_body": {"store": False, "metadata": {"study": "fer"}},
         "max_tokens_param": "max_completion_tokens"},
        {"constraint": ResponseConstraint(kind="enum", labels=LABELS),
         "options": GenerationOptions(max_tokens=8)},
        ("image",)),
    "chat: video frames and a still, no detail, temperature not sent": (
        {"supports_detail": False, "supports_temperature": False},
        {"options": GenerationOptions(temperature=0.0, seed=1)},
        ("video", "image")),
    "responses: schema, logprobs, reasoning, instructions, extra_body": (
        {"api": "responses", "detail": "high", "reasoning_effort": "low",
         "extra_body": {"store": False}},
        {"system": "You rate faces.",
         "constraint": ResponseConstraint(kind="json_schema", labels=LABELS),
         "options": GenerationOptions(logprobs=True, top_logprobs=3, temperature=0.0,
                                      max_tokens=16)},
        ("image",)),
    "responses: top_p, a seed it takes none of, two stills": (
        {"api": "responses"},
        {"options": GenerationOptions(top_p=0.5, seed=3)},
        ("image", "image")),
}


@pytest.mark.parametrize("case", list(WIRE_CASES))
def test_the_request_on_the_wire_is_what_the_sdks_create_sends(
    emu: Emulator, happy_jpg: Path, clip_avi: Path, case: str
) -> None:
    # predict() hands the SDK's client a body already in wire form (skipping create()'s
    # walk over its TypedDicts); the server must get the JSON create() would send.
    options, fields, kinds = WIRE_CASES[case]
    p = _openai(emu, "gpt-4o", **options)
    files = {"image": happy_jpg, "video": clip_avi}
    prompt = Prompt(text=QUESTION, media=[Media.from_path(files[k]) for k in kinds], **fields)

    async def go() -> None:
        try:
            r = await p.predict(prompt)
            assert r.status == "ok", r.reason
            kwargs, *_ = await p._request(prompt)
            if p.options.api == "responses":
                await p.client.responses.create(**kwargs)
            else:
                await p.client.chat.completions.create(**kwargs)
        finally:
            await p.aclose()

    run(go())
    endpoint = "openai.responses" if p.options.api == "responses" else "openai.chat"
    ours, sdks = emu.calls(endpoint)
    assert ours["path"] == sdks["path"] and ours["status"] == sdks["status"] == 200
    # The same JSON object (its keys may come in another order) and images.
    assert _body(ours) == _body(sdks) and ours["media"] == sdks["media"]
    # The SDK's headers and the body's length; the key is recorded redacted in both.
    assert ours["headers"] == sdks["headers"]
    # A clip goes as several frames: more images than media.
    assert ours["images"] >= len(kinds) + ("video" in kinds)
    extra = options.get("extra_body", {})
    assert all(_body(ours)[k] == v for k, v in extra.items())


# ---------------------------------------------------------------- non-answers


def test_refusal(emu: Emulator, happy_jpg: Path) -> None:
    emu.set_policy("refuse")
    [r] = _ask(_openai(emu), _image(happy_jpg))
    assert r.status == "refused" and r.text is None and r.label is None and r.reason


def test_content_filter_is_blocked(emu: Emulator, happy_jpg: Path) -> None:
    emu.set_policy("block")
    [r] = _ask(_openai(emu), _image(happy_jpg))
    assert (r.status, r.text, r.finish_reason) == ("blocked", None, "content_filter")


def test_length_is_recorded(emu: Emulator, happy_jpg: Path) -> None:
    [r] = _ask(_openai(emu), _image(happy_jpg, text=QUESTION + " [[emu:finish=length]]"))
    assert r.status == "ok" and r.finish_reason == "length"


def test_responses_api_non_answers(emu: Emulator, happy_jpg: Path) -> None:
    emu.set_policy("refuse")
    [refused] = _ask(_openai(emu, api="responses"), _image(happy_jpg))
    emu.set_policy("block")
    [blocked] = _ask(_openai(emu, api="responses"), _image(happy_jpg))
    assert refused.status == "refused" and blocked.status == "blocked"


# ---------------------------------------------------------------- errors


def test_429_with_retry_after(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_openai(emu), _image(happy_jpg, text=QUESTION + " [[emu:fault=429]]"))
    assert err.retryable and err.status == 429 and err.kind == "rate_limit"
    assert err.retry_after is not None and err.retry_after > 0
    # One attempt only: the SDK's own retries are off.
    assert len(emu.calls("openai.chat")) == 1


def test_500_is_retryable(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_openai(emu, local=False),
                _image(happy_jpg, text=QUESTION + " [[emu:fault=500]]"))
    assert err.retryable and err.status == 500 and err.kind == "server"
    assert len(emu.calls("openai.chat")) == 1


def test_a_local_servers_500_is_not_retried(emu: Emulator, happy_jpg: Path) -> None:
    # 127.0.0.1 is local: its plain 500 is a crash on this request, which a retry repeats.
    p = _openai(emu)
    assert p.local
    err = _fail(p, _image(happy_jpg, text=QUESTION + " [[emu:fault=500]]"))
    assert not err.retryable and err.status == 500 and "not retried" in str(err)
    # The server's own words are in the message.
    assert "The server had an error" in str(err)


def test_timeout_is_retryable(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_openai(emu, timeout_s=0.5, local=False),
                _image(happy_jpg, text=QUESTION + " [[emu:fault=timeout]]"))
    assert err.retryable and err.kind == "timeout"


def test_a_local_servers_timeout_is_not_retried(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_openai(emu, timeout_s=0.5),
                _image(happy_jpg, text=QUESTION + " [[emu:fault=timeout]]"))
    assert not err.retryable and err.kind == "timeout"
    assert "model.retry_timeouts=true" in str(err) and "abandoned" in str(err)
    # The option turns retries back on.
    err = _fail(_openai(emu, timeout_s=0.5, retry_timeouts=True),
                _image(happy_jpg, text=QUESTION + " [[emu:fault=timeout]]"))
    assert err.retryable


def test_local_defaults_timeout_and_concurrency() -> None:
    local = get_predictor("openai/m", base_url="http://192.168.1.20:8000/v1", api_key="x")
    hosted = get_predictor("openai/m", base_url="https://api.example.com/v1", api_key="x")
    official = get_predictor("openai/gpt-4o", api_key="x")
    assert local.local and not hosted.local and not official.local
    assert local.client.timeout == 600.0 and hosted.client.timeout == 60.0
    assert local.max_concurrent_requests == 2 and hosted.max_concurrent_requests is None
    assert not local.retry_timeouts and hosted.retry_timeouts
    mine = get_predictor("openai/m", base_url="http://127.0.0.1:1/v1", api_key="x",
                         timeout_s=30, max_concurrent_requests=8, local=True)
    assert mine.client.timeout == 30 and mine.max_concurrent_requests == 8


def test_local_server_gets_at_most_two_requests_at_once(
    emu: Emulator, happy_jpg: Path
) -> None:
    import asyncio

    emu.configure(latency=0.3)
    p = _openai(emu)

    async def go() -> list[Response]:
        try:
            return list(await asyncio.gather(*(p.predict(_image(happy_jpg)) for _ in range(4))))
        finally:
            await p.aclose()

    run(go())
    spans = sorted((c["time"], c["time"] + c["elapsed_s"]) for c in emu.calls("openai.chat"))
    # No three calls overlap in time: each starts after an earlier one ended.
    assert len(spans) == 4
    assert spans[2][0] >= min(spans[0][1], spans[1][1]) - 0.01


def test_a_rejected_parameter_is_not_retried(emu: Emulator, happy_jpg: Path) -> None:
    # strict_fields: the emulator rejects an unknown field, as a strict server does.
    err = _fail(_openai(emu, extra_body={"guided_choice": LABELS}), _image(happy_jpg))
    assert not err.retryable and err.kind == "bad_parameter"
    assert "Unrecognized request argument supplied: guided_choice" in str(err)


def test_connection_refused_is_retryable(happy_jpg: Path) -> None:
    with refused_port() as port:
        p = get_predictor("openai/gpt-4o", base_url=f"http://127.0.0.1:{port}/v1",
                          api_key=FAKE_KEY)
        err = _fail(p, _image(happy_jpg))
    assert err.retryable and err.kind == "connection" and f"127.0.0.1:{port}" in str(err)


def test_malformed_body_is_retryable(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_openai(emu), _image(happy_jpg, text=QUESTION + " [[emu:fault=malformed]]"))
    assert err.retryable and err.kind == "malformed"


def test_400_says_what_to_fix(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_openai(emu), _image(happy_jpg, options=GenerationOptions(temperature=5.0)))
    assert not err.retryable and err.status == 400
    assert err.kind in ("bad_request", "bad_parameter")
    assert "temperature" in str(err) and "option" in str(err)


def test_401_points_at_the_key(emu: Emulator, happy_jpg: Path) -> None:
    emu.configure(api_key="the-right-key")
    err = _fail(_openai(emu), _image(happy_jpg))
    assert not err.retryable and err.status == 401 and "OPENAI_API_KEY" in str(err)


def test_404_lists_the_current_defaults(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_openai(emu, model="gpt-does-not-exist"), _image(happy_jpg))
    assert not err.retryable and err.status == 404 and err.kind == "not_found"
    assert "gemini-3.5-flash" in str(err) and "2027-01-14" in str(err)


# ---------------------------------------------------------------- compatible servers


def test_compatible_server_without_detail_schema_or_logprobs(
    emu: Emulator, happy_jpg: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vlmfer")
    p = get_predictor("openai/llava-local", base_url=emu.openai_base_url, api_key="anything",
                      supports_detail=False, supports_json_schema=False,
                      supports_logprobs=False, max_tokens_param="max_completion_tokens")
    assert not p.capabilities.logprobs and not p.capabilities.json_schema
    prompt = _image(happy_jpg, constraint=ResponseConstraint(kind="json_schema", labels=LABELS),
                    options=GenerationOptions(logprobs=True, max_tokens=8))
    r1, r2 = _ask(p, prompt, prompt)
    assert r1.status == "ok" and r1.logprobs is None and r1.cost_usd is None  # unknown price
    assert r2.details["dropped"] == r1.details["dropped"]
    assert list(r1.details["dropped"]) == ["constraint:json_schema", "logprobs"]
    assert r1.details["detail"] is None
    for call in emu.calls("openai.chat"):
        body = _body(call)
        assert "response_format" not in body and "logprobs" not in body
        assert "detail" not in body["messages"][-1]["content"][0]["image_url"]
        assert body["max_completion_tokens"] == 8
    # Said once per predictor, not once per call.
    warnings = [r.getMessage() for r in caplog.records if r.name == "vlmfer"]
    assert len(warnings) == 2 and any("logprobs" in w for w in warnings)


def test_no_key_in_recordings_logs_or_errors(
    emu: Emulator, happy_jpg: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    p = _openai(emu)
    _ask(p, _image(happy_jpg))
    errors = [str(_fail(_openai(emu), _image(happy_jpg, text=f"{QUESTION} [[emu:fault={f}]]")))
              for f in ("429", "500")]
    emu.configure(api_key="the-right-key")
    errors.append(str(_fail(_openai(emu), _image(happy_jpg))))
    recorded = (tmp_path / "emu.jsonl").read_text(encoding="utf-8")
    assert recorded.count("\n") >= 4
    for text in (recorded, caplog.text, json.dumps(emu.requests), *errors,
                 json.dumps(p.describe()), json.dumps(p.cache_identity())):
        assert FAKE_KEY not in text


def test_estimate_before_the_call_is_close_to_reported_usage(
    emu: Emulator, happy_jpg: Path, clip_avi: Path
) -> None:
    p = _openai(emu, detail="high")
    prompts = [_image(happy_jpg), Prompt(text=QUESTION, media=[Media.from_path(clip_avi)],
                                         media_spec=MediaSpec(frames="uniform:3"))]
    estimates = [p.estimate_input_tokens(x) for x in prompts]
    for est, r in zip(estimates, _ask(p, *prompts), strict=True):
        assert 0.5 < r.usage.input_tokens / est < 2.0


@pytest.mark.usefixtures("no_keys")
def test_key_and_base_url_from_the_environment(
    emu: Emulator, happy_jpg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", emu.openai_base_url)
    emu.configure(api_key=FAKE_KEY)
    p = get_predictor("openai/gpt-4o")
    [r] = _ask(p, _image(happy_jpg))
    assert r.status == "ok" and p.describe()["base_url"] == emu.openai_base_url


def test_reasoning_models_on_the_official_api_declare_no_logprobs() -> None:
    official = get_predictor("openai/gpt-5.2", api_key=FAKE_KEY)
    assert not official.capabilities.logprobs
    assert get_predictor("openai/gpt-4o", api_key=FAKE_KEY).capabilities.logprobs
    assert get_predictor("openai/gpt-5.2", api_key=FAKE_KEY,
                         supports_logprobs=True).capabilities.logprobs
    # A local server named like a reasoning model is not api.openai.com.
    local = get_predictor("openai/gpt-5.2", api_key=FAKE_KEY, base_url="http://127.0.0.1:9/v1")
    assert local.capabilities.logprobs


def test_server_error_text_in_every_shape() -> None:
    from vlmfer.predictors._common import server_error_text

    assert server_error_text({"message": "bad model"}) == "bad model"  # the SDK's error body
    assert server_error_text({"error": {"message": "boom"}}) == "boom"
    assert server_error_text({"error": "CB worker died"}) == "CB worker died"
    assert server_error_text({"detail": "Server is pinned to 'a'; requested 'b'."}) == \
        "Server is pinned to 'a'; requested 'b'."
    fastapi = {"detail": [{"loc": ["body", "max_tokens"], "msg": "Input should be a valid "
                           "integer", "type": "int_parsing"}]}
    assert server_error_text(fastapi) == "max_tokens: Input should be a valid integer"
    assert server_error_text(None, "Internal Server Error") == "Internal Server Error"
    assert server_error_text(None, "x" * 900).endswith("…")


def test_a_5xx_naming_a_parameter_is_not_retried_anywhere() -> None:
    from vlmfer.predictors._common import status_error

    err = status_error(500, "invalid value for parameter 'top_logprobs'", predictor="p",
                       key_env="K", where="https://api.example.com/v1", compatible=True)
    assert not err.retryable and err.kind == "bad_parameter"
    # An overloaded hosted server's plain 500 stays transient.
    assert status_error(500, "Internal Server Error", predictor="p", key_env="K",
                        where="https://api.example.com/v1", compatible=True).retryable


def test_batch_capability_round_trip_through_the_predictors_client(
    emu: Emulator, happy_jpg: Path
) -> None:
    from batch_roundtrip import batch_round_trip

    poll, r = run(batch_round_trip(_openai(emu), _image(happy_jpg)))
    assert poll.status == "succeeded" and poll.completed == 1
    assert r.text == "Happy" and r.details["batch"] is True
    online = _ask(_openai(emu), _image(happy_jpg))[0]
    assert r.cost_usd == pytest.approx((online.cost_usd or 0) / 2)  # the batch price
    (create,) = emu.calls("openai.batches.create")
    assert create["body"]["endpoint"] == "/v1/chat/completions"
