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
import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, Field, field_validator

from vlmfer.errors import MediaError
from vlmfer.labels import tied_top
from vlmfer.paths import cache_dir
from vlmfer.strategies.base import Requirements, SampleContext, Strategy, Verdict
from vlmfer.strategies.common import (
    ANSWER_SLOT,
    MORE_TOKENS,
    REASONING_MAX_TOKENS,
    BuiltinStrategy,
    CommonOptions,
    declines,
    invalid,
    is_refusal,
    non_answer,
    parse,
)
from vlmfer.strategies.content_free import FILLS, Fill, content_free_media
from vlmfer.types import Capabilities, Media, Prompt, Response, Sample

#: The smallest probability a label gets, so that calibration never divides by zero.
MIN_FLOOR = 1e-6
#: Weight of the uniform distribution mixed into the content-free prior (option
#: ``prior_smoothing``). A prior estimated from a few inputs can put ~0 on a label (a real
#: classifier gave a grey image P(Disgust) ≈ 1e-6); dividing by it would make that label
#: win everywhere. With 0.1 and 7 labels no prior value is below 0.014, so calibration
#: can multiply a label's odds by at most ~70, yet a strong bias (Neutral at 0.7) is still
#: divided out nearly in full.
PRIOR_SMOOTHING = 0.1
#: Pseudo-votes per label for the sampling fallback, added alike to the sample's and the
#: content-free votes (Laplace's rule, a uniform Dirichlet prior). One stray vote among
#: ten then moves a label's share from 1/17 to 2/17, not from 0 to 1/10, and a label
#: that neither vote set drew gets the same share in both, so it cannot rise by division.
VOTE_PSEUDOCOUNT = 1.0

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


def empirical_distribution(
    votes: Sequence[str],
    labels: Sequence[str],
    *,
    scale: float | None = None,
    pseudocount: float = VOTE_PSEUDOCOUNT,
) -> dict[str, float]:
    """Vote shares, smoothed symmetrically: every label gets ``pseudocount`` extra votes.

    The shares are first put on a common scale of ``scale`` votes (default: the number
    of votes), so two vote sets with a different number of unparseable answers are
    smoothed alike, and a label nobody voted for gets the same share in both.
    """
    if not votes:
        return {x: 1.0 / len(labels) for x in labels}
    n = len(votes)
    k = float(n if scale is None else scale)
    counts = {x: k * sum(1 for v in votes if v == x) / n + pseudocount for x in labels}
    return normalise(counts)


def normalise(d: Mapping[str, float]) -> dict[str, float]:
    s = sum(d.values())
    return {k: v / s for k, v in d.items()}


def smooth(q: Mapping[str, float], weight: float) -> dict[str, float]:
    """Mix ``weight`` of the uniform distribution into ``q``."""
    u = 1.0 / len(q)
    return {x: (1.0 - weight) * v + weight * u for x, v in q.items()}


