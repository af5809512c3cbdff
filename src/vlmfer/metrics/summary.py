"""``summarize``: every number of ``metrics.json``, from predictions alone.

The result is plain JSON (ints, floats, strings, lists, dicts; NaN becomes
null) and is the same for the same predictions, labels and seed.
docs/metrics.md has the field reference.

Every named metric, built-in or plugin, takes the same path: it is looked up
in the plugin registry, computed under its registered name, and, when it is a
single number, bootstrapped into ``ci``.
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from vlmfer.metrics.calibration import predictions_from_scores
from vlmfer.metrics.core import (
    NON_ANSWER_COLUMNS,
    CmStat,
    IntArray,
    MetricInputError,
    check_labels,
    counts_form_of,
    encode,
    headline_values,
    neutral_rate,
    point_value,
)
from vlmfer.metrics.neutral import excluding_neutral_subset, forced_six_way
from vlmfer.metrics.provenance import provenance
from vlmfer.metrics.rows import Row, RowMaker
from vlmfer.metrics.stats import (
    bootstrap_distribution,
    group_index,
    is_scalar,
    percentile_interval,
    resampled_values,
    resolve_metric,
)
from vlmfer.metrics.topk import top_k_summary
from vlmfer.types import OUTCOMES, Prediction

#: The metrics every metrics.json holds, in this order. A run's ``metrics`` add to them.
DEFAULT_METRICS: tuple[str, ...] = (
    "accuracy", "uar", "macro_f1", "cohen_kappa", "neutral_rate", "per_class", "confusion_matrix",
)
#: The figures of ``answered_only`` (besides ``war``, the same number as ``accuracy``).
ANSWERED_METRICS: tuple[str, ...] = ("accuracy", "uar", "macro_f1")
#: Outcomes that are an answer from the model: ``invalid`` named no label of the set.
ANSWERED_OUTCOMES: tuple[str, ...] = ("ok", "invalid")

#: The conventions, named in metrics.json as they are in docs/metrics.md.
CONVENTIONS: dict[str, str] = {
    "headline": (
        "n is every sample with a gold label; a non-answer (invalid, refused, blocked, error) "
        "counts as wrong in accuracy (= war), uar, macro_f1, cohen_kappa, per_class and "
        "excluding_neutral, and is in the denominator of neutral_rate"
    ),
    "answered_only": (
        "only the samples the model answered (outcome ok or invalid; an answer outside the "
        "label set is answered and wrong); refused, blocked and error samples are left out, as "
        "most published zero-shot tables do"
    ),
    "errors": (
        "an error is an infrastructure failure, not a model answer: it counts as wrong in the "
        "headline figures, is left out of answered_only, and is counted in outcomes.error with "
        "its reasons in error_reasons; a run with errors exits with code 1"
    ),
    "war": "war is accuracy: weighted average recall, the share of samples answered correctly",
}
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


def answer_of(p: Prediction | Row) -> str:
    """What a prediction answered, as metrics see it: the label, or the outcome of a
    non-answer (``invalid``, ``refused``, ``blocked``, ``error``)."""
    return p.pred if p.outcome == "ok" and p.pred is not None else p.outcome


def _check(preds: list[Row], labels: tuple[str, ...]) -> None:
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


def _usage_and_cost(preds: list[Row]) -> tuple[dict[str, int], dict[str, Any]]:
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
                  neutral: str | None) -> dict[str, Any]:
    counts = encode(y_true, y_pred, labels).counts()
    block: dict[str, Any] = headline_values(y_true, y_pred, labels, counts=counts)
    block["neutral_rate"] = None if neutral is None else point_value(
        neutral_rate, y_true, y_pred, labels=labels, counts=counts, neutral=neutral)
    return block


def _raw_scores(p: Row) -> dict[str, float] | None:
    """The uncalibrated scores: batch calibration must start from the model's own.

    A strategy that already calibrated (``calibrated`` divides out a content-free
    input) keeps the raw distribution in ``extra["raw_scores"]``.
    """
    raw = p.extra.get("raw_scores")
    if isinstance(raw, dict) and raw:
        return {str(k): float(v) for k, v in raw.items()}
    return p.scores


def _calibration_of(p: Row) -> str | None:
    """What turned the model's scores into ``p.scores``: ``"none"`` when they are the
    model's own, the strategy's recorded method (e.g. ``"contextual"``) when they
    differ from the raw ones, None without scores."""
    if p.scores is None:
        return None
    raw = _raw_scores(p)
    if raw is None or raw == p.scores:
        return "none"
    named = p.extra.get("calibration")
    return named if isinstance(named, str) and named != "none" else "calibrated"


_METHODS = {
    "none": "none: the run's answers are the argmax of the model's own scores",
    "contextual": (
        "contextual calibration (Zhao et al. 2021): the run's answers are the argmax of the "
        "scores divided by the model's distribution on content-free input"
    ),
}
BATCH_METHOD = (
    "batch calibration (Zhou et al. 2024), applied at report time to the raw scores: "
    "scores divided by their run mean"
)


def _method_text(counts: Mapping[str, int]) -> str:
    if len(counts) == 1:
        (name,) = counts
        return _METHODS.get(name, f"{name}: as recorded by the strategy")
    return "mixed: " + ", ".join(f"{k} ({v})" for k, v in sorted(counts.items()))


def _calibration(
    preds: list[Row],
    scored: list[Row],
    labels: tuple[str, ...],
    neutral: str | None,
) -> dict[str, Any] | None:
    raw = [_raw_scores(p) for p in preds]
    if not any(s is not None for s in raw):
        return None
    # The prior is label-free, so it is estimated over every prediction with scores.
    sp = predictions_from_scores(raw, labels)
    index = {p.sample_id: i for i, p in enumerate(preds)}
    y_true = [str(p.gold) for p in scored]

    def column(source: list[str | None]) -> list[str | None]:
        # A non-answer stays its outcome even when it carries scores; an answer without
        # usable scores is invalid.
        return [p.outcome if p.outcome != "ok" else source[index[p.sample_id]] for p in scored]

    methods = Counter(m for p in preds if (m := _calibration_of(p)) is not None)
    return {
        "method": _method_text(methods) if methods else _METHODS["none"],
        "methods": dict(sorted(methods.items())),
        "batch_method": BATCH_METHOD,
        "n_with_scores": sp.n_scored,
        "prior": sp.prior,
        "raw_argmax": _scalar_block(y_true, column(sp.raw), labels, neutral),
        "batch_calibrated": _scalar_block(y_true, column(sp.calibrated), labels, neutral),
    }


def _forced_scores_kind(scored: list[Row]) -> str | None:
    """Whether forced six-way read calibrated or raw scores (the run's final ones)."""
    kinds = {_calibration_of(p) for p in scored} - {None}
    if not kinds:
        return None
    if kinds == {"none"}:
        return "raw"
    return "calibrated" if "none" not in kinds else "mixed"


_STRUCTURAL = frozenset({
    "n", "n_unlabelled", "war", "ci", "bootstrap", "ci_resampling", "n_groups",
    "gold_neutral_rate", "outcomes", "error_reasons", "excluding_neutral", "answered_only",
    "usage", "cost_usd", "cost_known_calls", "predicted_distribution", "gold_distribution",
    "calibration", "conventions", "metrics", "top_k",
    "model_snapshots", "mixed_snapshots", "simulated", "sent_parameters",
})


def metric_names(metrics: Sequence[str] | None) -> tuple[str, ...]:
    """The default metrics followed by ``metrics`` (repeats dropped, order kept).

    Raises ``MetricInputError`` for a name that would overwrite another field of
    metrics.json.
    """
    names = tuple(dict.fromkeys([*DEFAULT_METRICS, *(metrics or ())]))
    clash = [n for n in names if n in _STRUCTURAL]
    if clash:
        raise MetricInputError(
            f"metric name(s) {clash} would overwrite the metrics.json field of that name; "
            f"register the metric under another name (taken: {', '.join(sorted(_STRUCTURAL))})"
        )
    return names


def _run_kwargs(fn: Callable[..., Any], neutral: str) -> dict[str, Any]:
    """Run-level options a metric declares that it takes (today: ``neutral``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    return {"neutral": neutral} if "neutral" in params else {}


@dataclass(frozen=True)
class _Options:
    n_boot: int
    seed: int
    level: float
    neutral: str


class _Scorer:
    """Computes named metrics, with bootstrap intervals, on one set of samples."""

    def __init__(self, y_true: list[str], y_pred: list[str | None], labels: tuple[str, ...],
                 groups: IntArray | None, options: _Options, registry: Any = None) -> None:
        self.y_true, self.y_pred, self.labels = y_true, y_pred, labels
        self.groups, self.n_boot, self.seed = groups, options.n_boot, options.seed
        self.level, self.neutral = options.level, options.neutral
        self.registry = registry

    def score(self, names: Sequence[str]) -> tuple[dict[str, Any], dict[str, list[float]]]:
        values: dict[str, Any] = {}
        forms: dict[str, CmStat] = {}
        generic: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {}
        enc = encode(self.y_true, self.y_pred, self.labels)
        counts = enc.counts()
        for name in names:
            fn = resolve_metric(name, registry=self.registry)
            kwargs = _run_kwargs(fn, self.neutral)
            try:
                value = point_value(fn, self.y_true, self.y_pred, labels=self.labels,
                                    counts=counts, **kwargs)
            except MetricInputError:
                raise
            except Exception as exc:
                raise MetricInputError(
                    f"metric {name!r} failed on this run's predictions: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            values[name] = value
            if not is_scalar(value):
                continue  # a table (confusion_matrix, per_class) has no interval
            stat = counts_form_of(fn, self.labels, kwargs, True)
            if stat is not None:
                forms[name] = stat
            else:
                generic[name] = (fn, kwargs)
        ci: dict[str, list[float]] = {}
        if forms:
            boot = bootstrap_distribution(
                counts, forms, n_boot=self.n_boot, seed=self.seed,
                cells=enc.true * enc.n_columns + enc.pred, groups=self.groups,
            )
            ci.update({k: list(percentile_interval(v, self.level)) for k, v in boot.items()})
        for name, (fn, kwargs) in generic.items():
            draws = resampled_values(fn, [self.y_true, self.y_pred], self.labels, self.n_boot,
                                  self.seed, kwargs, self.groups)[0]
            ci[name] = list(percentile_interval(draws, self.level))
        return values, {name: ci[name] for name in names if name in ci}


def _with_war(values: dict[str, Any], ci: dict[str, list[float]]) -> None:
    """``war`` next to ``accuracy``: the docs' name for the same number."""
    if "accuracy" in values:
        values["war"] = values["accuracy"]
    if "accuracy" in ci:
        ci["war"] = ci["accuracy"]


def _answered_only(scored: list[Row], labels: tuple[str, ...], groups: Sequence[Any],
                   options: _Options) -> dict[str, Any]:
    keep = [i for i, p in enumerate(scored) if p.outcome in ANSWERED_OUTCOMES]
    y_true = [str(scored[i].gold) for i in keep]
    y_pred: list[str | None] = [answer_of(scored[i]) for i in keep]
    gidx = group_index([groups[i] for i in keep], len(keep))
    values, ci = _Scorer(y_true, y_pred, labels, gidx, options).score(ANSWERED_METRICS)
    _with_war(values, ci)
    return {"n": len(keep), "left_out": len(scored) - len(keep), **values, "ci": ci}


def _error_reasons(preds: list[Row]) -> dict[str, int]:
    reasons = Counter((p.reason or "(no reason recorded)") for p in preds if p.outcome == "error")
    return dict(reasons.most_common())


def summarize(
    predictions: Iterable[Prediction | Mapping[str, Any]],
    labels: Sequence[str],
    *,
    metrics: Sequence[str] | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    neutral: str = "Neutral",
    level: float = 0.95,
    registry: Any = None,
) -> dict[str, Any]:
    """All the numbers of ``metrics.json`` for a run's predictions.

    ``labels`` is the run's ordered label set. ``metrics`` names registered
    metrics (built-in or plugin) to compute in addition to ``DEFAULT_METRICS``;
    each is looked up with ``vlmfer.get_metric``, stored under its registered
    name, and, when it returns one number, given a bootstrap interval in ``ci``.
    Predictions without a gold label are counted (``n_unlabelled``,
    ``outcomes``, ``usage``, cost) but not scored. Non-answers count as wrong
    and appear under their outcome names; ``answered_only`` leaves them out.
    When predictions carry a ``group``, intervals resample whole groups.
    Raises ``MetricInputError`` for a repeated sample id, or a gold or predicted
    label outside ``labels``; ``UnknownMetricError`` for an unregistered name.
    ``registry`` is the plugin registry to look names up in (default: the
    process-wide one).
    """
    labs = check_labels(labels)
    if not labs:
        raise MetricInputError("labels is empty; pass the run's label set, e.g. CAER_LABELS")
    names = metric_names(metrics)
    # One compact row a sample, made as the predictions stream past (see metrics.rows).
    row = RowMaker()
    preds = [row(_as_prediction(p, i)) for i, p in enumerate(predictions)]
    _check(preds, labs)
    scored = [p for p in preds if p.gold is not None]
    y_true = [str(p.gold) for p in scored]
    y_pred: list[str | None] = [answer_of(p) for p in scored]
    cm = encode(y_true, y_pred, labs).counts()
    n = len(scored)
    groups = [p.group for p in scored]
    gidx = group_index(groups, n)
    options = _Options(n_boot=n_boot, seed=seed, level=level, neutral=neutral)
    values, ci = _Scorer(y_true, y_pred, labs, gidx, options, registry).score(names)
    _with_war(values, ci)

    has_neutral = neutral in labs
    neutral_col = labs.index(neutral) if has_neutral else None
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)

    excluding: dict[str, Any] | None = None
    if has_neutral:
        forced = forced_six_way(
            y_true, [p.scores for p in scored], labs, y_pred=y_pred, neutral=neutral
        )
        kind = _forced_scores_kind(scored)
        if kind is not None:
            # The run's final scores: calibrated for a calibrated run, since the
            # calibration is what such a run measures.
            forced["scores"] = kind
        excluding = {
            "subset": excluding_neutral_subset(y_true, y_pred, labs, neutral=neutral),
            "forced_six_way": forced,
        }

    usage, cost = _usage_and_cost(preds)
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for p in preds:
        outcomes[p.outcome] += 1

    columns = [*labs, *NON_ANSWER_COLUMNS]
    n_groups = None if gidx is None else int(gidx.max()) + 1
    result: dict[str, Any] = {
        "n": n,
        "n_unlabelled": len(preds) - n,
        **values,
        "ci": ci,
        "bootstrap": {"n_boot": n_boot, "seed": seed, "level": level, "method": "percentile"},
        "ci_resampling": "samples" if gidx is None else "groups",
        "n_groups": n_groups,
        "metrics": list(names),
        "gold_neutral_rate": (
            None if neutral_col is None else (support[neutral_col] / n if n else None)
        ),
        "outcomes": outcomes,
        "error_reasons": _error_reasons(preds),
        "answered_only": _answered_only(scored, labs, groups, options),
        "conventions": CONVENTIONS,
        "excluding_neutral": excluding,
        "usage": usage,
        **cost,
        "predicted_distribution": {c: int(predicted[j]) for j, c in enumerate(columns)},
        "gold_distribution": {lab: int(support[i]) for i, lab in enumerate(labs)},
        "calibration": _calibration(preds, scored, labs, neutral if has_neutral else None),
        **provenance(preds),
    }
    top_k = top_k_summary(scored, labs, n_boot=n_boot, seed=seed, level=level,
                          answered=ANSWERED_OUTCOMES)
    if top_k is not None:  # ranked answers (an imported top-5 list)
        result["top_k"] = top_k
    out: dict[str, Any] = to_jsonable(result)
    return out
