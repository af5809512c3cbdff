"""Uncertainty and paired comparison: bootstrap intervals and McNemar's exact test.

Resampling n samples with replacement and tabulating them gives a confusion
matrix drawn from Multinomial(n, counts / n) over its cells. So the bootstrap
of any metric that is a function of the confusion matrix (WAR, UAR, macro-F1,
kappa, Neutral rate) draws a thousand matrices at once, in time independent
of n. For a paired comparison the cells are (gold, answer of A, answer of B).
Any other callable falls back to resampling sample indices, one call per draw.

When samples carry groups (stills cut from one clip are not independent),
whole groups are resampled instead (cluster bootstrap), and McNemar's test
becomes the exact sign-flip test over groups.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vlmfer.metrics.core import (
    CmStat,
    FloatArray,
    IntArray,
    MetricInputError,
    counts_form_of,
    encode,
    infer_labels,
    point_value,
)

MetricLike = str | Callable[..., Any]
#: One group key per sample (None: the sample is a group of its own).
Groups = Sequence[Hashable | None]


def resolve_metric(metric: MetricLike, *, registry: Any = None) -> Callable[..., Any]:
    """A metric name looked up in the plugin registry (built-ins and plugins alike),
    or a callable as given."""
    if isinstance(metric, str):
        from vlmfer.plugins import get_metric

        return get_metric(metric, registry=registry)
    if not callable(metric):
        raise MetricInputError(f"metric must be a name or a callable; got {metric!r}")
    return metric


def _name(metric: MetricLike) -> str:
    return metric if isinstance(metric, str) else getattr(metric, "__name__", repr(metric))


def is_scalar(value: Any) -> bool:
    """Whether a metric's value is one number (and so has a bootstrap interval)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _scalar_check(metric: MetricLike, value: Any) -> None:
    if not is_scalar(value):
        raise MetricInputError(
            f"metric {_name(metric)!r} is not a single number (it returned "
            f"{type(value).__name__}) and has no bootstrap interval"
        )


def group_index(groups: Groups | None, n: int) -> IntArray | None:
    """Integer group codes (0..G-1) per sample, or None when there are no groups.

    A sample whose group is None is a group of its own.
    """
    if groups is None:
        return None
    keys = list(groups)
    if len(keys) != n:
        raise MetricInputError(
            f"groups has {len(keys)} values but there are {n} samples; give one group per "
            "sample (None for a sample that shares no group)"
        )
    if all(k is None for k in keys):
        return None
    codes: dict[Any, int] = {}
    out = np.empty(n, dtype=np.int64)
    for i, k in enumerate(keys):
        key = ("\x00sample", i) if k is None else ("group", k)
        out[i] = codes.setdefault(key, len(codes))
    return out


def _draw(counts: IntArray, n_boot: int, rng: np.random.Generator) -> IntArray:
    """``n_boot`` resampled count tables with the same total and shape as ``counts``."""
    n = int(counts.sum())
    if n == 0:
        return np.zeros((n_boot, *counts.shape), dtype=np.int64)
    p = counts.ravel() / n
    draws = rng.multinomial(n, p, size=n_boot)
    return np.asarray(draws, dtype=np.int64).reshape(n_boot, *counts.shape)


#: Bootstrap draws of groups are made this many at a time, to bound memory.
_GROUP_CHUNK = 100


def _draw_groups(
    cells: IntArray, groups: IntArray, shape: tuple[int, ...], n_boot: int,
    rng: np.random.Generator,
) -> IntArray:
    """Cluster bootstrap: resample whole groups, then tabulate their samples' cells.

    ``cells`` holds each sample's flat cell index in a table of ``shape``.
    """
    size = int(np.prod(shape))
    out = np.zeros((n_boot, size), dtype=np.int64)
    if cells.size == 0:
        return out.reshape(n_boot, *shape)
    n_groups = int(groups.max()) + 1
    used, inverse = np.unique(cells, return_inverse=True)
    per_group = np.zeros((n_groups, used.size), dtype=np.float64)
    np.add.at(per_group, (groups, inverse.ravel()), 1.0)
    for start in range(0, n_boot, _GROUP_CHUNK):
        rows = min(n_boot, start + _GROUP_CHUNK) - start
        # How often each group is drawn when G groups are drawn with replacement.
        picks = rng.integers(0, n_groups, size=(rows, n_groups))
        picks += np.arange(rows)[:, None] * n_groups
        times = np.bincount(picks.ravel(), minlength=rows * n_groups).reshape(rows, n_groups)
        out[start:start + rows, used] = np.rint(times.astype(np.float64) @ per_group).astype(
            np.int64)
    return out.reshape(n_boot, *shape)


