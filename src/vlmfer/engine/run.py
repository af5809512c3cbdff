"""The evaluation engine. It owns time: concurrency, budgets, retries, cache, resume.

Strategies await ``ctx.ask(prompt, step=...)``; the engine answers from the
cache or by a rate-limited, retried predictor call, and records every call as
a ``Step``. Each finished sample is appended to ``predictions.jsonl`` at once.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from vlmfer import __version__
from vlmfer.datasets.base import Dataset
from vlmfer.engine.cache import ResponseCache, cache_key
from vlmfer.engine.limits import RateLimiter
from vlmfer.engine.rundir import REPORT, RunDir, utcnow
from vlmfer.errors import CapabilityError, ConfigError, MediaError, PredictorError
from vlmfer.predictors.base import Predictor
from vlmfer.strategies.base import CallFailed, Pending, Strategy
from vlmfer.types import (
    Media,
    MediaSpec,
    Prediction,
    Prompt,
    Record,
    Response,
    Sample,
    Step,
    file_sha256,
)

log = logging.getLogger("vlmfer")


#: Files up to this size are hashed on the event loop (about 0.1 ms per 256 KB).
INLINE_HASH_BYTES = 256 * 1024


class EngineOptions(Record):
    """How a run is executed. None of these change the answers."""

    concurrency: int = Field(default=8, ge=1, le=4096)
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)
    cache: bool = True
    max_attempts: int = Field(default=6, ge=1, le=50)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    max_retry_after_s: float = Field(default=600.0, ge=0)
    #: The window rpm/tpm apply to. Providers count per minute; only tests shorten it.
    rate_window_s: float = Field(default=60.0, gt=0)
    progress: bool = True
    #: On resume, ask again for samples whose outcome was ``error`` (API errors are transient).
    retry_errors: bool = True
    n_boot: int = Field(default=1000, ge=0)
    seed: int = 0


class SampleContext:
    """The ``StepContext`` one sample's strategy sees."""

    def __init__(self, engine: Engine, sample: Sample) -> None:
        self._engine = engine
        self._sample = sample
        self.steps: list[Step] = []

    @property
    def sample(self) -> Sample:
        return self._sample

    async def ask(
        self, prompt: Prompt, *, step: str, role: str = "main", parsed: Any = None
    ) -> Response:
        return await self._engine.ask(self, prompt, step=step, role=role, parsed=parsed)

    def note(self, step: str, **details: Any) -> None:
        for s in reversed(self.steps):
            if s.name == step:
                parsed = details.pop("parsed", None)
                if parsed is not None:
                    s.parsed = parsed
                s.details.update(details)
                return
        raise KeyError(f"no step named {step!r} has been asked yet")


