"""``evaluate``: run the engine, then write metrics and the report, and return the ``Run``.

This façade sits above the engine and the report, so that the engine never
imports the report: ``vlmfer.engine.run.execute`` asks the samples, and this
module writes what is computed from them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlmfer.datasets.base import Dataset
from vlmfer.engine.cache import ResponseCache
from vlmfer.engine.config import Experiment
from vlmfer.engine.core import EngineOptions
from vlmfer.engine.experiment import build
from vlmfer.engine.run import execute
from vlmfer.engine.rundir import REPORT
from vlmfer.predictors.base import Predictor
from vlmfer.report.summary import metrics_stale
from vlmfer.results import Run
from vlmfer.strategies.base import Strategy
from vlmfer.types import MediaSpec


async def evaluate_async(
    dataset: Dataset,
    predictor: Predictor,
    strategy: Strategy,
    *,
    out: Path | str,
    options: EngineOptions | None = None,
    roles: dict[str, Predictor] | None = None,
    cache: ResponseCache | None = None,
    command: Sequence[str] | None = None,
    report: bool = True,
) -> Run:
    """``evaluate`` for code already inside an event loop (a notebook, an async app).

    >>> run = await vlmfer.evaluate_async(dataset, predictor, strategy,
    ...                                   out="runs/gpt-single")  # doctest: +SKIP
    """
    done = await execute(dataset, predictor, strategy, out=out, options=options, roles=roles,
                         cache=cache, command=command)
    run = Run(done.path)
    # A resume that added nothing leaves metrics and report as they were (and fast).
    changed = done.changed or metrics_stale(run.dir)
    if changed:
        run.recompute()
    if report and (changed or not (run.path / REPORT).exists()):
        run.report()
    return run


def _no_running_loop(name: str, instead: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    # The same type asyncio.run raises here, so existing handlers still catch it.
    raise RuntimeError(
        f"{name}() was called inside a running event loop (a Jupyter notebook or an async "
        f"function), where it cannot start one of its own. Use `run = await {instead}(...)` "
        "instead, with the same arguments"
    )


def evaluate(
    dataset: Dataset,
    predictor: Predictor,
    strategy: Strategy,
    *,
    out: Path | str,
    concurrency: int = 8,
    rpm: float | None = None,
    tpm: float | None = None,
    cache: bool = True,
    roles: dict[str, Predictor] | None = None,
    media: MediaSpec | dict[str, Any] | None = None,
    **options: Any,
) -> Run:
    """Evaluate ``strategy`` with ``predictor`` on ``dataset``; write and return the run.

    Re-running with the same ``out`` resumes: finished samples are not asked again.
    ``media`` is the run's media settings, as in a ``[media]`` table. Inside a running
    event loop (Jupyter), ``await vlmfer.evaluate_async(...)`` instead.

    >>> run = evaluate(get_dataset("caer-s", root="CAER-S", split="test", limit=100),
    ...                get_predictor("openai/gpt-5.2"), get_strategy("single-shot"),
    ...                out="runs/gpt-single")  # doctest: +SKIP
    >>> run.metrics["uar"]  # doctest: +SKIP
    """
    _no_running_loop("vlmfer.evaluate", "vlmfer.evaluate_async")
    spec = MediaSpec.model_validate(media) if media is not None else None
    opts = EngineOptions(concurrency=concurrency, rpm=rpm, tpm=tpm, cache=cache, media=spec,
                         **options)
    return asyncio.run(
        evaluate_async(dataset, predictor, strategy, out=out, options=opts, roles=roles)
    )


async def run_experiment_async(exp: Experiment, *, command: Sequence[str] | None = None) -> Run:
    """The run an experiment file describes (``vlmfer run``)."""
    parts = build(exp)
    return await evaluate_async(parts.dataset, parts.predictor, parts.strategy, out=parts.out,
                                options=parts.options, roles=parts.roles, command=command)


def run_experiment(exp: Experiment, *, command: Sequence[str] | None = None) -> Run:
    _no_running_loop("run_experiment", "vlmfer.evaluation.run_experiment_async")
    return asyncio.run(run_experiment_async(exp, command=command))
