"""Metrics: pure functions over gold and predicted labels, and the run summary.

``accuracy`` (WAR), ``uar``, ``macro_f1``, ``cohen_kappa``, ``neutral_rate``,
``per_class`` and ``confusion_matrix`` have the scikit-learn shape
``f(y_true, y_pred, *, labels=None)``; non-answers in ``y_pred`` count as wrong.
``summarize`` turns a run's predictions into ``metrics.json``. Only numpy is
imported here; scikit-learn and scipy are never needed.
"""

from __future__ import annotations

from vlmfer.metrics.calibration import (
    ScorePredictions,
    batch_calibrate,
    batch_prior,
    predictions_from_scores,
    scores_matrix,
)
from vlmfer.metrics.core import (
    BUILTIN_METRICS,
    NON_ANSWER_COLUMNS,
    ConfusionMatrix,
    MetricInputError,
    accuracy,
    cohen_kappa,
    confusion_matrix,
    correctness,
    macro_f1,
    neutral_rate,
    per_class,
    uar,
)
from vlmfer.metrics.neutral import (
    FORCED_SIX_WAY,
    SUBSET,
    excluding_neutral_subset,
    forced_six_way,
)
from vlmfer.metrics.stats import bootstrap_ci, mcnemar_exact, paired_bootstrap_diff
from vlmfer.metrics.summary import summarize, to_jsonable

__all__ = [
    "BUILTIN_METRICS",
    "FORCED_SIX_WAY",
    "NON_ANSWER_COLUMNS",
    "SUBSET",
    "ConfusionMatrix",
    "MetricInputError",
    "ScorePredictions",
    "accuracy",
    "batch_calibrate",
    "batch_prior",
    "bootstrap_ci",
    "cohen_kappa",
    "confusion_matrix",
    "correctness",
    "excluding_neutral_subset",
    "forced_six_way",
    "macro_f1",
    "mcnemar_exact",
    "neutral_rate",
    "paired_bootstrap_diff",
    "per_class",
    "predictions_from_scores",
    "scores_matrix",
    "summarize",
    "to_jsonable",
    "uar",
]
