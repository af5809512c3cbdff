"""Both providers' batch flows end to end through the real SDKs."""

from __future__ import annotations

import io
import json
from typing import Any

import openai
import pytest
from emulator_support import CAER, data_url, label_schema
from google import genai
from google.genai import errors, types
from openai import OpenAI

from vlmfer.emulator import Emulator, FaultRates

MODEL = "gemini-2.5-flash"


def _line(i: int, png: bytes, model: str = "gpt-4o", url: str = "/v1/chat/completions",
          text: str = "Which emotion?") -> str:
    body = {"model": model, "response_format": label_schema(), "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": data_url(png), "detail": "low"}}]}]}
    return json.dumps({"custom_id": f"sample-{i}", "method": "POST", "url": url, "body": body})


def _submit(client: OpenAI, lines: list[str], **kw: Any) -> Any:
    f = client.files.create(file=("in.jsonl", "\n".join(lines).encode(), "application/jsonl"),
                            purpose="batch")
    return client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                 completion_window="24h", **kw)


def _jsonl(client: OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id
    return [json.loads(x) for x in client.files.content(file_id).text.splitlines() if x]


def test_openai_batch_end_to_end(emu: Emulator, oai: OpenAI, png_bytes: bytes) -> None:
    emu.set_policy("fixed:Happy")
    lines = [_line(i, png_bytes) for i in range(5)]
    f = oai.files.create(file=("in.jsonl", "\n".join(lines).encode(), "application/jsonl"),
                         purpose="batch")
    assert f.purpose == "batch" and f.bytes == len("\n".join(lines))
    assert oai.files.retrieve(f.id).filename == "in.jsonl"
    b = oai.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                           completion_window="24h", metadata={"run": "r1"})
    assert b.status == "validating" and b.metadata == {"run": "r1"}
    b = oai.batches.retrieve(b.id)
    assert b.status == "completed" and b.error_file_id is None
    assert b.request_counts is not None and b.request_counts.completed == 5
    out = _jsonl(oai, b.output_file_id)
    assert [o["custom_id"] for o in out] == [f"sample-{i}" for i in range(5)]
    first = out[0]["response"]
    assert first["status_code"] == 200
    assert json.loads(first["body"]["choices"][0]["message"]["content"]) == {"label": "Happy"}
    inner = emu.calls("openai.batch_request")
    assert [c["item"] for c in inner] == [f"sample-{i}" for i in range(5)]
    assert all(c["batch_id"] == b.id and c["detail"] == ["low"] and c["status"] == 200
               and c["mime_types"] == ["image/png"] for c in inner)
    assert "base64," not in json.dumps(emu.requests)
    assert oai.files.delete(f.id).deleted
    with pytest.raises(openai.NotFoundError):
        oai.files.retrieve(f.id)
    assert b.id in [x.id for x in oai.batches.list()]


def test_openai_batch_partial_errors(emu: Emulator, oai: OpenAI, png_bytes: bytes) -> None:
    emu.configure(faults=FaultRates(http_500=0.5))
    lines = [_line(i, png_bytes, text=f"Which emotion? #{i}") for i in range(10)]
    lines.append(json.dumps({"custom_id": "bad-image", "method": "POST",
                             "url": "/v1/chat/completions", "body": {
                                 "model": "gpt-4o", "messages": [{"role": "user", "content": [
                                     {"type": "image_url", "image_url": {
                                         "url": data_url(b"not an image")}}]}]}}))
    b = oai.batches.retrieve(_submit(oai, lines).id)
    assert b.status == "completed"
    counts = b.request_counts
    assert counts is not None and counts.total == 11
    errs = _jsonl(oai, b.error_file_id)
    outs = _jsonl(oai, b.output_file_id)
    assert counts.failed == len(errs) >= 2 and counts.completed == len(outs) >= 1
    statuses = {e["custom_id"]: e["response"]["status_code"] for e in errs}
    assert statuses["bad-image"] == 400
    assert set(statuses.values()) == {400, 500}
    assert {o["custom_id"] for o in outs} | set(statuses) == {
        *(f"sample-{i}" for i in range(10)), "bad-image"}
    assert emu.counters["faults"]["batch.500"] == len(errs) - 1


