"""The engine core. It owns time: concurrency, budgets, retries, cache.

Strategies await ``ctx.ask(prompt, step=...)``; the engine answers from the
cache or by a rate-limited, retried predictor call, and records every call as
a ``Step``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from vlmfer.engine.budget import limiter_for
from vlmfer.engine.cache import ResponseCache, SnapshotPins, cache_keyer
from vlmfer.engine.limits import RateLimiter
from vlmfer.engine.preflight import run_media_spec
from vlmfer.errors import ConfigError, MediaError, PredictorError
from vlmfer.predictors.base import Predictor, cache_identity_of
from vlmfer.strategies.base import CallFailed, Pending, Strategy, Verdict
from vlmfer.types import (
    LabelMatch,
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


class RunSettings(Record):
    """The engine's settings a user sets in an experiment's ``[run]`` table.

    Declared once: ``EngineOptions`` and ``vlmfer.engine.config.RunConfig`` both extend it.
    """

    concurrency: int = Field(default=8, ge=1, le=4096)
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)
    cache: bool = True
    max_attempts: int = Field(default=6, ge=1, le=50)
    n_boot: int = Field(default=1000, ge=0)
    seed: int = 0
    #: Extra registered metrics for metrics.json; kept in the manifest for `vlmfer report`.
    metrics: list[str] | None = None


class EngineOptions(RunSettings):
    """How a run is executed. Only ``media`` changes the answers.

    ``media`` is the run's ``[media]`` table: how every sample's media becomes bytes.
    None leaves it to the strategy's own ``media`` option (the Python API's older way).
    """

    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    max_retry_after_s: float = Field(default=600.0, ge=0)
    #: The window rpm/tpm apply to. Providers count per minute; only tests shorten it.
    rate_window_s: float = Field(default=60.0, gt=0)
    progress: bool = True
    #: On resume, ask again for samples whose outcome was ``error`` (API errors are transient).
    retry_errors: bool = True
    media: MediaSpec | None = None


class EngineContext:
    """What one sample's strategy sees (it implements ``SampleContext``): the engine, scoped to
    one sample, recording every ask as a ``Step``."""

    def __init__(self, engine: Engine, sample: Sample) -> None:
        self._engine = engine
        self._sample = sample
        self.steps: list[Step] = []
        #: id(prompt) -> (that prompt, its hash): the engine's own copies, hashed once per ask.
        self._digests: dict[int, tuple[Prompt, str]] = {}

    def _digest(self, prompt: Prompt) -> str | None:
        entry = self._digests.get(id(prompt))
        return entry[1] if entry is not None and entry[0] is prompt else None

    @property
    def sample(self) -> Sample:
        return self._sample

    @property
    def media_spec(self) -> MediaSpec:
        """How this run turns media into bytes (its ``[media]`` settings)."""
        return self._engine.media

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
        self.media = run_media_spec(strategy, options.media)
        self.limiter: RateLimiter = limiter_for(predictors, rpm=options.rpm, tpm=options.tpm,
                                                window_s=options.rate_window_s)
        self._hashes: dict[Path, str] = {}
        self._inflight: dict[str, asyncio.Future[Response]] = {}
        self._keyers: dict[str, Callable[[str], str]] = {}
        self._rng = random.Random(options.seed)
        self.calls = 0
        #: Which snapshot answers this run, per model (see ``SnapshotPins``).
        self.snapshots = SnapshotPins()

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
        self, ctx: EngineContext, prompt: Prompt, *, step: str, role: str, parsed: Any
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
            ctx.steps.append(failed_step(step, predictor, prompt, e.reason, attempts=0,
                                         kind="media", retryable=False))
            raise CallFailed(step, str(e)) from e
        update: dict[str, Any] = {"media": media}
        if self.options.media is not None:  # the run's [media] settings hold for every ask
            update["media_spec"] = self.options.media
        prompt = prompt.model_copy(update=update)
        digest = prompt.hash()
        keyer = self._keyers.get(role)
        if keyer is None:  # the identity's JSON once per role, not once per ask
            keyer = self._keyers[role] = cache_keyer(cache_identity_of(predictor))
        ctx._digests[id(prompt)] = (prompt, digest)
        return await self._answer(ctx, keyer(digest), prompt, step=step, role=role,
                                  predictor=predictor, parsed=parsed)

    async def _answer(
        self, ctx: EngineContext, key: str, prompt: Prompt, *, step: str, role: str,
        predictor: Predictor, parsed: Any,
    ) -> Response:
        """Answer one keyed ask: from the cache, else by one (deduplicated) predictor call.

        Batch mode (``vlmfer.batch``) overrides this to answer from collected results.
        """
        if self.cache is not None:
            hit = await self.cache.aget(key)
            # An answer from another snapshot than the run's is asked again.
            if hit is not None and self.snapshots.accepts(predictor.name, hit):
                response = hit.model_copy(update={"cached": True})
                ctx.steps.append(record_step(step, predictor, prompt, response, 0, parsed,
                                             prompt_hash=ctx._digest(prompt)))
                return response

        # Identical asks in flight at once (a shared content-free input) are made once.
        pending = self._inflight.get(key)
        if pending is not None:
            try:
                response = await asyncio.shield(pending)
            except CallFailed as e:  # the shared call failed: record it for this sample too
                kind, retryable = reason_kind(e.reason)
                ctx.steps.append(failed_step(step, predictor, prompt, e.reason, attempts=0,
                                             kind=kind, retryable=retryable))
                raise CallFailed(step, e.reason) from e
            response = response.model_copy(update={"cached": True})
            ctx.steps.append(record_step(step, predictor, prompt, response, 0, parsed,
                                             prompt_hash=ctx._digest(prompt)))
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
        pinned = self.snapshots.observe(predictor.name, response)
        if pinned is not None:
            log.warning(
                "%s answered as snapshot %s, but this run's answers so far came from %s: the "
                "provider moved the alias during the run, so its answers mix two models "
                "(metrics.json: mixed_snapshots). Name a dated snapshot as the model to avoid "
                "this", predictor.name, response.model_version, pinned)
        if self.cache is not None:
            self.cache.put_later(key, response)
        ctx.steps.append(record_step(step, predictor, prompt, response, attempts, parsed,
                                     prompt_hash=ctx._digest(prompt)))
        return response

    async def _call(
        self, ctx: EngineContext, step: str, predictor: Predictor, prompt: Prompt
    ) -> tuple[Response, int]:
        opts = self.options
        # Estimates can probe media: only a token budget needs one before the call.
        estimate = predictor.estimate_input_tokens(prompt) if self.limiter.tpm else 0
        last = "no attempt made"
        kind, retryable = "api_error", True
        attempt = 0
        for attempt in range(1, opts.max_attempts + 1):
            t0 = time.perf_counter()
            try:
                response = await self._attempt(predictor, prompt, estimate)
            except PredictorError as e:
                last = f"{e.kind}: {e}"
                kind, retryable = e.kind, e.retryable
                too_long = e.retry_after is not None and e.retry_after > opts.max_retry_after_s
                if not e.retryable or attempt == opts.max_attempts or too_long:
                    break
                await asyncio.sleep(self._backoff(attempt, e.retry_after))
                continue
            except MediaError as e:
                ctx.steps.append(failed_step(step, predictor, prompt, e.reason, attempt,
                                             kind="media", retryable=False))
                raise CallFailed(step, str(e)) from e
            except (asyncio.CancelledError, Pending):
                raise
            except Exception as e:  # a backend bug must not stop the run
                log.exception("unexpected error from %s", predictor.name)
                last = f"unexpected {type(e).__name__}: {e}"
                kind, retryable = "internal", False
                break
            update: dict[str, Any] = {}
            if not response.latency_s:
                update["latency_s"] = time.perf_counter() - t0
            if response.cost_usd is None:
                update["cost_usd"] = predictor.cost_usd(response)
            return (response.model_copy(update=update) if update else response), attempt
        ctx.steps.append(failed_step(step, predictor, prompt, last, attempt, kind=kind,
                                     retryable=retryable))
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
        ctx = EngineContext(self, sample)
        labels = self.strategy.labels
        try:
            verdict = await self.strategy.decide(sample, ctx)
            if verdict.outcome == "ok" and verdict.pred not in labels:
                raise ValueError(
                    f"strategy returned {verdict.pred!r}, which is not in its label set {labels}"
                )
            return _prediction(sample, ctx.steps, verdict)
        except CallFailed as e:
            return _prediction(sample, ctx.steps, _error(e.reason))
        except (Pending, asyncio.CancelledError, ConfigError):
            raise
        except Exception as e:
            log.exception("strategy %s failed on %s", self.strategy.name, sample.id)
            reason = f"internal error in strategy {self.strategy.name!r}: {type(e).__name__}: {e}"
            return _prediction(sample, ctx.steps, _error(reason))


def _prediction(sample: Sample, steps: list[Step], verdict: Verdict) -> Prediction:
    """The strategy's ``verdict`` on ``sample``, with what only the engine knows added:
    the sample's id, gold label and group, the ``steps`` and their total cost."""
    return Prediction(
        sample_id=sample.id, gold=sample.label, group=sample.group,
        pred=verdict.pred, outcome=verdict.outcome, reason=verdict.reason,
        scores=verdict.scores, extra=verdict.extra,
        steps=steps, cost_usd=_total_cost(steps),
    )


