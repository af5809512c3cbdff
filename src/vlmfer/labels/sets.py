"""The built-in label sets and the check every label set passes."""

from __future__ import annotations

from collections.abc import Sequence

from vlmfer.errors import ConfigError

CAER_LABELS: tuple[str, ...] = ("Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
NEUTRAL = "Neutral"
#: The CAER labels without Neutral: the "excluding Neutral: forced six-way" label set.
SIX_LABELS: tuple[str, ...] = tuple(x for x in CAER_LABELS if x != NEUTRAL)


def _check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    if isinstance(labels, str):
        raise ConfigError(
            f"labels must be a sequence of label names such as vlmfer.CAER_LABELS, "
            f"not the single string {labels!r}; pass ({labels!r},) for a one-label set"
        )
    out = tuple(labels)
    if not out:
        raise ConfigError("labels is empty: give at least one label name, e.g. vlmfer.CAER_LABELS")
    bad = [x for x in out if not isinstance(x, str)]
    if bad:
        raise ConfigError(
            f"labels {list(out)!r}: {bad!r} are not strings; give label names such as "
            f"{list(CAER_LABELS)!r}"
        )
    return out
