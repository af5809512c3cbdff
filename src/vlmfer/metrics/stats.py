"""Uncertainty and paired comparison: bootstrap intervals and McNemar's exact test.

Resampling n samples with replacement and tabulating them gives a confusion
matrix drawn from Multinomial(n, counts / n) over its cells. So the bootstrap
of any metric that is a function of the confusion matrix (WAR, UAR, macro-F1,
kappa, Neutral rate) draws a thousand matrices at once, in time independent
of n. For a paired comparison the cells are (gold, answer of A, answer of B).
Any other callable falls back to resampling sample indices, one call per draw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vlmfer.metrics.core import (
    BUILTIN_METRICS,
    CM_STATS,
    CmStat,
    FloatArray,
    IntArray,
    MetricInputError,
    _div,
    cm_column_rate,
    encode,
    infer_labels,
)

MetricLike = str | Callable[..., Any]


def _resolve(metric: MetricLike) -> Callable[..., Any]:
    if isinstance(metric, str):
        fn = BUILTIN_METRICS.get(metric)
        if fn is None:
            raise MetricInputError(
                f"unknown metric {metric!r}; built-in metrics: {', '.join(BUILTIN_METRICS)}. "
                "Pass a callable for any other metric"
            )
        return fn
    if not callable(metric):
        raise MetricInputError(f"metric must be a name or a callable; got {metric!r}")
    return metric


def _cm_stat(fn: Callable[..., Any], labels: tuple[str, ...], kwargs: dict[str, Any],
             labels_given: bool) -> CmStat | None:
    """The confusion-matrix form of a built-in scalar metric, or None for others."""
    for name, builtin in BUILTIN_METRICS.items():
        if fn is not builtin:
            continue
        if name in ("confusion_matrix", "per_class"):
            raise MetricInputError(
                f"{name!r} is not a single number and has no bootstrap interval; "
                f"use one of {', '.join([*CM_STATS, 'neutral_rate'])}"
            )
        if name == "neutral_rate":
            neutral = kwargs.get("neutral", "Neutral")
            if neutral in labels:
                col = labels.index(neutral)
                return lambda cm: cm_column_rate(cm, col)
            fill = np.nan if labels_given else 0.0
            return lambda cm: _div(
                np.full(np.shape(cm)[:-2], fill), np.asarray(cm).sum(axis=(-2, -1))
            )
        if kwargs:
            return None
        return CM_STATS[name]
    return None


def _draw(counts: IntArray, n_boot: int, rng: np.random.Generator) -> IntArray:
    """``n_boot`` resampled count tables with the same total and shape as ``counts``."""
    n = int(counts.sum())
    if n == 0:
        return np.zeros((n_boot, *counts.shape), dtype=np.int64)
    p = counts.ravel() / n
    draws = rng.multinomial(n, p, size=n_boot)
    return np.asarray(draws, dtype=np.int64).reshape(n_boot, *counts.shape)


def percentile_interval(values: npt.ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap values; NaN draws are left out."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (float("nan"), float("nan"))
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(v, [tail, 100.0 - tail])
    return (float(lo), float(hi))


def _check_boot(n_boot: int, level: float) -> None:
    if not isinstance(n_boot, int) or n_boot < 1:
        raise MetricInputError(f"n_boot must be a positive integer; got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise MetricInputError(f"level must be between 0 and 1 (e.g. 0.95); got {level!r}")


def bootstrap_distribution(
    counts: IntArray, stats: Mapping[str, CmStat], *, n_boot: int = 1000, seed: int = 0
) -> dict[str, FloatArray]:
    """Bootstrap values of several statistics from one set of resampled matrices."""
    draws = _draw(np.asarray(counts, dtype=np.int64), n_boot, np.random.default_rng(seed))
    return {name: np.asarray(stat(draws), dtype=np.float64) for name, stat in stats.items()}


def bootstrap_ci(
    metric: MetricLike,
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    *,
    labels: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    **metric_kwargs: Any,
) -> tuple[float, float]:
    """Seeded percentile bootstrap interval ``(lo, hi)`` of ``metric``.

    ``metric`` is a built-in name (``"accuracy"``, ``"uar"``, ...) or a callable
    ``f(y_true, y_pred, *, labels=...)``. The same seed gives the same interval.
    ``(nan, nan)`` on empty input.

    >>> lo, hi = bootstrap_ci("accuracy", ["A", "B"] * 50, ["A", "A"] * 50, labels=["A", "B"])
    >>> lo < 0.5 < hi
    True
    """
    _check_boot(n_boot, level)
    fn = _resolve(metric)
    labs = tuple(labels) if labels is not None else infer_labels(y_true, y_pred)
    stat = _cm_stat(fn, labs, metric_kwargs, labels is not None)
    if stat is not None:
        counts = encode(y_true, y_pred, labs).counts()
        values = bootstrap_distribution(counts, {"m": stat}, n_boot=n_boot, seed=seed)["m"]
        return percentile_interval(values, level)
    return percentile_interval(
        _generic_boot(fn, [y_true, y_pred], labs, n_boot, seed, metric_kwargs)[0], level
    )


def _generic_boot(
    fn: Callable[..., Any],
    columns: list[Sequence[Any]],
    labels: tuple[str, ...],
    n_boot: int,
    seed: int,
    kwargs: dict[str, Any],
) -> list[FloatArray]:
    """Index-resampling bootstrap of ``fn(y_true, y_pred_j)`` for each prediction column."""
    y_true = np.asarray(list(columns[0]), dtype=object)
    preds = [np.asarray(list(c), dtype=object) for c in columns[1:]]
    n = len(y_true)
    out = [np.full(n_boot, np.nan) for _ in preds]
    if n == 0:
        return out
    rng = np.random.default_rng(seed)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        t = y_true[idx].tolist()
        for j, p in enumerate(preds):
            out[j][b] = float(fn(t, p[idx].tolist(), labels=list(labels), **kwargs))
    return out


def paired_bootstrap_diff(
    y_true: Sequence[str],
    pred_a: Sequence[str | None],
    pred_b: Sequence[str | None],
    metric: MetricLike = "accuracy",
    *,
    labels: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    **metric_kwargs: Any,
) -> dict[str, float]:
    """Paired bootstrap of ``metric(A) - metric(B)`` on the same samples.

    Each draw resamples samples, keeping both runs' answers for a sample
    together. Returns ``{"diff", "lo", "hi"}``; an interval that excludes 0 is
    a difference at that level.
    """
    _check_boot(n_boot, level)
    if not len(y_true) == len(pred_a) == len(pred_b):
        raise MetricInputError(
            f"y_true ({len(y_true)}), pred_a ({len(pred_a)}) and pred_b ({len(pred_b)}) must be "
            "aligned on the same samples; pair the runs by sample id first"
        )
    fn = _resolve(metric)
    labs = tuple(labels) if labels is not None else infer_labels(y_true, pred_a, pred_b)
    stat = _cm_stat(fn, labs, metric_kwargs, labels is not None)
    kw = dict(metric_kwargs)
    a_point = float(fn(y_true, pred_a, labels=list(labs), **kw))
    b_point = float(fn(y_true, pred_b, labels=list(labs), **kw))
    if stat is not None:
        ea, eb = encode(y_true, pred_a, labs), encode(y_true, pred_b, labs)
        k, c = len(labs), ea.n_columns
        joint = np.bincount((ea.true * c + ea.pred) * c + eb.pred, minlength=k * c * c)
        draws = _draw(joint.reshape(k, c, c).astype(np.int64), n_boot,
                      np.random.default_rng(seed))
        diffs = stat(draws.sum(axis=-1)) - stat(draws.sum(axis=-2))
    else:
        va, vb = _generic_boot(fn, [y_true, pred_a, pred_b], labs, n_boot, seed, kw)
        diffs = va - vb
    lo, hi = percentile_interval(diffs, level)
    return {"diff": a_point - b_point, "lo": lo, "hi": hi}


def _binom_two_sided_half(k: int, n: int) -> float:
    """Exact two-sided p-value of k successes in n trials with p = 1/2."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    # Sum C(n, i) for i <= k with exact integers, then divide once.
    term, tail = 1, 1
    for i in range(k):
        term = term * (n - i) // (i + 1)
        tail += term
    return min(1.0, 2 * tail / (1 << n))