def _error(reason: str) -> Verdict:
    """The verdict for a sample whose strategy ended in an error instead of deciding."""
    return Verdict(pred=None, outcome="error", reason=reason)


def _total_cost(steps: Sequence[Step]) -> float | None:
    if not steps:
        return 0.0
    costs = [s.cost_usd for s in steps]
    if any(c is None for c in costs):
        return None
    return float(sum(c for c in costs if c is not None))


def record_step(
    name: str, predictor: Predictor, prompt: Prompt, response: Response, attempts: int,
    parsed: Any, *, prompt_hash: str | None = None,
) -> Step:
    """The record of one answered call (online or from a batch result).

    ``prompt_hash`` is ``prompt.hash()`` when the caller has it already.
    """
    fields = dict(
        name=name,
        model=predictor.name,
        prompt_hash=prompt_hash or prompt.hash(),
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
        model_version=response.model_version,
        simulated=response.simulated,
        details=dict(response.details),
    )
    if parsed is None or isinstance(parsed, LabelMatch):
        # Every field is already typed (a validated Response and Prompt): no re-validation.
        return Step.model_construct(**fields)
    return Step(**fields)


def failed_step(
    name: str, predictor: Predictor, prompt: Prompt, reason: str, attempts: int,
    *, kind: str | None = None, retryable: bool | None = None,
) -> Step:
    """The record of a call that produced no answer (media error or last attempt).

    ``kind`` is the error's kind (``PredictorError.kind``, or ``media``) and ``retryable``
    whether it was transient; both go in ``details`` as ``error_kind`` and ``retryable``.
    """
    try:
        prompt_hash = prompt.hash()
    except ValueError:
        prompt_hash = ""
    details: dict[str, Any] = {}
    if kind is not None:
        details["error_kind"] = kind
    if retryable is not None:
        details["retryable"] = retryable
    return Step(
        name=name, model=predictor.name, prompt_hash=prompt_hash, text_sent=prompt.text,
        template=prompt.template, label_order=prompt.label_order, status="error",
        reason=reason, attempts=attempts, cost_usd=0.0, details=details,
    )


