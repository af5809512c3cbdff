"""OpenAI Batch: a JSONL input file (``purpose="batch"``), ``batches.create`` with a 24 h
window, ``batches.retrieve`` to poll, and the output and error files to download.

Each line is ``{"custom_id": <cache key>, "method": "POST", "url": <endpoint>, "body": ...}``
where the body is exactly what the predictor's ``predict`` would send.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai

from vlmfer.predictors._common import redact
from vlmfer.predictors.batch import (
    BatchError,
    BatchLimits,
    JobPoll,
    JobRecord,
    JobStatus,
    RawResult,
    RequestRecord,
    first_error,
    jsonl_objects,
    unreachable,
)

log = logging.getLogger("vlmfer")

_STATUS: dict[str, JobStatus] = {
    "validating": "pending",
    "in_progress": "running",
    "finalizing": "running",
    "cancelling": "running",
    "completed": "succeeded",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
}
#: How many listed batches to look through for one lost after a crash.
_FIND_LIMIT = 1000
#: OpenAI's Batch API: 50 000 requests and 200 MB per input file (platform docs, 2026).
LIMITS = BatchLimits(max_requests=50_000, max_bytes=200_000_000, inline_bytes=0)


class OpenAIJobs:
    """OpenAI's Batch API through a predictor's ``AsyncOpenAI`` client.

    ``name`` and ``where`` (the base URL) only word messages; ``endpoint`` is the path that
    every input line names (``/v1/chat/completions`` or ``/v1/responses``).
    """

    provider = "openai"
    limits = LIMITS

    def __init__(self, name: str, client: openai.AsyncOpenAI, endpoint: str,
                 where: str) -> None:
        self.name = name
        self.client = client
        self.endpoint: Any = endpoint
        self.where = where

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except openai.APIStatusError as exc:
            detail = exc.message
            body = exc.body
            if isinstance(body, dict):
                err = body.get("error", body)
                if isinstance(err, dict) and err.get("message"):
                    detail = str(err["message"])
            # Not chained: OpenAI's 401 text echoes part of the key.
            raise BatchError(f"{self.name}: {what}: HTTP {exc.status_code} from {self.where}: "
                             f"{redact(detail)}") from None
        except openai.APIConnectionError as exc:
            raise unreachable(self.name, what, self.where, exc) from None

    def line(self, key: str, body: dict[str, Any]) -> str:
        return json.dumps({"custom_id": key, "method": "POST", "url": self.endpoint,
                           "body": body}, separators=(",", ":"))

    async def submit(
        self, job: JobRecord, records: list[RequestRecord], save: Callable[[], None]
    ) -> None:
        if job.input_file is None:
            data = "".join(self.line(r.key, r.body) + "\n" for r in records).encode()
            with self._errors(f"uploading the input file of {job.tag}"):
                f = await self.client.files.create(
                    file=(f"{job.tag}.jsonl", data, "application/jsonl"), purpose="batch")
            job.input_file = f.id
            save()
        job.status = "submitting"
        save()
        with self._errors(f"creating batch {job.tag}"):
            batch = await self.client.batches.create(
                input_file_id=job.input_file, endpoint=self.endpoint,
                completion_window="24h", metadata={"vlmfer": job.tag})
        self._apply(job, batch)

    async def find(self, job: JobRecord, since: float) -> bool:
        seen = 0
        with self._errors(f"listing batches to find {job.tag}"):
            async for batch in self.client.batches.list(limit=100):
                if (batch.metadata or {}).get("vlmfer") == job.tag:
                    self._apply(job, batch)
                    return True
                seen += 1
                # Newest first: anything made before this round cannot be it.
                if seen >= _FIND_LIMIT or batch.created_at < since - 300:
                    break
        return False

    def _apply(self, job: JobRecord, batch: Any) -> JobPoll:
        job.id = batch.id
        if job.created is None:
            job.created = time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                                        time.gmtime(batch.created_at or time.time()))
        status = _STATUS.get(batch.status, "running")
        errors = [f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else "")
                  for e in ((batch.errors.data if batch.errors else None) or [])]
        counts = batch.request_counts
        poll = JobPoll(status=status, provider_status=batch.status, error=first_error(errors),
                       completed=counts.completed if counts else None,
                       failed=counts.failed if counts else None)
        job.status, job.provider_status = poll.status, poll.provider_status
        job.completed, job.failed = poll.completed, poll.failed
        if poll.error:
            job.error = poll.error
        for fid in (batch.output_file_id, batch.error_file_id):
            if fid and fid not in job.output_files:
                job.output_files.append(fid)
        return poll

    async def poll(self, job: JobRecord) -> JobPoll:
        assert job.id is not None
        with self._errors(f"polling batch {job.id}"):
            batch = await self.client.batches.retrieve(job.id)
        return self._apply(job, batch)

    async def results(self, job: JobRecord, records: list[RequestRecord]) -> list[RawResult]:
        out: list[RawResult] = []
        for fid in job.output_files:
            with self._errors(f"downloading {fid} of batch {job.id}"):
                content = await self.client.files.content(fid)
            out.extend(_raw(obj) for obj in jsonl_objects(content.text, self.name, fid))
        return out

    async def cleanup(self, job: JobRecord) -> None:
        for fid in [job.input_file, *job.output_files]:
            if not fid:
                continue
            try:
                await self.client.files.delete(fid)
            except openai.OpenAIError as exc:
                log.warning("%s: could not delete file %s (%s); delete it in the dashboard",
                            self.name, fid, redact(str(exc))[:200])

    async def delete_files(self, names: list[str]) -> None:
        return None  # media goes inline on OpenAI


def _raw(obj: dict[str, Any]) -> RawResult:
    key = str(obj.get("custom_id"))
    response = obj.get("response") or {}
    error = obj.get("error")
    status = response.get("status_code") if isinstance(response, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    if status == 200 and isinstance(body, dict):
        return RawResult(key=key, body=body)
    if isinstance(error, dict):
        return RawResult(key=key, error=f"{error.get('code')}: {error.get('message')}")
    message = ""
    if isinstance(body, dict):
        err = body.get("error", body)
        message = str(err.get("message", "")) if isinstance(err, dict) else str(err)
    return RawResult(key=key, error=f"HTTP {status}: {message or 'no detail'}")
