"""The built-in metrics: pure functions over gold and predicted labels.

Every function has the scikit-learn shape ``f(y_true, y_pred, *, labels=None)``.
``labels`` fixes the order of rows and columns; when it is None the labels are
the sorted union of the gold labels and the predicted labels.

``y_pred`` may hold a label, ``None``, or the name of a non-answer outcome
(``invalid``, ``refused``, ``blocked``, ``error``). A non-answer is never a
label: it counts as wrong everywhere and gets its own confusion-matrix column.
``None`` and a predicted string that is not in ``labels`` are counted under
``invalid`` (the answer named no usable label).

Everything is computed from one integer confusion matrix, so the same code
scores one run and a thousand bootstrap resamples at once (see ``stats``).
numpy is the only dependency: no scikit-learn or scipy at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vlmfer.errors import VlmferError
from vlmfer.types import NON_ANSWERS, Record

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The confusion-matrix columns after the labels, in this order.
NON_ANSWER_COLUMNS: tuple[str, ...] = NON_ANSWERS
_INVALID = NON_ANSWER_COLUMNS.index("invalid")


class MetricInputError(VlmferError, ValueError):
    """The inputs of a metric are inconsistent (lengths, labels, gold values)."""


@dataclass(frozen=True)
class Encoded:
    """Gold and predicted values as integer codes.

    ``true`` holds row indices into ``labels``; ``pred`` holds column indices
    into ``labels + NON_ANSWER_COLUMNS``.
    """

    labels: tuple[str, ...]
    true: IntArray
    pred: IntArray

    @property
    def n_columns(self) -> int:
        return len(self.labels) + len(NON_ANSWER_COLUMNS)

    def counts(self) -> IntArray:
        """The confusion matrix, shape ``(len(labels), n_columns)``."""
        k, c = len(self.labels), self.n_columns
        flat = np.bincount(self.true * c + self.pred, minlength=k * c)
        return flat.reshape(k, c).astype(np.int64)


def infer_labels(y_true: Iterable[Any], *y_preds: Iterable[Any]) -> tuple[str, ...]:
    """Sorted union of gold labels and predicted labels (non-answers left out)."""
    found: set[str] = set()
    for v in y_true:
        if isinstance(v, str):
            found.add(v)
    for y_pred in y_preds:
        for v in y_pred:
            if isinstance(v, str) and v not in NON_ANSWER_COLUMNS:
                found.add(v)
    return tuple(sorted(found))


def check_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """Validate a label list: strings, unique, and no outcome names."""
    out = tuple(labels)
    for lab in out:
        if not isinstance(lab, str) or not lab:
            raise MetricInputError(
                f"labels must be non-empty strings; got {lab!r} in {list(out)!r}"
            )
        if lab in NON_ANSWER_COLUMNS:
            raise MetricInputError(
                f"{lab!r} is a non-answer outcome name and cannot be a label "
                f"(reserved: {', '.join(NON_ANSWER_COLUMNS)}); rename that class"
            )
    if len(set(out)) != len(out):
        dupes = sorted({lab for lab in out if out.count(lab) > 1})
        raise MetricInputError(f"labels must be unique; repeated: {dupes}")
    return out


def encode(
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    labels: Sequence[str] | None = None,
) -> Encoded:
    """Turn gold and predicted values into integer codes (see ``Encoded``).

    Raises ``MetricInputError`` when the lengths differ or a gold value is not
    one of ``labels``.
    """
    y_true = list(y_true)
    y_pred = list(y_pred)
    if len(y_true) != len(y_pred):
        raise MetricInputError(
            f"y_true has {len(y_true)} values but y_pred has {len(y_pred)}; "
            "they must be aligned sample by sample"
        )
    labs = check_labels(infer_labels(y_true, y_pred) if labels is None else labels)
    row = {lab: i for i, lab in enumerate(labs)}
    col: dict[str, int] = dict(row)
    for j, name in enumerate(NON_ANSWER_COLUMNS):
        col[name] = len(labs) + j
    true = np.empty(len(y_true), dtype=np.int64)
    for i, g in enumerate(y_true):
        r = row.get(g) if isinstance(g, str) else None
        if r is None:
            raise MetricInputError(
                f"gold value {g!r} at index {i} is not one of labels {list(labs)}; "
                "pass labels= that include it, or drop samples without a usable gold label"
            )
        true[i] = r
    invalid = len(labs) + _INVALID
    pred = np.fromiter(
        (col.get(p, invalid) if isinstance(p, str) else invalid for p in y_pred),
        dtype=np.int64,
        count=len(y_pred),
    )
    return Encoded(labs, true, pred)


# --- statistics of (possibly batched) confusion matrices -----------------------
# Each takes counts of shape (..., K, K + 4) and returns shape (...).


def _div(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """a / b, NaN where b == 0 (no warnings)."""
    num = np.asarray(a, dtype=np.float64)
    den = np.asarray(b, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _parts(cm: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(n, true positives per label, gold count per label, predicted count per label)."""
    cm = np.asarray(cm, dtype=np.float64)
    k = cm.shape[-2]
    n = cm.sum(axis=(-2, -1))
    tp = np.diagonal(cm[..., :, :k], axis1=-2, axis2=-1)
    support = cm.sum(axis=-1)
    predicted = cm[..., :, :k].sum(axis=-2)
    return n, tp, support, predicted


