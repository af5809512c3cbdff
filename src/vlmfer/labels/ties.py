"""The one tie rule: scores closer than ``TIE_EPS`` are a tie, and a tie names no label.

Every place that picks a label from scores (calibrated scores, forced six-way, batch
calibration, the embedding mapper, JSON answers with per-label scores) uses these, so
"never the first label by default" is decided once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: Scores closer than this are a tie, and a tie names no label (never the first one).
TIE_EPS = 1e-9


def is_tie(best: float, second: float) -> bool:
    """Whether the best score fails to beat the runner-up: ``is_tie(0.5, 0.5) is True``."""
    return best - second <= TIE_EPS


def tied_top(scores: Mapping[str, float], labels: Iterable[str] | None = None) -> list[str]:
    """The labels whose score ties with the best one, in ``labels`` order (default: the
    mapping's order); empty when nothing is scored.

    >>> tied_top({"Happy": 0.4, "Sad": 0.4, "Fear": 0.2})
    ['Happy', 'Sad']
    """
    keys = list(scores if labels is None else labels)
    if not keys:
        return []
    best = max(scores[k] for k in keys)
    return [k for k in keys if is_tie(best, scores[k])]


def top_label(scores: Mapping[str, float], labels: Iterable[str] | None = None) -> str | None:
    """The best-scoring label, or None when nothing is scored or the top two tie.

    >>> top_label({"happy": 0.1, "sad": 0.7})
    'sad'
    >>> top_label({"happy": 0.5, "sad": 0.5}) is None
    True
    """
    tied = tied_top(scores, labels)
    return tied[0] if len(tied) == 1 else None
