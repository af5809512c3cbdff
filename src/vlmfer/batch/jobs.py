"""The provider side of a batch: submit a job, poll it, download what came back.

Each provider's client lives in its own module and imports its SDK there, so this
module stays cheap. Both reuse the predictor's own SDK client: the same ``base_url``,
API version and key as online calls (vlmfer never reads or writes keys here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from vlmfer.batch.store import JobRecord, JobStatus, RequestRecord
from vlmfer.errors import ConfigError
from vlmfer.predictors.base import Predictor

log = logging.getLogger("vlmfer")

#: Providers whose batch API vlmfer drives.
PROVIDERS = ("openai", "gemini")


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
    """One request's outcome in a job: a provider response body, or an error."""

    key: str
    body: Any = None
    error: str | None = None


class JobClient(Protocol):
    """One provider's batch API, for one predictor."""

    provider: str

    def line(self, key: str, body: dict[str, Any]) -> str:
        """One line of a JSONL input file."""
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


def job_client(predictor: Predictor) -> JobClient:
    """The batch client for a predictor's provider."""
    if predictor.provider == "openai":
        from vlmfer.batch.openai_jobs import OpenAIJobs

        return OpenAIJobs(predictor)
    if predictor.provider == "gemini":
        from vlmfer.batch.gemini_jobs import GeminiJobs

        return GeminiJobs(predictor)
    raise ConfigError(
        f"{predictor.name} has no batch API in vlmfer; batch mode works with "
        f"{' and '.join(p + '/<model>' for p in PROVIDERS)}. Run it online (without --batch)"
    )


def first_error(messages: list[str], limit: int = 3) -> str | None:
    """A short account of a job's errors (the first few, and how many more)."""
    if not messages:
        return None
    shown = "; ".join(messages[:limit])
    if len(messages) > limit:
        shown += f" (and {len(messages) - limit} more)"
    return shown