def _mean_where(values: FloatArray, mask: npt.NDArray[np.bool_]) -> FloatArray:
    return _div(np.where(mask, values, 0.0).sum(axis=-1), mask.sum(axis=-1))


def cm_accuracy(cm: npt.NDArray[Any]) -> FloatArray:
    n, tp, _, _ = _parts(cm)
    return _div(tp.sum(axis=-1), n)


def cm_uar(cm: npt.NDArray[Any]) -> FloatArray:
    _, tp, support, _ = _parts(cm)
    return _mean_where(_div(tp, support), support > 0)


def cm_macro_f1(cm: npt.NDArray[Any]) -> FloatArray:
    _, tp, support, predicted = _parts(cm)
    denom = support + predicted  # = 2TP + FP + FN
    return _mean_where(_div(2 * tp, denom), denom > 0)


def cm_cohen_kappa(cm: npt.NDArray[Any]) -> FloatArray:
    n, tp, support, predicted = _parts(cm)
    # kappa = (p_o - p_e) / (1 - p_e), multiplied through by n^2.
    chance = (support * predicted).sum(axis=-1)
    return _div(n * tp.sum(axis=-1) - chance, n * n - chance)


def cm_column_rate(cm: npt.NDArray[Any], column: int) -> FloatArray:
    arr = np.asarray(cm, dtype=np.float64)
    return _div(arr[..., :, column].sum(axis=-1), arr.sum(axis=(-2, -1)))


CmStat = Callable[[npt.NDArray[Any]], FloatArray]


# --- public metrics --------------------------------------------------------------


