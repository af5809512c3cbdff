"""Metrics: pure functions over gold and predicted labels, and the run summary.

``accuracy`` (WAR), ``uar``, ``macro_f1``, ``cohen_kappa``, ``neutral_rate``,
``per_class`` and ``confusion_matrix`` have the scikit-learn shape
``f(y_true, y_pred, *, labels=None)``; non-answers in ``y_pred`` count as wrong.
``summarize`` turns a run's predictions into ``metrics.json``. Point values
come from scikit-learn, imported on first use (so ``import vlmfer`` stays light);
the bootstrap scores confusion matrices with numpy.
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
    counts_form,
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
from vlmfer.metrics.stats import (
    bootstrap_ci,
    mcnemar_exact,
    paired_bootstrap_diff,
    resolve_metric,
    sign_flip_p_value,
)
from vlmfer.metrics.summary import DEFAULT_METRICS, summarize, to_jsonable

__all__ = [
    "BUILTIN_METRICS",
    "DEFAULT_METRICS",
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
    "counts_form",
    "excluding_neutral_subset",
    "forced_six_way",
    "macro_f1",
    "mcnemar_exact",
    "neutral_rate",
    "paired_bootstrap_diff",
    "per_class",
    "predictions_from_scores",
    "resolve_metric",
    "scores_matrix",
    "sign_flip_p_value",
    "summarize",
    "to_jsonable",
    "uar",
]