class Engine:
    """Fulfils strategy asks for one run."""

    def __init__(
        self,
        strategy: Strategy,
        predictors: dict[str, Predictor],
        options: EngineOptions,
        cache: ResponseCache | None,
    ) -> None:
        self.strategy = strategy
        self.predictors = predictors
        self.options = options
        self.cache = cache
        self.limiter = RateLimiter(rpm=options.rpm, tpm=options.tpm,
                                   window_s=options.rate_window_s)
        self._hashes: dict[Path, str] = {}
        self._inflight: dict[str, asyncio.Future[Response]] = {}
        self._rng = random.Random(options.seed)
        self.calls = 0

    async def _hashed(self, media: Media) -> Media:
        if media.sha256 is not None:
            return media
        digest = self._hashes.get(media.path)
        if digest is None:
            try:
                # A thread hand-off costs more than hashing a still; big files go to a thread.
                if media.path.stat().st_size <= INLINE_HASH_BYTES:
                    digest = file_sha256(media.path)
                else:
                    digest = await asyncio.to_thread(file_sha256, media.path)
            except OSError as e:
                raise MediaError(media.path, f"cannot read the file ({e.strerror or e})") from e
            self._hashes[media.path] = digest
        return media.model_copy(update={"sha256": digest})

    async def ask(
        self, ctx: SampleContext, prompt: Prompt, *, step: str, role: str, parsed: Any
    ) -> Response:
        predictor = self.predictors.get(role)
        if predictor is None:
            raise ConfigError(
                f"strategy {self.strategy.name!r} asked for role {role!r}, but only "
                f"{sorted(self.predictors)} are configured"
            )
        try:
            media = [await self._hashed(m) for m in prompt.media]
        except MediaError as e:
            ctx.steps.append(failed_step(step, predictor, prompt, e.reason, attempts=0))
            raise CallFailed(step, str(e)) from e
        prompt = prompt.model_copy(update={"media": media})
        key = cache_key(predictor.cache_identity(), prompt)
        return await self._answer(ctx, key, prompt, step=step, role=role, predictor=predictor,
                                  parsed=parsed)

    async def _answer(
        self, ctx: SampleContext, key: str, prompt: Prompt, *, step: str, role: str,
        predictor: Predictor, parsed: Any,
    ) -> Response:
        """Answer one keyed ask: from the cache, else by one (deduplicated) predictor call.

        Batch mode (``vlmfer.batch``) overrides this to answer from collected results.
        """
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                response = hit.model_copy(update={"cached": True})
                ctx.steps.append(record_step(step, predictor, prompt, response, 0, parsed))
                return response

        # Identical asks in flight at once (a shared content-free input) are made once.
        pending = self._inflight.get(key)
        if pending is not None:
            try:
                response = await asyncio.shield(pending)
            except CallFailed as e:  # the shared call failed: record it for this sample too
                ctx.steps.append(failed_step(step, predictor, prompt, e.reason, attempts=0))
                raise CallFailed(step, e.reason) from e
            response = response.model_copy(update={"cached": True})
            ctx.steps.append(record_step(step, predictor, prompt, response, 0, parsed))
            return response
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            response, attempts = await self._call(ctx, step, predictor, prompt)
        except BaseException as e:
            future.set_exception(e if isinstance(e, Exception) else CallFailed(step, "cancelled"))
            future.exception()  # mark retrieved: waiters, if any, get it through shield
            raise
        else:
            future.set_result(response)
        finally:
            self._inflight.pop(key, None)
        if self.cache is not None:
            self.cache.put(key, response)
        ctx.steps.append(record_step(step, predictor, prompt, response, attempts, parsed))
        return response

    async def _call(
        self, ctx: SampleContext, step: str, predictor: Predictor, prompt: Prompt
    ) -> tuple[Response, int]:
        opts = self.options
        # Estimates can probe media: only a token budget needs one before the call.
        estimate = predictor.estimate_input_tokens(prompt) if self.limiter.tpm else 0
        last = "no attempt made"
        attempt = 0
        for attempt in range(1, opts.max_attempts + 1):
            t0 = time.perf_counter()
            try:
                response = await self._attempt(predictor, prompt, estimate)
            except PredictorError as e:
                last = f"{e.kind}: {e}"
                too_long = e.retry_after is not None and e.retry_after > opts.max_retry_after_s
                if not e.retryable or attempt == opts.max_attempts or too_long:
                    break
                await asyncio.sleep(self._backoff(attempt, e.retry_after))
                continue
            except MediaError as e:
                ctx.steps.append(failed_step(step, predictor, prompt, e.reason, attempt))
                raise CallFailed(step, str(e)) from e
            except (asyncio.CancelledError, Pending):
                raise
            except Exception as e:  # a backend bug must not stop the run
                log.exception("unexpected error from %s", predictor.name)
                last = f"unexpected {type(e).__name__}: {e}"
                break
            update: dict[str, Any] = {}
            if not response.latency_s:
                update["latency_s"] = time.perf_counter() - t0
            if response.cost_usd is None:
                update["cost_usd"] = predictor.cost_usd(response)
            return (response.model_copy(update=update) if update else response), attempt
        ctx.steps.append(failed_step(step, predictor, prompt, last, attempt))
        raise CallFailed(step, f"{last} (after {attempt} attempt{'s' if attempt > 1 else ''})")

    async def _attempt(self, predictor: Predictor, prompt: Prompt, estimate: int) -> Response:
        """One call inside the budget; the budget is released however the call ends."""
        booking = await self.limiter.acquire(estimate)
        self.calls += 1
        try:
            response = await predictor.predict(prompt)
        except BaseException:
            await self.limiter.release(booking)
            raise
        usage = response.usage
        await self.limiter.release(booking, usage.input_tokens + usage.output_tokens)
        return response

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + self._rng.uniform(0, 0.1 * max(retry_after, 1.0))
        cap = min(self.options.backoff_max_s, self.options.backoff_base_s * 2 ** (attempt - 1))
        return self._rng.uniform(cap / 2, cap)

    async def run_sample(self, sample: Sample) -> Prediction:
        ctx = SampleContext(self, sample)
        labels = self.strategy.labels
        try:
            verdict = await self.strategy.run(sample, ctx)
            if verdict.outcome == "ok" and verdict.pred not in labels:
                raise ValueError(
                    f"strategy returned {verdict.pred!r}, which is not in its label set {labels}"
                )
            return Prediction(
                sample_id=sample.id,
                gold=sample.label,
                pred=verdict.pred,
                outcome=verdict.outcome,
                reason=verdict.reason,
                steps=ctx.steps,
                scores=verdict.scores,
                cost_usd=_total_cost(ctx.steps),
                extra=verdict.extra,
            )
        except CallFailed as e:
            return Prediction(
                sample_id=sample.id, gold=sample.label, pred=None, outcome="error",
                reason=e.reason, steps=ctx.steps, cost_usd=_total_cost(ctx.steps),
            )
        except (Pending, asyncio.CancelledError, ConfigError):
            raise
        except Exception as e:
            log.exception("strategy %s failed on %s", self.strategy.name, sample.id)
            return Prediction(
                sample_id=sample.id, gold=sample.label, pred=None, outcome="error",
                reason=f"internal error in strategy {self.strategy.name!r}: "
                f"{type(e).__name__}: {e}",
                steps=ctx.steps, cost_usd=_total_cost(ctx.steps),
            )


