"""``calibrated``: class scores from log-probabilities, with contextual calibration.

Scores. The answer's first-token log-probabilities (``Response.logprobs``, token or
label → log-probability) become a distribution over the labels:
- a key counts for a label when it names it (``parse_label``, so " happy" and
  "Happiness" count for Happy) or is the start of exactly one label's name
  ("Disg" → Disgust; at least 3 characters); keys that count for the same label are summed;
- a label missing from the top-k gets a floor: the smaller of the least top-k
  probability and the mass outside the top-k shared among the missing labels (never
  below ``MIN_FLOOR``), or the ``floor`` option when set; then all are normalised.

Calibration (Zhao et al. 2021). The same prompt is asked about a content-free input
of the same shape (a mid-grey image, or a blank clip with the sample's size, frame
rate and length); its distribution ``q`` is divided out: ``p_cal ∝ p / q``.
Batch calibration (Zhou et al. 2024) divides by the mean distribution over a run; it
is applied at report time from the stored ``extra["raw_scores"]`` and costs no call.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from vlmfer.errors import MediaError
from vlmfer.labels import tied_top
from vlmfer.strategies.base import Requirements, StepContext, Verdict
from vlmfer.strategies.common import (
    BuiltinStrategy,
    CommonOptions,
    declines,
    invalid,
    is_refusal,
    non_answer,
    parse,
    run_media,
)
from vlmfer.strategies.content_free import cache_dir, content_free_media
from vlmfer.types import Prompt, Response, Sample

#: The smallest probability a label gets, so that calibration never divides by zero.
MIN_FLOOR = 1e-6

_STRIP = " \t\r\n\"'`.,:;!?{}[]()*_-"


def token_label(token: str, labels: Sequence[str]) -> str | None:
    """The label a log-probability key stands for, or None."""
    key = token.strip(_STRIP).casefold()
    if not key:
        return None
    for label in labels:
        if label.casefold() == key:
            return label
    named = parse(token, tuple(labels)).label
    if named is not None:
        return named
    if len(key) >= 3:
        starts = [x for x in labels if x.casefold().startswith(key)]
        if len(starts) == 1:
            return starts[0]
    return None


def label_distribution(
    logprobs: Mapping[str, float], labels: Sequence[str], *, floor: float | None = None
) -> tuple[dict[str, float], list[str]]:
    """A normalised distribution over ``labels`` from top-k log-probabilities.

    Returns the distribution and the labels that were found among the keys (an
    empty list means the keys named no label; the distribution is then uniform).
    """
    mass = {x: 0.0 for x in labels}
    total = 0.0
    smallest = 1.0
    for token, lp in logprobs.items():
        if not math.isfinite(lp):
            continue
        p = math.exp(min(lp, 0.0))
        total += p
        smallest = min(smallest, p)
        label = token_label(token, labels)
        if label is not None:
            mass[label] += p
    found = [x for x in labels if mass[x] > 0.0]
    if not found:
        return {x: 1.0 / len(labels) for x in labels}, []
    missing = [x for x in labels if mass[x] <= 0.0]
    if missing:
        if floor is None:
            outside = max(0.0, 1.0 - total) / len(missing)
            floor = max(min(smallest, outside), MIN_FLOOR)
        for x in missing:
            mass[x] = floor
    return normalise(mass), found


def empirical_distribution(votes: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Vote shares; a label never drawn gets half a vote (then all are normalised)."""
    counts = {x: float(sum(1 for v in votes if v == x)) for x in labels}
    for x in labels:
        if counts[x] == 0.0:
            counts[x] = 0.5
    return normalise(counts)


def normalise(d: Mapping[str, float]) -> dict[str, float]:
    s = sum(d.values())
    return {k: v / s for k, v in d.items()}


def calibrate(p: Mapping[str, float], q: Mapping[str, float]) -> dict[str, float]:
    """Contextual calibration: divide out the content-free distribution ``q``."""
    return normalise({x: p[x] / max(q[x], MIN_FLOOR) for x in p})




