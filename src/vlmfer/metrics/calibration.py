"""Batch calibration (Zhou et al., ICLR 2024) of stored per-class scores.

A model biased toward one label (for VLMs on FER, usually Neutral) gives that
label extra probability on every input. Batch calibration estimates that prior
as the mean score distribution over the run and divides it out:

    p_cal(y | x) ∝ p(y | x) / mean_i p(y | x_i)

It needs no extra calls, so it is applied at report time from ``scores``.
Passing ``prior=`` instead divides out a prior measured elsewhere, e.g. the
distribution for a content-free input (contextual calibration, Zhao et al. 2021).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vlmfer.labels import is_tie
from vlmfer.metrics.core import FloatArray, MetricInputError, check_labels
from vlmfer.types import Record

#: Probabilities are floored here before taking logs, so a label missing from a
#: top-k logprob list gets a tiny score instead of log(0).
DEFAULT_FLOOR = 1e-12


def scores_matrix(
    scores: Sequence[Mapping[str, float] | None], labels: Sequence[str]
) -> FloatArray:
    """Per-sample score mappings as an ``(n, len(labels))`` array; NaN rows for None.

    A label missing from a mapping scores 0; keys that are not labels are ignored.
    """
    labs = check_labels(labels)
    out = np.full((len(scores), len(labs)), np.nan)
    for i, row in enumerate(scores):
        if row is None:
            continue
        out[i] = [float(row.get(lab, 0.0)) for lab in labs]
    return out


def _log_normalized(
    scores: npt.ArrayLike, floor: float
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Row-normalised log-probabilities and the mask of usable rows."""
    p = np.asarray(scores, dtype=np.float64)
    if p.ndim != 2:
        raise MetricInputError(
            f"scores must be a 2-D (samples × labels) array of probabilities; got shape {p.shape}"
        )
    finite = np.isfinite(p).all(axis=1)
    if (p[finite] < 0).any():
        raise MetricInputError(
            "scores must be probabilities (≥ 0); found negative values. "
            "If you hold log-probabilities, pass np.exp(logprobs)"
        )
    total = np.where(finite, np.nan_to_num(p, nan=0.0, posinf=0.0).sum(axis=1), 0.0)
    usable = finite & (total > 0)
    logp = np.full(p.shape, np.nan)
    if usable.any():
        q = p[usable] / total[usable, None]
        logp[usable] = np.log(np.maximum(q, floor))
        # Renormalise after flooring so every usable row is a distribution.
        logp[usable] -= _logsumexp(logp[usable], axis=1)[:, None]
    return logp, usable


def _logsumexp(a: FloatArray, axis: int) -> FloatArray:
    m = np.max(a, axis=axis, keepdims=True)
    out: FloatArray = np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))
    return out


def batch_prior(scores: npt.ArrayLike, *, floor: float = DEFAULT_FLOOR) -> FloatArray:
    """The mean score distribution over the usable rows of ``scores`` (n × k).

    Rows with NaN or all zeros are skipped. All NaN when no row is usable.
    """
    logp, usable = _log_normalized(scores, floor)
    k = logp.shape[1]
    if not usable.any():
        return np.full(k, np.nan)
    log_prior = _logsumexp(logp[usable], axis=0) - np.log(usable.sum())
    prior: FloatArray = np.exp(log_prior)
    return prior


def batch_calibrate(
    scores: npt.ArrayLike,
    *,
    prior: npt.ArrayLike | None = None,
    floor: float = DEFAULT_FLOOR,
) -> FloatArray:
    """Calibrated probabilities: each row divided by the prior, then renormalised.

    ``scores`` is an ``n × k`` matrix of probabilities (rows need not sum to 1;
    they are normalised first). ``prior`` defaults to the batch mean
    (``batch_prior``). The work is done in log space; rows that hold NaN or only
    zeros come back as NaN rows.

    >>> batch_calibrate([[0.6, 0.4], [0.9, 0.1]]).argmax(axis=1).tolist()
    [1, 0]
    """
    logp, usable = _log_normalized(scores, floor)
    if prior is None:
        pr = batch_prior(scores, floor=floor)
    else:
        pr = np.asarray(prior, dtype=np.float64)
        if (
            pr.shape != (logp.shape[1],)
            or not np.isfinite(pr).all()
            or (pr < 0).any()
            or pr.sum() <= 0
        ):
            raise MetricInputError(
                f"prior must be {logp.shape[1]} non-negative finite numbers (not all 0), "
                "one per label; "
                f"got {pr.tolist()}"
            )
    out = np.full(logp.shape, np.nan)
    if usable.any():
        log_prior = np.log(np.maximum(pr / pr.sum(), floor))
        cal = logp[usable] - log_prior
        out[usable] = np.exp(cal - _logsumexp(cal, axis=1)[:, None])
    return out


def argmax_labels(probs: npt.ArrayLike, labels: Sequence[str]) -> list[str | None]:
    """The best label per row; None for a NaN row or a tie (never the first label)."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1, len(labels))
    ok: npt.NDArray[np.bool_] = np.asarray(np.isfinite(p).all(axis=1))
    if not len(labels):
        return [None] * len(p)
    safe = np.where(ok[:, None], p, -np.inf)
    best = np.argmax(safe, axis=1)
    if len(labels) > 1:
        top2 = -np.sort(-np.where(ok[:, None], p, 0.0), axis=1)[:, :2]  # finite rows only
        ok = ok & ~np.array([is_tie(float(a), float(b)) for a, b in top2], dtype=bool)
    return [labels[int(b)] if good else None for b, good in zip(best, ok, strict=True)]


class ScorePredictions(Record):
    """Raw-argmax and batch-calibrated predictions from per-sample scores."""

    labels: list[str]
    raw: list[str | None]
    calibrated: list[str | None]
    prior: dict[str, float | None]
    n_scored: int


def predictions_from_scores(
    scores: Sequence[Mapping[str, float] | None],
    labels: Sequence[str],
    *,
    floor: float = DEFAULT_FLOOR,
) -> ScorePredictions:
    """Turn per-sample ``{label: probability}`` mappings into raw and calibrated labels.

    A sample without scores (None) gets None in both lists; it does not enter
    the prior. Keys that are not labels are ignored; a missing label scores 0.
    """
    labs = list(check_labels(labels))
    mat = scores_matrix(scores, labs)
    prior = batch_prior(mat, floor=floor)
    # Argmax of the normalised log scores, so an all-zero row is None, not labels[0].
    raw = argmax_labels(_log_normalized(mat, floor)[0], labs)
    cal = argmax_labels(batch_calibrate(mat, prior=prior, floor=floor), labs)
    usable = [r is not None for r in raw]
    prior_map: dict[str, Any] = {
        lab: (None if np.isnan(v) else float(v)) for lab, v in zip(labs, prior, strict=True)
    }
    return ScorePredictions(
        labels=labs,
        raw=raw,
        calibrated=cal,
        prior=prior_map,
        n_scored=sum(usable),
    )
