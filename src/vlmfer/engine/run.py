"""Executing one run: the run folder, resume, the engine and the progress display.

``execute`` asks every unfinished sample and appends each finished one to
``predictions.jsonl`` at once. It writes no metrics and no report: the engine
knows nothing of them. ``vlmfer.evaluate`` (and ``vlmfer run``) write those after
it returns, and hand back a ``vlmfer.Run``.

The names that lived here before the engine was split stay importable from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmfer.datasets.base import Dataset
from vlmfer.engine.cache import ResponseCache, SnapshotPins
from vlmfer.engine.core import (
    INLINE_HASH_BYTES,
    Engine,
    EngineContext,
    EngineOptions,
    FailFast,
    SystematicFailure,
    drive,
    fail_fast_window,
    failed_step,
    record_step,
)
from vlmfer.engine.manifest import EXECUTION_ONLY_OPTIONS, build_manifest, plugin_versions
from vlmfer.engine.preflight import (
    adapt_strategy,
    answerable,
    check_capabilities,
    left_out_note,
    media_spec_of,
    model_warnings,
    probe_predictors,
    run_media_spec,
)
from vlmfer.engine.progress import Progress
from vlmfer.engine.rundir import FinishedSample, RunFolder, utcnow
from vlmfer.predictors.base import Predictor
from vlmfer.strategies.base import Strategy
from vlmfer.types import Sample

log = logging.getLogger("vlmfer")

__all__ = [
    "EXECUTION_ONLY_OPTIONS", "INLINE_HASH_BYTES", "Engine", "EngineContext", "EngineOptions",
    "Execution", "Progress", "build_manifest", "check_capabilities", "drive", "execute",
    "failed_step", "media_spec_of", "plugin_versions", "record_step", "run_media_spec",
]


@dataclass(frozen=True)
class Execution:
    """What one ``execute`` did to its run folder."""

    path: Path
    #: Samples finished by this call.
    finished: int
    #: Samples whose earlier ``error`` outcome was dropped to be asked again.
    retried: int
    #: Predictor calls made (cache hits are not calls).
    calls: int

    @property
    def changed(self) -> bool:
        """Whether predictions.jsonl changed, so metrics and report need writing again."""
        return self.finished > 0 or self.retried > 0


async def execute(
    dataset: Dataset,
    predictor: Predictor,
    strategy: Strategy,
    *,
    out: Path | str,
    options: EngineOptions | None = None,
    roles: dict[str, Predictor] | None = None,
    cache: ResponseCache | None = None,
    command: Sequence[str] | None = None,
) -> Execution:
    """Ask every sample not yet finished in ``out``; resume what an earlier call left.

    Raises ``SystematicFailure`` when the first samples all fail with the same permanent
    error (a wrong model id, a rejected key): the run stops and sends nothing more.
    """
    options = options or EngineOptions()
    predictors = {"main": predictor, **(roles or {})}
    strategy, changed = adapt_strategy(strategy, predictors)
    for note in changed:
        log.warning("vlmfer: %s", note)
    dataset, left_out = answerable(dataset, strategy)
    check_capabilities(dataset, strategy, predictors, media=options.media)
    for text in model_warnings(predictors):
        log.warning("vlmfer: warning: %s", text)
    rundir = RunFolder(out)
    manifest = build_manifest(dataset, strategy, predictors, options, command=command)
    rundir.check_identity(manifest["identity"])
    old: dict[str, Any] = {}
    # Read once: a resume of 20 000 samples spends most of its time parsing these.
    finished = rundir.finished_samples() if rundir.exists() else []
    # Capability probe of compatible servers: before the first paid request, a ConfigError
    # (exit 2) if a server cannot serve this strategy; a resume with nothing left asks nothing.
    if _work_left(finished, dataset, options):
        manifest["probe"] = await probe_predictors(predictors, strategy) or None
    if rundir.exists():  # keep the first start time; record this resume
        old = rundir.read_manifest()
        manifest["started"] = old.get("started", manifest["started"])
        manifest["resumed"] = [*old.get("resumed", []), utcnow()]
        if "snapshots" in old:  # kept until this session finishes, even if it crashes
            manifest["snapshots"] = old["snapshots"]
    rundir.write_manifest(manifest)
    if options.cache and cache is None:
        cache = ResponseCache()
    engine = Engine(strategy, predictors, options, cache if options.cache else None)

    dropped: set[str] = set()
    if options.retry_errors:
        dropped = {p.sample_id for p in finished if p.outcome == "error"}
        rundir.drop(dropped)
        finished = [p for p in finished if p.sample_id not in dropped]
    done = {p.sample_id for p in finished}
    engine.snapshots = SnapshotPins.of_run(old, finished)
    todo = dataset.iter_except(done)
    remaining = max(0, len(dataset) - len(done))
    progress = Progress(remaining, enabled=options.progress)
    if left_out:
        progress.note(left_out_note(strategy, left_out))
    if finished or dropped:
        progress.note(
            f"resuming {rundir.path}: {len(finished)} of {len(dataset)} samples already done"
            + (f"; {len(dropped)} that ended in an error are asked again" if dropped else "")
            + f"; {remaining} to go")
    progress.start()
    rundir.open_append()
    # What the stale check below needs of this session's answers: the cached steps' models
    # and snapshots only, not the records.
    served: list[tuple[str, list[tuple[str, str]]]] = []
    try:
        await _drive(engine, todo, rundir, progress, options.concurrency, served)
        # Cached answers used before the first live answer pinned the snapshot may come from
        # another one: those samples are asked again, so that one run is one snapshot.
        stale: set[str] = set()
        pins = engine.snapshots.pins
        if engine.cache is not None and pins:
            stale = {p.sample_id for p in finished if engine.snapshots.stale(p)}
            stale |= {sid for sid, steps in served
                      if any(pins.get(m, v) != v for m, v in steps)}
        if stale:
            rundir.close()
            rundir.drop(stale)
            rundir.open_append()
            await _drive(engine, (s for s in dataset if s.id in stale), rundir,
                         Progress(len(stale), enabled=False), options.concurrency)
    except SystematicFailure as e:
        manifest["stopped"] = {"at": utcnow(), "kind": e.kind, "reason": str(e)}
        manifest["calls"] = engine.calls
        rundir.write_manifest(manifest)
        raise
    finally:
        rundir.close()
        progress.close()
        for p in predictors.values():
            await p.aclose()
        if cache is not None:
            cache.close()
    manifest["finished"] = utcnow()
    manifest["calls"] = engine.calls
    manifest["snapshots"] = engine.snapshots.pins
    rundir.write_manifest(manifest)
    return Execution(rundir.path, progress.total_done, len(dropped), engine.calls)


def _work_left(finished: list[FinishedSample], dataset: Dataset, options: EngineOptions) -> bool:
    """Whether this run will ask anything (a fresh folder, or samples not yet finished)."""
    done = {p.sample_id for p in finished
            if not (options.retry_errors and p.outcome == "error")}
    return len(done) < len(dataset)


async def _drive(
    engine: Engine, samples: Iterable[Sample], rundir: RunFolder, progress: Progress,
    concurrency: int, served: list[tuple[str, list[tuple[str, str]]]] | None = None,
) -> None:
    fail_fast = FailFast(fail_fast_window(concurrency))

    async def handle(sample: Sample) -> None:
        pred = await engine.run_sample(sample)
        rundir.append(pred)
        if served is not None:
            cached = [(s.model, s.model_version) for s in pred.steps
                      if s.cached and s.model_version is not None]
            if cached:
                served.append((pred.sample_id, cached))
        progress.update(pred)
        fail_fast.observe(pred)  # raising stops every worker: nothing more is sent

    heartbeat = asyncio.create_task(progress.heartbeat())
    try:
        await drive(samples, concurrency, handle)
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat


#: Old names, kept for one release: (module, name, what to use now).
_MOVED: dict[str, tuple[str, str, str]] = {
    "Run": ("vlmfer.results", "Run", "vlmfer.Run"),
    "evaluate": ("vlmfer.evaluation", "evaluate", "vlmfer.evaluate"),
    "evaluate_async": ("vlmfer.evaluation", "evaluate_async", "vlmfer.evaluate_async"),
    "SampleContext": ("vlmfer.engine.core", "EngineContext", "vlmfer.engine.EngineContext"),
}


def __getattr__(name: str) -> Any:
    # Imported on use, never at import time: the engine itself imports nothing above it.
    moved = _MOVED.get(name)
    if moved is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr, instead = moved
    warnings.warn(f"vlmfer.engine.run.{name} is deprecated; use {instead}",
                  DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), attr)
