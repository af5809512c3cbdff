"""The built-in metrics: pure functions over gold and predicted labels.

Every function has the scikit-learn shape ``f(y_true, y_pred, *, labels=None)``.
``labels`` fixes the order of rows and columns; when it is None the labels are
the sorted union of the gold labels and the predicted labels.

``y_pred`` may hold a label, ``None``, or the name of a non-answer outcome
(``invalid``, ``refused``, ``blocked``, ``error``). A non-answer is never a
label: it counts as wrong everywhere and gets its own confusion-matrix column.
``None`` and a predicted string that is not in ``labels`` are counted under
``invalid`` (the answer named no usable label).

Called on lists, the functions compute with scikit-learn (``confusion_matrix``,
``balanced_accuracy_score``, ``f1_score``, ``cohen_kappa_score``), imported
when a metric is first called so that ``import vlmfer`` stays light. The
``cm_*`` functions compute the same numbers from (batches of) integer
confusion matrices with numpy; ``stats`` uses them to score a thousand
bootstrap resamples at once, which scikit-learn has no form for.

A run's ``metrics.json`` takes every point value through ``point_value``: from
the run's confusion matrix when the metric has a counts (or table) form, so the
point and its bootstrap interval are one arithmetic, and a run never pays for
importing scikit-learn and SciPy (about 1.5 s of CPU). The tests check that
both paths give the same numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from vlmfer.errors import MetricInputError as MetricInputError  # defined there, named here too
from vlmfer.types import NON_ANSWERS, Record

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The confusion-matrix columns after the labels, in this order.
NON_ANSWER_COLUMNS: tuple[str, ...] = NON_ANSWERS
_INVALID = NON_ANSWER_COLUMNS.index("invalid")


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


#: ``form(labels, kwargs, labels_given)`` → the metric as a function of
#: (batches of) confusion matrices, or None when it has none for these options.
CountsForm = Callable[[tuple[str, ...], Mapping[str, Any], bool], CmStat | None]
COUNTS_FORM_ATTR = "counts_form"
_F = TypeVar("_F", bound=Callable[..., Any])


def counts_form(form: CountsForm) -> Callable[[_F], _F]:
    """Give a metric a vectorised confusion-matrix form for the bootstrap.

    A metric that is a function of the confusion matrix can carry one, so that
    its bootstrap interval draws all resampled matrices at once instead of
    calling it once per draw. Built-in and plugin metrics use the same hook::

        @counts_form(lambda labels, kwargs, given: cm_accuracy)
        def my_accuracy(y_true, y_pred, *, labels=None): ...
    """

    def attach(fn: _F) -> _F:
        setattr(fn, COUNTS_FORM_ATTR, form)
        return fn

    return attach


def counts_form_of(
    fn: Callable[..., Any], labels: tuple[str, ...], kwargs: Mapping[str, Any], labels_given: bool
) -> CmStat | None:
    """The confusion-matrix form of ``fn`` for these options, or None."""
    form = getattr(fn, COUNTS_FORM_ATTR, None)
    if form is None:
        return None
    stat: CmStat | None = form(labels, kwargs, labels_given)
    return stat


#: ``form(counts, labels)`` → a table metric's value (a confusion matrix, a
#: per-class table) computed from the confusion matrix.
TableForm = Callable[[IntArray, tuple[str, ...]], Any]
TABLE_FORM_ATTR = "table_form"


def table_form(form: TableForm) -> Callable[[_F], _F]:
    """Give a table metric (no interval) its value as a function of the confusion matrix."""

    def attach(fn: _F) -> _F:
        setattr(fn, TABLE_FORM_ATTR, form)
        return fn

    return attach


def point_value(
    fn: Callable[..., Any],
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    *,
    labels: Sequence[str],
    counts: IntArray | None = None,
    **kwargs: Any,
) -> Any:
    """The value of metric ``fn`` on these samples, as ``fn(y_true, y_pred, labels=...)`` gives it.

    A metric with a counts form (or a table form, called without options) is
    computed from the confusion matrix (``counts`` when the caller has it),
    the same arithmetic its bootstrap applies to each resample; any other
    metric is called. A non-finite scalar is NaN, as the functions return it.
    """
    labs = tuple(labels)
    stat = counts_form_of(fn, labs, kwargs, True)
    table: TableForm | None = None if kwargs else getattr(fn, TABLE_FORM_ATTR, None)
    if stat is None and table is None:
        return fn(y_true, y_pred, labels=list(labs), **kwargs)
    cm = counts if counts is not None else encode(y_true, y_pred, labs).counts()
    if stat is not None:
        value = float(stat(cm))
        return value if np.isfinite(value) else float("nan")
    assert table is not None
    return table(cm, labs)


def _plain(stat: CmStat) -> CountsForm:
    """A counts form that exists only when the metric is called without extra options."""
    return lambda labels, kwargs, given: None if kwargs else stat


def _neutral_form(labels: tuple[str, ...], kwargs: Mapping[str, Any], given: bool) -> CmStat:
    neutral = kwargs.get("neutral", "Neutral")
    if neutral in labels:
        col = labels.index(neutral)
        return lambda cm: cm_column_rate(cm, col)
    fill = np.nan if given else 0.0
    return lambda cm: _div(np.full(np.shape(cm)[:-2], fill), np.asarray(cm).sum(axis=(-2, -1)))


@contextmanager
def _sklearn_quiet() -> Iterator[None]:
    # Non-answer columns are "classes not in y_true" and absent labels are 0/0 to
    # scikit-learn; both are expected here and documented, so its warnings are noise.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _sk_counts(enc: Encoded) -> IntArray:
    """The confusion matrix with non-answer columns, from scikit-learn."""
    k = len(enc.labels)
    if len(enc.true) == 0:
        return np.zeros((k, enc.n_columns), dtype=np.int64)
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    # Square over every column code, then keep the label rows: gold is never a non-answer.
    full = sk_confusion_matrix(enc.true, enc.pred, labels=np.arange(enc.n_columns))
    return np.asarray(full[:k], dtype=np.int64)


# --- public metrics --------------------------------------------------------------


@counts_form(_plain(cm_accuracy))
def accuracy(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> float:
    """WAR (weighted average recall): the share of samples predicted correctly.

    Non-answers count as wrong. Empty input gives NaN. ``metrics.json`` gives it
    under both ``accuracy`` and ``war``.

    >>> accuracy(["Happy", "Sad"], ["Happy", "refused"])
    0.5
    """
    enc = encode(y_true, y_pred, labels)
    if len(enc.true) == 0:
        return float("nan")
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(enc.true, enc.pred))


@counts_form(_plain(cm_uar))
def uar(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> float:
    """UAR (unweighted average recall): mean per-class recall.

    The mean runs over the labels that occur in ``y_true`` (all of which must be
    in ``labels``); a label with no gold sample has no recall and is left out.
    This is scikit-learn's ``balanced_accuracy_score`` with non-answers as wrong.
    Empty input gives NaN.
    """
    enc = encode(y_true, y_pred, labels)
    if len(enc.true) == 0:
        return float("nan")
    from sklearn.metrics import balanced_accuracy_score

    with _sklearn_quiet():
        return float(balanced_accuracy_score(enc.true, enc.pred))


@counts_form(_plain(cm_macro_f1))
def macro_f1(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> float:
    """Macro-F1: mean of per-label F1 = 2TP / (2TP + FP + FN).

    The mean runs over the labels that occur in ``y_true`` or are predicted; a
    label that is predicted but never gold gets F1 = 0 and is included. A label
    absent from both (0/0) is left out. Non-answers add false negatives only.
    This is scikit-learn's ``f1_score(average="macro")`` over those labels.
    Empty input gives NaN.
    """
    enc = encode(y_true, y_pred, labels)
    if len(enc.true) == 0:
        return float("nan")
    from sklearn.metrics import f1_score

    present = np.union1d(enc.true, enc.pred[enc.pred < len(enc.labels)])
    with _sklearn_quiet():
        return float(f1_score(enc.true, enc.pred, labels=present, average="macro",
                              zero_division=0.0))


@counts_form(_plain(cm_cohen_kappa))
def cohen_kappa(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> float:
    """Cohen's kappa between gold and predicted labels, (p_o - p_e) / (1 - p_e).

    ``p_o`` is the accuracy and ``p_e`` the chance agreement from the gold and
    predicted label frequencies; non-answers agree with nothing. NaN when
    ``p_e = 1`` (a single class everywhere) or on empty input. This is
    scikit-learn's ``cohen_kappa_score`` over labels and non-answer columns.
    """
    enc = encode(y_true, y_pred, labels)
    if len(enc.true) == 0:
        return float("nan")
    from sklearn.metrics import cohen_kappa_score

    with _sklearn_quiet():
        value = float(cohen_kappa_score(enc.true, enc.pred, labels=np.arange(enc.n_columns)))
    return value if np.isfinite(value) else float("nan")


@counts_form(_neutral_form)
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
    return float(cm_column_rate(_sk_counts(enc), enc.labels.index(neutral)))


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


def _confusion_from_counts(cm: IntArray, labels: tuple[str, ...]) -> ConfusionMatrix:
    return ConfusionMatrix(labels=list(labels), columns=[*labels, *NON_ANSWER_COLUMNS],
                           matrix=np.asarray(cm, dtype=np.int64).tolist())


@table_form(_confusion_from_counts)
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
    return _confusion_from_counts(_sk_counts(enc), enc.labels)


def per_class_from_counts(cm: npt.NDArray[Any], labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per-label precision, recall, F1 and support from a confusion matrix."""
    _, tp, support, predicted = _parts(cm)
    precision = _div(tp, predicted)
    recall = _div(tp, support)
    f1 = _div(2 * tp, support + predicted)
    return _per_class_table(labels, precision, recall, f1, support)