#: Error kinds that no retry cures: the same request fails the same way every time.
PERMANENT_KINDS = frozenset({
    "auth", "permission", "not_found", "bad_request", "capability", "too_many_images",
    "upload_failed", "api_error",
})
#: Kinds an earlier run's reasons can start with ("not_found: HTTP 404 ...").
_REASON_KIND = re.compile(r"^([a-z][a-z_]*): ")


def reason_kind(reason: str | None) -> tuple[str, bool]:
    """The error kind a failure reason starts with, and whether it was transient."""
    m = _REASON_KIND.match(reason or "")
    if m is None:
        return "other", True
    return m.group(1), m.group(1) not in PERMANENT_KINDS


def failure_of(pred: Prediction) -> tuple[str, bool] | None:
    """``(error kind, retryable)`` of an ``error`` outcome; None for any other outcome.

    Read from the failed step (``details``), else from the reason, so predictions
    written by earlier versions are classified too.
    """
    if pred.outcome != "error":
        return None
    for step in reversed(pred.steps):
        if step.status == "error" and "error_kind" in step.details:
            kind = str(step.details["error_kind"])
            return kind, bool(step.details.get("retryable", kind not in PERMANENT_KINDS))
    if (pred.reason or "").startswith("internal error"):
        return "internal", False
    for step in reversed(pred.steps):
        if step.status == "error":
            return reason_kind(step.reason)
    return reason_kind(pred.reason)


