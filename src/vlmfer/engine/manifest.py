"""The run's manifest, written from the components' own descriptions."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from typing import Any

from vlmfer._version import __version__
from vlmfer.datasets.base import Dataset
from vlmfer.engine.core import EngineOptions
from vlmfer.engine.preflight import run_media_spec
from vlmfer.engine.rundir import utcnow
from vlmfer.predictors.base import Predictor
from vlmfer.strategies.base import Strategy


def plugin_versions() -> list[dict[str, Any]]:
    """Every loaded plugin, with the distribution and version it came from."""
    from vlmfer.plugins import get_registry

    reg = get_registry()
    seen: dict[str, dict[str, Any]] = {}
    for e in reg.all_entries():
        seen.setdefault(e.plugin, {"plugin": e.plugin, "distribution": e.distribution,
                                   "version": e.version})
    return sorted(seen.values(), key=lambda d: d["plugin"])


#: Predictor options that change how a run executes or is priced, never the answers:
#: changing them must not stop a resume.
EXECUTION_ONLY_OPTIONS = frozenset({
    "price_file", "timeout_s", "upload_poll_s", "upload_timeout_s", "max_images",
    "local", "max_concurrent_requests", "retry_timeouts", "probe",
})


def _answer_identity(description: dict[str, Any]) -> dict[str, Any]:
    options = description.get("options")
    if not isinstance(options, dict):
        return description
    kept = {k: v for k, v in options.items() if k not in EXECUTION_ONLY_OPTIONS}
    return {**description, "options": kept}


def build_manifest(
    dataset: Dataset, strategy: Strategy, predictors: dict[str, Predictor],
    options: EngineOptions, *, mode: str = "online", command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The manifest is written from the components' own descriptions."""
    ds = dataset.describe()
    media = run_media_spec(strategy, options.media)
    strat = strategy.describe()
    if isinstance(strat.get("options"), dict) and "media" in strat["options"]:
        # What the strategy ran with; earlier folders recorded [media] here, and resume compares it.
        strat = {**strat, "options": {**strat["options"], "media": media.model_dump(mode="json")}}
    fingerprint = dataset.fingerprint()
    # The selection, not the file contents: repairing a broken file must not stop a resume
    # (the cache key holds each file's hash, so a changed file is asked afresh).
    identity = {
        "dataset": {"name": dataset.name, "split": dataset.split, "n": len(dataset),
                    "labels": list(dataset.labels), "options": ds.get("options")},
        "model": {role: _answer_identity(p.describe()) for role, p in sorted(predictors.items())},
        "strategy": strat,
        "media": media.model_dump(mode="json"),
        # An online run must not continue a batch run's folder, nor the reverse.
        "mode": mode,
    }
    return {
        "vlmfer_version": __version__,
        "plugins": plugin_versions(),
        "dataset": {**ds, "name": dataset.name, "split": dataset.split,
                    "fingerprint": fingerprint, "n": len(dataset),
                    "labels": list(dataset.labels)},
        "model": predictors["main"].describe(),
        "roles": {role: p.describe() for role, p in sorted(predictors.items()) if role != "main"},
        "strategy": strat,
        "media": media.model_dump(mode="json"),
        "labels": list(strategy.labels),
        "engine": options.model_dump(mode="json", exclude={"media"}),
        "mode": mode,
        "identity": identity,
        "command": list(command) if command else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "started": utcnow(),
        "finished": None,
    }


