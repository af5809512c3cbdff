"""Bootstrap intervals, the paired bootstrap and McNemar's exact test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vlmfer.errors import UnknownMetricError
from vlmfer.metrics import (
    MetricInputError,
    accuracy,
    bootstrap_ci,
    correctness,
    mcnemar_exact,
    paired_bootstrap_diff,
    uar,
)

LABELS = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]


def _run(seed: int, n: int, right: float) -> tuple[list[str], list[str | None]]:
    rng = np.random.default_rng(seed)
    y_true = [str(v) for v in rng.choice(LABELS, n)]
    y_pred: list[str | None] = []
    for g in y_true:
        r = rng.random()
        y_pred.append(g if r < right else ("refused" if r > 0.97 else str(rng.choice(LABELS))))
    return y_true, y_pred


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate() -> None:
    y_true, y_pred = _run(0, 500, 0.6)
    for name in ("accuracy", "uar", "macro_f1", "cohen_kappa", "neutral_rate"):
        lo, hi = bootstrap_ci(name, y_true, y_pred, labels=LABELS, seed=3)
        assert (lo, hi) == bootstrap_ci(name, y_true, y_pred, labels=LABELS, seed=3)
        assert lo < hi
        assert isinstance(lo, float) and isinstance(hi, float)
    lo, hi = bootstrap_ci(accuracy, y_true, y_pred, labels=LABELS, seed=3)
    assert lo < accuracy(y_true, y_pred, labels=LABELS) < hi
    assert (lo, hi) != bootstrap_ci(accuracy, y_true, y_pred, labels=LABELS, seed=4)
    # The binomial standard error at n = 500 is about 0.022: the 95 % interval spans ~0.086.
    assert 0.06 < hi - lo < 0.11


def test_bootstrap_ci_on_twenty_thousand_samples() -> None:
    y_true, y_pred = _run(1, 20_000, 0.5)
    lo, hi = bootstrap_ci("uar", y_true, y_pred, labels=LABELS, n_boot=1000, seed=0)
    assert lo < uar(y_true, y_pred, labels=LABELS) < hi
    assert hi - lo < 0.03


def test_resampling_cells_matches_resampling_samples() -> None:
    """The multinomial shortcut and plain index resampling estimate the same interval."""
    y_true, y_pred = _run(2, 400, 0.55)

    def plain_accuracy(t: list[str], p: list[str | None], *, labels: list[str]) -> float:
        return sum(a == b for a, b in zip(t, p, strict=True)) / len(t)

    fast = bootstrap_ci("accuracy", y_true, y_pred, labels=LABELS, n_boot=2000)
    slow = bootstrap_ci(plain_accuracy, y_true, y_pred, labels=LABELS, n_boot=2000)
    assert fast[0] == pytest.approx(slow[0], abs=0.015)
    assert fast[1] == pytest.approx(slow[1], abs=0.015)
    assert slow == bootstrap_ci(plain_accuracy, y_true, y_pred, labels=LABELS, n_boot=2000)


def test_bootstrap_ci_edge_cases() -> None:
    assert all(math.isnan(v) for v in bootstrap_ci("accuracy", [], [], labels=LABELS))
    assert bootstrap_ci("accuracy", ["A"] * 10, ["A"] * 10) == (1.0, 1.0)
    assert bootstrap_ci("accuracy", ["A"] * 10, ["error"] * 10) == (0.0, 0.0)
    with pytest.raises(MetricInputError, match="not a single number"):
        bootstrap_ci("confusion_matrix", ["A"], ["A"])
    # Names are looked up in the plugin registry, like every other name.
    with pytest.raises(UnknownMetricError, match=r"unknown metric 'acuracy'.*accuracy"):
        bootstrap_ci("acuracy", ["A"], ["A"])
    with pytest.raises(MetricInputError, match="n_boot must be a positive integer"):
        bootstrap_ci("accuracy", ["A"], ["A"], n_boot=0)
    with pytest.raises(MetricInputError, match="level must be between 0 and 1"):
        bootstrap_ci("accuracy", ["A"], ["A"], level=95)


def test_paired_bootstrap_of_identical_runs_is_zero() -> None:
    y_true, y_pred = _run(3, 300, 0.6)
    for metric in ("accuracy", "uar"):
        assert paired_bootstrap_diff(y_true, y_pred, y_pred, metric, labels=LABELS) == {
            "diff": 0.0, "lo": 0.0, "hi": 0.0,
        }


def test_paired_bootstrap_sees_a_real_difference() -> None:
    y_true, worse = _run(4, 600, 0.45)
    rng = np.random.default_rng(5)
    # B fixes about half of A's mistakes on the same samples.
    better = [g if (p != g and rng.random() < 0.5) else p
              for g, p in zip(y_true, worse, strict=True)]
    result = paired_bootstrap_diff(y_true, better, worse, "accuracy", labels=LABELS, seed=1)
    assert result["diff"] == pytest.approx(
        accuracy(y_true, better, labels=LABELS) - accuracy(y_true, worse, labels=LABELS)
    )
    assert 0 < result["lo"] < result["diff"] < result["hi"]
    flipped = paired_bootstrap_diff(y_true, worse, better, "uar", labels=LABELS, seed=1)
    assert flipped["hi"] < 0
    assert result == paired_bootstrap_diff(y_true, better, worse, "accuracy", labels=LABELS,
                                           seed=1)


def test_paired_bootstrap_with_a_custom_metric_and_bad_alignment() -> None:
    y_true, a = _run(6, 80, 0.6)
    _, b = _run(7, 80, 0.6)

    def hits(t: list[str], p: list[str | None], *, labels: list[str]) -> float:
        return float(sum(x == y for x, y in zip(t, p, strict=True)))

    result = paired_bootstrap_diff(y_true, a, b, hits, labels=LABELS, n_boot=200)
    assert result["lo"] <= result["diff"] <= result["hi"]
    with pytest.raises(MetricInputError, match="pair the runs by sample id"):
        paired_bootstrap_diff(y_true, a, b[:-1], "accuracy")


def test_mcnemar_on_a_known_table() -> None:
    # 1 sample only B got right, 9 only A got right: p = 2 * (C(10,0) + C(10,1)) / 2**10.
    a = [True] * 9 + [False] * 1 + [True] * 20 + [False] * 5
    b = [False] * 9 + [True] * 1 + [True] * 20 + [False] * 5
    result = mcnemar_exact(a, b)
    assert result == {"n": 35, "b01": 1, "b10": 9, "p_value": pytest.approx(22 / 1024)}
    assert mcnemar_exact(b, a)["p_value"] == result["p_value"]


def test_mcnemar_agrees_with_scipy() -> None:
    from scipy.stats import binomtest

    rng = np.random.default_rng(8)
    for _ in range(30):
        n = int(rng.integers(1, 400))
        a = rng.random(n) < rng.uniform(0.2, 0.9)
        b = rng.random(n) < rng.uniform(0.2, 0.9)
        result = mcnemar_exact(a, b)
        discordant = result["b01"] + result["b10"]
        if discordant:
            expected = binomtest(result["b01"], discordant, 0.5).pvalue
            assert result["p_value"] == pytest.approx(expected, rel=1e-9)


def test_mcnemar_edges() -> None:
    assert mcnemar_exact([True, False], [True, False])["p_value"] == 1.0
    assert mcnemar_exact([], []) == {"n": 0, "b01": 0, "b10": 0, "p_value": 1.0}
    with pytest.raises(MetricInputError, match="aligned"):
        mcnemar_exact([True], [True, False])
    with pytest.raises(MetricInputError, match="booleans"):
        mcnemar_exact([2], [1])  # type: ignore[list-item]
    # Correctness from labels feeds straight in; non-answers are simply wrong.
    gold = ["A", "B", "A"]
    result = mcnemar_exact(correctness(gold, ["A", "refused", "B"]),
                           correctness(gold, ["A", "B", "A"]))
    assert (result["b01"], result["b10"]) == (2, 0)
