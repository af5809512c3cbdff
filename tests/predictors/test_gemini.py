"""``gemini/<model>``: the real google-genai SDK over real HTTP to the loopback emulator."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from predictor_support import FAKE_KEY, Emulator, get_predictor, run
from support import refused_port

from vlmfer.errors import ConfigError, PredictorError
from vlmfer.types import GenerationOptions, Media, MediaSpec, Prompt, Response, ResponseConstraint

LABELS = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]
QUESTION = "Which emotion does the face show? Choose one of: " + ", ".join(LABELS) + "."
ENUM = ResponseConstraint(kind="enum", labels=LABELS)


def _gemini(emu: Emulator, model: str = "gemini-2.5-flash", **options: Any) -> Any:
    return get_predictor(f"gemini/{model}", base_url=emu.gemini_base_url, api_key=FAKE_KEY,
                         **options)


def _ask(predictor: Any, *prompts: Prompt, close: bool = True) -> list[Response]:
    """Send prompts one after another on one event loop, then close the predictor."""

    async def go() -> list[Response]:
        try:
            return [await predictor.predict(p) for p in prompts]
        finally:
            if close:
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


def _prompt(path: Path, text: str = QUESTION, **kw: Any) -> Prompt:
    return Prompt(text=text, media=[Media.from_path(path)], **kw)


def _generate_calls(emu: Emulator) -> list[dict[str, Any]]:
    return emu.calls("gemini.generate")


# ---------------------------------------------------------------- answers


def test_image_inline_with_enum_and_logprobs(emu: Emulator, happy_jpg: Path) -> None:
    [r] = _ask(_gemini(emu), _prompt(happy_jpg, constraint=ENUM, system="You are an expert.",
                                     options=GenerationOptions(logprobs=True, seed=3)))
    assert (r.status, r.text, r.label, r.finish_reason) == ("ok", "Happy", None, "stop")
    assert r.logprobs is not None and max(r.logprobs, key=r.logprobs.__getitem__) == "Happy"
    assert r.model_version == "gemini-2.5-flash" and r.cost_usd is not None
    assert r.details["parts"] == [{"via": "inline", "mime_type": "image/jpeg",
                                   "bytes": r.details["parts"][0]["bytes"]}]
    [call] = _generate_calls(emu)
    # The API version is pinned, whatever the SDK's default.
    assert call["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert call["mime_types"] == ["image/jpeg"] and call["output_format"] == "enum"
    assert call["logprobs"] is True and call["labels"] == LABELS
    gc = call["body"]["generationConfig"]
    assert gc["responseMimeType"] == "text/x.enum" and gc["seed"] == 3
    assert gc["responseSchema"] == {"type": "STRING", "enum": LABELS}
    assert call["body"]["systemInstruction"]["parts"][0]["text"] == "You are an expert."


def test_json_schema_answer(emu: Emulator, happy_jpg: Path) -> None:
    [r] = _ask(_gemini(emu), _prompt(happy_jpg, constraint=ResponseConstraint(
        kind="json_schema", labels=LABELS), options=GenerationOptions(logprobs=True)))
    assert json.loads(r.text or "") == {"label": "Happy"} and r.label is None
    assert r.logprobs is not None and "Happy" in r.logprobs
    [call] = _generate_calls(emu)
    gc = call["body"]["generationConfig"]
    assert gc["responseMimeType"] == "application/json"
    assert gc["responseJsonSchema"]["properties"]["label"]["enum"] == LABELS


def test_native_video_inline_first_then_text(emu: Emulator, clip_avi: Path) -> None:
    p = _gemini(emu, video_fps=2.0, video_start_s=0.5, video_end_s=2.5, media_resolution="low")
    [r] = _ask(p, _prompt(clip_avi, constraint=ENUM))
    assert r.status == "ok" and r.text == "Happy"
    assert r.details["parts"][0]["via"] == "inline"
    assert r.details["video_metadata"] == [{"fps": 2.0, "start_offset": "0.5s",
                                            "end_offset": "2.5s"}]
    [call] = _generate_calls(emu)
    assert call["mime_types"] == ["video/avi"] and call["videos"] == 1
    parts = call["body"]["contents"][0]["parts"]
    assert "inlineData" in parts[0] and parts[-1] == {"text": QUESTION}
    assert parts[0]["videoMetadata"]["fps"] == 2.0
    assert call["body"]["generationConfig"]["mediaResolution"] == "MEDIA_RESOLUTION_LOW"
    # Estimate and reported usage sit side by side.
    assert r.details["estimated_input_tokens"] > 0
    assert r.details["reported_input_tokens"] == r.usage.input_tokens


def test_video_as_frames(emu: Emulator, clip_avi: Path) -> None:
    p = _gemini(emu, video_mode="frames")
    [r] = _ask(p, _prompt(clip_avi, media_spec=MediaSpec(frames="uniform:4")))
    assert r.status == "ok"
    [call] = _generate_calls(emu)
    assert call["mime_types"] == ["image/jpeg"] * 4 and call["videos"] == 0
    parts = call["body"]["contents"][0]["parts"]
    assert parts[0]["text"].startswith("The next 4 images are frames of one video clip")


def test_large_video_goes_through_the_files_api_once(emu: Emulator, clip_avi: Path) -> None:
    emu.configure(file_processing_polls=2)
    p = _gemini(emu, inline_limit_bytes=100_000, upload_poll_s=0.01)
    r1, r2 = _ask(p, _prompt(clip_avi), _prompt(clip_avi, text=QUESTION + " Look closely."))
    assert r1.details["parts"][0]["via"] == "file" and r1.details["parts"][0]["mime_type"] \
        == "video/avi"
    assert r2.details["parts"][0]["file"] == r1.details["parts"][0]["file"]
    # Uploaded once (same content hash), polled until ACTIVE, deleted by aclose().
    assert len(emu.calls("gemini.upload")) == 1
    assert len(emu.calls("gemini.files.get")) >= 2
    assert len(emu.calls("gemini.files.delete")) == 1
    for call in _generate_calls(emu):
        assert call["media"][0]["source"] == "file"
        assert "fileData" in call["body"]["contents"][0]["parts"][0]


def test_cleanup_removes_uploads_a_crash_left_behind(emu: Emulator, clip_avi: Path) -> None:
    crashed = _gemini(emu, inline_limit_bytes=1000, upload_poll_s=0.01)
    _ask(crashed, _prompt(clip_avi), close=False)  # no aclose(): the upload is left behind
    assert len(emu.gemini_files) == 1

    async def clean() -> list[str]:
        janitor = _gemini(emu)
        try:
            return list(await janitor.cleanup_uploads())
        finally:
            await janitor.aclose()

    deleted = run(clean())
    assert len(deleted) == 1 and deleted[0].startswith("files/")
    assert emu.gemini_files == {}


def test_frame_spec_window_becomes_video_offsets(emu: Emulator, clip_avi: Path) -> None:
    [r] = _ask(_gemini(emu), _prompt(clip_avi, media_spec=MediaSpec(frames="fps:1@1-2.5")))
    assert r.details["video_metadata"] == [{"start_offset": "1s", "end_offset": "2.5s"}]
    [call] = _generate_calls(emu)
    assert call["body"]["contents"][0]["parts"][0]["videoMetadata"] == {
        "start_offset": "1s", "end_offset": "2.5s"}


def test_cleanup_command(emu: Emulator, clip_avi: Path) -> None:
    crashed = _gemini(emu, inline_limit_bytes=1000, upload_poll_s=0.01)
    _ask(crashed, _prompt(clip_avi), close=False)
    env = {**os.environ, "GEMINI_API_KEY": FAKE_KEY, "NO_PROXY": "127.0.0.1"}
    env.pop("GOOGLE_API_KEY", None)
    out = subprocess.run(
        [sys.executable, "-m", "vlmfer.predictors.cleanup", "--base-url", emu.gemini_base_url],
        capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "1 upload(s) deleted" in out.stdout and emu.gemini_files == {}
    assert FAKE_KEY not in out.stdout + out.stderr


def test_upload_that_fails_processing_is_not_retryable(emu: Emulator, clip_avi: Path) -> None:
    emu.configure(file_processing_polls=10_000)
    p = _gemini(emu, inline_limit_bytes=1000, upload_poll_s=0.01)

    async def fail_processing() -> None:
        # The server-side processing fails while the predictor polls.
        while not emu.gemini_files:
            await asyncio.sleep(0.01)
        for f in emu.gemini_files.values():
            f.will_fail = "The video could not be processed: unsupported codec."
        emu.configure(file_processing_polls=0)

    async def go() -> PredictorError:
        helper = asyncio.create_task(fail_processing())
        try:
            await p.predict(_prompt(clip_avi))
        except PredictorError as exc:
            return exc
        finally:
            await helper
            await p.aclose()
        raise AssertionError("the call did not fail")

    err = run(go())
    assert not err.retryable and err.kind == "upload_failed"
    assert "unsupported codec" in str(err) and "transcode" in str(err)
    assert _generate_calls(emu) == []


def test_upload_still_processing_times_out_retryably(emu: Emulator, clip_avi: Path) -> None:
    emu.configure(file_processing_polls=10_000)
    p = _gemini(emu, inline_limit_bytes=1000, upload_poll_s=0.01, upload_timeout_s=0.2)
    err = _fail(p, _prompt(clip_avi))
    assert err.retryable and err.kind == "upload_timeout"
    assert _generate_calls(emu) == []


def test_thinking_tokens_count_in_usage_and_cost(emu: Emulator, happy_jpg: Path) -> None:
    emu.configure(thoughts_tokens=40)
    p = _gemini(emu, thinking_budget=128)
    [r] = _ask(p, _prompt(happy_jpg))
    assert r.usage.thinking_tokens == 40
    base = p.cost_usd(r.model_copy(update={"usage": r.usage.model_copy(
        update={"thinking_tokens": 0})}))
    assert r.cost_usd is not None and base is not None and r.cost_usd > base
    [call] = _generate_calls(emu)
    thinking = call["body"]["generationConfig"]["thinkingConfig"]
    # The SDK sends nested keys in snake_case; the API accepts both.
    assert thinking.get("thinkingBudget", thinking.get("thinking_budget")) == 128


def test_safety_settings_on_the_wire(emu: Emulator, happy_jpg: Path) -> None:
    p = _gemini(emu, safety_settings={"HARM_CATEGORY_HARASSMENT": "BLOCK_NONE"})
    _ask(p, _prompt(happy_jpg))
    [call] = _generate_calls(emu)
    assert call["body"]["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    with pytest.raises(ConfigError, match="HARM_CATEGORY_HARASSMENT"):
        _gemini(emu, safety_settings={"HARASSMENT": "BLOCK_NONE"})


# ---------------------------------------------------------------- logprob fallback


def test_logprobs_rejected_once_then_not_asked_again(
    emu: Emulator, happy_jpg: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vlmfer")
    p = _gemini(emu, model="gemini-no-logprobs")
    prompt = _prompt(happy_jpg, constraint=ENUM, options=GenerationOptions(logprobs=True))
    r1, r2 = _ask(p, prompt, prompt)
    assert r1.status == r2.status == "ok" and r1.text == "Happy"
    assert r1.logprobs is None and "Logprobs is not enabled" in r1.details["logprobs_fallback"]
    assert r2.details["logprobs_fallback"] == r1.details["logprobs_fallback"]
    calls = _generate_calls(emu)
    assert [c["status"] for c in calls] == [400, 200, 200]
    asked = [c["body"]["generationConfig"].get("responseLogprobs", False) for c in calls]
    assert asked == [True, False, False]
    assert sum("rejected logprobs" in r.getMessage() for r in caplog.records) == 1


# ---------------------------------------------------------------- non-answers


@pytest.mark.parametrize("where", ["prompt", "candidate", "partial"])
def test_safety_blocks(emu: Emulator, happy_jpg: Path, where: str) -> None:
    [r] = _ask(_gemini(emu), _prompt(happy_jpg, text=f"{QUESTION} [[emu:block={where}]]"))
    # Text cut off by a safety filter is never an answer.
    assert (r.status, r.text, r.label, r.reason) == ("blocked", None, None, "SAFETY")
    assert r.finish_reason == "content_filter"


def test_policy_block_and_refusal_text(emu: Emulator, happy_jpg: Path) -> None:
    emu.set_policy("block")
    [blocked] = _ask(_gemini(emu), _prompt(happy_jpg))
    assert blocked.status == "blocked"
    emu.set_policy("refuse")
    # Gemini has no refusal field: a refusal is text that names no label.
    [refusal] = _ask(_gemini(emu), _prompt(happy_jpg, constraint=ENUM))
    assert refusal.status == "ok" and refusal.label is None and refusal.text


def test_max_tokens_is_recorded(emu: Emulator, happy_jpg: Path) -> None:
    [r] = _ask(_gemini(emu), _prompt(happy_jpg, text=QUESTION + " [[emu:finish=length]]"))
    assert r.finish_reason == "length" and r.details["finish_reason_raw"] == "MAX_TOKENS"


# ---------------------------------------------------------------- errors


def test_429_with_retry_after(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_gemini(emu), _prompt(happy_jpg, text=QUESTION + " [[emu:fault=429]]"))
    assert err.retryable and err.status == 429 and err.kind == "rate_limit"
    assert err.retry_after is not None and err.retry_after > 0
    assert len(_generate_calls(emu)) == 1  # no SDK retries


def test_500_is_retryable(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_gemini(emu), _prompt(happy_jpg, text=QUESTION + " [[emu:fault=500]]"))
    assert err.retryable and err.status == 500


def test_timeout_surfaces_as_retryable(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_gemini(emu, timeout_s=0.5),
                _prompt(happy_jpg, text=QUESTION + " [[emu:fault=timeout]]"))
    assert err.retryable and err.kind == "timeout"


def test_connection_refused_is_retryable(happy_jpg: Path) -> None:
    with refused_port() as port:
        p = get_predictor("gemini/gemini-2.5-flash", base_url=f"http://127.0.0.1:{port}",
                          api_key=FAKE_KEY)
        err = _fail(p, _prompt(happy_jpg))
    assert err.retryable and err.kind == "connection"


def test_malformed_body_is_retryable(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_gemini(emu), _prompt(happy_jpg, text=QUESTION + " [[emu:fault=malformed]]"))
    assert err.retryable and err.kind == "malformed"


def test_400_is_not_retryable(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_gemini(emu), _prompt(happy_jpg, options=GenerationOptions(temperature=9.0)))
    assert not err.retryable and err.status == 400 and err.kind == "bad_request"


def test_bad_key_points_at_the_env_var(emu: Emulator, happy_jpg: Path) -> None:
    emu.configure(api_key="the-right-key")
    err = _fail(_gemini(emu), _prompt(happy_jpg))
    assert not err.retryable and err.kind == "auth" and "GEMINI_API_KEY" in str(err)


def test_404_lists_the_current_defaults(emu: Emulator, happy_jpg: Path) -> None:
    err = _fail(_gemini(emu, model="gemini-does-not-exist"), _prompt(happy_jpg))
    assert not err.retryable and err.status == 404 and "gemini-2.0-flash" in str(err)


def test_no_key_in_recordings_logs_or_errors(
    emu: Emulator, clip_avi: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    p = _gemini(emu, inline_limit_bytes=1000, upload_poll_s=0.01)
    _ask(p, _prompt(clip_avi))
    errors = [str(_fail(_gemini(emu), _prompt(clip_avi, text=f"{QUESTION} [[emu:fault={f}]]")))
              for f in ("429", "500")]
    recorded = (tmp_path / "emu.jsonl").read_text(encoding="utf-8")
    assert "gemini.upload" in recorded
    for text in (recorded, caplog.text, json.dumps(emu.requests), *errors,
                 json.dumps(p.describe()), json.dumps(p.cache_identity())):
        assert FAKE_KEY not in text


def test_transcode_sends_mp4(emu: Emulator, clip_avi: Path) -> None:
    [r] = _ask(_gemini(emu, transcode=True), _prompt(clip_avi))
    [call] = _generate_calls(emu)
    assert call["mime_types"] == ["video/mp4"] and r.details["parts"][0]["mime_type"] \
        == "video/mp4"
    assert r.details["media"][0]["transcoded"] is True


def test_estimate_before_the_call_is_close_to_reported_usage(
    emu: Emulator, happy_jpg: Path, clip_avi: Path
) -> None:
    p = _gemini(emu)
    prompts = [_prompt(happy_jpg), _prompt(clip_avi),
               _prompt(clip_avi, media_spec=MediaSpec(frames="uniform:4", video_mode="frames"))]
    estimates = [p.estimate_input_tokens(x) for x in prompts]
    for est, r in zip(estimates, _ask(p, *prompts), strict=True):
        assert 0.5 < r.usage.input_tokens / est < 2.0


@pytest.mark.usefixtures("no_keys")
def test_key_from_google_api_key(emu: Emulator, happy_jpg: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", FAKE_KEY)
    emu.configure(api_key=FAKE_KEY)
    p = get_predictor("gemini/gemini-2.5-flash", base_url=emu.gemini_base_url)
    [r] = _ask(p, _prompt(happy_jpg))
    assert r.status == "ok"
    assert p.describe()["base_url"] == emu.gemini_base_url


def test_batch_capability_round_trip_through_the_predictors_client(
    emu: Emulator, happy_jpg: Path
) -> None:
    from batch_roundtrip import batch_round_trip

    poll, r = run(batch_round_trip(_gemini(emu), _prompt(happy_jpg)))
    assert poll.status == "succeeded"
    assert r.text == "Happy" and r.details["batch"] is True
    assert len(emu.calls("gemini.batches.create")) == 1
    (item,) = emu.calls("gemini.batch_request")
    assert item["model"] == "gemini-2.5-flash" and item["images"] == 1