def resample_tables(
    counts: IntArray, n_boot: int, rng: np.random.Generator, *,
    cells: IntArray | None = None, groups: IntArray | None = None,
) -> IntArray:
    """``n_boot`` bootstrap count tables: samples resampled, or whole groups when
    ``groups`` (with each sample's flat ``cells`` index) is given."""
    if groups is None:
        return _draw(counts, n_boot, rng)
    if cells is None:
        raise MetricInputError("a grouped bootstrap needs each sample's cell (cells=...)")
    return _draw_groups(cells, groups, counts.shape, n_boot, rng)


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
    counts: IntArray, stats: Mapping[str, CmStat], *, n_boot: int = 1000, seed: int = 0,
    cells: IntArray | None = None, groups: IntArray | None = None,
) -> dict[str, FloatArray]:
    """Bootstrap values of several statistics from one set of resampled matrices.

    With ``groups`` (integer group codes per sample, see ``group_index``) and
    ``cells`` (each sample's flat index into ``counts``), whole groups are resampled.
    """
    draws = resample_tables(np.asarray(counts, dtype=np.int64), n_boot,
                            np.random.default_rng(seed), cells=cells, groups=groups)
    return {name: np.asarray(stat(draws), dtype=np.float64) for name, stat in stats.items()}


def bootstrap_values(
    fn: Callable[..., Any],
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    labels: tuple[str, ...],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    groups: IntArray | None = None,
    labels_given: bool = True,
    **metric_kwargs: Any,
) -> FloatArray:
    """Bootstrap values of one scalar metric: all draws at once when the metric has a
    confusion-matrix form (``counts_form``), otherwise one call per resample."""
    stat = counts_form_of(fn, labels, metric_kwargs, labels_given)
    if stat is not None:
        enc = encode(y_true, y_pred, labels)
        cells = enc.true * enc.n_columns + enc.pred
        values = bootstrap_distribution(enc.counts(), {"m": stat}, n_boot=n_boot, seed=seed,
                                        cells=cells, groups=groups)
        return values["m"]
    return resampled_values(fn, [y_true, y_pred], labels, n_boot, seed, metric_kwargs, groups)[0]


def bootstrap_ci(
    metric: MetricLike,
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    *,
    labels: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    groups: Groups | None = None,
    **metric_kwargs: Any,
) -> tuple[float, float]:
    """Seeded percentile bootstrap interval ``(lo, hi)`` of ``metric``.

    ``metric`` is a registered metric name (``"accuracy"``, ``"uar"``, or a
    plugin's) or a callable ``f(y_true, y_pred, *, labels=...)`` that returns one
    number. With ``groups`` (one key per sample), whole groups are resampled
    (cluster bootstrap), because samples of one group are not independent. The
    same seed gives the same interval. ``(nan, nan)`` on empty input.

    >>> lo, hi = bootstrap_ci("accuracy", ["A", "B"] * 50, ["A", "A"] * 50, labels=["A", "B"])
    >>> lo < 0.5 < hi
    True
    """
    _check_boot(n_boot, level)
    fn = resolve_metric(metric)
    labs = tuple(labels) if labels is not None else infer_labels(y_true, y_pred)
    gidx = group_index(groups, len(y_true))
    if len(y_true):
        _scalar_check(metric, point_value(fn, y_true, y_pred, labels=labs, **metric_kwargs))
    values = bootstrap_values(fn, y_true, y_pred, labs, n_boot=n_boot, seed=seed, groups=gidx,
                              labels_given=labels is not None, **metric_kwargs)
    return percentile_interval(values, level)


