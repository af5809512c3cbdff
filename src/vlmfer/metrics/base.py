"""The Metric contract: a named pure function over gold and predicted labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Metric(Protocol):
    """``metric(y_true, y_pred, *, labels=None)`` in scikit-learn style.

    ``y_pred`` may hold outcome names (``invalid``, ``refused``, ``blocked``,
    ``error``) or ``None`` for non-answers; they always count as wrong. The two
    label sequences are positional (their parameter names are free); a metric may
    take more keyword-only options after ``labels`` as long as they have defaults.
    """

    def __call__(
        self,
        y_true: Sequence[str],
        y_pred: Sequence[str | None],
        /,
        *,
        labels: Sequence[str] | None = None,
    ) -> Any: ...
