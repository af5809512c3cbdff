"""The files under ``RUN_DIR/batch/``: state, requests per round, and results.

``state.json`` is rewritten atomically after every change that matters (a planned round,
an uploaded input file, a created job, a collected job). ``results.jsonl`` is append-only
and flushed per line; on read it is deduplicated by key and a torn last line (a crash
mid-write) is ignored, so a ``collect`` killed at any moment can simply be run again.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from vlmfer.engine.rundir import utcnow, write_json_atomic
from vlmfer.errors import ConfigError
from vlmfer.predictors.batch import (  # the predictors' batch contract, re-exported
    TERMINAL,
    BatchError,
    BatchLimits,
    JobRecord,
    JobStatus,
    RequestRecord,
)
from vlmfer.types import Record, Response

BATCH_DIR = "batch"
STATE = "state.json"
RESULTS = "results.jsonl"
EXPERIMENT = "experiment.json"
STATE_VERSION = 1

__all__ = ["TERMINAL", "BatchError", "BatchLimits", "BatchResult", "BatchState", "BatchStore",
           "JobRecord", "JobStatus", "RequestRecord", "RoundRecord"]


class RoundRecord(Record):
    """One round: the requests a replay could not answer, and the jobs that carry them."""

    round: int
    phase: Literal["prepared", "submitted", "collected"] = "prepared"
    requests: int
    samples: int
    retry: bool = False
    created: str = Field(default_factory=utcnow)
    jobs: list[JobRecord] = Field(default_factory=list)
    uploads: dict[str, list[str]] = Field(default_factory=dict)
    uploads_deleted: bool = False


class BatchState(Record):
    """Everything between ``submit`` and ``collect``, in ``batch/state.json``."""

    version: int = STATE_VERSION
    run_id: str
    roles: dict[str, str]  # role -> predictor name
    limits: dict[str, BatchLimits]  # role -> limits
    rounds: list[RoundRecord] = Field(default_factory=list)
    complete: bool = False
    created: str = Field(default_factory=utcnow)
    updated: str = Field(default_factory=utcnow)

    @property
    def current(self) -> RoundRecord | None:
        return self.rounds[-1] if self.rounds else None


class BatchResult(Record):
    """One line of ``results.jsonl``: the answer to one request, or why there is none.

    ``cleared`` lines (written by ``collect --retry-failed``) withdraw an earlier error,
    so that the request is asked again.
    """

    key: str
    round: int = 0
    job: str | None = None
    response: Response | None = None
    error: str | None = None
    cleared: bool = False


class BatchStore:
    """The ``batch/`` folder of one run directory."""

    def __init__(self, run_dir: Path | str) -> None:
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / BATCH_DIR

    @property
    def state_path(self) -> Path:
        return self.dir / STATE

    @property
    def results_path(self) -> Path:
        return self.dir / RESULTS

    @property
    def experiment_path(self) -> Path:
        return self.dir / EXPERIMENT

    def requests_path(self, round_no: int) -> Path:
        return self.dir / f"round-{round_no}-requests.jsonl"

    def samples_path(self, round_no: int) -> Path:
        return self.dir / f"round-{round_no}-samples.jsonl"

    def exists(self) -> bool:
        return self.state_path.exists()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's lock: one batch command at a time works on a run directory.

        The OS releases it when the process ends, however it ends (even ``kill -9``).
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            yield
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(
                    f"{self.run_dir}: another vlmfer batch command is working on this run; "
                    "let it finish (or stop it), then run this command again"
                ) from None
            yield
        finally:
            os.close(fd)

    # ---------------------------------------------------------------- state

    def load(self) -> BatchState:
        if not self.state_path.exists():
            raise ConfigError(
                f"{self.run_dir}: not a batch run (no {BATCH_DIR}/{STATE}). Start one with "
                "`vlmfer run ... --batch --out RUN_DIR`"
            )
        try:
            state = BatchState.model_validate_json(self.state_path.read_bytes())
        except (ValidationError, ValueError) as e:
            raise ConfigError(f"{self.state_path}: not a valid batch state ({e}); it was "
                              "edited by hand or written by another vlmfer version") from e
        if state.version != STATE_VERSION:
            raise ConfigError(f"{self.state_path}: state version {state.version}, this vlmfer "
                              f"reads version {STATE_VERSION}")
        return state

    def save(self, state: BatchState) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        state.updated = utcnow()
        write_json_atomic(self.state_path, state.model_dump(mode="json"))

    def save_experiment(self, experiment: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.experiment_path, experiment)

    def load_experiment(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.experiment_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{self.run_dir}: not a batch run (no {BATCH_DIR}/{EXPERIMENT}). "
                              "Start one with `vlmfer run ... --batch --out RUN_DIR`") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"{self.experiment_path}: not valid JSON ({e})") from e
        return data

    # ---------------------------------------------------------------- requests

    def iter_requests(self, round_no: int, job: JobRecord) -> Iterator[RequestRecord]:
        """The requests of one job, read from its byte range."""
        path = self.requests_path(round_no)
        try:
            with path.open("rb") as f:
                f.seek(job.offset)
                data = f.read(job.length)
        except FileNotFoundError:
            raise ConfigError(f"{path} is missing: the requests of round {round_no} are gone, "
                              "so its jobs cannot be submitted or matched") from None
        for lineno, line in enumerate(data.splitlines(), start=job.start + 1):
            if not line.strip():
                continue
            try:
                yield RequestRecord.model_validate_json(line)
            except (ValidationError, ValueError) as e:
                raise ConfigError(f"{path}:{lineno}: not a valid request record ({e})") from e

    # ---------------------------------------------------------------- results

    def read_results(self, *, repair: bool = False) -> dict[str, BatchResult]:
        """Results by key: the last line for a key wins, ``cleared`` removes it.

        A torn last line is ignored (and cut off when ``repair``).
        """
        path = self.results_path
        if not path.exists():
            return {}
        raw = path.read_bytes()
        good_end = raw.rfind(b"\n") + 1
        out: dict[str, BatchResult] = {}
        for lineno, line in enumerate(raw[:good_end].split(b"\n")[:-1], start=1):
            if not line.strip():
                continue
            try:
                rec = BatchResult.model_validate_json(line)
            except (ValidationError, ValueError) as e:
                raise ConfigError(f"{path}:{lineno}: not a valid batch result ({e}); the file "
                                  "is corrupt: delete that line and collect again") from e
            if rec.cleared:
                out.pop(rec.key, None)
            else:
                out[rec.key] = rec
        if repair and good_end < len(raw):
            with path.open("r+b") as f:
                f.truncate(good_end)
        return out

    def append_results(self, records: Iterable[BatchResult]) -> int:
        """Append, one flushed write per line (a kill -9 leaves at most one torn line)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        n = 0
        with self.results_path.open("a", encoding="utf-8") as f:
            for rec in records:
                f.write(rec.model_dump_json(exclude_defaults=True) + "\n")
                f.flush()
                n += 1
            os.fsync(f.fileno())
        return n