def _resample_indices(
    n: int, groups: IntArray | None, rng: np.random.Generator
) -> IntArray:
    """One bootstrap resample of sample indices (whole groups when grouped)."""
    if groups is None:
        return rng.integers(0, n, n)
    order = np.argsort(groups, kind="stable")
    sizes = np.bincount(groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    chosen = rng.integers(0, sizes.size, sizes.size)
    lengths = sizes[chosen]
    offsets = np.repeat(starts[chosen] - np.concatenate([[0], np.cumsum(lengths)[:-1]]),
                        lengths)
    return np.asarray(order[offsets + np.arange(int(lengths.sum()))], dtype=np.int64)


def resampled_values(
    fn: Callable[..., Any],
    columns: list[Sequence[Any]],
    labels: tuple[str, ...],
    n_boot: int,
    seed: int,
    kwargs: Mapping[str, Any],
    groups: IntArray | None = None,
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
        idx = _resample_indices(n, groups, rng)
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
    groups: Groups | None = None,
    **metric_kwargs: Any,
) -> dict[str, float]:
    """Paired bootstrap of ``metric(A) - metric(B)`` on the same samples.

    Each draw resamples samples, keeping both runs' answers for a sample
    together; with ``groups`` it resamples whole groups. Returns ``{"diff",
    "lo", "hi"}``; an interval that excludes 0 is a difference at that level.
    """
    _check_boot(n_boot, level)
    if not len(y_true) == len(pred_a) == len(pred_b):
        raise MetricInputError(
            f"y_true ({len(y_true)}), pred_a ({len(pred_a)}) and pred_b ({len(pred_b)}) must be "
            "aligned on the same samples; pair the runs by sample id first"
        )
    fn = resolve_metric(metric)
    labs = tuple(labels) if labels is not None else infer_labels(y_true, pred_a, pred_b)
    gidx = group_index(groups, len(y_true))
    stat = counts_form_of(fn, labs, metric_kwargs, labels is not None)
    kw = dict(metric_kwargs)
    a_value = point_value(fn, y_true, pred_a, labels=labs, **kw)
    _scalar_check(metric, a_value)
    a_point = float(a_value)
    b_point = float(point_value(fn, y_true, pred_b, labels=labs, **kw))
    if stat is not None:
        ea, eb = encode(y_true, pred_a, labs), encode(y_true, pred_b, labs)
        k, c = len(labs), ea.n_columns
        cells = (ea.true * c + ea.pred) * c + eb.pred
        joint = np.bincount(cells, minlength=k * c * c).reshape(k, c, c).astype(np.int64)
        draws = resample_tables(joint, n_boot, np.random.default_rng(seed), cells=cells,
                                groups=gidx)
        diffs = stat(draws.sum(axis=-1)) - stat(draws.sum(axis=-2))
    else:
        va, vb = resampled_values(fn, [y_true, pred_a, pred_b], labs, n_boot, seed, kw, gidx)
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


def _binom_pmf_half(c: int) -> FloatArray:
    """P(X = x) for X ~ Binomial(c, 1/2), x = 0..c (log-space, so c may be large)."""
    x = np.arange(c + 1)
    log_pmf = np.array([math.lgamma(c + 1) - math.lgamma(i + 1) - math.lgamma(c - i + 1)
                        for i in x]) - c * math.log(2.0)
    out: FloatArray = np.exp(log_pmf)
    return out


def sign_flip_p_value(differences: Sequence[int] | IntArray) -> float:
    """Exact two-sided p-value of ``sum(d)`` when each group's ``d`` keeps or flips its
    sign with probability 1/2, independently (a randomisation test over groups).

    ``d`` is a group's (B right, A wrong) count minus its (A right, B wrong) count.
    With one sample per group this is McNemar's exact test.
    """
    d = np.abs(np.asarray(differences, dtype=np.int64))
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    observed = abs(int(np.asarray(differences, dtype=np.int64).sum()))
    magnitudes, counts = np.unique(d, return_counts=True)
    # Groups of equal |d| = m add m * (2X - c), X ~ Binomial(c, 1/2). Start from the most
    # common magnitude (one binomial, no convolution) and add the others by shifts.
    order = np.argsort(-counts, kind="stable")
    m0, c0 = int(magnitudes[order[0]]), int(counts[order[0]])
    half = int((magnitudes * counts).sum())  # S runs over -half..half
    dist = np.zeros(2 * half + 1)
    dist[half - m0 * c0: half + m0 * c0 + 1: 2 * m0] = _binom_pmf_half(c0)
    for j in order[1:]:
        m, c = int(magnitudes[j]), int(counts[j])
        pmf = _binom_pmf_half(c)
        new = np.zeros_like(dist)
        for x in range(c + 1):
            shift = m * (2 * x - c)
            if shift >= 0:
                new[shift:] += pmf[x] * dist[: dist.size - shift]
            else:
                new[:shift] += pmf[x] * dist[-shift:]
        dist = new
    s_values = np.arange(-half, half + 1)
    return float(min(1.0, dist[np.abs(s_values) >= observed].sum()))


def mcnemar_exact(
    correct_a: Sequence[bool] | npt.NDArray[np.bool_],
    correct_b: Sequence[bool] | npt.NDArray[np.bool_],
    *,
    groups: Groups | None = None,
) -> dict[str, Any]:
    """McNemar's exact test on paired correctness.

    ``b01`` counts samples A got wrong and B got right; ``b10`` the reverse.
    Under the null both are equally likely, so ``p_value`` is the two-sided
    exact binomial probability of a split at least this uneven (1.0 when there
    is no discordant pair). Returns ``{"n", "b01", "b10", "p_value"}``.

    With ``groups`` (one key per sample; samples of a group are not
    independent), the test is the exact sign-flip randomisation test over
    groups (``sign_flip_p_value``), and the result adds ``groups`` (their
    number) and ``method``. With one sample per group it equals the exact test.
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
    gidx = group_index(groups, int(a.size))
    if gidx is None:
        return {
            "n": int(a.size),
            "b01": b01,
            "b10": b10,
            "p_value": _binom_two_sided_half(min(b01, b10), b01 + b10),
        }
    n_groups = int(gidx.max()) + 1
    per_group = np.bincount(gidx, weights=(~a & b).astype(np.float64), minlength=n_groups) - \
        np.bincount(gidx, weights=(a & ~b).astype(np.float64), minlength=n_groups)
    return {
        "n": int(a.size),
        "b01": b01,
        "b10": b10,
        "p_value": sign_flip_p_value(np.rint(per_group).astype(np.int64)),
        "groups": n_groups,
        "method": GROUPED_TEST,
    }


#: How ``mcnemar_exact`` tests grouped samples.
GROUPED_TEST = ("exact sign-flip test over groups: each group's discordance (B right and A "
                "wrong minus A right and B wrong) keeps or flips its sign with probability 1/2")
