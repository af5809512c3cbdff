"""A small harness to run strategies without the engine (imported by the tests).

``DirectContext`` implements ``StepContext``: it hashes the media, calls the
predictor playing each role directly, and records every call as a ``Step``. With
a shared ``cache`` dict it answers repeated prompts from memory, keyed like the
engine's cache (prompt hash + predictor identity).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from vlmfer.errors import PredictorError
from vlmfer.predictors.base import Predictor
from vlmfer.strategies.base import CallFailed, Strategy, Verdict
from vlmfer.types import (
    Capabilities,
    Media,
    Prediction,
    Prompt,
    Response,
    Sample,
    Step,
    stable_hash,
)

#: Real media beside the checkout (absent in a user's own clone: tests then skip).
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

SEED_PROMPT = (Path(__file__).parent / "seed_prompt.txt").read_text(encoding="utf-8")


class DirectContext:
    """Calls predictors directly and records each call, as the engine would."""

    def __init__(
        self,
        sample: Sample,
        predictors: Predictor | dict[str, Predictor],
        *,
        cache: dict[str, Response] | None = None,
    ) -> None:
        self._sample = sample
        self.predictors = predictors if isinstance(predictors, dict) else {"main": predictors}
        self.cache = cache
        self.steps: list[Step] = []
        #: (role, step) of every call that reached a predictor (not the cache).
        self.calls: list[tuple[str, str]] = []
        self.prompts: list[Prompt] = []

    @property
    def sample(self) -> Sample:
        return self._sample

    async def ask(
        self, prompt: Prompt, *, step: str, role: str = "main", parsed: Any = None
    ) -> Response:
        assert step not in {s.name for s in self.steps}, f"step name {step!r} used twice"
        predictor = self.predictors[role]
        prompt = prompt.model_copy(update={"media": [m.with_hash() for m in prompt.media]})
        self.prompts.append(prompt)
        key = stable_hash({"prompt": prompt.hash(), "predictor": predictor.cache_identity()})
        step_fields: dict[str, Any] = {
            "name": step,
            "model": predictor.name,
            "prompt_hash": prompt.hash(),
            "text_sent": prompt.text,
            "template": prompt.template,
            "label_order": prompt.label_order,
            "parsed": parsed,
        }
        if self.cache is not None and key in self.cache:
            response = self.cache[key].model_copy(update={"cached": True})
        else:
            try:
                response = await predictor.predict(prompt)
            except PredictorError as e:
                self.steps.append(Step(**step_fields, status="error", reason=str(e)))
                raise CallFailed(step, str(e)) from e
            self.calls.append((role, step))
            if self.cache is not None:
                self.cache[key] = response
        self.steps.append(
            Step(
                **step_fields,
                response_text=response.text,
                status=response.status,
                reason=response.reason,
                finish_reason=response.finish_reason,
                usage=response.usage,
                latency_s=response.latency_s,
                cached=response.cached,
                cost_usd=response.cost_usd,
            )
        )
        return response

    def note(self, step: str, **details: Any) -> None:
        found = [s for s in self.steps if s.name == step]
        assert found, f"note() for step {step!r} before it was asked"
        target = found[-1]
        if "parsed" in details:
            target.parsed = details.pop("parsed")
        target.details.update(details)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


async def arun(
    strategy: Strategy,
    sample: Sample,
    predictors: Predictor | dict[str, Predictor],
    *,
    cache: dict[str, Response] | None = None,
) -> tuple[Prediction, DirectContext]:
    """Run one sample; return the Prediction (checked like the engine's) and the context."""
    ctx = DirectContext(sample, predictors, cache=cache)
    verdict: Verdict = await strategy.run(sample, ctx)
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
    return prediction, ctx


def run(
    strategy: Strategy,
    sample: Sample,
    predictors: Predictor | dict[str, Predictor],
    *,
    cache: dict[str, Response] | None = None,
) -> tuple[Prediction, DirectContext]:
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
        script: list[str | tuple[str | None, dict[str, float] | None] | Response],
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
