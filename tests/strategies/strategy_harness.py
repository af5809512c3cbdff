"""Run a strategy on one sample through the engine's own path (imported by the tests).

``run`` builds the real ``Engine`` and gives the strategy the real ``SampleContext`` (the
engine's ``EngineContext``): the media are hashed, the cache is keyed and consulted, calls
are made and every one is recorded as a ``Step`` exactly as in ``vlmfer run``. The engine
only gains a note of what each call was (``Trace.prompts``, ``Trace.calls``), taken at the
same override point the batch engine uses. One attempt per call, no rate limit, no progress
bar.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import SHARED_DATA

from vlmfer.engine import Engine, EngineContext, EngineOptions, ResponseCache
from vlmfer.predictors.base import Predictor
from vlmfer.strategies.base import Strategy, Verdict
from vlmfer.types import Capabilities, Media, Prediction, Prompt, Response, Sample, Step

__all__ = ["COLOURS", "SEED_PROMPT", "SHARED_DATA", "Scripted", "Trace", "arun", "run",
           "sample_of"]

SEED_PROMPT = (Path(__file__).parent / "seed_prompt.txt").read_text(encoding="utf-8")

OPTIONS = EngineOptions(max_attempts=1, progress=False)


@dataclass
class Trace:
    """What one sample's run did: its steps, and each call as a predictor received it."""

    steps: list[Step]
    #: Every prompt asked, as keyed and sent (media hashed), cache hits included.
    prompts: list[Prompt] = field(default_factory=list)
    #: (role, step) of every call that reached a predictor (not the cache).
    calls: list[tuple[str, str]] = field(default_factory=list)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


class _TracingEngine(Engine):
    def __init__(self, strategy: Strategy, predictors: dict[str, Predictor],
                 cache: ResponseCache | None) -> None:
        super().__init__(strategy, predictors, OPTIONS, cache)
        self.trace = Trace(steps=[])

    async def _answer(
        self, ctx: EngineContext, key: str, prompt: Prompt, *, step: str, role: str,
        predictor: Predictor, parsed: Any,
    ) -> Response:
        self.trace.prompts.append(prompt)
        response = await super()._answer(ctx, key, prompt, step=step, role=role,
                                         predictor=predictor, parsed=parsed)
        if not ctx.steps[-1].cached:
            self.trace.calls.append((role, step))
        return response


async def arun(
    strategy: Strategy,
    sample: Sample,
    predictors: Predictor | dict[str, Predictor],
    *,
    cache: ResponseCache | None = None,
) -> tuple[Prediction, Trace]:
    """Run one sample; return the Prediction (checked like the engine's) and its trace.

    A call that fails raises ``CallFailed`` out of here, as it leaves ``strategy.run``.
    """
    roles = predictors if isinstance(predictors, dict) else {"main": predictors}
    engine = _TracingEngine(strategy, roles, cache)
    ctx = EngineContext(engine, sample)
    verdict: Verdict = await strategy.run(sample, ctx)
    trace = engine.trace
    trace.steps = ctx.steps
    twice = [name for name, n in Counter(s.name for s in ctx.steps).items() if n > 1]
    assert not twice, f"step names used twice: {twice}"
    prediction = Prediction(
        sample_id=sample.id,
        gold=sample.label,
        pred=verdict.pred,
        outcome=verdict.outcome,
        reason=verdict.reason,
        steps=ctx.steps,
        scores=verdict.scores,
        extra=verdict.extra,
    )
    return prediction, trace


def run(
    strategy: Strategy,
    sample: Sample,
    predictors: Predictor | dict[str, Predictor],
    *,
    cache: ResponseCache | None = None,
) -> tuple[Prediction, Trace]:
    """``arun`` in a fresh event loop."""
    return asyncio.run(arun(strategy, sample, predictors, cache=cache))


def sample_of(path: Path, label: str | None = None, root: Path | None = None) -> Sample:
    sid = str(path.relative_to(root)) if root else path.name
    return Sample(id=sid, media=Media.from_path(path), label=label)


class Scripted(Predictor):
    """Answers from a script, one entry per call: a text, or (text, logprobs), or
    a Response. Records every prompt it receives."""

    provider = "scripted"

    def __init__(
        self,
        script: Sequence[str | tuple[str | None, dict[str, float] | None] | Response],
        *,
        logprobs: bool = True,
        model: str = "script",
    ) -> None:
        self.model = model
        self.script = list(script)
        self.prompts: list[Prompt] = []
        self.capabilities = Capabilities(logprobs=logprobs, enum_output=True, json_schema=True)

    async def predict(self, prompt: Prompt) -> Response:
        self.prompts.append(prompt)
        if not self.script:
            raise AssertionError(f"unexpected call #{len(self.prompts)}: {prompt.text[:80]!r}")
        item = self.script.pop(0)
        if isinstance(item, Response):
            return item
        if isinstance(item, tuple):
            text, lp = item
            return Response(text=text, logprobs=lp if prompt.options.logprobs else None)
        return Response(text=item)


#: Distinct colours for tiny labelled images.
COLOURS = {
    "Anger": (200, 30, 30),
    "Disgust": (60, 140, 40),
    "Fear": (90, 40, 150),
    "Happy": (250, 210, 40),
    "Neutral": (170, 170, 170),
    "Sad": (40, 70, 200),
    "Surprise": (240, 120, 20),
}
