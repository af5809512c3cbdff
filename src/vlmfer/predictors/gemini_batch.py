"""Gemini batch mode: ``batches.create`` with inlined requests when the job is small, a
JSONL file through the Files API otherwise; results inline or as a responses file.

Inline requests are rebuilt as the SDK's ``InlinedRequest`` from the stored REST body
(the SDK serialises them back to the same JSON); file lines are
``{"key": <cache key>, "request": <GenerateContentRequest>}``. Uploaded input files and
generated responses files are deleted after collection, and so are the media uploads
that requests referred to, once their round is collected.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from vlmfer.predictors._common import redact
from vlmfer.predictors.batch import (
    BatchError,
    BatchLimits,
    JobPoll,
    JobRecord,
    JobStatus,
    RawResult,
    RequestRecord,
    jsonl_objects,
    unreachable,
)
from vlmfer.predictors.gemini_files import (
    TRANSPORT_ERRORS,
    GeminiFiles,
    Upload,
    UploadFailed,
    UploadTimeout,
)

log = logging.getLogger("vlmfer")

_STATUS: dict[str, JobStatus] = {
    "JOB_STATE_UNSPECIFIED": "pending",
    "JOB_STATE_QUEUED": "pending",
    "JOB_STATE_PENDING": "pending",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_UPDATING": "running",
    "JOB_STATE_PAUSED": "running",
    "JOB_STATE_CANCELLING": "running",
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}
_FIND_LIMIT = 1000
#: Gemini batch mode: a JSONL input file up to 2 GB; inline requests up to 20 MB in the
#: create call (kept under it, for the JSON framing).
LIMITS = BatchLimits(max_requests=None, max_bytes=2_000_000_000, inline_bytes=19_000_000)


class GeminiJobs:
    """Gemini's batch mode through a predictor's ``genai.Client`` and its Files API."""

    provider = "gemini"
    limits = LIMITS

    def __init__(self, name: str, model: str, client: genai.Client, where: str,
                 files: GeminiFiles) -> None:
        self.name = name
        self.model = model
        self.client = client.aio
        self.where = where
        self.files = files

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except genai_errors.APIError as exc:
            # Not chained: the SDK's exception text carries the raw body.
            raise BatchError(f"{self.name}: {what}: HTTP {exc.code} {exc.status or ''} from "
                             f"{self.where}: {redact(exc.message or str(exc))}") from None
        except TRANSPORT_ERRORS as exc:
            raise unreachable(self.name, what, self.where, exc) from None

    def line(self, key: str, body: dict[str, Any]) -> str:
        return json.dumps({"key": key, "request": body}, separators=(",", ":"))

    @staticmethod
    def _inlined(rec: RequestRecord) -> types.InlinedRequest:
        body = rec.body
        # The SDK keeps generation settings, the system instruction and safety settings
        # together in one config; it splits them out again when it serialises.
        config = dict(body.get("generationConfig") or {})
        config.update({k: v for k, v in body.items() if k not in ("contents",
                                                                    "generationConfig")})
        wire = {"contents": body.get("contents"), "config": config,
                "metadata": {"key": rec.key}}
        # JSON validation decodes base64 media back to bytes, as the SDK expects.
        return types.InlinedRequest.model_validate_json(json.dumps(wire))

    async def submit(
        self, job: JobRecord, records: list[RequestRecord], save: Callable[[], None]
    ) -> None:
        config = types.CreateBatchJobConfig(display_name=job.tag)
        if job.mode == "inline":
            src: Any = [self._inlined(r) for r in records]
        else:
            if job.input_file is None:
                data = "".join(self.line(r.key, r.body) + "\n" for r in records).encode()
                with self._errors(f"uploading the input file of {job.tag}"):
                    up = await self.files.upload(data, "jsonl", job.tag)
                job.input_file = up.name
                save()
            await self._wait_active(str(job.input_file))
            src = job.input_file
        job.status = "submitting"
        save()
        with self._errors(f"creating batch {job.tag}"):
            created = await self.client.batches.create(model=self.model, src=src, config=config)
        self._apply(job, created)

    async def _wait_active(self, name: str) -> None:
        with self._errors(f"checking upload {name}"):
            up: Upload = await self.files.get(name)
        try:
            with self._errors(f"checking upload {name}"):
                await self.files.wait_active(up)
        except UploadFailed as exc:
            raise BatchError(f"{self.name}: the batch input: {exc}") from None
        except UploadTimeout as exc:
            raise BatchError(f"{self.name}: the batch input {exc}; run `vlmfer batch submit` "
                             "again later") from None

    async def find(self, job: JobRecord, since: float) -> bool:
        seen = 0
        with self._errors(f"listing batches to find {job.tag}"):
            async for found in await self.client.batches.list():
                if found.display_name == job.tag:
                    self._apply(job, found)
                    return True
                seen += 1
                if seen >= _FIND_LIMIT:
                    break
        return False

    def _apply(self, job: JobRecord, batch: types.BatchJob) -> JobPoll:
        job.id = batch.name
        if job.created is None:
            job.created = (batch.create_time.isoformat(timespec="seconds")
                           if batch.create_time else None)
        raw = str(getattr(batch.state, "value", batch.state))
        status = _STATUS.get(raw, "running")
        error = batch.error.message if batch.error is not None else None
        if error is None and status in ("failed", "expired", "cancelled"):
            error = f"the job ended in state {raw}"
        poll = JobPoll(status=status, provider_status=raw, error=error)
        job.status, job.provider_status = poll.status, poll.provider_status
        if error:
            job.error = error
        dest = batch.dest
        if dest is not None and dest.file_name and dest.file_name not in job.output_files:
            job.output_files.append(dest.file_name)
        return poll

    async def poll(self, job: JobRecord) -> JobPoll:
        assert job.id is not None
        with self._errors(f"polling {job.id}"):
            batch = await self.client.batches.get(name=job.id)
        return self._apply(job, batch)

    async def results(self, job: JobRecord, records: list[RequestRecord]) -> list[RawResult]:
        assert job.id is not None
        with self._errors(f"reading {job.id}"):
            batch = await self.client.batches.get(name=job.id)
        self._apply(job, batch)
        out: list[RawResult] = []
        dest = batch.dest
        if dest is not None and dest.inlined_responses:
            for i, item in enumerate(dest.inlined_responses):
                key = (item.metadata or {}).get("key")
                if key is None and i < len(records):  # results come in request order
                    key = records[i].key
                if item.response is not None:
                    out.append(RawResult(key=str(key), body=item.response))
                else:
                    err = item.error
                    out.append(RawResult(key=str(key), error=_error_text(
                        err.code if err else None, None, err.message if err else None)))
        for name in job.output_files:
            with self._errors(f"downloading {name} of {job.id}"):
                data = await self.client.files.download(file=name)
            for obj in jsonl_objects((data or b"").decode("utf-8"), self.name, name):
                key = str(obj.get("key"))
                if isinstance(obj.get("response"), dict):
                    out.append(RawResult(key=key, body=obj["response"]))
                else:
                    fault = obj.get("error") if isinstance(obj.get("error"), dict) else {}
                    out.append(RawResult(key=key, error=_error_text(
                        fault.get("code"), fault.get("status"), fault.get("message"))))
        return out

    async def cleanup(self, job: JobRecord) -> None:
        await self.delete_files([n for n in [job.input_file, *job.output_files] if n])

    async def delete_files(self, names: list[str]) -> None:
        await self.files.delete(names)


def _error_text(code: Any, status: Any, message: Any) -> str:
    head = " ".join(str(x) for x in (f"HTTP {code}" if code else None, status) if x)
    return f"{head or 'error'}: {message or 'no detail'}"