@table_form(per_class_from_counts)
def per_class(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Per-label ``precision``, ``recall``, ``f1`` and ``support``, in label order.

    Precision is NaN for a label never predicted, recall is NaN for a label with
    no gold sample, F1 is NaN only when both are missing (otherwise 0 if TP = 0).
    """
    enc = encode(y_true, y_pred, labels)
    if len(enc.true) == 0:
        return per_class_from_counts(enc.counts(), enc.labels)
    from sklearn.metrics import precision_recall_fscore_support

    with _sklearn_quiet():
        precision, recall, f1, support = precision_recall_fscore_support(
            enc.true, enc.pred, labels=np.arange(len(enc.labels)), zero_division=np.nan
        )
    return _per_class_table(enc.labels, precision, recall, f1, support)


def _per_class_table(
    labels: Sequence[str], precision: Any, recall: Any, f1: Any, support: Any
) -> dict[str, dict[str, Any]]:
    return {
        lab: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, lab in enumerate(labels)
    }


def headline_values(
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    labels: Sequence[str],
    *,
    counts: IntArray | None = None,
) -> dict[str, float]:
    """``accuracy``, ``uar`` and ``macro_f1`` of these samples, from one confusion matrix."""
    cm = counts if counts is not None else encode(y_true, y_pred, labels).counts()
    return {name: point_value(fn, y_true, y_pred, labels=labels, counts=cm)
            for name, fn in (("accuracy", accuracy), ("uar", uar), ("macro_f1", macro_f1))}


def correctness(
    y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
) -> npt.NDArray[np.bool_]:
    """Per-sample correctness (non-answers are False), e.g. for ``mcnemar_exact``."""
    enc = encode(y_true, y_pred, labels)
    result: npt.NDArray[np.bool_] = enc.true == enc.pred
    return result


#: The numpy forms of the scalar built-ins, by name (the same functions as
#: their ``counts_form``); kept for callers that score confusion matrices.
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
