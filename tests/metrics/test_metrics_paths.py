"""The two ways vlmfer computes a metric agree: scikit-learn for the functions called on
lists, and the vectorised numpy form over confusion matrices that the bootstrap and a run's
metrics.json use."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from vlmfer.metrics import (
    accuracy,
    cohen_kappa,
    confusion_matrix,
    macro_f1,
    neutral_rate,
    per_class,
    uar,
)
from vlmfer.metrics.core import counts_form_of, encode, per_class_from_counts

LABELS = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]
NON_ANSWERS = ["invalid", "refused", "blocked", "error", None, "Contempt"]
SCALARS = [accuracy, uar, macro_f1, cohen_kappa, neutral_rate]


def _same_json(got: float | None, want: float) -> bool:
    """``_same``, for a value of the summary, which writes an undefined one as null."""
    return _same(math.nan if got is None else got, want)


def _case(seed: int) -> tuple[list[str], list[str | None]]:
    """Random gold and answers: some classes never gold, some never predicted, non-answers."""
    rng = random.Random(seed)
    n = rng.choice([1, 2, 5, 40, 300])
    gold_pool = rng.sample(LABELS, rng.randint(1, len(LABELS)))
    pred_pool = rng.sample(LABELS, rng.randint(1, len(LABELS)))
    y_true = [rng.choice(gold_pool) for _ in range(n)]
    y_pred: list[str | None] = []
    for g in y_true:
        r = rng.random()
        y_pred.append(g if r < 0.4 else rng.choice(pred_pool) if r < 0.8
                      else rng.choice(NON_ANSWERS))
    return y_true, y_pred


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


@pytest.mark.parametrize("seed", range(80))
def test_scikit_learn_and_numpy_paths_agree(seed: int) -> None:
    y_true, y_pred = _case(seed)
    labels = tuple(LABELS)
    counts = encode(y_true, y_pred, labels).counts()
    assert confusion_matrix(y_true, y_pred, labels=labels).matrix == counts.tolist()
    for fn in SCALARS:
        stat = counts_form_of(fn, labels, {}, True)
        assert stat is not None, fn.__name__
        assert _same(fn(y_true, y_pred, labels=labels), float(stat(counts))), fn.__name__
    sk_table = per_class(y_true, y_pred, labels=labels)
    np_table = per_class_from_counts(counts, labels)
    for lab in labels:
        for key in ("precision", "recall", "f1", "support"):
            assert _same(sk_table[lab][key], np_table[lab][key]), (lab, key)


def test_the_random_cases_reach_absent_classes_and_non_answers() -> None:
    absent_gold = absent_pred = non_answer = 0
    for seed in range(80):
        y_true, y_pred = _case(seed)
        absent_gold += len(set(LABELS) - set(y_true)) > 0
        absent_pred += len(set(LABELS) - set(p for p in y_pred if p)) > 0
        non_answer += any(p not in LABELS for p in y_pred)
    assert absent_gold > 40 and absent_pred > 40 and non_answer > 40


def test_the_numpy_form_scores_a_batch_of_matrices_at_once() -> None:
    labels = tuple(LABELS)
    cases = [_case(seed) for seed in range(10)]
    stack = np.stack([encode(t, p, labels).counts() for t, p in cases])
    for fn in SCALARS:
        stat = counts_form_of(fn, labels, {}, True)
        assert stat is not None
        batch = stat(stack)
        for i, (t, p) in enumerate(cases):
            assert _same(float(batch[i]), fn(t, p, labels=labels)), fn.__name__


def test_a_metric_called_with_options_it_has_no_counts_form_for_falls_back() -> None:
    # neutral_rate knows its option; a plain metric given options has no vectorised form.
    assert counts_form_of(neutral_rate, ("A", "N"), {"neutral": "N"}, True) is not None
    assert counts_form_of(accuracy, ("A",), {"sample_weight": [1]}, True) is None


@pytest.mark.parametrize("seed", range(0, 80, 4))
def test_a_run_summary_gives_scikit_learn_s_numbers(seed: int) -> None:
    from sklearn import metrics as sk

    from vlmfer.metrics.summary import summarize

    y_true, y_pred = _case(seed)
    outcome = {None: "invalid", "Contempt": "invalid"}
    preds = [
        {"sample_id": str(i), "gold": g,
         "pred": p if p in LABELS else None,
         "outcome": "ok" if p in LABELS else outcome.get(p, p)}
        for i, (g, p) in enumerate(zip(y_true, y_pred, strict=True))
    ]
    m = summarize(preds, LABELS, metrics=["cohen_kappa"], n_boot=0)
    codes = {lab: i for i, lab in enumerate(LABELS)}
    t = [codes[g] for g in y_true]
    q = [codes.get(p, len(LABELS)) if p in codes else len(LABELS) for p in y_pred]
    assert _same(m["accuracy"], sk.accuracy_score(t, q))
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert _same(m["uar"], sk.balanced_accuracy_score(t, q))
            present = sorted(set(t) | {c for c in q if c < len(LABELS)})
            assert _same(m["macro_f1"], sk.f1_score(t, q, labels=present, average="macro",
                                                    zero_division=0.0))
    assert m["confusion_matrix"]["matrix"] == confusion_matrix(y_true, y_pred,
                                                               labels=LABELS).matrix
    # The figures the summary computes from its confusion matrix, against the list
    # functions (a non-answer is None to them).
    answers = [p if p in LABELS else None for p in y_pred]
    assert _same_json(m["cohen_kappa"], cohen_kappa(y_true, answers, labels=LABELS))
    assert _same_json(m["neutral_rate"], neutral_rate(y_true, answers, labels=LABELS))
    listed = per_class(y_true, answers, labels=LABELS)
    assert list(m["per_class"]) == list(listed)
    for lab, row in listed.items():
        for key, value in row.items():
            assert _same_json(m["per_class"][lab][key], value), (lab, key)
