"""The two "excluding Neutral" conventions. Always say which one you report.

- **excluding Neutral: subset**: drop the samples whose gold label is Neutral
  and keep the model's 7-way answers, so a Neutral answer counts as wrong.
- **excluding Neutral: forced six-way**: Neutral is removed from the label set;
  from per-class scores, the prediction is the best non-Neutral class. It
  cannot be computed from predicted labels alone.

Both are scored over the non-Neutral gold samples with the six non-Neutral
labels (so macro-F1 averages over those six).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from vlmfer.labels import is_tie
from vlmfer.metrics.core import (
    MetricInputError,
    check_labels,
    headline_values,
)
from vlmfer.types import NON_ANSWERS

SUBSET = "excluding Neutral: subset"
FORCED_SIX_WAY = "excluding Neutral: forced six-way"


def _other_labels(labels: Sequence[str], neutral: str) -> tuple[str, ...]:
    labs = check_labels(labels)
    if neutral not in labs:
        raise MetricInputError(
            f"labels {list(labs)} have no {neutral!r}, so there is nothing to exclude; "
            "pass neutral= with the name of the neutral class"
        )
    return tuple(lab for lab in labs if lab != neutral)


def _scores(
    y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str]
) -> dict[str, Any]:
    return {
        "n": len(y_true),
        **headline_values(y_true, y_pred, labels),
    }


def excluding_neutral_subset(
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    labels: Sequence[str],
    *,
    neutral: str = "Neutral",
) -> dict[str, Any]:
    """"excluding Neutral: subset": non-Neutral gold samples, 7-way answers kept.

    Returns ``{"convention", "available": True, "n", "accuracy", "uar",
    "macro_f1"}``. A Neutral answer (and any non-answer) counts as wrong.
    """
    others = _other_labels(labels, neutral)
    if len(y_true) != len(y_pred):
        raise MetricInputError(
            f"y_true has {len(y_true)} values but y_pred has {len(y_pred)}; "
            "they must be aligned sample by sample"
        )
    keep = [i for i, g in enumerate(y_true) if g != neutral]
    # Neutral is not among the six labels, so encode() scores it as a wrong answer.
    result = _scores([y_true[i] for i in keep], [y_pred[i] for i in keep], others)
    return {"convention": SUBSET, "available": True, **result}


#: What ``_best`` returns for a tie.
TIE = "\x00tie"


def _best(row: Mapping[str, float], labels: Sequence[str]) -> str | None:
    """The top-scoring label; ``TIE`` on a tie (never the first label by default);
    None when the row has no usable score."""
    scored = [(float(v), lab) for lab in labels
              if isinstance(v := row.get(lab), (int, float)) and not math.isnan(v)]
    if not scored:
        return None
    scored.sort(key=lambda x: -x[0])
    if len(scored) > 1 and is_tie(scored[0][0], scored[1][0]):
        return TIE
    return scored[0][1]


def forced_six_way(
    y_true: Sequence[str],
    scores: Sequence[Mapping[str, float] | None],
    labels: Sequence[str],
    *,
    y_pred: Sequence[str | None] | None = None,
    neutral: str = "Neutral",
) -> dict[str, Any]:
    """"excluding Neutral: forced six-way": the best non-Neutral class from scores.

    ``scores[i]`` maps labels to probabilities (or None). With ``y_pred``, a
    sample whose prediction is a non-answer (None or an outcome name) counts as
    wrong without needing scores; every sample that did answer needs scores.
    Without ``y_pred`` every non-Neutral sample needs scores.

    Returns ``{"convention", "available": True, "n", "accuracy", "uar",
    "macro_f1"}``, or ``{"convention", "available": False, "reason"}`` when the
    scores needed are missing: the convention cannot be computed from labels.
    """
    others = _other_labels(labels, neutral)
    if len(y_true) != len(scores) or (y_pred is not None and len(y_pred) != len(y_true)):
        raise MetricInputError(
            f"y_true ({len(y_true)}), scores ({len(scores)})"
            + (f" and y_pred ({len(y_pred)})" if y_pred is not None else "")
            + " must be aligned sample by sample"
        )
    keep = [i for i, g in enumerate(y_true) if g != neutral]
    forced: list[str | None] = []
    missing = 0
    for i in keep:
        answered = y_pred is None or (
            isinstance(y_pred[i], str) and y_pred[i] not in NON_ANSWERS
        )
        row = scores[i]
        if not answered:
            p = y_pred[i] if y_pred is not None else None
            forced.append(p if p is not None else "invalid")
            continue
        best = _best(row, others) if row is not None else None
        if best is TIE:
            forced.append("invalid")  # scores that tie name no label: a miss, not a guess
        elif best is None:
            missing += 1
            forced.append(None)
        else:
            forced.append(best)
    if missing:
        return {
            "convention": FORCED_SIX_WAY,
            "available": False,
            "reason": (
                f"{missing} of {len(keep)} non-{neutral} samples have no per-class scores for the "
                f"non-{neutral} labels; the forced six-way convention needs scores (use a strategy "
                "that records them, such as 'calibrated'), or run the 'six-class' strategy on the "
                f"non-{neutral} samples"
            ),
        }
    result = _scores([y_true[i] for i in keep], forced, others)
    return {"convention": FORCED_SIX_WAY, "available": True, **result}

