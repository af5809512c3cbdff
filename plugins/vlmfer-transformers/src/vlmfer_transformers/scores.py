"""Label scores from summed token log-probabilities (pure Python; no torch here)."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence


def logsumexp(values: Sequence[float]) -> float:
    """``log(sum(exp(v)))`` without overflow; ``-inf`` for an empty or all ``-inf`` input."""
    finite = [v for v in values if not math.isinf(v) or v > 0]
    if not finite:
        return -math.inf
    top = max(finite)
    if math.isinf(top):
        return top
    return top + math.log(sum(math.exp(v - top) for v in finite))


def normalise_label_scores(sums: Mapping[str, float]) -> dict[str, float]:
    """Log-softmax over the labels' summed log-probabilities.

    The result is a log-distribution over the labels only (its logsumexp is 0),
    in the order of ``sums``. A label whose continuation is impossible keeps
    ``-inf``.
    """
    if not sums:
        raise ValueError("no labels to normalise")
    total = logsumexp(list(sums.values()))
    if math.isinf(total):
        # Every label impossible: say so rather than invent a distribution.
        raise ValueError("every label has log-probability -inf")
    return {label: s - total for label, s in sums.items()}


def argmax_label(scores: Mapping[str, float], labels: Sequence[str]) -> str:
    """The best label; ties go to the earlier label in ``labels``."""
    return max(labels, key=lambda x: (scores[x], -labels.index(x)))


def sample_label(
    scores: Mapping[str, float], labels: Sequence[str], *, temperature: float, seed: int | None
) -> str:
    """Draw a label from ``softmax(log p / temperature)`` with a seeded generator."""
    scaled = {x: scores[x] / temperature for x in labels}
    norm = normalise_label_scores(scaled)
    weights = [math.exp(norm[x]) for x in labels]
    rng = random.Random(seed)
    return rng.choices(list(labels), weights=weights, k=1)[0]
