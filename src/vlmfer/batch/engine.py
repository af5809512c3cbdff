"""Batch fulfilment of strategy asks, through the engine's own ask path.

``BatchEngine`` is the online ``Engine`` (media hashing, cache key, step records) with
one difference: an ask is answered from the run's collected batch results, then from
the response cache, and otherwise recorded as a pending request while ``Pending`` stops
the strategy. After the next collection every unfinished sample is replayed from the
start; strategies are deterministic, so they ask the same questions again and get
further each round.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from vlmfer.batch.store import BatchResult, RequestRecord
from vlmfer.engine.run import (
    Engine,
    EngineContext,
    drive,
    failed_step,
    record_step,
)
from vlmfer.engine.rundir import RunFolder
from vlmfer.errors import MediaError, PredictorError
from vlmfer.predictors.base import Predictor
from vlmfer.predictors.batch import BatchCapable
from vlmfer.strategies.base import CallFailed, Pending
from vlmfer.types import Prompt, Response, Sample

#: Old name of the batch capability (``vlmfer.predictors.batch.BatchCapable``).
BatchPredictor = BatchCapable


@dataclass
class Chunk:
    """One role's contiguous range of a round's requests file."""

    role: str
    start: int
    end: int
    offset: int
    sizes: list[int] = field(default_factory=list)


class PendingRequests:
    """The requests a replay could not answer: one per cache key, written as they come.

    Each role gets its own temporary file; ``finish`` joins them into the round's
    requests file, so that every role's requests are one contiguous range.
    """

    def __init__(self, folder: Path, round_no: int) -> None:
        self.folder = folder
        self.round = round_no
        self.keys: set[str] = set()
        self.by_role: dict[str, int] = {}
        self.waiting: list[tuple[str, str, str]] = []  # (sample_id, step, key)
        self.uploads: dict[str, list[str]] = {}
        self._files: dict[str, Any] = {}
        self._building: dict[str, asyncio.Future[None]] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def _tmp(self, role: str) -> Path:
        return self.folder / f".round-{self.round}-{role}.{os.getpid()}.tmp"

    async def add(
        self, key: str, role: str, predictor: Predictor, prompt: Prompt, sample_id: str,
        step: str,
    ) -> None:
        """Record that ``sample_id`` waits on ``key``; build the request the first time."""
        if key not in self.keys:
            building = self._building.get(key)
            if building is not None:
                await asyncio.shield(building)
            else:
                await self._build(key, role, predictor, prompt, sample_id, step)
        self.waiting.append((sample_id, step, key))

    async def _build(
        self, key: str, role: str, predictor: Predictor, prompt: Prompt, sample_id: str,
        step: str,
    ) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            body, context = await cast(BatchCapable, predictor).batch_request(prompt)
            rec = RequestRecord(key=key, role=role, sample_id=sample_id, step=step,
                                context=context, body=body)
            fh = self._files.get(role)
            if fh is None:
                fh = self._files[role] = self._tmp(role).open("w", encoding="utf-8")
            fh.write(rec.model_dump_json() + "\n")
            self.keys.add(key)
            self.by_role[role] = self.by_role.get(role, 0) + 1
            self.uploads.setdefault(role, []).extend(context.get("uploads") or [])
        except BaseException as e:
            future.set_exception(e if isinstance(e, Exception) else CallFailed(step, "cancelled"))
            future.exception()  # waiters get it through shield
            raise
        else:
            future.set_result(None)
        finally:
            self._building.pop(key, None)

    def finish(self, requests: Path, samples: Path) -> list[Chunk]:
        """Write the round's requests and samples files; return each role's range."""
        chunks: list[Chunk] = []
        tmp = requests.with_name(f".{requests.name}.{os.getpid()}.tmp")
        line = offset = 0
        with tmp.open("wb") as out:
            for role in sorted(self._files):
                fh = self._files[role]
                fh.close()
                chunk = Chunk(role=role, start=line, end=line, offset=offset)
                with self._tmp(role).open("rb") as src:
                    for raw in src:
                        out.write(raw)
                        chunk.sizes.append(len(raw))
                        offset += len(raw)
                        line += 1
                chunk.end = line
                chunks.append(chunk)
                self._tmp(role).unlink()
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, requests)
        stmp = samples.with_name(f".{samples.name}.{os.getpid()}.tmp")
        with stmp.open("w", encoding="utf-8") as f:
            for sample_id, step, key in self.waiting:
                f.write(json.dumps({"sample_id": sample_id, "step": step, "key": key}) + "\n")
        os.replace(stmp, samples)
        self._files.clear()
        return chunks

    def discard(self) -> None:
        for role, fh in self._files.items():
            fh.close()
            self._tmp(role).unlink(missing_ok=True)
        self._files.clear()


class BatchEngine(Engine):
    """The engine, answering from collected batch results instead of calling the model.

    Made like an ``Engine``, then given its results: ``BatchEngine(...).answering_from(
    results, pending)``.
    """

    results: dict[str, BatchResult]
    pending: PendingRequests

    def answering_from(self, results: dict[str, BatchResult],
                       pending: PendingRequests) -> BatchEngine:
        """Answer from ``results``; collect what they lack into ``pending``. Returns self."""
        self.results = results
        self.pending = pending
        return self

    async def _answer(
        self, ctx: EngineContext, key: str, prompt: Prompt, *, step: str, role: str,
        predictor: Predictor, parsed: Any,
    ) -> Response:
        found = self.results.get(key)
        if found is not None and found.response is not None:
            response = found.response.model_copy(update={"cached": False})
            ctx.steps.append(record_step(step, predictor, prompt, response, 1, parsed))
            return response
        if found is not None:
            reason = found.error or "the batch returned no answer"
            failed = failed_step(step, predictor, prompt, reason, attempts=1)
            failed.details = {"batch": True, "batch_key": key, "batch_job": found.job}
            ctx.steps.append(failed)
            raise CallFailed(step, reason)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                response = hit.model_copy(update={"cached": True})
                ctx.steps.append(record_step(step, predictor, prompt, response, 0, parsed))
                return response
        # Building a request may upload media (Gemini Files API): retried like a call.
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.pending.add(key, role, predictor, prompt, ctx.sample.id, step)
            except MediaError as e:
                ctx.steps.append(failed_step(step, predictor, prompt, e.reason, attempts=0))
                raise CallFailed(step, str(e)) from e
            except PredictorError as e:  # e.g. too many images: nothing was submitted
                if e.retryable and attempt < self.options.max_attempts:
                    await asyncio.sleep(self._backoff(attempt, e.retry_after))
                    continue
                reason = f"{e.kind}: {e}"
                failed = failed_step(step, predictor, prompt, reason, attempts=attempt)
                if e.retryable:  # so that `collect --retry-failed` tries it again
                    failed.details = {"batch": True, "batch_key": key}
                ctx.steps.append(failed)
                raise CallFailed(step, reason) from e
            raise Pending(step)


@dataclass
class ReplayCounts:
    finished: int = 0
    pending: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


async def replay(
    engine: BatchEngine, samples: Iterable[Sample], rundir: RunFolder, concurrency: int
) -> ReplayCounts:
    """Run every sample's strategy; append the finished ones, count the pending ones."""
    counts = ReplayCounts()

    async def handle(sample: Sample) -> None:
        try:
            pred = await engine.run_sample(sample)
        except Pending:
            counts.pending += 1
            return
        rundir.append(pred)
        counts.finished += 1
        counts.outcomes[pred.outcome] = counts.outcomes.get(pred.outcome, 0) + 1

    await drive(samples, concurrency, handle)
    return counts
