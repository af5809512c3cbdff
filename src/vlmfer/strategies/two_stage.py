"""``two-stage``: a Neutral gate, then the forced six-way question."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from vlmfer.labels import NEUTRAL
from vlmfer.strategies.base import Requirements, SampleContext, Verdict
from vlmfer.strategies.calibrated import label_distribution
from vlmfer.strategies.common import (
    ANSWER_SLOT,
    declines,
    invalid,
    is_refusal,
    non_answer,
    parse,
    without_neutral,
)
from vlmfer.strategies.single_shot import SingleShot, SingleShotOptions, ask_label
from vlmfer.types import Sample

#: The gate's answer for "not neutral".
EMOTION = "Emotion"


class TwoStageOptions(SingleShotOptions):
    """Options of ``two-stage`` (``template`` and ``constrained`` apply to stage 2)."""

    #: The stage-1 template (a "gate" template: a built-in name or a file).
    gate_template: str | None = None
    #: Decide stage 1 from the answer text, or from P(Neutral) in the log-probabilities.
    gate: Literal["text", "logprobs"] = "text"
    #: With ``gate="logprobs"``: Neutral when P(Neutral | Neutral or Emotion) >= this.
    neutral_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    #: With ``gate="logprobs"``: how many top log-probabilities to ask for.
    top_logprobs: int = Field(default=20, ge=1, le=20)


class TwoStage(SingleShot):
    """Stage 1 asks "Neutral or an emotion?". Neutral ends there; otherwise stage 2 asks
    the six-way question (labels without Neutral). An unreadable stage 1 is ``invalid``.
    """

    name: ClassVar[str] = "two-stage"
    Options: ClassVar[type[BaseModel]] = TwoStageOptions
    options: TwoStageOptions
    template_slots: ClassVar[dict[str, tuple[str, str, str]]] = {
        "gate": ("gate", "gate", "gate_template"),
        "answer": ANSWER_SLOT,
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._six = without_neutral(self.options.labels, self.name)
        self._neutral = next(x for x in self.options.labels if x.casefold() == NEUTRAL.casefold())
        self.gate_labels: tuple[str, ...] = (self._neutral, EMOTION)

    def requirements(self) -> Requirements:
        base = super().requirements()
        return base.model_copy(update={"logprobs": self.options.gate == "logprobs"})

    async def decide(self, sample: Sample, ctx: SampleContext) -> Verdict:
        o = self.options
        gen = self.generation("gate")
        if o.gate == "logprobs":
            gen = self.generation("gate", logprobs=True, top_logprobs=o.top_logprobs)
        _, response, gate_step = await self.ask_slot("gate", sample, ctx, labels=self.gate_labels,
                                                     options=gen)
        stop = non_answer(response, "gate")
        if stop is not None:
            return stop
        extra: dict[str, Any] = {}
        match = parse(response.text or "", self.gate_labels, finish_reason=response.finish_reason)
        if is_refusal(match) or declines(match):
            ctx.note(gate_step, parsed=match, gate=o.gate)
            return invalid("gate", response.text, match)
        if o.gate == "logprobs":
            if not response.logprobs:
                return Verdict(
                    pred=None, outcome="invalid",
                    reason="gate: the backend returned no log-probabilities for gate='logprobs'",
                )
            dist, found = label_distribution(response.logprobs, self.gate_labels)
            if not found:
                return Verdict(
                    pred=None, outcome="invalid",
                    reason=f"gate: neither {list(self.gate_labels)} is among the top "
                    f"log-probabilities {sorted(response.logprobs)[:10]}",
                )
            p_neutral = dist[self._neutral]
            is_neutral = p_neutral >= o.neutral_threshold
            ctx.note(
                gate_step, parsed=match, p_neutral=p_neutral, threshold=o.neutral_threshold,
                gate="logprobs",
            )
            extra["p_neutral"] = p_neutral
        else:
            ctx.note(gate_step, parsed=match, gate="text")
            if match.label is None:
                return invalid("gate", response.text, match)
            is_neutral = match.label == self._neutral
        extra["gate"] = self._neutral if is_neutral else EMOTION
        if is_neutral:
            return Verdict(pred=self._neutral, outcome="ok", extra=extra)
        verdict = await ask_label(
            self, sample, ctx, step="answer", labels=self._six, constrained=o.constrained
        )
        return verdict.model_copy(update={"extra": {**verdict.extra, **extra}})
