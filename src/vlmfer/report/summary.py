"""metrics.json, recomputed from predictions.jsonl alone (plus the label set in the manifest)."""

from __future__ import annotations

from typing import Any

from vlmfer.engine.rundir import RunDir, write_json_atomic


def compute_metrics(rundir: RunDir) -> dict[str, Any]:
    from vlmfer.metrics.summary import summarize

    manifest = rundir.read_manifest()
    labels = manifest.get("labels") or manifest.get("dataset", {}).get("labels")
    if not labels:
        raise ValueError(f"{rundir.manifest_path}: the manifest names no label set")
    engine = manifest.get("engine", {})
    preds = list(rundir.iter_predictions())
    return summarize(preds, labels, seed=int(engine.get("seed", 0)),
                     n_boot=int(engine.get("n_boot", 1000)))


def write_metrics(rundir: RunDir) -> dict[str, Any]:
    metrics = compute_metrics(rundir)
    write_json_atomic(rundir.metrics_path, metrics)
    return metrics
