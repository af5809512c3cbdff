"""Provider batch as a capability of a predictor: the contract between a predictor and
vlmfer's batch driver (``vlmfer run --batch``, ``vlmfer batch submit|status|collect``).

A predictor offers batch by implementing three methods next to ``predict``:

- ``batch_request(prompt)``: the provider-native request body of one batch line, and a
  JSON context that parsing its answer needs later;
- ``parse_batch_result(body, context)``: the ``Response`` for one result body, parsed as
  ``predict`` parses an answer (marked ``details["batch"]``, priced at the batch rate);
- ``batch_jobs()``: a :class:`JobClient` that submits, polls and downloads jobs through
  the predictor's own SDK client (the same ``base_url`` and key as online calls).

``Predictor.batch_jobs()`` returns ``None`` by default: no batch. Built-in and plugin
predictors use the same path; the driver never asks for a provider by name.

This module imports no SDK and nothing above the predictors in the pipeline, so a
plugin predictor may import it freely::

    from vlmfer.predictors.batch import BatchLimits, JobClient, JobPoll, RawResult
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import Field, ValidationError

from vlmfer.errors import ConfigError, VlmferError
from vlmfer.types import Record

if TYPE_CHECKING:
    from vlmfer.types import Prompt, Response

__all__ = [
    "TERMINAL",
    "BatchCapable",
    "BatchError",
    "BatchLimits",
    "JobClient",
    "JobPoll",
    "JobRecord",
    "JobStatus",
    "RawResult",
    "RequestRecord",
    "first_error",
    "jsonl_objects",
    "unreachable",
]

#: Normalised job statuses; the provider's own word is kept next to it.
JobStatus = Literal["unsubmitted", "submitting", "pending", "running", "succeeded", "failed",
                    "expired", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "expired", "cancelled"})

LIMIT_ENVS = {
    "max_requests": "VLMFER_BATCH_MAX_REQUESTS",
    "max_bytes": "VLMFER_BATCH_MAX_BYTES",
    "inline_bytes": "VLMFER_BATCH_INLINE_BYTES",
}


class BatchError(VlmferError):
    """A provider batch call failed (submit, poll or download). The CLI exits 1."""


class BatchLimits(Record):
    """How requests are split into jobs; each job client states its provider's limits.

    ``max_requests`` and ``max_bytes`` bound one job's input (OpenAI: 50 000 requests and
    200 MB per input file; Gemini: a 2 GB input file). ``inline_bytes``: a job this small
    sends its requests inline in the create call (Gemini takes up to 20 MB there); a
    larger one goes as an uploaded file. ``0`` never inlines.
    """

    max_requests: int | None = Field(default=None, ge=1)
    max_bytes: int = Field(default=200_000_000, ge=1)
    inline_bytes: int = Field(default=0, ge=0)

    def with_env(self) -> BatchLimits:
        """These limits, overridden by ``VLMFER_BATCH_MAX_REQUESTS``,
        ``VLMFER_BATCH_MAX_BYTES`` and ``VLMFER_BATCH_INLINE_BYTES`` when set."""
        base: dict[str, Any] = self.model_dump()
        for field, env in LIMIT_ENVS.items():
            raw = os.environ.get(env, "").strip()
            if not raw:
                continue
            try:
                base[field] = int(raw.replace("_", ""))
            except ValueError:
                raise ConfigError(f"{env}={raw!r} is not a whole number; set it to e.g. "
                                  "1000, or unset it to use the provider's limit") from None
        try:
            return BatchLimits(**base)
        except ValidationError as e:
            raise ConfigError(f"batch limits from the environment are invalid: {e}") from None

    @classmethod
    def for_provider(cls, provider: str) -> BatchLimits:
        """Deprecated: ask the predictor's job client (``predictor.batch_jobs().limits``)."""
        import warnings

        warnings.warn("BatchLimits.for_provider() is deprecated: the limits come from the "
                      "predictor's job client (predictor.batch_jobs().limits)",
                      DeprecationWarning, stacklevel=2)
        if provider == "gemini":
            base = cls(max_requests=None, max_bytes=2_000_000_000, inline_bytes=19_000_000)
        else:
            base = cls(max_requests=50_000, max_bytes=200_000_000, inline_bytes=0)
        return base.with_env()


