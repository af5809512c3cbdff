"""Where a run's answers came from, from its predictions alone: which model snapshots
answered, whether a simulator answered, and which request parameters were really sent.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from vlmfer.metrics.rows import Row

#: Distinct values of one parameter kept per model (a sampling fallback varies the seed).
MAX_VALUES = 10


def model_snapshots(preds: Sequence[Row]) -> dict[str, int]:
    """Each snapshot the providers reported, with the number of samples it answered."""
    counts: Counter[str] = Counter()
    for p in preds:
        counts.update({s.model_version for s in p.steps if s.model_version is not None})
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def mixed_snapshots(preds: Sequence[Row]) -> bool:
    """Whether one requested model answered as more than one snapshot."""
    seen: dict[str, set[str]] = {}
    for p in preds:
        for s in p.steps:
            if s.model_version is not None:
                seen.setdefault(s.model, set()).add(s.model_version)
    return any(len(v) > 1 for v in seen.values())


def simulated(preds: Sequence[Row]) -> bool:
    """Whether any answer came from a simulator (the emulator or a ``mock/`` predictor)."""
    return any(s.simulated for p in preds for s in p.steps)


def sent_parameters(preds: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Per requested model, what its requests carried and what was left out and why.

    ``sent`` maps each parameter to its value (a list when the requests differed);
    ``dropped`` maps a parameter the strategy asked for but the request did not carry to
    the reason, e.g. ``{"temperature": "gpt-5.2 does not accept it (only its default, 1)"}``.
    Steps recorded before vlmfer kept this (no ``details.sent``) are skipped.
    """
    values: dict[str, dict[str, dict[str, Any]]] = {}
    dropped: dict[str, dict[str, str]] = {}
    for p in preds:
        for s in p.steps:
            sent = s.details.get("sent")
            if not isinstance(sent, dict):
                continue
            per = values.setdefault(s.model, {})
            for key, value in sent.items():
                seen = per.setdefault(key, {})
                if len(seen) < MAX_VALUES:
                    seen.setdefault(json.dumps(value, sort_keys=True, default=str), value)
            why = s.details.get("dropped")
            if isinstance(why, dict):
                dropped.setdefault(s.model, {}).update({str(k): str(v) for k, v in why.items()})
    out: dict[str, dict[str, Any]] = {}
    for model in sorted(values):
        sent_out = {k: (next(iter(v.values())) if len(v) == 1 else list(v.values()))
                    for k, v in sorted(values[model].items())}
        out[model] = {"sent": sent_out, "dropped": dict(sorted(dropped.get(model, {}).items()))}
    return out


def provenance(preds: Sequence[Row]) -> dict[str, Any]:
    """The provenance keys of metrics.json."""
    return {
        "model_snapshots": model_snapshots(preds),
        "mixed_snapshots": mixed_snapshots(preds),
        "simulated": simulated(preds),
        "sent_parameters": sent_parameters(preds),
    }