def _work_left(rundir: RunDir, dataset: Dataset, options: EngineOptions) -> bool:
    """Whether this run will ask anything (a fresh folder, or samples not yet finished)."""
    if not rundir.exists():
        return True
    done = {p.sample_id for p in rundir.finished()
            if not (options.retry_errors and p.outcome == "error")}
    return len(done) < len(dataset)


def _newer(path: Path, than: Path) -> bool:
    """Whether ``path`` exists and was written after ``than`` (a crash can leave it stale)."""
    try:
        return path.stat().st_mtime_ns >= than.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def _total_cost(steps: Sequence[Step]) -> float | None:
    if not steps:
        return 0.0
    costs = [s.cost_usd for s in steps]
    if any(c is None for c in costs):
        return None
    return float(sum(c for c in costs if c is not None))


def record_step(
    name: str, predictor: Predictor, prompt: Prompt, response: Response, attempts: int,
    parsed: Any,
) -> Step:
    """The record of one answered call (online or from a batch result)."""
    return Step(
        name=name,
        model=predictor.name,
        prompt_hash=prompt.hash(),
        text_sent=prompt.text if prompt.system is None else f"{prompt.system}\n\n{prompt.text}",
        template=prompt.template,
        label_order=prompt.label_order,
        response_text=response.text,
        status=response.status,
        reason=response.reason,
        finish_reason=response.finish_reason,
        usage=response.usage,
        latency_s=response.latency_s,
        cached=response.cached,
        cost_usd=response.cost_usd,
        attempts=attempts,
        parsed=parsed,
        details=dict(response.details),
    )


