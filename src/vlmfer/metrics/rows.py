"""The run summary's view of a prediction: a compact row with only what the metrics read.

A ``Prediction`` line holds the texts sent and received, prompts and parsed answers; the
metrics read none of them. ``summarize`` turns each prediction into a ``Row`` as it
streams past, so a 20 000-sample run holds a few hundred bytes a sample instead of the
pydantic records (about 4 KB a sample): repeated strings are interned and equal
``details`` dicts shared.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from vlmfer.types import Outcome, Prediction, Step

#: The ``extra`` keys the metrics read: the raw scores and calibration method of a
#: calibrated answer, the ranked answer of an imported top-k list.
EXTRA_KEYS = ("raw_scores", "calibration", "ranked")
_NOTHING: Mapping[str, Any] = MappingProxyType({})


class UsageRow(NamedTuple):
    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    cached_input_tokens: int = 0


@dataclass(frozen=True, slots=True)
class StepRow:
    """What the metrics read of a step: model and snapshot, cache and simulator flags,
    usage, cost, and the request parameters sent or dropped (``details``)."""

    model: str
    model_version: str | None
    cached: bool
    simulated: bool
    cost_usd: float | None
    usage: UsageRow
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Row:
    """What the metrics read of a prediction (the fields keep ``Prediction``'s names)."""

    sample_id: str
    gold: str | None
    pred: str | None
    outcome: Outcome
    #: Kept for errors only: ``error_reasons`` counts them.
    reason: str | None
    steps: tuple[StepRow, ...]
    scores: dict[str, float] | None
    cost_usd: float | None
    extra: Mapping[str, Any]
    group: str | None


def _intern(text: str | None) -> str | None:
    return None if text is None else sys.intern(text)


class RowMaker:
    """Turns predictions into rows, sharing what repeats across them."""

    def __init__(self) -> None:
        self._details: dict[str, Mapping[str, Any]] = {}

    def __call__(self, p: Prediction) -> Row:
        extra = {k: p.extra[k] for k in EXTRA_KEYS if k in p.extra}
        return Row(
            sample_id=p.sample_id,
            gold=_intern(p.gold),
            pred=_intern(p.pred),
            outcome=p.outcome,
            reason=p.reason if p.outcome == "error" else None,
            steps=tuple(self._step(s) for s in p.steps),
            scores=p.scores,
            cost_usd=p.cost_usd,
            extra=extra or _NOTHING,
            group=_intern(p.group),
        )

    def _step(self, s: Step) -> StepRow:
        u = s.usage
        return StepRow(
            model=sys.intern(s.model),
            model_version=_intern(s.model_version),
            cached=s.cached,
            simulated=s.simulated,
            cost_usd=s.cost_usd,
            usage=UsageRow(u.input_tokens, u.output_tokens, u.thinking_tokens,
                           u.cached_input_tokens),
            details=self._shared({k: s.details[k] for k in ("sent", "dropped")
                                  if k in s.details}),
        )

    def _shared(self, details: dict[str, Any]) -> Mapping[str, Any]:
        if not details:
            return _NOTHING
        key = json.dumps(details, sort_keys=True, default=str)
        kept = self._details.get(key)
        if kept is None:
            kept = self._details[key] = MappingProxyType(details)
        return kept