def mean_distribution(dists: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The average of several distributions over the same labels."""
    return normalise({x: sum(d[x] for d in dists) / len(dists) for x in dists[0]})


def calibrate(
    p: Mapping[str, float], q: Mapping[str, float], ranked: Sequence[str] | None = None
) -> dict[str, float]:
    """Contextual calibration: divide out the content-free distribution ``q``.

    With ``ranked`` (the labels the sample's own answer ranked or voted for), a label
    outside it scores at most what the least of them scores: its ``p`` is only a floor,
    so dividing it by a small ``q`` says nothing, and it must never win.
    """
    out = {x: p[x] / max(q[x], MIN_FLOOR) for x in p}
    inside = [x for x in (ranked or ()) if x in out]
    if inside:
        cap = min(out[x] for x in inside)
        out = {x: v if x in inside else min(v, cap) for x, v in out.items()}
    return normalise(out)


def argmax(d: Mapping[str, float], labels: Sequence[str]) -> str:
    """The most probable label; ties go to the earlier label in ``labels``."""
    return max(labels, key=lambda x: (d[x], -labels.index(x)))


class CalibratedOptions(CommonOptions):
    """Options of ``calibrated``."""

    #: "contextual": divide out a content-free input's distribution; "none": raw scores.
    calibration: Literal["contextual", "none"] = "contextual"
    #: The content-free inputs whose distributions are averaged into the prior.
    content_free: tuple[Fill, ...] = FILLS
    #: Weight of the uniform distribution mixed into the content-free prior.
    prior_smoothing: float = Field(default=PRIOR_SMOOTHING, ge=0.0, le=1.0)
    #: How many top log-probabilities to ask for (the APIs allow at most 20).
    top_logprobs: int = Field(default=20, ge=1, le=20)
    #: Probability given to a label missing from the top-k (None: the rule above).
    floor: float | None = Field(default=None, gt=0.0, lt=1.0)
    #: Without log-probabilities: "sampling" draws ``samples`` answers instead.
    fallback: Literal["sampling"] | None = None
    samples: int = Field(default=10, ge=2, le=100)
    sampling_temperature: float = Field(default=1.0, gt=0.0)

    @field_validator("content_free")
    @classmethod
    def _check_content_free(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError(f"name at least one content-free input of {list(FILLS)}")
        if len(set(v)) != len(v):
            raise ValueError(f"content-free inputs repeat: {list(v)}")
        return v


class Scores(NamedTuple):
    """A label distribution, how it was measured, and the labels the answer itself
    ranked (top-k log-probabilities) or voted for (sampling)."""

    dist: dict[str, float]
    method: str
    ranked: list[str]


#: ``extra["calibration_status"]`` when no content-free input was answered.
UNCALIBRATED = "uncalibrated: no content-free answer"


class Calibrated(BuiltinStrategy):
    """Label scores from first-token log-probabilities, calibrated against content-free
    inputs; ``pred`` is the calibrated argmax, ``extra["raw_pred"]`` the uncalibrated one."""

    name: ClassVar[str] = "calibrated"
    Options: ClassVar[type[BaseModel]] = CalibratedOptions
    options: CalibratedOptions
    template_slots: ClassVar[dict[str, tuple[str, str, str]]] = {"answer": ANSWER_SLOT}

    def requirements(self) -> Requirements:
        return Requirements(logprobs=self.options.fallback is None)

    def adapt(self, capabilities: Capabilities) -> tuple[Strategy, str] | None:
        """Without log-probabilities, the sampling fallback: said at start-up, not mid-run."""
        if capabilities.logprobs or self.options.fallback is not None:
            return None
        variant = copy.copy(self)
        variant.options = self.options.model_copy(update={"fallback": "sampling"})
        return variant, (
            f"{self.name}: the predictor returns no log-probabilities, so class scores come "
            f"from the sampling fallback ({self.options.samples} answers at temperature "
            f"{self.options.sampling_temperature:g} per input; strategy.fallback=sampling)")

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        o = self.options
        out["content_free_inputs"] = list(o.content_free) if o.calibration != "none" else []
        return out

    async def decide(self, sample: Sample, ctx: SampleContext) -> Verdict:
        o = self.options
        gen = self.generation(logprobs=True, top_logprobs=o.top_logprobs)
        prompt, response, step = await self.ask_slot("answer", sample, ctx, labels=self.labels,
                                                      options=gen)
        stop = non_answer(response, "answer")
        if stop is not None:
            return stop
        text_match = parse(response.text or "", self.labels, finish_reason=response.finish_reason)
        if is_refusal(text_match) or declines(text_match):
            ctx.note(step, parsed=text_match)
            return invalid("answer", response.text, text_match)
        prompt = _sent(prompt, step)
        scored = await self._scores(prompt, response, ctx, "answer", "sample")
        if isinstance(scored, Verdict):
            ctx.note(step, parsed=text_match)
            return scored
        raw, method, ranked = scored
        ctx.note(step, parsed=text_match, scores=raw, method=method, ranked=ranked)
        raw_pred = _top(raw, ranked)
        extra: dict[str, Any] = {
            "raw_pred": raw_pred,
            "raw_scores": raw,
            "text_pred": text_match.label,
            "score_method": method,
            "calibration": o.calibration,
        }
        if o.calibration == "none":
            return _raw_verdict(raw, raw_pred, extra)

        try:
            cf_media = await asyncio.to_thread(
                lambda: [(fill, content_free_media(sample.media, fill)) for fill in o.content_free]
            )
        except (MediaError, OSError) as e:
            return Verdict(
                pred=None, outcome="error",
                reason=f"contextual calibration failed: cannot make a content-free input "
                f"under {cache_dir() / 'content-free'} ({e}); set VLMFER_CACHE_DIR to a "
                "writable folder, or use calibration='none'",
                extra=extra,
            )
        # Asked one after another, so that every run records the steps in the same order
        # (a batch run takes one round per input; the requests are shared by every sample).
        answers = [await self._content_free(prompt, fill, media, ctx, method)
                   for fill, media in cf_media]
        priors = {fill: a for (fill, _), a in zip(cf_media, answers, strict=True)
                  if not isinstance(a, str)}
        extra["content_free"] = {
            "inputs": list(o.content_free),
            "used": list(priors),
            "failed": {fill: a for (fill, _), a in zip(cf_media, answers, strict=True)
                       if isinstance(a, str)},
            "prior_smoothing": o.prior_smoothing,
        }
        if not priors:
            # Calibration was impossible, the answer was not: keep it, and say so.
            extra["calibration_status"] = UNCALIBRATED
            return _raw_verdict(raw, raw_pred, extra)
        q = smooth(mean_distribution(list(priors.values())), o.prior_smoothing)
        calibrated = calibrate(raw, q, ranked)
        extra["content_free_scores"] = q
        extra["calibration_status"] = f"calibrated over {', '.join(priors)}"
        tied = tied_top({x: calibrated[x] for x in ranked}, ranked)
        if len(tied) > 1:
            # Calibration left several labels equally likely: the raw scores decide, and
            # if they tie too there is no answer (never the first label by default).
            tied = tied_top(raw, tied)
            if len(tied) > 1:
                return Verdict(pred=None, outcome="invalid", scores=calibrated, extra=extra,
                               reason=f"calibrated and raw scores tie between {tied}")
            extra["tie_broken_by"] = "raw_scores"
        return Verdict(pred=tied[0], outcome="ok", scores=calibrated, extra=extra)

    async def _content_free(
        self, prompt: Prompt, fill: str, media: Media, ctx: SampleContext, method: str
    ) -> dict[str, float] | str:
        """One content-free input's distribution, or why it has none."""
        cf_prompt = prompt.model_copy(update={"media": [media]})
        response, step = await self.ask(ctx, cf_prompt, step=f"content-free-{fill}")
        stop = non_answer(response, step)
        if stop is None:
            match = parse(response.text or "", self.labels)
            if is_refusal(match):
                stop = invalid(step, response.text, match)
        if stop is not None:
            ctx.note(step, content_free=fill)
            return f"{stop.outcome}: {stop.reason}"
        scored = await self._scores(_sent(cf_prompt, step), response, ctx, step,
                                    f"content-free-{fill}-sample", method=method)
        if isinstance(scored, Verdict):
            ctx.note(step, content_free=fill)
            return f"{scored.outcome}: {scored.reason}"
        ctx.note(step, content_free=fill, scores=scored.dist, method=scored.method)
        return scored.dist

    async def _scores(
        self,
        prompt: Prompt,
        response: Response,
        ctx: SampleContext,
        step: str,
        sample_step: str,
        *,
        method: str | None = None,
    ) -> Scores | Verdict:
        """The label distribution behind ``response``: from its log-probabilities, or
        by sampling when there are none and ``fallback="sampling"``."""
        o = self.options
        lp = response.logprobs
        if method != "sampling" and lp:
            dist, found = label_distribution(lp, self.labels, floor=o.floor)
            if found:
                return Scores(dist, "logprobs", found)
            if o.fallback is None or method == "logprobs":
                shown = sorted(lp, key=lambda k: -lp[k])[:8]
                return Verdict(
                    pred=None, outcome="invalid",
                    reason=f"{step}: no label among the top log-probabilities {shown}",
                )
        elif method == "logprobs" or (method is None and o.fallback is None):
            return Verdict(
                pred=None, outcome="invalid",
                reason=f"{step}: the predictor returned no log-probabilities; use a "
                "predictor that gives them, or strategy.fallback=sampling",
            )
        votes: list[str] = []
        statuses: list[str] = []
        for i in range(1, o.samples + 1):
            gen = prompt.options.model_copy(update={
                "temperature": o.sampling_temperature,
                "seed": i if o.seed is None else o.seed + i,
                "logprobs": False, "top_logprobs": None,
            })
            r, name = await self.ask(
                ctx, prompt.model_copy(update={"options": gen}), step=f"{sample_step}-{i}"
            )
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
        dist = empirical_distribution(votes, self.labels, scale=o.samples)
        return Scores(dist, "sampling", [x for x in self.labels if x in votes])


def _sent(prompt: Prompt, step: str) -> Prompt:
    """``prompt`` as the step that answered it was sent: a model that needed more tokens
    once gets them for the follow-up asks (samples, content-free inputs) right away."""
    if step.endswith(MORE_TOKENS):
        options = prompt.options.model_copy(update={"max_tokens": REASONING_MAX_TOKENS})
        return prompt.model_copy(update={"options": options})
    return prompt


def _top(scores: Mapping[str, float], ranked: Sequence[str]) -> str | None:
    """The best of the ``ranked`` labels; None when two tie (never the first by default)."""
    tied = tied_top(scores, ranked)
    return tied[0] if len(tied) == 1 else None


def _raw_verdict(raw: dict[str, float], raw_pred: str | None, extra: dict[str, Any]) -> Verdict:
    if raw_pred is None:
        return Verdict(pred=None, outcome="invalid", scores=raw, extra=extra,
                       reason="raw scores tie between the top labels")
    return Verdict(pred=raw_pred, outcome="ok", scores=raw, extra=extra)
