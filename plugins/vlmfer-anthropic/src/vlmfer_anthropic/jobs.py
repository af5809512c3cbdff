"""The Message Batches API as vlmfer's batch job client (``predictor.batch_jobs()``).

One job is one Message Batch: its requests go inline in the create call, each as
``{"custom_id": <vlmfer's cache key>, "params": <the Messages request>}``; results come back
as JSONL matched by ``custom_id``. An ``errored``, ``expired`` or ``canceled`` result becomes
an ``error`` outcome, which ``vlmfer batch collect --retry-failed`` submits again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
from vlmfer.predictors.batch import (
    BatchError,
    BatchLimits,
    JobPoll,
    JobRecord,
    RawResult,
    RequestRecord,
)
from vlmfer.predictors.common import redact

from vlmfer_anthropic.options import BATCH_MAX_BYTES, BATCH_MAX_REQUESTS

log = logging.getLogger("vlmfer")

#: Anthropic's limits per Message Batch; the requests travel inline in the create call, so
#: every job is "inline" (the driver sizes jobs by the stored request lines, a little larger
#: than the wire JSON, which leaves room for the framing).
LIMITS = BatchLimits(max_requests=BATCH_MAX_REQUESTS, max_bytes=BATCH_MAX_BYTES,
                     inline_bytes=BATCH_MAX_BYTES)
#: How many listed batches to look through for one lost after a crash.
_FIND_LIMIT = 1000


class AnthropicJobs:
    """Message Batches through a predictor's ``AsyncAnthropic`` client."""

    provider = "anthropic"
    limits = LIMITS

    def __init__(self, name: str, client: anthropic.AsyncAnthropic, where: str,
                 secret: str | None = None) -> None:
        self.name = name
        self.client = client
        self.where = where
        self._secret = secret

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except anthropic.APIStatusError as exc:
            detail = redact(exc.api_message or exc.message, self._secret)
            rid = f" (request-id {exc.request_id})" if exc.request_id else ""
            raise BatchError(f"{self.name}: {what}: HTTP {exc.status_code} from {self.where}: "
                             f"{detail}{rid}") from None
        except anthropic.APIConnectionError as exc:
            raise BatchError(f"{self.name}: {what}: could not reach {self.where} "
                             f"({type(exc).__name__}); check the network and base_url, then "
                             "run the same command again") from None

    def line(self, key: str, body: dict[str, Any]) -> str:
        import json

        return json.dumps({"custom_id": key, "params": body}, separators=(",", ":"))

    async def submit(
        self, job: JobRecord, records: list[RequestRecord], save: Callable[[], None]
    ) -> None:
        requests: Any = [{"custom_id": r.key, "params": r.body} for r in records]
        job.status = "submitting"
        save()
        with self._errors(f"creating Message Batch {job.tag}"):
            batch = await self.client.messages.batches.create(requests=requests)
        self._apply(job, batch)

    async def find(self, job: JobRecord, since: float) -> bool:
        """A Message Batch carries no name, so a batch lost in a crash between its creation
        and saving its id is adopted only when exactly one batch created since then holds
        as many requests as the job; otherwise the job is submitted again."""
        found: list[Any] = []
        seen = 0
        with self._errors(f"listing Message Batches to find {job.tag}"):
            async for batch in self.client.messages.batches.list(limit=100):
                seen += 1
                if batch.created_at.timestamp() < since - 300 or seen > _FIND_LIMIT:
                    break  # newest first
                c = batch.request_counts
                total = c.processing + c.succeeded + c.errored + c.canceled + c.expired
                if total == job.requests:
                    found.append(batch)
        if len(found) != 1:
            return False
        self._apply(job, found[0])
        return True

    def _apply(self, job: JobRecord, batch: Any) -> JobPoll:
        job.id = batch.id
        if job.created is None and batch.created_at is not None:
            job.created = batch.created_at.isoformat(timespec="seconds")
        raw = str(batch.processing_status)
        c = batch.request_counts
        ended = raw == "ended"
        failed = c.errored + c.expired + c.canceled
        poll = JobPoll(status="succeeded" if ended else "running", provider_status=raw,
                       completed=c.succeeded if ended else None,
                       failed=failed if ended else None)
        job.status, job.provider_status = poll.status, poll.provider_status
        job.completed, job.failed = poll.completed, poll.failed
        return poll

    async def poll(self, job: JobRecord) -> JobPoll:
        assert job.id is not None
        with self._errors(f"polling {job.id}"):
            batch = await self.client.messages.batches.retrieve(job.id)
        return self._apply(job, batch)

    async def results(self, job: JobRecord, records: list[RequestRecord]) -> list[RawResult]:
        assert job.id is not None
        out: list[RawResult] = []
        with self._errors(f"downloading the results of {job.id}"):
            async for item in await self.client.messages.batches.results(job.id):
                out.append(_raw(item))
        return out

    async def cleanup(self, job: JobRecord) -> None:
        return None  # no files: the requests went inline, the results stay 29 days

    async def delete_files(self, names: list[str]) -> None:
        return None  # media goes inline


def _raw(item: Any) -> RawResult:
    key = str(item.custom_id)
    result = item.result
    kind = getattr(result, "type", None)
    if kind == "succeeded":
        return RawResult(key=key, body=result.message)
    if kind == "errored":
        err = result.error.error
        rid = getattr(result.error, "request_id", None)
        return RawResult(key=key, error=f"errored: {err.type}: {err.message}"
                         + (f" (request-id {rid})" if rid else ""))
    if kind == "expired":
        return RawResult(key=key, error="expired: the batch ended (24 h) before this request "
                         "was processed")
    if kind == "canceled":
        return RawResult(key=key, error="canceled: the batch was canceled before this request "
                         "was processed")
    return RawResult(key=key, error=f"unknown result type {kind!r}")