def failed_step(
    name: str, predictor: Predictor, prompt: Prompt, reason: str, attempts: int
) -> Step:
    """The record of a call that produced no answer (media error or last attempt)."""
    try:
        prompt_hash = prompt.hash()
    except ValueError:
        prompt_hash = ""
    return Step(
        name=name, model=predictor.name, prompt_hash=prompt_hash, text_sent=prompt.text,
        template=prompt.template, label_order=prompt.label_order, status="error",
        reason=reason, attempts=attempts, cost_usd=0.0,
    )


def media_spec_of(strategy: Strategy) -> MediaSpec:
    """The media spec a strategy will put in its prompts (its ``media`` option)."""
    spec = getattr(strategy.options, "media", None)
    if isinstance(spec, MediaSpec):
        return spec
    if isinstance(spec, dict):
        return MediaSpec(**spec)
    return MediaSpec()


def check_capabilities(
    dataset: Dataset | None, strategy: Strategy, predictors: dict[str, Predictor]
) -> None:
    """Fail before the first paid call when a predictor cannot do what is needed."""
    from vlmfer.media import check_media_spec

    check_media_spec(media_spec_of(strategy))
    main = predictors["main"]
    caps = main.capabilities
    kind = dataset.media_kind if dataset is not None else None
    if kind == "video" and not (caps.video or (caps.video_as_frames and caps.image)):
        raise CapabilityError(
            f"{main.name} cannot take video (it accepts {caps.accepts()}); dataset "
            f"{dataset.name if dataset else ''!r} is video. Use a video-capable model such as "
            "gemini/gemini-3.5-flash, or an image model that takes sampled frames"
        )
    if kind == "image" and not caps.image:
        raise CapabilityError(f"{main.name} cannot take images (it accepts {caps.accepts()})")
    req = strategy.requirements()
    for flag, what in (("logprobs", "log-probabilities"), ("enum_output", "enum output"),
                       ("json_schema", "JSON-schema output")):
        if getattr(req, flag) and not getattr(caps, flag):
            raise CapabilityError(
                f"strategy {strategy.name!r} needs {what}, which {main.name} does not provide. "
                "Use a backend that does (e.g. openai/gpt-5.2), or choose another strategy "
                "or option"
            )
    if dataset is not None:
        gold = {label for label, n in dataset.class_counts().items() if n}
        outside = sorted(gold - set(strategy.labels))
        if outside:
            keep = ",".join(label for label in strategy.labels if label in gold)
            raise ConfigError(
                f"dataset {dataset.name!r} has gold classes {outside} that strategy "
                f"{strategy.name!r} cannot answer (its labels: {list(strategy.labels)}). "
                f"Keep only answerable classes with --classes {keep} (for six-class this is "
                "the 'excluding Neutral: forced six-way' convention), or choose a strategy "
                "whose labels include them"
            )
    missing = set(strategy.roles()) - set(predictors)
    if missing:
        raise ConfigError(
            f"strategy {strategy.name!r} needs predictors for roles {sorted(missing)}"
        )


class Run:
    """A finished (or resumed) run: its folder, metrics and predictions."""

    def __init__(self, path: Path | str) -> None:
        self.dir = RunDir(path)

    @property
    def path(self) -> Path:
        return self.dir.path

    @property
    def manifest(self) -> dict[str, Any]:
        return self.dir.read_manifest()

    @property
    def predictions(self) -> list[Prediction]:
        return list(self.dir.iter_predictions())

    @property
    def metrics(self) -> dict[str, Any]:
        import json

        if not self.dir.metrics_path.exists():
            self.recompute()
        data: dict[str, Any] = json.loads(self.dir.metrics_path.read_text(encoding="utf-8"))
        return data

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(p.outcome for p in self.predictions)

    def recompute(self) -> dict[str, Any]:
        """Recompute metrics.json from predictions.jsonl alone."""
        from vlmfer.report.summary import write_metrics

        return write_metrics(self.dir)

    def report(self, path: Path | str | None = None, *, thumbnails: bool = True) -> Path:
        """Write the HTML report (and confusion_matrix.png); return its path."""
        from vlmfer.report.html import write_report

        return write_report(self.dir, Path(path) if path else None, thumbnails=thumbnails)

    def to_pandas(self) -> Any:
        """One row per sample (needs pandas: pip install vlmfer[pandas])."""
        try:
            import pandas as pd
        except ImportError as e:
            from vlmfer.errors import MissingDependencyError

            raise MissingDependencyError("Run.to_pandas", "vlmfer[pandas]") from e
        rows = [
            {"sample_id": p.sample_id, "gold": p.gold, "pred": p.pred, "outcome": p.outcome,
             "reason": p.reason, "n_steps": len(p.steps), "cost_usd": p.cost_usd,
             "text": p.steps[-1].response_text if p.steps else None}
            for p in self.predictions
        ]
        return pd.DataFrame(rows)