def accuracy(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> float:
    """WAR (weighted average recall): the share of samples predicted correctly.

    Non-answers count as wrong. Empty input gives NaN.

    >>> accuracy(["Happy", "Sad"], ["Happy", "refused"])
    0.5
    """
    return float(cm_accuracy(encode(y_true, y_pred, labels).counts()))


def uar(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> float:
    """UAR (unweighted average recall): mean per-class recall.

    The mean runs over the labels that occur in ``y_true`` (all of which must be
    in ``labels``); a label with no gold sample has no recall and is left out.
    Equals scikit-learn's ``balanced_accuracy_score`` with non-answers as wrong.
    Empty input gives NaN.
    """
    return float(cm_uar(encode(y_true, y_pred, labels).counts()))


def macro_f1(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> float:
    """Macro-F1: mean of per-label F1 = 2TP / (2TP + FP + FN).

    The mean runs over the labels that occur in ``y_true`` or are predicted; a
    label that is predicted but never gold gets F1 = 0 and is included. A label
    absent from both (0/0) is left out. Non-answers add false negatives only.
    Empty input gives NaN.
    """
    return float(cm_macro_f1(encode(y_true, y_pred, labels).counts()))


def cohen_kappa(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> float:
    """Cohen's kappa between gold and predicted labels, (p_o - p_e) / (1 - p_e).

    ``p_o`` is the accuracy and ``p_e`` the chance agreement from the gold and
    predicted label frequencies; non-answers agree with nothing. NaN when
    ``p_e = 1`` (a single class everywhere) or on empty input.
    """
    return float(cm_cohen_kappa(encode(y_true, y_pred, labels).counts()))


def neutral_rate(
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    *,
    labels: Sequence[str] | None = None,
    neutral: str = "Neutral",
) -> float:
    """Share of all samples (non-answers included) predicted as ``neutral``.

    Compare it with the gold rate, ``neutral_rate(y_true, y_true)``. NaN on
    empty input, or when ``labels`` is given and does not contain ``neutral``.
    """
    enc = encode(y_true, y_pred, labels)
    if neutral not in enc.labels:
        if labels is not None or len(enc.true) == 0:
            return float("nan")
        return 0.0
    return float(cm_column_rate(enc.counts(), enc.labels.index(neutral)))


class ConfusionMatrix(Record):
    """Counts with gold labels as rows and predicted labels plus non-answers as columns.

    ``columns`` is ``labels`` followed by ``invalid``, ``refused``, ``blocked``,
    ``error``; ``matrix[i][j]`` counts samples of gold ``labels[i]`` whose
    prediction was ``columns[j]``.
    """

    labels: list[str]
    columns: list[str]
    matrix: list[list[int]]

    def as_array(self) -> IntArray:
        """The counts as a ``(len(labels), len(columns))`` integer array."""
        return np.asarray(self.matrix, dtype=np.int64).reshape(len(self.labels), len(self.columns))

    def row_normalized(self) -> list[list[float | None]]:
        """Each row divided by its total (the gold support); None for an empty row."""
        arr = self.as_array()
        rows = _div(arr, arr.sum(axis=1, keepdims=True))
        return [[None if np.isnan(v) else float(v) for v in row] for row in rows]


def confusion_matrix(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> ConfusionMatrix:
    """Confusion matrix with one extra column per non-answer outcome.

    Non-answers are never folded into a label. Empty input gives an all-zero
    matrix (no rows when ``labels`` is None).

    >>> confusion_matrix(["A", "B"], ["A", "refused"], labels=["A", "B"]).matrix
    [[1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0]]
    """
    enc = encode(y_true, y_pred, labels)
    return ConfusionMatrix(
        labels=list(enc.labels),
        columns=[*enc.labels, *NON_ANSWER_COLUMNS],
        matrix=enc.counts().tolist(),
    )


def per_class_from_counts(cm: npt.NDArray[Any], labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per-label precision, recall, F1 and support from a confusion matrix."""
    _, tp, support, predicted = _parts(cm)
    precision = _div(tp, predicted)
    recall = _div(tp, support)
    f1 = _div(2 * tp, support + predicted)
    return {
        lab: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, lab in enumerate(labels)
    }


def per_class(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Per-label ``precision``, ``recall``, ``f1`` and ``support``, in label order.

    Precision is NaN for a label never predicted, recall is NaN for a label with
    no gold sample, F1 is NaN only when both are missing (otherwise 0 if TP = 0).
    """
    enc = encode(y_true, y_pred, labels)
    return per_class_from_counts(enc.counts(), enc.labels)


def correctness(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> npt.NDArray[np.bool_]:
    """Per-sample correctness (non-answers are False), e.g. for ``mcnemar_exact``."""
    enc = encode(y_true, y_pred, labels)
    result: npt.NDArray[np.bool_] = enc.true == enc.pred
    return result


#: Scalar built-ins that are a function of the confusion matrix alone.
#: ``stats`` uses this to bootstrap them without re-encoding each resample.
CM_STATS: dict[str, CmStat] = {
    "accuracy": cm_accuracy,
    "uar": cm_uar,
    "macro_f1": cm_macro_f1,
    "cohen_kappa": cm_cohen_kappa,
}

#: The names registered through the ``register_metrics`` hook.
BUILTIN_METRICS: dict[str, Callable[..., Any]] = {
    "accuracy": accuracy,
    "uar": uar,
    "macro_f1": macro_f1,
    "confusion_matrix": confusion_matrix,
    "per_class": per_class,
    "neutral_rate": neutral_rate,
    "cohen_kappa": cohen_kappa,
}
