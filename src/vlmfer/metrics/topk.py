"""Top-k accuracy over ranked answers (a released top-5 list, say).

A prediction carries its ranked answer, best first, in ``extra["ranked"]``; the
top-1 is its ``pred``. Top-k counts a sample right when its gold label is among
the first k entries. A sample without a ranked list (a non-answer) is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vlmfer.metrics.core import accuracy, point_value
from vlmfer.metrics.rows import Row
from vlmfer.metrics.stats import bootstrap_values, group_index, percentile_interval

#: What metrics.json's ``top_k`` block means.
TOP_K_CONVENTION = (
    "accuracy[k] is the share of samples whose gold label is among the first k entries of "
    "the ranked answer; a sample without a ranked answer counts as wrong; answered_only "
    "leaves out refused, blocked and error samples as for the headline figures"
)


def ranked_of(p: Row) -> list[str] | None:
    ranked = p.extra.get("ranked")
    if isinstance(ranked, list) and ranked:
        return [str(r) for r in ranked]
    return None


def _block(scored: Sequence[Row], labels: tuple[str, ...], k_max: int, *,
           n_boot: int, seed: int, level: float) -> dict[str, Any]:
    y_true = [str(p.gold) for p in scored]
    gidx = group_index([p.group for p in scored], len(scored))
    values: dict[str, float | None] = {}
    ci: dict[str, list[float]] = {}
    for k in range(1, k_max + 1):
        # As a label column: right answers are the gold label, the rest a non-answer.
        hits: list[str | None] = []
        for p, gold in zip(scored, y_true, strict=True):
            ranked = ranked_of(p) or []
            hits.append(gold if gold in ranked[:k] else "invalid")
        values[str(k)] = point_value(accuracy, y_true, hits, labels=labels) if scored else None
        if scored and n_boot:
            draws = bootstrap_values(accuracy, y_true, hits, labels, n_boot=n_boot, seed=seed,
                                     groups=gidx)
            ci[str(k)] = list(percentile_interval(draws, level))
    return {"n": len(scored), "accuracy": values, "ci": ci}


def top_k_summary(scored: Sequence[Row], labels: tuple[str, ...], *, n_boot: int,
                  seed: int, level: float, answered: Sequence[str]) -> dict[str, Any] | None:
    """The ``top_k`` block of metrics.json, or None when no prediction has a ranked answer."""
    lengths = [len(r) for p in scored if (r := ranked_of(p)) is not None]
    if not lengths:
        return None
    k_max = max(lengths)
    kept = [p for p in scored if p.outcome in answered]
    return {
        "k_max": k_max,
        **_block(scored, labels, k_max, n_boot=n_boot, seed=seed, level=level),
        "answered_only": _block(kept, labels, k_max, n_boot=n_boot, seed=seed, level=level),
        "convention": TOP_K_CONVENTION,
    }
