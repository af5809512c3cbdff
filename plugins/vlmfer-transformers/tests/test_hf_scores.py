"""The pure label-score arithmetic (no model needed)."""

from __future__ import annotations

import math

import pytest

from vlmfer_transformers.scores import (
    argmax_label,
    logsumexp,
    normalise_label_scores,
    sample_label,
)


def test_logsumexp_is_stable_and_handles_impossible_values() -> None:
    assert logsumexp([1000.0, 1000.0]) == pytest.approx(1000.0 + math.log(2))
    assert logsumexp([-1000.0, -math.inf]) == pytest.approx(-1000.0)
    assert logsumexp([]) == -math.inf
    assert logsumexp([-math.inf, -math.inf]) == -math.inf


def test_normalise_is_a_log_softmax_in_label_order() -> None:
    sums = {"Sad": -3.0, "Happy": -1.0, "Neutral": -2.0}
    norm = normalise_label_scores(sums)
    assert list(norm) == ["Sad", "Happy", "Neutral"]
    assert sum(math.exp(v) for v in norm.values()) == pytest.approx(1.0)
    # Differences between labels are kept: a ratio of likelihoods does not change.
    assert norm["Happy"] - norm["Sad"] == pytest.approx(2.0)


def test_normalise_keeps_an_impossible_label_at_zero_probability() -> None:
    norm = normalise_label_scores({"A": -1.0, "B": -math.inf})
    assert norm["A"] == pytest.approx(0.0) and norm["B"] == -math.inf


def test_normalise_refuses_nothing_to_normalise() -> None:
    with pytest.raises(ValueError, match="no labels"):
        normalise_label_scores({})
    with pytest.raises(ValueError, match="every label"):
        normalise_label_scores({"A": -math.inf})


def test_argmax_breaks_ties_by_label_order() -> None:
    scores = {"A": -1.0, "B": -0.5, "C": -0.5}
    assert argmax_label(scores, ["A", "B", "C"]) == "B"
    assert argmax_label(scores, ["C", "B", "A"]) == "C"


def test_sample_label_is_seeded_and_follows_the_scores() -> None:
    scores = normalise_label_scores({"A": 0.0, "B": -50.0})
    assert {sample_label(scores, ["A", "B"], temperature=1.0, seed=s) for s in range(20)} == {"A"}
    flat = {"A": math.log(0.5), "B": math.log(0.5)}
    draws = [sample_label(flat, ["A", "B"], temperature=1.0, seed=s) for s in range(200)]
    assert 60 < draws.count("A") < 140
    assert draws == [sample_label(flat, ["A", "B"], temperature=1.0, seed=s) for s in range(200)]
