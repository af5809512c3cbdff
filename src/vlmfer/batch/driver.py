"""Rounds of provider batch jobs for one run: replay, submit, poll, collect, finish.

One round is: replay every unfinished sample (finished ones are appended to
``predictions.jsonl``); the asks nobody has answered yet become the round's requests
(one per cache key); they are split into jobs by the provider's limits and submitted.
Collecting a round downloads every finished job, appends the results, and, once all
of the round's jobs are in, replays again: the next round holds only what the
strategies asked next (stage 2 of ``two-stage`` only for samples whose gate did not
say Neutral). When a replay asks nothing new, the run is complete.

Every step records its progress in ``batch/state.json`` before the next one starts,
so any command can be killed and run again.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import ValidationError

from vlmfer.batch.engine import BatchEngine, Chunk, PendingRequests, replay
from vlmfer.batch.jobs import JobClient, RawResult, job_client, log
from vlmfer.batch.store import (
    TERMINAL,
    BatchLimits,
    BatchResult,
    BatchState,
    BatchStore,
    JobRecord,
    RequestRecord,
    RoundRecord,
)
from vlmfer.engine.cache import ResponseCache
from vlmfer.engine.config import Experiment
from vlmfer.engine.experiment import Parts, build
from vlmfer.engine.run import build_manifest, check_capabilities
from vlmfer.engine.rundir import RunFolder, utcnow
from vlmfer.errors import ConfigError, PredictorError
from vlmfer.predictors.base import Predictor
from vlmfer.predictors.batch import BatchCapable
from vlmfer.predictors.pricing import BATCH_DISCOUNT
from vlmfer.results import Run
from vlmfer.secrets import key_fields

Echo = Callable[[str], None]


def _silent(_: str) -> None:
    return None


@dataclass
class CollectResult:
    """Where a batch run stands after a command."""

    status: Literal["complete", "submitted", "running"]
    path: Path
    round: int
    message: str
    jobs: list[JobRecord] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.status == "complete"


@dataclass
class StatusReport:
    """What ``vlmfer batch status`` shows."""

    path: Path
    complete: bool
    round: RoundRecord | None
    total: int
    finished: int
    outcomes: dict[str, int]

    @property
    def waiting(self) -> int:
        return max(0, self.total - self.finished)

    def text(self) -> str:
        lines = [f"{self.path}: batch run, "
                 + ("complete" if self.complete else
                    f"round {self.round.round} ({self.round.phase})" if self.round else
                    "nothing submitted yet")]
        shown = ", ".join(f"{k}={v}" for k, v in sorted(self.outcomes.items()))
        lines.append(f"samples: {self.total} total, {self.finished} finished"
                     + (f" ({shown})" if shown else "") + f", {self.waiting} waiting")
        rnd = self.round
        if rnd is not None:
            lines.append(f"round {rnd.round}: {rnd.requests} request(s) for {rnd.samples} "
                         f"sample(s) in {len(rnd.jobs)} job(s)"
                         + (" (retrying failed requests)" if rnd.retry else ""))
            for job in rnd.jobs:
                lines.append("  " + job_line(job))
        if not self.complete:
            lines.append(f"next: vlmfer batch {'submit' if _unsubmitted(rnd) else 'collect'} "
                         f"{self.path}")
        return "\n".join(lines)


def job_line(job: JobRecord) -> str:
    """One job, as status and collect print it."""
    counts = ""
    if job.completed is not None or job.failed is not None:
        counts = f", {job.completed or 0} completed, {job.failed or 0} failed"
    raw = f" ({job.provider_status})" if job.provider_status else ""
    err = f": {job.error}" if job.error and job.status != "succeeded" else ""
    collected = ", collected" if job.collected else ""
    return (f"{job.id or job.tag}  {job.status}{raw}{err}  {job.n} request(s){counts}  "
            f"[{job.model}, {job.mode} input{collected}]")


def _unsubmitted(rnd: RoundRecord | None) -> bool:
    return rnd is None or rnd.phase == "prepared"


def _portable(exp: Experiment, out: Path) -> dict[str, Any]:
    """The experiment with absolute paths, to rebuild it from any working directory."""
    data = exp.model_dump(mode="json")
    leaked = key_fields(data)
    if leaked:
        raise ConfigError(
            f"{', '.join(leaked)} sets a key: keys come only from the environment "
            "(OPENAI_API_KEY, GEMINI_API_KEY / GOOGLE_API_KEY, or the plugin's variable, "
            "e.g. ANTHROPIC_API_KEY), and a batch run writes its experiment to disk. Remove "
            "it and export the key instead"
        )

    def absolute(value: Any) -> Any:
        if isinstance(value, str) and value and Path(value).expanduser().exists():
            return str(Path(value).expanduser().resolve())
        return value

    ds = data.get("dataset") or {}
    if ds.get("root"):
        ds["root"] = str(Path(ds["root"]).expanduser().resolve())
    for section in ("dataset", "model", "strategy"):
        table = data.get(section) or {}
        for key in list(table):
            if key.endswith(("template", "_file")):
                table[key] = absolute(table[key])
    data["run"]["out"] = str(out.resolve())
    return data


class BatchDriver:
    """One run directory driven through a provider's batch API."""

    def __init__(
        self, exp: Experiment, parts: Parts, *, limits: BatchLimits | None = None,
        echo: Echo | None = None,
    ) -> None:
        self.exp = exp
        self.parts = parts
        self.path = parts.out
        self.rundir = RunFolder(self.path)
        self.store = BatchStore(self.path)
        self.predictors: dict[str, Predictor] = {"main": parts.predictor, **parts.roles}
        self.echo: Echo = echo or _silent
        self._limits = limits
        self._clients: dict[str, JobClient] = {}
        check_capabilities(parts.dataset, parts.strategy, self.predictors,
                           media=parts.options.media)
        # Asked once per role, before anything is written: a predictor without batch fails
        # here, at start-up, with the list of what offers batch.
        for role, p in self.predictors.items():
            self._clients[role] = job_client(p, role)
        self.cache = ResponseCache() if parts.options.cache else None

    # ---------------------------------------------------------------- building

    @classmethod
    def create(cls, exp: Experiment, *, limits: BatchLimits | None = None,
               echo: Echo | None = None) -> BatchDriver:
        """From an experiment (``vlmfer run --batch``)."""
        return cls(exp, build(exp), limits=limits, echo=echo)

    @classmethod
    def open(cls, run_dir: Path | str, *, echo: Echo | None = None) -> BatchDriver:
        """From a run directory that a ``--batch`` run started."""
        path = Path(run_dir)
        store = BatchStore(path)
        RunFolder(path).read_manifest()  # a clear error when this is not a run folder
        data = store.load_experiment()
        try:
            exp = Experiment.model_validate(data)
        except ValidationError as e:
            raise ConfigError(f"{store.experiment_path}: not a valid experiment ({e})") from e
        exp = exp.model_copy(update={"run": exp.run.model_copy(update={"out": str(path)})})
        run = cls(exp, build(exp), echo=echo)
        run.rundir.check_identity(run._manifest(None)["identity"])
        return run

    def _manifest(self, command: Sequence[str] | None) -> dict[str, Any]:
        p = self.parts
        manifest = build_manifest(p.dataset, p.strategy, self.predictors, p.options,
                                  mode="batch", command=command)
        manifest["batch"] = {
            "price": f"provider batch price: {BATCH_DISCOUNT:.0%} of the online price",
            "discount": BATCH_DISCOUNT,
            "providers": {role: pr.provider for role, pr in sorted(self.predictors.items())},
        }
        return manifest

    def _client(self, role: str) -> JobClient:
        return self._clients[role]

    async def aclose(self) -> None:
        for p in self.predictors.values():
            await p.aclose()
        if self.cache is not None:
            self.cache.close()

    # ---------------------------------------------------------------- commands

    async def start(self, command: Sequence[str] | None = None) -> CollectResult:
        """Write the manifest and state, then prepare and submit the first round."""
        portable = _portable(self.exp, self.path)  # refuses keys before anything is written
        manifest = self._manifest(command)
        self.rundir.check_identity(manifest["identity"])
        if self.rundir.exists():  # keep the first start time; record this resume
            old = self.rundir.read_manifest()
            manifest["started"] = old.get("started", manifest["started"])
            manifest["resumed"] = [*old.get("resumed", []), utcnow()]
            online = sum(1 for _ in self.rundir.iter_predictions())
            if old.get("mode") != "batch" and online:
                # Say so: these samples were answered online, at the online price.
                manifest["batch"]["online_before_batch"] = online
        self.rundir.write_manifest(manifest)
        self.store.save_experiment(portable)
        return await self.advance(poll=False)

    def _load_state(self) -> BatchState:
        if not self.store.exists():  # a first start, or one that died right here
            self.store.save(BatchState(
                run_id=secrets.token_hex(4),
                roles={role: p.name for role, p in self.predictors.items()},
                limits={role: self._limits or self._client(role).limits.with_env()
                        for role in self.predictors},
            ))
        return self.store.load()

    async def advance(
        self, *, poll: bool, wait: bool = False, poll_s: float = 60.0,
        retry_failed: bool = False,
    ) -> CollectResult:
        """Move the run on as far as it goes without waiting (or until done, with ``wait``).

        ``poll=False`` (submit) never asks the provider how jobs are doing.
        """
        state = self._load_state()
        retrying = self._retry_failed(state) if retry_failed else False
        while True:
            rnd = state.current
            if rnd is None or rnd.phase == "collected":
                if state.complete:
                    return await self._finish(state)
                rnd = await self._prepare(state, retry=retrying)
                retrying = False
                if rnd is None:
                    return await self._finish(state)
            if rnd.phase == "prepared":
                await self._submit(state, rnd)
                if not (poll and wait):
                    return self._result("submitted", rnd, self._submitted_text(rnd))
            if not poll:
                return self._result("submitted", rnd,
                                    f"round {rnd.round} is already submitted; collect it with "
                                    f"`vlmfer batch collect {self.path}`")
            if await self._collect(state, rnd):
                continue
            running = [j for j in rnd.jobs if not j.collected]
            if not wait:
                return self._result(
                    "running", rnd,
                    f"round {rnd.round}: {len(running)} of {len(rnd.jobs)} job(s) not finished "
                    f"yet; run `vlmfer batch collect {self.path}` again later (or add --wait)")
            self.echo(f"round {rnd.round}: waiting for {len(running)} job(s); next poll in "
                      f"{poll_s:g} s")
            await asyncio.sleep(poll_s)

    async def status(self) -> StatusReport:
        """Poll the current round's jobs (no download) and count the samples."""
        state = self.store.load() if self.store.exists() else None
        rnd = state.current if state else None
        complete = bool(state and state.complete)
        if state is not None and rnd is not None and not complete:
            for job in rnd.jobs:
                if job.id is None or job.collected or job.status in TERMINAL:
                    continue
                await self._client(job.role).poll(job)
                self.store.save(state)
        outcomes: dict[str, int] = {}
        finished = 0
        for p in self.rundir.iter_predictions():
            finished += 1
            outcomes[p.outcome] = outcomes.get(p.outcome, 0) + 1
        return StatusReport(self.path, complete, rnd, len(self.parts.dataset), finished,
                            outcomes)

    # ---------------------------------------------------------------- steps

    def _result(self, status: Literal["complete", "submitted", "running"],
                rnd: RoundRecord | None, message: str) -> CollectResult:
        return CollectResult(status, self.path, rnd.round if rnd else 0, message,
                             list(rnd.jobs) if rnd else [])

    def _submitted_text(self, rnd: RoundRecord) -> str:
        lines = [f"round {rnd.round} submitted: {rnd.requests} request(s) for {rnd.samples} "
                 f"sample(s) in {len(rnd.jobs)} job(s)"]
        lines += ["  " + job_line(j) for j in rnd.jobs]
        lines += ["Providers return batches within 24 h (often much sooner). Then run:",
                  f"  vlmfer batch collect {self.path}        (add --wait to block until done)",
                  f"Progress: vlmfer batch status {self.path}"]
        return "\n".join(lines)

    def _retry_failed(self, state: BatchState) -> bool:
        """Withdraw the failed batch results behind ``error`` predictions; drop those."""
        keys: set[str] = set()
        samples: set[str] = set()
        for p in self.rundir.finished():
            if p.outcome != "error":
                continue
            for s in p.steps:
                key = s.details.get("batch_key") if s.status == "error" else None
                if isinstance(key, str):
                    keys.add(key)
                    samples.add(p.sample_id)
        if not keys:
            self.echo("--retry-failed: no sample ended in a failed batch request")
            return False
        # Withdraw first: a crash before the drop leaves error predictions, and running
        # --retry-failed again finds them (and their keys) again.
        self.store.read_results(repair=True)
        self.store.append_results(BatchResult(key=k, cleared=True) for k in sorted(keys))
        self.rundir.drop(samples)
        state.complete = False
        self.store.save(state)
        self.echo(f"--retry-failed: {len(keys)} failed request(s) of {len(samples)} sample(s) "
                  "go into the next round")
        return True

    async def _prepare(self, state: BatchState, *, retry: bool = False) -> RoundRecord | None:
        """Replay every unfinished sample; the unanswered asks become the next round."""
        n = len(state.rounds) + 1
        p = self.parts
        for stale in self.store.dir.glob(".round-*.tmp"):  # from a process that was killed
            stale.unlink(missing_ok=True)
        results = self.store.read_results(repair=True)
        pending = PendingRequests(self.store.dir, n)
        engine = BatchEngine(p.strategy, self.predictors, p.options,
                             self.cache).answering_from(results, pending)
        done = {pred.sample_id for pred in self.rundir.finished()}
        todo = [s for s in p.dataset if s.id not in done]
        self.rundir.open_append()
        try:
            counts = await replay(engine, todo, self.rundir, p.options.concurrency)
        except BaseException:
            pending.discard()
            # Media uploaded for a round that was never recorded would be nobody's to delete.
            for role, names in pending.uploads.items():
                if names:
                    await self._client(role).delete_files(names)
            raise
        finally:
            self.rundir.close()
        if todo:
            self.echo(f"replayed {len(todo)} sample(s): {counts.finished} finished, "
                      f"{counts.pending} waiting on round {n}")
        if not pending.keys:
            pending.discard()
            state.complete = True
            self.store.save(state)
            return None
        chunks = pending.finish(self.store.requests_path(n), self.store.samples_path(n))
        rnd = RoundRecord(round=n, requests=len(pending.keys), samples=counts.pending,
                          retry=retry, jobs=self._plan(state, n, chunks),
                          uploads={r: u for r, u in pending.uploads.items() if u})
        state.rounds.append(rnd)
        self.store.save(state)
        return rnd

    def _plan(self, state: BatchState, n: int, chunks: list[Chunk]) -> list[JobRecord]:
        """Split each role's requests into jobs within the provider's limits."""
        jobs: list[JobRecord] = []

        def add(role: str, start: int, end: int, offset: int, length: int) -> None:
            limits = state.limits[role]
            jobs.append(JobRecord(
                chunk=len(jobs), role=role, model=state.roles[role],
                tag=f"vlmfer-{state.run_id}-r{n}-j{len(jobs) + 1}",
                start=start, end=end, offset=offset, length=length, requests=end - start,
                mode="inline" if length <= limits.inline_bytes else "file"))

        for ch in chunks:
            limits = state.limits[ch.role]
            start, offset, size = ch.start, ch.offset, 0
            for i, line_size in enumerate(ch.sizes):
                line = ch.start + i
                full = limits.max_requests is not None and line - start >= limits.max_requests
                if line > start and (full or size + line_size > limits.max_bytes):
                    add(ch.role, start, line, offset, size)
                    start, offset, size = line, offset + size, 0
                size += line_size
            if ch.end > start:
                add(ch.role, start, ch.end, offset, size)
        return jobs

    async def _submit(self, state: BatchState, rnd: RoundRecord) -> None:
        since = datetime.fromisoformat(rnd.created).timestamp()
        for job in rnd.jobs:
            if job.id is not None:
                continue
            client = self._client(job.role)
            # A crash between "create" and saving its id leaves a job to adopt, not redo.
            if job.status == "submitting" and await client.find(job, since):
                self.store.save(state)
                continue
            records = list(self.store.iter_requests(rnd.round, job))
            await client.submit(job, records, lambda: self.store.save(state))
            self.store.save(state)
        rnd.phase = "submitted"
        self.store.save(state)

    async def _collect(self, state: BatchState, rnd: RoundRecord) -> bool:
        """Poll the round's jobs; collect each finished one. True once all are in."""
        results = self.store.read_results(repair=True)
        for job in rnd.jobs:
            if job.collected:
                continue
            client = self._client(job.role)
            await client.poll(job)
            self.store.save(state)
            if job.status not in TERMINAL:
                continue
            records = list(self.store.iter_requests(rnd.round, job))
            by_key = {r.key: r for r in records}
            raws = await client.results(job, records)
            new: list[BatchResult] = []
            seen: set[str] = set()
            for raw in raws:
                rec = by_key.get(raw.key)
                if rec is None or raw.key in seen:
                    continue
                seen.add(raw.key)
                if raw.key not in results:  # appended before a crash: keep that one
                    new.append(self._parse(rnd, job, rec, raw))
            missing = job.error or f"the job ended {job.status}"
            for key in by_key:
                if key not in seen and key not in results:
                    new.append(BatchResult(
                        key=key, round=rnd.round, job=job.id,
                        error=f"batch {job.id}: no result for this request ({missing})"))
            # Results first, then the cache, then "collected": a crash in between only
            # repeats work that is skipped above.
            self.store.append_results(new)
            for r in new:
                results[r.key] = r
                if r.response is not None and self.cache is not None:
                    self.cache.put(r.key, r.response)
            job.collected = True
            self.store.save(state)
            ok = sum(1 for r in new if r.response is not None)
            self.echo(f"collected {job.id}: {ok} answer(s), {len(new) - ok} error(s)")
            await client.cleanup(job)
            job.cleaned = True
            self.store.save(state)
        if not all(j.collected for j in rnd.jobs):
            return False
        if not rnd.uploads_deleted:
            for role, names in rnd.uploads.items():
                await self._client(role).delete_files(names)
            rnd.uploads_deleted = True
        rnd.phase = "collected"
        self.store.save(state)
        return True

    def _parse(self, rnd: RoundRecord, job: JobRecord, rec: RequestRecord,
               raw: RawResult) -> BatchResult:
        if raw.error is not None:
            return BatchResult(key=rec.key, round=rnd.round, job=job.id,
                               error=f"batch {job.id}: {raw.error}")
        predictor = cast(BatchCapable, self.predictors[rec.role])
        try:
            response = predictor.parse_batch_result(raw.body, rec.context)
        except PredictorError as e:
            return BatchResult(key=rec.key, round=rnd.round, job=job.id,
                               error=f"batch {job.id}: {e.kind}: {e}")
        except Exception as e:  # one odd body must not stop the collection of the rest
            log.exception("%s: cannot read the result of %s", predictor, rec.key)
            return BatchResult(key=rec.key, round=rnd.round, job=job.id,
                               error=f"batch {job.id}: unreadable result "
                               f"({type(e).__name__}: {str(e)[:200]})")
        response.details["batch_job"] = job.id
        return BatchResult(key=rec.key, round=rnd.round, job=job.id, response=response)

    async def _finish(self, state: BatchState) -> CollectResult:
        """Record the end in the manifest; write metrics.json and the report."""
        was_complete = state.complete
        state.complete = True
        self.store.save(state)
        manifest = self.rundir.read_manifest()
        if not was_complete or not manifest.get("finished"):
            manifest["finished"] = utcnow()
        manifest["calls"] = sum(r.requests for r in state.rounds)
        manifest["batch"] = {
            **manifest.get("batch", {}),
            "rounds": len(state.rounds),
            "requests": manifest["calls"],
            "jobs": sum(len(r.jobs) for r in state.rounds),
        }
        self.rundir.write_manifest(manifest)
        run = Run(self.path)
        run.recompute()
        run.report()
        rnd = state.current
        return self._result("complete", rnd, f"{self.path}: complete after "
                            f"{len(state.rounds)} round(s)")