def _plugin_versions() -> list[dict[str, Any]]:
    from vlmfer.plugins import get_registry

    reg = get_registry()
    seen: dict[str, dict[str, Any]] = {}
    for e in reg.all_entries():
        seen.setdefault(e.plugin, {"plugin": e.plugin, "distribution": e.distribution,
                                   "version": e.version})
    return sorted(seen.values(), key=lambda d: d["plugin"])


#: Predictor options that change how a run executes or is priced, never the answers:
#: changing them must not stop a resume.
EXECUTION_ONLY_OPTIONS = frozenset({
    "price_file", "timeout_s", "upload_poll_s", "upload_timeout_s", "max_images",
    "local", "max_concurrent_requests", "retry_timeouts", "probe",
})


def _answer_identity(description: dict[str, Any]) -> dict[str, Any]:
    options = description.get("options")
    if not isinstance(options, dict):
        return description
    kept = {k: v for k, v in options.items() if k not in EXECUTION_ONLY_OPTIONS}
    return {**description, "options": kept}


def build_manifest(
    dataset: Dataset, strategy: Strategy, predictors: dict[str, Predictor],
    options: EngineOptions, *, mode: str = "online", command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The manifest is written from the components' own descriptions."""
    ds = dataset.describe()
    fingerprint = dataset.fingerprint()
    # The selection, not the file contents: repairing a broken file must not stop a resume
    # (the cache key holds each file's hash, so a changed file is asked afresh).
    identity = {
        "dataset": {"name": dataset.name, "split": dataset.split, "n": len(dataset),
                    "labels": list(dataset.labels), "options": ds.get("options")},
        "model": {role: _answer_identity(p.describe()) for role, p in sorted(predictors.items())},
        "strategy": strategy.describe(),
        # An online run must not continue a batch run's folder, nor the reverse.
        "mode": mode,
    }
    return {
        "vlmfer_version": __version__,
        "plugins": _plugin_versions(),
        "dataset": {**ds, "name": dataset.name, "split": dataset.split,
                    "fingerprint": fingerprint, "n": len(dataset),
                    "labels": list(dataset.labels)},
        "model": predictors["main"].describe(),
        "roles": {role: p.describe() for role, p in sorted(predictors.items()) if role != "main"},
        "strategy": strategy.describe(),
        "labels": list(strategy.labels),
        "engine": options.model_dump(mode="json"),
        "mode": mode,
        "identity": identity,
        "command": list(command) if command else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "started": utcnow(),
        "finished": None,
    }


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
    options = options or EngineOptions()
    predictors = {"main": predictor, **(roles or {})}
    check_capabilities(dataset, strategy, predictors)
    rundir = RunDir(out)
    manifest = build_manifest(dataset, strategy, predictors, options, command=command)
    rundir.check_identity(manifest["identity"])
    # -- capability probe of compatible servers (vlmfer.predictors.probe): before the first
    # paid request, exit 2 if a server is unusable; a resume with nothing to ask asks nothing.
    if _work_left(rundir, dataset, options):
        from vlmfer.predictors.probe import probe_predictors

        manifest["probe"] = await probe_predictors(predictors, strategy) or None
    # --
    if rundir.exists():  # keep the first start time; record this resume
        old = rundir.read_manifest()
        manifest["started"] = old.get("started", manifest["started"])
        manifest["resumed"] = [*old.get("resumed", []), utcnow()]
    rundir.write_manifest(manifest)
    if options.cache and cache is None:
        cache = ResponseCache()
    engine = Engine(strategy, predictors, options, cache if options.cache else None)

    finished = rundir.finished()
    dropped: set[str] = set()
    if options.retry_errors:
        dropped = {p.sample_id for p in finished if p.outcome == "error"}
        rundir.drop(dropped)
        finished = [p for p in finished if p.sample_id not in dropped]
    done = {p.sample_id for p in finished}
    todo = (s for s in dataset if s.id not in done)
    remaining = max(0, len(dataset) - len(done))
    progress = _Progress(remaining, enabled=options.progress)
    rundir.open_append()
    try:
        await _drive(engine, todo, rundir, progress, options.concurrency)
    finally:
        rundir.close()
        progress.close()
        for p in predictors.values():
            await p.aclose()
        if cache is not None:
            cache.close()
    manifest["finished"] = utcnow()
    manifest["calls"] = engine.calls
    rundir.write_manifest(manifest)
    run = Run(rundir.path)
    # A resume that added nothing leaves metrics and report as they were (and fast).
    changed = (progress.total_done > 0 or bool(dropped)
               or not _newer(rundir.metrics_path, rundir.predictions_path))
    if changed:
        run.recompute()
    if report and (changed or not (rundir.path / REPORT).exists()):
        run.report()
    return run


async def _drive(
    engine: Engine, samples: Iterable[Sample], rundir: RunDir, progress: _Progress,
    concurrency: int,
) -> None:
    async def handle(sample: Sample) -> None:
        pred = await engine.run_sample(sample)
        rundir.append(pred)
        progress.update(pred)

    await drive(samples, concurrency, handle)


async def drive(
    samples: Iterable[Sample], concurrency: int, handle: Callable[[Sample], Awaitable[None]]
) -> None:
    """Run ``handle`` on every sample, at most ``concurrency`` at once.

    A bounded queue feeds the workers, so a 20 000-sample dataset is never in memory.
    """
    queue: asyncio.Queue[Sample | None] = asyncio.Queue(maxsize=concurrency * 2)

    async def worker() -> None:
        while True:
            sample = await queue.get()
            if sample is None:
                return
            await handle(sample)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        for sample in samples:
            await queue.put(sample)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


class _Progress:
    """A tqdm bar with outcome counts and cost; silent when not a TTY."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.counts: Counter[str] = Counter()
        self.cost = 0.0
        self._last = 0.0
        self._bar: Any = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="sample", dynamic_ncols=True, file=sys.stderr)

    @property
    def total_done(self) -> int:
        return sum(self.counts.values())

    def update(self, pred: Prediction) -> None:
        self.counts[pred.outcome] += 1
        # What this run paid: cache hits were paid for by an earlier run.
        self.cost += sum(s.cost_usd or 0.0 for s in pred.steps if not s.cached)
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.monotonic()
        if now - self._last > 0.5:
            self._last = now
            parts = {k: self.counts[k] for k in ("ok", "invalid", "refused", "blocked", "error")
                     if self.counts[k]}
            self._bar.set_postfix(cost=f"${self.cost:.4f}", **parts, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


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
    **options: Any,
) -> Run:
    """Evaluate ``strategy`` with ``predictor`` on ``dataset``; write and return the run.

    Re-running with the same ``out`` resumes: finished samples are not asked again.

    >>> run = evaluate(get_dataset("caer-s", root="CAER-S", split="test", limit=100),
    ...                get_predictor("openai/gpt-5.2"), get_strategy("single-shot"),
    ...                out="runs/gpt-single")  # doctest: +SKIP
    >>> run.metrics["uar"]  # doctest: +SKIP
    """
    opts = EngineOptions(concurrency=concurrency, rpm=rpm, tpm=tpm, cache=cache, **options)
    return asyncio.run(
        evaluate_async(dataset, predictor, strategy, out=out, options=opts, roles=roles)
    )
