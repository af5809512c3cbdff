"""Invariance checks over every registered metric, in the style of scikit-learn's test_common.

The metric list comes from a fresh registry, so a third-party metric installed
next to vlmfer is checked the same way as the built-ins.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from vlmfer.plugins import Registry

LABELS = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]
NON_ANSWERS = ["invalid", "refused", "blocked", "error"]
BUILTINS = {"accuracy", "uar", "macro_f1", "confusion_matrix", "per_class", "neutral_rate",
            "cohen_kappa"}
SCALARS = {"accuracy", "uar", "macro_f1", "neutral_rate", "cohen_kappa"}
METRICS: dict[str, Callable[..., Any]] = {
    name: entry.obj for name, entry in sorted(Registry().entries("metric").items())
}
NAMES = sorted(METRICS)


def _plain(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return _plain(obj.model_dump())
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def _same(a: Any, b: Any, tol: float = 1e-12) -> bool:
    a, b = _plain(a), _plain(b)
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, tol) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _rename(obj: Any, mapping: dict[str, str]) -> Any:
    """Rename label strings anywhere in a result (dict keys, list items, values)."""
    obj = _plain(obj)
    if isinstance(obj, dict):
        return {mapping.get(k, k): _rename(v, mapping) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rename(v, mapping) for v in obj]
    if isinstance(obj, str):
        return mapping.get(obj, obj)
    return obj


def _random_case(seed: int, n: int = 120) -> tuple[list[str], list[str | None]]:
    rng = np.random.default_rng(seed)
    y_true = [str(v) for v in rng.choice(LABELS, n)]
    y_pred: list[str | None] = []
    for g in y_true:
        r = rng.random()
        if r < 0.45:
            y_pred.append(g)
        elif r < 0.8:
            y_pred.append(str(rng.choice(LABELS)))
        elif r < 0.95:
            y_pred.append(str(rng.choice(NON_ANSWERS)))
        else:
            y_pred.append(None)
    return y_true, y_pred


def test_the_builtin_metrics_are_registered() -> None:
    assert set(METRICS) >= BUILTINS


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("with_labels", [True, False])
def test_sample_order_does_not_matter(name: str, with_labels: bool) -> None:
    metric = METRICS[name]
    labels = LABELS if with_labels else None
    for seed in range(3):
        y_true, y_pred = _random_case(seed)
        perm = np.random.default_rng(100 + seed).permutation(len(y_true))
        shuffled_true = [y_true[i] for i in perm]
        shuffled_pred = [y_pred[i] for i in perm]
        assert _same(
            metric(y_true, y_pred, labels=labels),
            metric(shuffled_true, shuffled_pred, labels=labels),
        ), name


@pytest.mark.parametrize("name", NAMES)
def test_label_names_can_be_any_strings(name: str) -> None:
    metric = METRICS[name]
    # Neutral keeps its name: neutral_rate looks it up by name.
    odd = ["ärger 😠", "1", "a b", "Ω", "neutral", "x" * 60]
    mapping = dict(zip([lab for lab in LABELS if lab != "Neutral"], odd, strict=True))
    inverse = {v: k for k, v in mapping.items()}
    y_true, y_pred = _random_case(7)
    new_true = [mapping.get(v, v) for v in y_true]
    new_pred = [mapping.get(v, v) if v is not None else None for v in y_pred]
    new_labels = [mapping.get(lab, lab) for lab in LABELS]
    expected = metric(y_true, y_pred, labels=LABELS)
    got = metric(new_true, new_pred, labels=new_labels)
    assert _same(_rename(got, inverse), expected), name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("with_labels", [True, False])
def test_empty_input_is_defined(name: str, with_labels: bool) -> None:
    labels = LABELS if with_labels else None
    result = METRICS[name]([], [], labels=labels)
    if name in SCALARS:
        assert isinstance(result, float) and math.isnan(result)
    elif name == "confusion_matrix":
        assert result.labels == (LABELS if with_labels else [])
        assert result.columns == result.labels + NON_ANSWERS
        assert all(v == 0 for row in result.matrix for v in row)
    elif name == "per_class":
        assert list(result) == (LABELS if with_labels else [])
        assert all(v["support"] == 0 for v in result.values())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("with_labels", [True, False])
def test_all_non_answers_score_zero(name: str, with_labels: bool) -> None:
    y_true, _ = _random_case(3, n=40)
    y_pred: list[str | None] = [NON_ANSWERS[i % 4] if i % 5 else None for i in range(40)]
    labels = LABELS if with_labels else None
    result = METRICS[name](y_true, y_pred, labels=labels)
    if name in {"accuracy", "uar", "macro_f1", "neutral_rate", "cohen_kappa"}:
        assert result == 0.0
    elif name == "confusion_matrix":
        k = len(result.labels)
        assert all(v == 0 for row in result.matrix for v in row[:k])
        assert sum(sum(row[k:]) for row in result.matrix) == 40
        # None is counted as invalid, never as a label.
        assert sum(row[k] for row in result.matrix) == sum(
            1 for p in y_pred if p in (None, "invalid")
        )
    elif name == "per_class":
        assert all(v["recall"] == 0.0 for v in result.values() if v["support"])
        assert set(result) <= set(LABELS)


# --- cross-checks against scikit-learn on random cases ---------------------------------

SENTINEL = "\x00non-answer"


def _sk_case(seed: int) -> tuple[list[str], list[str | None], list[str] | None]:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    labels = [str(v) for v in rng.permutation(LABELS)[:k]]
    n = int(rng.integers(1, 150))
    # Skewed class frequencies, so some labels are missing from gold or predictions.
    weights = rng.dirichlet(np.full(k, 0.7))
    y_true = [str(v) for v in rng.choice(labels, n, p=weights)]
    y_pred: list[str | None] = []
    for g in y_true:
        r = rng.random()
        if r < rng.uniform(0.2, 0.8):
            y_pred.append(g)
        elif r < 0.9:
            y_pred.append(str(rng.choice(labels, p=weights[::-1] / weights.sum())))
        elif r < 0.92:
            y_pred.append(None)
        elif r < 0.94:
            y_pred.append("Contempt")  # outside the set: invalid, or a label when inferred
        else:
            y_pred.append(str(rng.choice(NON_ANSWERS)))
    return y_true, y_pred, (labels if seed % 3 else None)


SK_SEEDS = range(60)


@pytest.mark.parametrize("seed", SK_SEEDS)
def test_agrees_with_scikit_learn(seed: int) -> None:
    from sklearn import metrics as sk

    y_true, y_pred, labels = _sk_case(seed)
    labs = labels if labels is not None else sorted(
        set(y_true) | {p for p in y_pred if p is not None and p not in NON_ANSWERS}
    )
    # scikit-learn has no non-answers: give them one class that is never gold.
    mapped = [p if p in labs else SENTINEL for p in y_pred]
    in_gold = [lab for lab in labs if lab in y_true]
    in_either = [lab for lab in labs if lab in y_true or lab in mapped]
    columns = [*labs, *NON_ANSWERS]
    as_columns = [p if p in columns else "invalid" for p in y_pred]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns on 0/0; we define those cases
        expected = {
            "accuracy": sk.accuracy_score(y_true, mapped),
            "uar": sk.recall_score(y_true, mapped, labels=in_gold, average="macro",
                                   zero_division=0),
            "balanced": sk.balanced_accuracy_score(y_true, mapped),
            "macro_f1": sk.f1_score(y_true, mapped, labels=in_either, average="macro",
                                    zero_division=0),
            "cohen_kappa": sk.cohen_kappa_score(y_true, mapped),
        }
        expected_cm = sk.confusion_matrix(y_true, as_columns, labels=columns)

    assert METRICS["accuracy"](y_true, y_pred, labels=labels) == pytest.approx(expected["accuracy"])
    assert METRICS["uar"](y_true, y_pred, labels=labels) == pytest.approx(expected["uar"])
    assert METRICS["uar"](y_true, y_pred, labels=labels) == pytest.approx(expected["balanced"])
    assert METRICS["macro_f1"](y_true, y_pred, labels=labels) == pytest.approx(expected["macro_f1"])
    kappa = METRICS["cohen_kappa"](y_true, y_pred, labels=labels)
    if math.isnan(expected["cohen_kappa"]):
        assert math.isnan(kappa)
    else:
        assert kappa == pytest.approx(expected["cohen_kappa"], abs=1e-12)
    cm = METRICS["confusion_matrix"](y_true, y_pred, labels=labels)
    assert cm.labels == labs
    assert cm.columns == columns
    assert cm.matrix == expected_cm[: len(labs)].tolist()


def test_the_random_cases_exercise_the_edges() -> None:
    """The cross-check is only as good as its cases: make sure the edges occur."""
    missing_gold = missing_pred = with_none = inferred = 0
    for seed in SK_SEEDS:
        y_true, y_pred, labels = _sk_case(seed)
        labs = labels or sorted(set(y_true))
        missing_gold += any(lab not in y_true for lab in labs)
        missing_pred += any(lab not in y_pred for lab in labs)
        with_none += None in y_pred
        inferred += labels is None
    assert min(missing_gold, missing_pred, with_none, inferred) > 0