def mcnemar_exact(
    correct_a: Sequence[bool] | npt.NDArray[np.bool_],
    correct_b: Sequence[bool] | npt.NDArray[np.bool_],
) -> dict[str, Any]:
    """McNemar's exact test on paired correctness.

    ``b01`` counts samples A got wrong and B got right; ``b10`` the reverse.
    Under the null both are equally likely, so ``p_value`` is the two-sided
    exact binomial probability of a split at least this uneven (1.0 when there
    is no discordant pair). Returns ``{"n", "b01", "b10", "p_value"}``.
    """
    a = np.asarray(correct_a)
    b = np.asarray(correct_b)
    if a.shape != b.shape or a.ndim != 1:
        raise MetricInputError(
            f"correct_a {a.shape} and correct_b {b.shape} must be 1-D and aligned on the same "
            "samples; pair the runs by sample id first"
        )
    for name, arr in (("correct_a", a), ("correct_b", b)):
        if arr.size and not np.isin(arr, [0, 1]).all():
            raise MetricInputError(f"{name} must hold booleans (True = correct)")
    a, b = a.astype(bool), b.astype(bool)
    b01 = int(np.sum(~a & b))
    b10 = int(np.sum(a & ~b))
    return {
        "n": int(a.size),
        "b01": b01,
        "b10": b10,
        "p_value": _binom_two_sided_half(min(b01, b10), b01 + b10),
    }