def test_openai_batch_failed_expired_and_cancelled(emu: Emulator, oai: OpenAI,
                                                   png_bytes: bytes) -> None:
    lines = [_line(i, png_bytes) for i in range(4)]
    b = oai.batches.retrieve(_submit(oai, lines, metadata={"note": "emulator:failed"}).id)
    assert b.status == "failed" and b.errors and b.errors.data
    assert b.errors.data[0].code == "emulated_failure" and b.output_file_id is None

    b = oai.batches.retrieve(_submit(oai, lines, metadata={"note": "emulator:expired"}).id)
    assert b.status == "expired"
    assert [o["custom_id"] for o in _jsonl(oai, b.output_file_id)] == ["sample-0", "sample-1"]
    expired = _jsonl(oai, b.error_file_id)
    assert [e["error"]["code"] for e in expired] == ["batch_expired"] * 2
    assert all(e["response"] is None for e in expired)

    emu.configure(batch_latency_s=3600)
    b = _submit(oai, lines)
    assert oai.batches.retrieve(b.id).status == "in_progress"
    assert oai.batches.cancel(b.id).status == "cancelling"
    assert oai.batches.retrieve(b.id).status == "cancelled"
    with pytest.raises(openai.ConflictError):
        oai.batches.cancel(b.id)


def test_openai_batch_validation(emu: Emulator, oai: OpenAI, png_bytes: bytes) -> None:
    good = _line(0, png_bytes)
    cases = {
        "invalid_json_line": [good, "{not json"],
        "mismatched_endpoint": [good, _line(1, png_bytes, url="/v1/responses")],
        "duplicate_custom_id": [good, good],
        "mismatched_model": [good, _line(1, png_bytes, model="gpt-4o-mini")],
    }
    for code, lines in cases.items():
        b = oai.batches.retrieve(_submit(oai, lines).id)
        assert b.status == "failed", code
        assert b.errors and b.errors.data and b.errors.data[0].code == code
    emu.configure(batch_max_requests=2)
    b = oai.batches.retrieve(_submit(oai, [_line(i, png_bytes) for i in range(3)]).id)
    assert b.errors and b.errors.data and b.errors.data[0].code == "too_many_requests"
    emu.configure(batch_max_bytes=100)
    with pytest.raises(openai.BadRequestError) as info:
        _submit(oai, [good])
    assert "too large" in str(info.value)
    with pytest.raises(openai.BadRequestError):
        oai.files.create(file=("in.txt", b"x", "text/plain"), purpose="batch")
    with pytest.raises(openai.BadRequestError):
        oai.batches.create(input_file_id="file-x", endpoint="/v1/chat/completions",
                           completion_window="1h")  # type: ignore[arg-type]  # on purpose
    with pytest.raises(openai.NotFoundError):
        oai.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions",
                           completion_window="24h")


def test_openai_responses_batch(emu: Emulator, oai: OpenAI) -> None:
    emu.set_policy("fixed:Neutral")
    line = json.dumps({"custom_id": "r0", "method": "POST", "url": "/v1/responses",
                       "body": {"model": "gpt-4o", "input": "Neutral or Emotion?"}})
    f = oai.files.create(file=("r.jsonl", line.encode(), "application/jsonl"), purpose="batch")
    b = oai.batches.create(input_file_id=f.id, endpoint="/v1/responses", completion_window="24h")
    b = oai.batches.retrieve(b.id)
    (out,) = _jsonl(oai, b.output_file_id)
    assert out["response"]["body"]["output"][0]["content"][0]["text"] == "Neutral"


def _inline_requests(png: bytes, n: int) -> list[types.InlinedRequestDict]:
    def content(i: int) -> types.ContentDict:
        return {"role": "user", "parts": [
            {"text": f"Which emotion? #{i}"},
            {"inline_data": {"data": png, "mime_type": "image/png"}}]}

    return [{"contents": [content(i)],
             "config": {"response_mime_type": "text/x.enum",
                        "response_schema": {"type": "STRING", "enum": CAER}},
             "metadata": {"key": f"clip-{i}"}} for i in range(n)]


