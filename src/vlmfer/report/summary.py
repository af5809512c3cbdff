"""metrics.json, recomputed from predictions.jsonl alone (plus the label set in the manifest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlmfer.engine.rundir import RunFolder, write_json_atomic
from vlmfer.errors import ConfigError, MetricInputError


def compute_metrics(rundir: RunFolder) -> dict[str, Any]:
    from vlmfer.metrics.summary import summarize

    manifest = rundir.read_manifest()
    labels = manifest.get("labels") or manifest.get("dataset", {}).get("labels")
    if not labels:
        raise ConfigError(f"{rundir.manifest_path}: the manifest names no label set; it was not "
                          "written by `vlmfer run`, or it was edited")
    engine = manifest.get("engine", {})
    # Streamed: summarize keeps a compact row a sample, not the records (metrics.rows).
    preds = rundir.iter_predictions()
    # Imported label sets spell Neutral their own way ("neutral" in FERPlus).
    neutral = next((str(x) for x in labels if str(x).casefold() == "neutral"), "Neutral")
    try:
        return summarize(preds, labels, seed=int(engine.get("seed", 0)),
                         n_boot=int(engine.get("n_boot", 1000)), metrics=engine.get("metrics"),
                         neutral=neutral)
    except MetricInputError as e:
        raise ConfigError(f"{rundir.predictions_path}: {e}") from e


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