class JobRecord(Record):
    """One provider job: a contiguous range of one round's requests, for one role."""

    chunk: int
    role: str
    model: str
    tag: str  # the job's display name / metadata, to find it again after a crash
    start: int  # first line (0-based) in round-N-requests.jsonl
    end: int  # one past the last line
    offset: int  # byte offset of ``start``
    length: int  # bytes of the range
    requests: int  # end - start
    mode: Literal["file", "inline"] = "file"
    input_file: str | None = None
    id: str | None = None
    status: JobStatus = "unsubmitted"
    provider_status: str | None = None
    error: str | None = None
    created: str | None = None
    completed: int | None = None
    failed: int | None = None
    collected: bool = False
    output_files: list[str] = Field(default_factory=list)
    cleaned: bool = False

    @property
    def n(self) -> int:
        return self.requests


class RequestRecord(Record):
    """One line of ``round-N-requests.jsonl``: a request, as submitted."""

    key: str  # the cache key; job clients send it as the provider's custom id
    role: str
    sample_id: str  # the first sample that asked it (others: round-N-samples.jsonl)
    step: str
    context: dict[str, Any]
    body: dict[str, Any]


@dataclass
class JobPoll:
    """A job's state as the provider reports it."""

    status: JobStatus
    provider_status: str
    error: str | None = None
    completed: int | None = None
    failed: int | None = None


@dataclass
class RawResult:
    """One request's outcome in a job: a provider response body, or an error.

    ``key`` is the request's ``RequestRecord.key``; an ``error`` becomes an ``error``
    outcome that ``vlmfer batch collect --retry-failed`` submits again.
    """

    key: str
    body: Any = None
    error: str | None = None


class JobClient(Protocol):
    """One provider's batch API, for one predictor."""

    #: The provider prefix, for messages and the manifest.
    provider: str
    #: How the driver splits a round's requests into jobs (before env overrides).
    limits: BatchLimits

    def line(self, key: str, body: dict[str, Any]) -> str:
        """One line of a JSONL input file (also sizes the request for ``limits``)."""
        ...

    async def submit(
        self, job: JobRecord, records: list[RequestRecord], save: Callable[[], None]
    ) -> None:
        """Upload the input (if not uploaded yet) and create the job; fill in ``job``.

        ``save`` is called after each step that a crash must not forget.
        """
        ...

    async def find(self, job: JobRecord, since: float) -> bool:
        """Adopt the job created for ``job.tag`` before a crash, if there is one."""
        ...

    async def poll(self, job: JobRecord) -> JobPoll:
        """The job's state now (also recorded in ``job``)."""
        ...

    async def results(self, job: JobRecord, records: list[RequestRecord]) -> list[RawResult]:
        """Everything a finished job returned, keyed by request."""
        ...

    async def cleanup(self, job: JobRecord) -> None:
        """Delete the job's input and output files (best effort: a failure is logged)."""
        ...

    async def delete_files(self, names: list[str]) -> None:
        """Delete media uploads that the job's requests referred to (best effort)."""
        ...


@runtime_checkable
class BatchCapable(Protocol):
    """A predictor that offers provider batch (see the module docstring)."""

    async def batch_request(self, prompt: Prompt) -> tuple[dict[str, Any], dict[str, Any]]:
        """The provider-native request body, and the JSON context its parsing needs."""
        ...

    def parse_batch_result(self, body: Any, context: dict[str, Any]) -> Response:
        """The ``Response`` for one result body, parsed as ``predict`` would."""
        ...

    def batch_jobs(self) -> JobClient | None:
        """The job client, or None when this predictor offers no batch."""
        ...


def first_error(messages: list[str], limit: int = 3) -> str | None:
    """A short account of a job's errors (the first few, and how many more)."""
    if not messages:
        return None
    shown = "; ".join(messages[:limit])
    if len(messages) > limit:
        shown += f" (and {len(messages) - limit} more)"
    return shown


def unreachable(name: str, what: str, where: str, exc: BaseException) -> BatchError:
    """The error for a job call that never reached the server (a network or DNS failure)."""
    return BatchError(f"{name}: {what}: could not reach {where} ({type(exc).__name__}); "
                      "check the network and base_url, then run the same command again")


def jsonl_objects(text: str, name: str, source: str) -> Iterator[Any]:
    """The JSON value of each non-blank line of a result file, in order.

    A line that is not JSON is logged (``name`` and ``source`` word the warning) and
    skipped: one broken line must not lose the job's other results.
    """
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError:
            logging.getLogger("vlmfer").warning("%s: line %d of %s is not JSON; skipped",
                                                name, lineno, source)