class SystematicFailure(ConfigError):
    """The first samples of a run all failed with the same permanent error: it stopped.

    A wrong model id, a rejected key or an unsupported parameter fails every request
    alike, so the engine stops instead of paying for (or waiting on) the rest.
    """

    def __init__(self, message: str, *, kind: str, samples: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.samples = samples


def fail_fast_window(concurrency: int) -> int:
    """How many first samples must fail alike to stop a run: one per worker, 2 to 8."""
    return min(8, max(2, concurrency))


class FailFast:
    """Watches the first finished samples for one systematic, permanent error.

    When the first ``window`` samples all end in ``error`` with the same permanent kind
    (and none answered), ``observe`` raises ``SystematicFailure``. One bad file (a media
    error) or transient errors never stop a run; neither does anything after a success.
    """

    def __init__(self, window: int) -> None:
        self.window = max(1, window)
        self._seen: list[tuple[str, bool]] = []
        self._example: Prediction | None = None
        self._settled = False

    def observe(self, pred: Prediction) -> None:
        if self._settled:
            return
        failure = failure_of(pred)
        if failure is not None and failure[0] in ("media", "internal", "other"):
            return  # one bad file (or one odd sample) says nothing about the others
        if failure is None or failure[1]:
            self._settled = True  # an answer, or a transient error: the setup works
            return
        if self._seen and failure != self._seen[0]:
            self._settled = True  # different causes: not one systematic error
            return
        self._seen.append(failure)
        self._example = self._example or pred
        if len(self._seen) >= self.window:
            self._settled = True
            kind = failure[0]
            example = self._example
            raise SystematicFailure(
                f"stopped early: the first {len(self._seen)} samples all failed with the same "
                f"error ({kind}), which retrying cannot fix, so no more requests were sent. "
                f"First failure, sample {example.sample_id}: {example.reason}. Fix the cause "
                "and re-run the same command: the failed samples are asked again",
                kind=kind, samples=len(self._seen),
            )



async def drive(
    samples: Iterable[Sample], concurrency: int, handle: Callable[[Sample], Awaitable[None]]
) -> None:
    """Run ``handle`` on every sample, at most ``concurrency`` at once.

    A bounded queue feeds the workers, so a 20 000-sample dataset is never in memory.
    When ``handle`` raises, the feeding stops and the other workers are cancelled at
    once (their calls in flight too), and the exception propagates.
    """
    queue: asyncio.Queue[Sample | None] = asyncio.Queue(maxsize=concurrency * 2)

    async def worker() -> None:
        while True:
            sample = await queue.get()
            if sample is None:
                return
            await handle(sample)

    async def feed() -> None:
        for sample in samples:
            await queue.put(sample)
        for _ in range(concurrency):
            await queue.put(None)

    tasks = [asyncio.create_task(feed())]
    tasks += [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
