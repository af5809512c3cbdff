"""metrics.json, recomputed from predictions.jsonl alone (plus the label set in the manifest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlmfer.engine.rundir import RunFolder, write_json_atomic
from vlmfer.errors import ConfigError, MetricInputError
from vlmfer.types import Prediction, Step


def compute_metrics(rundir: RunFolder) -> dict[str, Any]:
    from vlmfer.metrics.summary import summarize

    manifest = rundir.read_manifest()
    labels = manifest.get("labels") or manifest.get("dataset", {}).get("labels")
    if not labels:
        raise ConfigError(f"{rundir.manifest_path}: the manifest names no label set; it was not "
                          "written by `vlmfer run`, or it was edited")
    engine = manifest.get("engine", {})
    preds = (_slim(p) for p in rundir.iter_predictions())
    # Imported label sets spell Neutral their own way ("neutral" in FERPlus).
    neutral = next((str(x) for x in labels if str(x).casefold() == "neutral"), "Neutral")
    try:
        return summarize(preds, labels, seed=int(engine.get("seed", 0)),
                         n_boot=int(engine.get("n_boot", 1000)), metrics=engine.get("metrics"),
                         neutral=neutral)
    except MetricInputError as e:
        raise ConfigError(f"{rundir.predictions_path}: {e}") from e


def _slim(p: Prediction) -> Prediction:
    # The metrics read a step's usage, cost, cache flag and provenance, never its texts: at
    # 20 000 samples the full steps are most of a run's peak memory.
    steps = [Step(name=s.name, model=s.model, prompt_hash=s.prompt_hash, text_sent="",
                  status=s.status, usage=s.usage, cached=s.cached, cost_usd=s.cost_usd,
                  model_version=s.model_version, simulated=s.simulated,
                  details={k: s.details[k] for k in ("sent", "dropped") if k in s.details})
             for s in p.steps]
    # error_reasons counts the reasons of errors: keep those (they are short).
    reason = p.reason if p.outcome == "error" else None
    return p.model_copy(update={"steps": steps, "reason": reason})


def write_metrics(rundir: RunFolder) -> dict[str, Any]:
    metrics = compute_metrics(rundir)
    write_json_atomic(rundir.metrics_path, metrics)
    return metrics


def metrics_stale(rundir: RunFolder | Path | str) -> bool:
    """Whether ``metrics.json`` must be recomputed before it is read.

    True when it is missing, or when ``predictions.jsonl`` was written after it
    (a resumed run, a crash between the two writes, a hand-edited prediction) or
    is gone.
    This is the one place vlmfer decides it; compare nanosecond mtimes, because
    a resume can append within the same second as the last metrics write.
    """
    rd = rundir if isinstance(rundir, RunFolder) else RunFolder(rundir)
    try:
        written = rd.metrics_path.stat().st_mtime_ns
    except FileNotFoundError:
        return True
    try:
        return rd.predictions_path.stat().st_mtime_ns > written
    except FileNotFoundError:
        return True


def load_metrics(rundir: RunFolder) -> dict[str, Any]:
    """metrics.json, recomputed from predictions.jsonl (and written) when it is stale."""
    if metrics_stale(rundir):
        return write_metrics(rundir)
    data: dict[str, Any] = json.loads(rundir.metrics_path.read_text(encoding="utf-8"))
    return data
