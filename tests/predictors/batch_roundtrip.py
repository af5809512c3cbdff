"""One request through a predictor's batch capability, as the batch driver drives it."""

from __future__ import annotations

from vlmfer.predictors.base import Predictor
from vlmfer.predictors.batch import BatchCapable, JobPoll, JobRecord, RequestRecord
from vlmfer.types import Prompt, Response

KEY = "0123456789abcdef" * 4  # a cache key: 64 hex characters


async def batch_round_trip(predictor: Predictor, prompt: Prompt) -> tuple[JobPoll, Response]:
    """batch_request → batch_jobs().submit/poll/results → parse_batch_result."""
    assert isinstance(predictor, BatchCapable)
    name = predictor.name
    client = predictor.batch_jobs()
    assert client is not None
    try:
        body, context = await predictor.batch_request(prompt)
        rec = RequestRecord(key=KEY, role="main", sample_id="s1", step="answer",
                            context=context, body=body)
        size = len(client.line(KEY, body)) + 1
        job = JobRecord(chunk=0, role="main", model=name, tag="vlmfer-test-r1-j1",
                        start=0, end=1, offset=0, length=size, requests=1,
                        mode="inline" if size <= client.limits.inline_bytes else "file")
        await client.submit(job, [rec], lambda: None)
        assert job.id is not None
        poll = await client.poll(job)
        (raw,) = await client.results(job, [rec])
        assert raw.key == KEY and raw.error is None
        response = predictor.parse_batch_result(raw.body, context)
        await client.cleanup(job)
        return poll, response
    finally:
        await predictor.aclose()
