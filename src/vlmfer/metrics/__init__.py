"""Metrics: pure functions over gold and predicted labels, and the run summary.

``accuracy`` (WAR), ``uar``, ``macro_f1``, ``cohen_kappa``, ``neutral_rate``,
``per_class`` and ``confusion_matrix`` have the scikit-learn shape
``f(y_true, y_pred, *, labels=None)``; non-answers in ``y_pred`` count as wrong.
``summarize`` turns a run's predictions into ``metrics.json``. Point values
called on lists come from scikit-learn, imported on first use; a run's summary and
the bootstrap score confusion matrices with numpy.

The names below load on first use (PEP 562), so importing a submodule, such as
the built-in metrics plugin that the registry loads at every start, costs no
NumPy import until a metric is computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmfer._lazy import lazy_exports

if TYPE_CHECKING:
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

#: Each public name and the submodule that defines it.
_SOURCES: dict[str, str] = {
    "BUILTIN_METRICS": "vlmfer.metrics.core",
    "ConfusionMatrix": "vlmfer.metrics.core",
    "DEFAULT_METRICS": "vlmfer.metrics.summary",
    "FORCED_SIX_WAY": "vlmfer.metrics.neutral",
    "MetricInputError": "vlmfer.metrics.core",
    "NON_ANSWER_COLUMNS": "vlmfer.metrics.core",
    "SUBSET": "vlmfer.metrics.neutral",
    "ScorePredictions": "vlmfer.metrics.calibration",
    "accuracy": "vlmfer.metrics.core",
    "batch_calibrate": "vlmfer.metrics.calibration",
    "batch_prior": "vlmfer.metrics.calibration",
    "bootstrap_ci": "vlmfer.metrics.stats",
    "cohen_kappa": "vlmfer.metrics.core",
    "confusion_matrix": "vlmfer.metrics.core",
    "correctness": "vlmfer.metrics.core",
    "counts_form": "vlmfer.metrics.core",
    "excluding_neutral_subset": "vlmfer.metrics.neutral",
    "forced_six_way": "vlmfer.metrics.neutral",
    "macro_f1": "vlmfer.metrics.core",
    "mcnemar_exact": "vlmfer.metrics.stats",
    "neutral_rate": "vlmfer.metrics.core",
    "paired_bootstrap_diff": "vlmfer.metrics.stats",
    "per_class": "vlmfer.metrics.core",
    "predictions_from_scores": "vlmfer.metrics.calibration",
    "resolve_metric": "vlmfer.metrics.stats",
    "scores_matrix": "vlmfer.metrics.calibration",
    "sign_flip_p_value": "vlmfer.metrics.stats",
    "summarize": "vlmfer.metrics.summary",
    "to_jsonable": "vlmfer.metrics.summary",
    "uar": "vlmfer.metrics.core",
}

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


__getattr__ = lazy_exports(__name__, _SOURCES, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