# -------------------------------------------------------------------- entry points

def _run(run: BatchDriver, step: Callable[[], Any]) -> Any:
    async def go() -> Any:
        try:
            return await step()
        finally:
            await run.aclose()

    with run.store.lock():
        return asyncio.run(go())


def start_batch(
    exp: Experiment, *, command: Sequence[str] | None = None,
    limits: BatchLimits | None = None, echo: Echo | None = None,
) -> CollectResult:
    """Start a batch run of ``exp`` (or resume it): manifest, state, round 1 submitted.

    ``limits`` overrides the provider's job limits (requests and bytes per job).
    """
    run = BatchDriver.create(exp, limits=limits, echo=echo)
    result: CollectResult = _run(run, lambda: run.start(command))
    return result


def submit_batch(run_dir: Path | str, *, echo: Echo | None = None) -> CollectResult:
    """Submit whatever the current round has not submitted yet (e.g. after a crash)."""
    run = BatchDriver.open(run_dir, echo=echo)
    result: CollectResult = _run(run, lambda: run.advance(poll=False))
    return result


def batch_status(run_dir: Path | str, *, echo: Echo | None = None) -> StatusReport:
    """Poll the jobs and count the samples (downloads nothing)."""
    run = BatchDriver.open(run_dir, echo=echo)
    report: StatusReport = _run(run, run.status)
    return report


def collect_batch(
    run_dir: Path | str, *, retry_failed: bool = False, wait: bool = False,
    poll_s: float = 60.0, echo: Echo | None = None,
) -> CollectResult:
    """Collect finished jobs, replay, and submit the next round; with ``wait``, until done.

    ``retry_failed`` first withdraws the failed requests behind ``error`` outcomes, so
    that they are submitted again.
    """
    run = BatchDriver.open(run_dir, echo=echo)
    started = time.monotonic()
    result: CollectResult = _run(run, lambda: run.advance(
        poll=True, wait=wait, poll_s=poll_s, retry_failed=retry_failed))
    if result.complete and wait and run.echo is not _silent:
        run.echo(f"done in {time.monotonic() - started:.0f} s")
    return result


def __getattr__(name: str) -> Any:
    # "run" names the command and its result only; the batch side is a driver.
    if name == "BatchRun":
        warnings.warn("vlmfer.batch.driver.BatchRun is deprecated; use BatchDriver",
                      DeprecationWarning, stacklevel=2)
        return BatchDriver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
