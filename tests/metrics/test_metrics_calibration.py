"""Batch calibration against a Neutral-biased model whose answers are known."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vlmfer.metrics import (
    MetricInputError,
    accuracy,
    batch_calibrate,
    batch_prior,
    neutral_rate,
    predictions_from_scores,
    scores_matrix,
)

LABELS = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]
NEUTRAL = LABELS.index("Neutral")


def _biased_model(
    seed: int, per_class: int = 60, bias: float = 8.0, noise: float = 0.0
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Gold labels and scores: a clean signal times a prior that favours Neutral."""
    rng = np.random.default_rng(seed)
    gold_idx = np.repeat(np.arange(len(LABELS)), per_class)
    rng.shuffle(gold_idx)
    clean = np.full((len(gold_idx), len(LABELS)), 0.1)
    clean[np.arange(len(gold_idx)), gold_idx] = 0.4
    if noise:
        clean = clean * rng.lognormal(0.0, noise, clean.shape)
    prior = np.ones(len(LABELS))
    prior[NEUTRAL] = bias
    scores = clean * prior
    scores /= scores.sum(axis=1, keepdims=True)
    return [LABELS[i] for i in gold_idx], scores, prior


def _labels(probs: np.ndarray) -> list[str | None]:
    return [LABELS[int(i)] for i in probs.argmax(axis=1)]


def test_batch_calibration_undoes_a_neutral_bias() -> None:
    gold, scores, _ = _biased_model(0)
    raw = _labels(scores)
    assert neutral_rate(gold, raw, labels=LABELS) == 1.0  # everything is called Neutral
    calibrated = _labels(batch_calibrate(scores))
    assert calibrated == gold
    assert accuracy(gold, calibrated, labels=LABELS) == 1.0


def test_batch_calibration_with_noise_recovers_most_labels() -> None:
    gold, scores, _ = _biased_model(1, noise=0.3)
    raw_acc = accuracy(gold, _labels(scores), labels=LABELS)
    cal = _labels(batch_calibrate(scores))
    assert raw_acc < 0.3
    assert accuracy(gold, cal, labels=LABELS) > 0.8
    assert abs(neutral_rate(gold, cal, labels=LABELS) - 1 / 7) < 0.1


def test_a_stated_prior_is_divided_out_exactly() -> None:
    _, scores, prior = _biased_model(2, noise=0.5)
    clean_argmax = _labels(scores / prior)
    assert _labels(batch_calibrate(scores, prior=prior)) == clean_argmax
    out = batch_calibrate(scores, prior=prior)
    assert np.allclose(out.sum(axis=1), 1.0)


def test_the_batch_prior_is_the_mean_distribution() -> None:
    _, scores, _ = _biased_model(3)
    assert np.allclose(batch_prior(scores), scores.mean(axis=0))
    # Rows need not be normalised: each is scaled to sum to 1 first.
    assert np.allclose(batch_prior(scores * 7.5), scores.mean(axis=0))


def test_log_space_is_safe_with_zeros_and_tiny_values() -> None:
    scores = np.array([[1.0, 0.0, 0.0], [1e-300, 1.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 0.0],
                       [np.nan, 0.5, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = batch_calibrate(scores)
    assert np.isfinite(out[:3]).all()
    assert np.allclose(out[:3].sum(axis=1), 1.0)
    # An all-zero row and a row with NaN carry no information: NaN back, not a guess.
    assert np.isnan(out[3:]).all()


def test_bad_scores_are_explained() -> None:
    with pytest.raises(MetricInputError, match="2-D"):
        batch_calibrate([0.5, 0.5])
    with pytest.raises(MetricInputError, match="log-probabilities"):
        batch_calibrate([[-0.1, 1.1]])
    with pytest.raises(MetricInputError, match="prior must be 2 non-negative"):
        batch_calibrate([[0.5, 0.5]], prior=[1.0])
    with pytest.raises(MetricInputError, match="prior must be"):
        batch_calibrate([[0.5, 0.5]], prior=[0.0, 0.0])
    assert np.isnan(batch_prior(np.full((2, 3), np.nan))).all()


def test_predictions_from_score_mappings() -> None:
    gold, scores, _ = _biased_model(4, per_class=10)
    rows: list[dict[str, float] | None] = [
        {lab: float(v) for lab, v in zip(LABELS, row, strict=True)} for row in scores
    ]
    rows.append(None)  # a sample without scores
    rows.append({"Happy": 0.0, "Contempt": 1.0})  # only a key outside the set: unusable
    result = predictions_from_scores(rows, LABELS)
    assert result.labels == LABELS
    assert result.raw[: len(gold)] == ["Neutral"] * len(gold)
    assert result.calibrated[: len(gold)] == gold
    assert result.raw[-2:] == [None, None] and result.calibrated[-2:] == [None, None]
    assert result.n_scored == len(gold)
    assert result.prior["Neutral"] == pytest.approx(scores.mean(axis=0)[NEUTRAL])
    assert sum(v for v in result.prior.values() if v is not None) == pytest.approx(1.0)


def test_scores_matrix_fills_missing_labels_with_zero() -> None:
    mat = scores_matrix([{"A": 0.7}, None], ["A", "B"])
    assert mat[0].tolist() == [0.7, 0.0]
    assert np.isnan(mat[1]).all()
