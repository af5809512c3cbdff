"""``summarize``: every number of ``metrics.json``, from predictions alone.

The result is plain JSON (ints, floats, strings, lists, dicts; NaN becomes
null) and is the same for the same predictions, labels and seed.
docs/metrics.md has the field reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel

from vlmfer.metrics.calibration import predictions_from_scores
from vlmfer.metrics.core import (
    NON_ANSWER_COLUMNS,
    CmStat,
    MetricInputError,
    check_labels,
    cm_accuracy,
    cm_cohen_kappa,
    cm_column_rate,
    cm_macro_f1,
    cm_uar,
    encode,
    per_class_from_counts,
)
from vlmfer.metrics.neutral import excluding_neutral_subset, forced_six_way
from vlmfer.metrics.stats import bootstrap_distribution, percentile_interval
from vlmfer.types import OUTCOMES, Prediction

HEADLINE: dict[str, CmStat] = {"accuracy": cm_accuracy, "uar": cm_uar, "macro_f1": cm_macro_f1}
_USAGE_FIELDS = ("input_tokens", "output_tokens", "thinking_tokens", "cached_input_tokens")


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(obj, BaseModel):
        return to_jsonable(obj.model_dump())
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


def _as_prediction(p: Prediction | Mapping[str, Any], index: int) -> Prediction:
    if isinstance(p, Prediction):
        return p
    try:
        return Prediction.model_validate(p)
    except ValueError as exc:
        raise MetricInputError(f"prediction #{index} is not a valid Prediction: {exc}") from exc


def _answer(p: Prediction) -> str:
    return p.pred if p.outcome == "ok" and p.pred is not None else p.outcome


def _check(preds: list[Prediction], labels: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for p in preds:
        if p.sample_id in seen:
            raise MetricInputError(
                f"sample {p.sample_id!r} appears more than once in the predictions; each sample "
                "must be scored once (keep the last line for it, or re-run to repair the run)"
            )
        seen.add(p.sample_id)
        if p.gold is not None and p.gold not in labels:
            raise MetricInputError(
                f"sample {p.sample_id!r}: gold label {p.gold!r} is not one of labels "
                f"{list(labels)}; pass the dataset's full label set"
            )
        if p.outcome == "ok" and p.pred not in labels:
            raise MetricInputError(
                f"sample {p.sample_id!r}: predicted label {p.pred!r} is not one of labels "
                f"{list(labels)}; a strategy must return a label of the set or a non-answer "
                "outcome, so pass the label set the run used"
            )


def _usage_and_cost(preds: list[Prediction]) -> tuple[dict[str, int], dict[str, Any]]:
    usage = dict.fromkeys((*_USAGE_FIELDS, "calls", "cached_calls"), 0)
    total = 0.0
    billed = known = 0
    for p in preds:
        for s in p.steps:
            for f in _USAGE_FIELDS:
                usage[f] += int(getattr(s.usage, f))
            usage["calls"] += 1
            if s.cached:
                # Served from the cache: nothing was paid for it in this run.
                usage["cached_calls"] += 1
                continue
            billed += 1
            if s.cost_usd is not None:
                known += 1
                total += s.cost_usd
        if not p.steps and p.cost_usd is not None:
            total += p.cost_usd
    cost = {
        "cost_usd": round(total, 10) if known == billed else None,
        "cost_known_calls": known,
    }
    return usage, cost


def _scalar_block(y_true: list[str], y_pred: list[str | None], labels: tuple[str, ...],
                  neutral_col: int | None) -> dict[str, Any]:
    cm = encode(y_true, y_pred, labels).counts()
    return {
        "accuracy": float(cm_accuracy(cm)),
        "uar": float(cm_uar(cm)),
        "macro_f1": float(cm_macro_f1(cm)),
        "neutral_rate": None if neutral_col is None else float(cm_column_rate(cm, neutral_col)),
    }


def _raw_scores(p: Prediction) -> dict[str, float] | None:
    """The uncalibrated scores: batch calibration must start from the model's own.

    A strategy that already calibrated (``calibrated`` divides out a content-free
    input) keeps the raw distribution in ``extra["raw_scores"]``.
    """
    raw = p.extra.get("raw_scores") if isinstance(p.extra, dict) else None
    if isinstance(raw, dict) and raw:
        return {str(k): float(v) for k, v in raw.items()}
    return p.scores


def _calibration(
    preds: list[Prediction],
    scored: list[Prediction],
    labels: tuple[str, ...],
    neutral_col: int | None,
) -> dict[str, Any] | None:
    raw = [_raw_scores(p) for p in preds]
    if not any(s is not None for s in raw):
        return None
    # The prior is label-free, so it is estimated over every prediction with scores.
    sp = predictions_from_scores(raw, labels)
    index = {p.sample_id: i for i, p in enumerate(preds)}
    y_true = [str(p.gold) for p in scored]

    def column(source: list[str | None]) -> list[str | None]:
        out: list[str | None] = []
        for p in scored:
            v = source[index[p.sample_id]]
            # No scores: a non-answer stays its outcome; an answer without scores is invalid.
            # A non-answer stays its outcome even when it carries scores; an answer without
            # usable scores is invalid.
            out.append(p.outcome if p.outcome != "ok" else v)
        return out

    return {
        "method": "batch calibration (Zhou et al. 2024): scores divided by their run mean",
        "n_with_scores": sp.n_scored,
        "prior": sp.prior,
        "raw_argmax": _scalar_block(y_true, column(sp.raw), labels, neutral_col),
        "batch_calibrated": _scalar_block(y_true, column(sp.calibrated), labels, neutral_col),
    }


def summarize(
    predictions: Iterable[Prediction | Mapping[str, Any]],
    labels: Sequence[str],
    *,
    seed: int = 0,
    n_boot: int = 1000,
    neutral: str = "Neutral",
    level: float = 0.95,
) -> dict[str, Any]:
    """All the numbers of ``metrics.json`` for a run's predictions.

    ``labels`` is the run's ordered label set. Predictions without a gold label
    are counted (``n_unlabelled``, ``outcomes``, ``usage``, cost) but not scored.
    Non-answers count as wrong and appear under their outcome names. Raises
    ``MetricInputError`` for a repeated sample id, or a gold or predicted label
    outside ``labels``.
    """
    labs = check_labels(labels)
    if not labs:
        raise MetricInputError("labels is empty; pass the run's label set, e.g. CAER_LABELS")
    preds = [_as_prediction(p, i) for i, p in enumerate(predictions)]
    _check(preds, labs)
    scored = [p for p in preds if p.gold is not None]
    y_true = [str(p.gold) for p in scored]
    y_pred: list[str | None] = [_answer(p) for p in scored]
    cm = encode(y_true, y_pred, labs).counts()
    n = len(scored)

    boot = bootstrap_distribution(cm, HEADLINE, n_boot=n_boot, seed=seed)
    ci = {name: list(percentile_interval(values, level)) for name, values in boot.items()}

    has_neutral = neutral in labs
    neutral_col = labs.index(neutral) if has_neutral else None
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)

    excluding: dict[str, Any] | None = None
    if has_neutral:
        excluding = {
            "subset": excluding_neutral_subset(y_true, y_pred, labs, neutral=neutral),
            "forced_six_way": forced_six_way(
                y_true, [p.scores for p in scored], labs, y_pred=y_pred, neutral=neutral
            ),
        }

    usage, cost = _usage_and_cost(preds)
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for p in preds:
        outcomes[p.outcome] += 1

    columns = [*labs, *NON_ANSWER_COLUMNS]
    result: dict[str, Any] = {
        "n": n,
        "n_unlabelled": len(preds) - n,
        "accuracy": float(cm_accuracy(cm)),
        "uar": float(cm_uar(cm)),
        "macro_f1": float(cm_macro_f1(cm)),
        "cohen_kappa": float(cm_cohen_kappa(cm)),
        "ci": ci,
        "bootstrap": {"n_boot": n_boot, "seed": seed, "level": level, "method": "percentile"},
        "per_class": per_class_from_counts(cm, labs),
        "confusion_matrix": {"labels": list(labs), "columns": columns, "matrix": cm.tolist()},
        "neutral_rate": (
            None if neutral_col is None else float(cm_column_rate(cm, neutral_col))
        ),
        "gold_neutral_rate": (
            None if neutral_col is None else (support[neutral_col] / n if n else None)
        ),
        "outcomes": outcomes,
        "excluding_neutral": excluding,
        "usage": usage,
        **cost,
        "predicted_distribution": {c: int(predicted[j]) for j, c in enumerate(columns)},
        "gold_distribution": {lab: int(support[i]) for i, lab in enumerate(labs)},
        "calibration": _calibration(preds, scored, labs, neutral_col),
    }
    out: dict[str, Any] = to_jsonable(result)
    return out