def test_gemini_inline_batch(emu: Emulator, gem: genai.Client, png_bytes: bytes) -> None:
    emu.configure(policy="fixed:Fear", faults=FaultRates(http_429=0.3))
    job = gem.batches.create(model=MODEL, src=_inline_requests(png_bytes, 8),
                             config={"display_name": "vlmfer-run"})
    assert job.state == types.JobState.JOB_STATE_PENDING and job.name
    assert job.display_name == "vlmfer-run"
    job = gem.batches.get(name=job.name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED and job.name
    assert job.dest is not None
    results = job.dest.inlined_responses
    assert results is not None and len(results) == 8
    keys = [r.metadata["key"] for r in results if r.metadata is not None]
    assert keys == [f"clip-{i}" for i in range(8)]
    ok = [r.response for r in results if r.response is not None]
    failed = [r.error for r in results if r.error is not None]
    assert ok and failed and len(ok) + len(failed) == 8
    assert {response.text for response in ok} == {"Fear"}
    assert {error.code for error in failed} == {429}
    inner = emu.calls("gemini.batch_request")
    assert [c["item"] for c in inner] == keys
    assert sorted(c["status"] for c in inner) == [200] * len(ok) + [429] * len(failed)
    assert job.name in [j.name for j in gem.batches.list()]
    gem.batches.delete(name=job.name)
    with pytest.raises(errors.ClientError):
        gem.batches.get(name=job.name)


def test_gemini_file_batch_and_download(emu: Emulator, gem: genai.Client,
                                        png_bytes: bytes) -> None:
    import base64

    emu.set_policy("fixed:Happy")
    lines = [json.dumps({"key": f"k{i}", "request": {"contents": [{"parts": [
        {"text": "Happy or Sad?"},
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png_bytes).decode()}},
    ]}]}}) for i in range(3)]
    lines.append(json.dumps({"key": "bad", "request": {"contents": []}}))
    src = gem.files.upload(file=io.BytesIO("\n".join(lines).encode()),
                           config=types.UploadFileConfig(mime_type="jsonl",
                                                         display_name="batch-in"))
    while src.state == types.FileState.PROCESSING:
        src = gem.files.get(name=src.name or "")
    job = gem.batches.create(model=MODEL, src=src.name or "")
    job = gem.batches.get(name=job.name or "")
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.dest is not None
    name = job.dest.file_name
    assert name and name.startswith("files/")
    out = [json.loads(x) for x in gem.files.download(file=name).decode().splitlines()]
    assert [o["key"] for o in out] == ["k0", "k1", "k2", "bad"]
    assert out[0]["response"]["candidates"][0]["content"]["parts"][0]["text"] == "Happy"
    assert out[3]["error"]["code"] == 400
    meta = gem.files.get(name=name)
    assert meta.source == types.FileSource.GENERATED and meta.download_uri
    with pytest.raises(errors.ClientError):  # uploaded files cannot be downloaded
        gem.files.download(file=src.name or "")


def test_gemini_failed_expired_cancelled(emu: Emulator, gem: genai.Client,
                                         png_bytes: bytes) -> None:
    reqs = _inline_requests(png_bytes, 2)
    for outcome, state in (("failed", types.JobState.JOB_STATE_FAILED),
                           ("expired", types.JobState.JOB_STATE_EXPIRED)):
        job = gem.batches.create(model=MODEL, src=reqs,
                                 config={"display_name": f"x emulator:{outcome}"})
        job = gem.batches.get(name=job.name or "")
        assert job.state == state and job.dest is None
    emu.configure(batch_latency_s=3600)
    job = gem.batches.create(model=MODEL, src=reqs)
    assert gem.batches.get(name=job.name or "").state == types.JobState.JOB_STATE_RUNNING
    gem.batches.cancel(name=job.name or "")
    assert gem.batches.get(name=job.name or "").state == types.JobState.JOB_STATE_CANCELLED
    with pytest.raises(errors.ClientError):
        gem.batches.cancel(name=job.name or "")


def test_gemini_batch_validation(emu: Emulator, gem: genai.Client, png_bytes: bytes) -> None:
    with pytest.raises(errors.ClientError) as info:
        gem.batches.create(model="gemini-does-not-exist",
                           src=_inline_requests(png_bytes, 1))
    assert info.value.code == 404
    with pytest.raises(errors.ClientError) as info:
        gem.batches.create(model=MODEL, src="files/nosuchfile")
    assert info.value.code == 403
    emu.configure(max_inline_bytes=500)
    with pytest.raises(errors.ClientError) as info:
        gem.batches.create(model=MODEL, src=_inline_requests(png_bytes, 3))
    assert "JSONL file" in str(info.value.message)
