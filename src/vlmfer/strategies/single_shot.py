"""``single-shot`` (the seed's prompt, one call) and ``six-class`` (forced six-way)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel

from vlmfer.strategies.base import Requirements, SampleContext, Verdict
from vlmfer.strategies.common import (
    ANSWER_SLOT,
    BuiltinStrategy,
    CommonOptions,
    answer_text,
    invalid,
    non_answer,
    parse,
    without_neutral,
)
from vlmfer.types import Sample


class SingleShotOptions(CommonOptions):
    """Options of ``single-shot`` and ``six-class``."""

    #: Ask the backend to restrict the answer to the labels ("enum" or "json_schema").
    constrained: Literal["enum", "json_schema"] | None = None


async def ask_label(
    strategy: BuiltinStrategy,
    sample: Sample,
    ctx: SampleContext,
    *,
    step: str,
    labels: tuple[str, ...],
    constrained: str | None,
) -> Verdict:
    """One call that asks for one of ``labels`` with the "answer" template."""
    _, response, step = await strategy.ask_slot("answer", sample, ctx, step=step, labels=labels,
                                                constraint=constrained)
    stop = non_answer(response, step)
    if stop is not None:
        return stop
    text = answer_text(response.text or "", constrained)
    match = parse(text, labels, finish_reason=response.finish_reason)
    ctx.note(step, parsed=match)
    if match.label is None:
        return invalid(step, response.text, match)
    return Verdict(pred=match.label, outcome="ok")


class SingleShot(BuiltinStrategy):
    """One call with the seed's prompt; the answer is parsed against the label set.

    Options: ``labels`` (7 CAER labels by default), ``template``, ``label_order``,
    ``order_seed``, ``media``, ``media_word``, ``temperature``, ``max_tokens``,
    ``seed`` and ``constrained`` ("enum" / "json_schema" where the backend can).
    """

    name: ClassVar[str] = "single-shot"
    Options: ClassVar[type[BaseModel]] = SingleShotOptions
    options: SingleShotOptions
    template_slots: ClassVar[dict[str, tuple[str, str, str]]] = {"answer": ANSWER_SLOT}

    def requirements(self) -> Requirements:
        c = self.options.constrained
        return Requirements(enum_output=c == "enum", json_schema=c == "json_schema")

    async def decide(self, sample: Sample, ctx: SampleContext) -> Verdict:
        return await ask_label(
            self, sample, ctx, step="answer", labels=self.labels,
            constrained=self.options.constrained,
        )


class SixClass(SingleShot):
    """Single-shot with Neutral removed from the label list: "excluding Neutral:
    forced six-way". ``labels`` is the full set and Neutral is taken out of it.

    It runs on the non-Neutral samples: on a dataset with gold-Neutral samples, the
    engine leaves those out (``excluded_gold``) and records how many in the manifest.
    """

    name: ClassVar[str] = "six-class"

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self._six = without_neutral(self.options.labels, self.name)

    @property
    def labels(self) -> tuple[str, ...]:
        return self._six

    @property
    def excluded_gold(self) -> tuple[str, ...]:
        """Gold labels whose samples a run leaves out: no six-way answer can match them."""
        return tuple(x for x in self.options.labels if x not in self._six)