def argmax(d: Mapping[str, float], labels: Sequence[str]) -> str:
    """The most probable label; ties go to the earlier label in ``labels``."""
    return max(labels, key=lambda x: (d[x], -labels.index(x)))


class CalibratedOptions(CommonOptions):
    """Options of ``calibrated``."""

    #: "contextual": divide out a content-free input's distribution; "none": raw scores.
    calibration: Literal["contextual", "none"] = "contextual"
    #: How many top log-probabilities to ask for (the APIs allow at most 20).
    top_logprobs: int = Field(default=20, ge=1, le=20)
    #: Probability given to a label missing from the top-k (None: the rule above).
    floor: float | None = Field(default=None, gt=0.0, lt=1.0)
    #: Without log-probabilities: "sampling" draws ``samples`` answers instead.
    fallback: Literal["sampling"] | None = None
    samples: int = Field(default=10, ge=2, le=100)
    sampling_temperature: float = Field(default=1.0, gt=0.0)


class Calibrated(BuiltinStrategy):
    """Label scores from first-token log-probabilities, calibrated against a
    content-free input; ``pred`` is the calibrated argmax, ``extra["raw_pred"]`` the
    uncalibrated one."""

    name: ClassVar[str] = "calibrated"
    Options: ClassVar[type[BaseModel]] = CalibratedOptions
    options: CalibratedOptions
    template_slots: ClassVar[dict[str, tuple[str, str, str]]] = {
        "answer": ("label", "seed", "template"),
    }

    @property
    def labels(self) -> tuple[str, ...]:
        return self.options.labels

    def requirements(self) -> Requirements:
        return Requirements(logprobs=self.options.fallback is None)

    async def run(self, sample: Sample, ctx: StepContext) -> Verdict:
        o = self.options
        gen = self.generation(logprobs=True, top_logprobs=o.top_logprobs)
        prompt = self.prompt("answer", sample, step="answer", labels=self.labels, options=gen,
                             media_spec=run_media(ctx))
        response = await ctx.ask(prompt, step="answer")
        stop = non_answer(response, "answer")
        if stop is not None:
            return stop
        text_match = parse(response.text or "", self.labels, finish_reason=response.finish_reason)
        if is_refusal(text_match) or declines(text_match):
            ctx.note("answer", parsed=text_match)
            return invalid("answer", response.text, text_match)
        scored = await self._scores(prompt, response, ctx, "answer", "sample")
        if isinstance(scored, Verdict):
            ctx.note("answer", parsed=text_match)
            return scored
        raw, method = scored
        ctx.note("answer", parsed=text_match, scores=raw, method=method)
        raw_tied = tied_top(raw, self.labels)
        # A tie has no raw answer; never the first label by default.
        raw_pred = raw_tied[0] if len(raw_tied) == 1 else None
        extra: dict[str, Any] = {
            "raw_pred": raw_pred,
            "raw_scores": raw,
            "text_pred": text_match.label,
            "score_method": method,
            "calibration": o.calibration,
        }
        if o.calibration == "none":
            if raw_pred is None:
                return Verdict(pred=None, outcome="invalid", scores=raw, extra=extra,
                               reason="raw scores tie between the top labels")
            return Verdict(pred=raw_pred, outcome="ok", scores=raw, extra=extra)

        try:
            cf_media = await asyncio.to_thread(content_free_media, sample.media)
        except (MediaError, OSError) as e:
            return Verdict(
                pred=None, outcome="error",
                reason=f"contextual calibration failed: cannot make a content-free input "
                f"under {cache_dir() / 'content-free'} ({e}); set VLMFER_CACHE_DIR to a "
                "writable folder, or use calibration='none'",
                extra=extra,
            )
        cf_prompt = prompt.model_copy(update={"media": [cf_media]})
        cf_response = await ctx.ask(cf_prompt, step="content-free")
        cf_stop = non_answer(cf_response, "content-free")
        if cf_stop is None:
            cf_match = parse(cf_response.text or "", self.labels)
            if is_refusal(cf_match):
                cf_stop = invalid("content-free", cf_response.text, cf_match)
        if cf_stop is not None:
            return Verdict(
                pred=None, outcome="error",
                reason=f"contextual calibration failed: {cf_stop.reason}",
                extra=extra,
            )
        cf_scored = await self._scores(
            cf_prompt, cf_response, ctx, "content-free", "content-free-sample", method=method
        )
        if isinstance(cf_scored, Verdict):
            return Verdict(
                pred=None, outcome="error",
                reason=f"contextual calibration failed: {cf_scored.reason}", extra=extra,
            )
        q, _ = cf_scored
        ctx.note("content-free", scores=q, method=method)
        calibrated = calibrate(raw, q)
        extra["content_free_scores"] = q
        tied = tied_top(calibrated, self.labels)
        if len(tied) > 1:
            # Calibration left several labels equally likely: the raw scores decide, and
            # if they tie too there is no answer (never the first label by default).
            tied = tied_top(raw, tied)
            if len(tied) > 1:
                return Verdict(pred=None, outcome="invalid", scores=calibrated, extra=extra,
                               reason=f"calibrated and raw scores tie between {tied}")
            extra["tie_broken_by"] = "raw_scores"
        return Verdict(pred=tied[0], outcome="ok", scores=calibrated, extra=extra)

    async def _scores(
        self,
        prompt: Prompt,
        response: Response,
        ctx: StepContext,
        step: str,
        sample_step: str,
        *,
        method: str | None = None,
    ) -> tuple[dict[str, float], str] | Verdict:
        """The label distribution behind ``response``: from its log-probabilities, or
        by sampling when there are none and ``fallback="sampling"``."""
        o = self.options
        lp = response.logprobs
        if method != "sampling" and lp:
            dist, found = label_distribution(lp, self.labels, floor=o.floor)
            if found:
                return dist, "logprobs"
            if o.fallback is None or method == "logprobs":
                shown = sorted(lp, key=lambda k: -lp[k])[:8]
                return Verdict(
                    pred=None, outcome="invalid",
                    reason=f"{step}: no label among the top log-probabilities {shown}",
                )
        elif method == "logprobs" or (method is None and o.fallback is None):
            return Verdict(
                pred=None, outcome="invalid",
                reason=f"{step}: the backend returned no log-probabilities; use a backend "
                "that gives them, or fallback='sampling'",
            )
        votes: list[str] = []
        statuses: list[str] = []
        for i in range(1, o.samples + 1):
            gen = self.generation(
                temperature=o.sampling_temperature,
                seed=i if o.seed is None else o.seed + i,
            )
            name = f"{sample_step}-{i}"
            r = await ctx.ask(prompt.model_copy(update={"options": gen}), step=name)
            if non_answer(r, name) is not None:
                statuses.append(r.status)
                continue
            m = parse(r.text or "", self.labels, finish_reason=r.finish_reason)
            ctx.note(name, parsed=m)
            statuses.append("refused" if is_refusal(m) else r.status)
            if m.label is not None:
                votes.append(m.label)
        if len(votes) * 2 <= o.samples:
            # Most samples gave no label: their few votes are no distribution to trust.
            if all(s == "refused" for s in statuses):
                return Verdict(pred=None, outcome="refused", reason=f"{step}: every sample refused")
            if all(s == "blocked" for s in statuses):
                return Verdict(pred=None, outcome="blocked", reason=f"{step}: every sample blocked")
            return Verdict(
                pred=None, outcome="invalid",
                reason=f"{step}: only {len(votes)} of the {o.samples} samples named a label",
            )
        return empirical_distribution(votes, self.labels), "sampling"
