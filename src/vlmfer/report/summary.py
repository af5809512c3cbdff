"""metrics.json, recomputed from predictions.jsonl alone (plus the label set in the manifest)."""

from __future__ import annotations

from typing import Any

from vlmfer.engine.rundir import RunDir, write_json_atomic
from vlmfer.errors import ConfigError
from vlmfer.metrics.core import MetricInputError
from vlmfer.types import Prediction, Step


def compute_metrics(rundir: RunDir) -> dict[str, Any]:
    from vlmfer.metrics.summary import summarize

    manifest = rundir.read_manifest()
    labels = manifest.get("labels") or manifest.get("dataset", {}).get("labels")
    if not labels:
        raise ConfigError(f"{rundir.manifest_path}: the manifest names no label set; it was not "
                          "written by `vlmfer run`, or it was edited")
    engine = manifest.get("engine", {})
    preds = (_slim(p) for p in rundir.iter_predictions())
    try:
        return summarize(preds, labels, seed=int(engine.get("seed", 0)),
                         n_boot=int(engine.get("n_boot", 1000)), metrics=engine.get("metrics"))
    except MetricInputError as e:
        raise ConfigError(f"{rundir.predictions_path}: {e}") from e


def _slim(p: Prediction) -> Prediction:
    # The metrics read a step's usage, cost and cache flag, never its texts: at 20 000
    # samples the full steps are most of a run's peak memory.
    steps = [Step(name=s.name, model=s.model, prompt_hash=s.prompt_hash, text_sent="",
                  status=s.status, usage=s.usage, cached=s.cached, cost_usd=s.cost_usd)
             for s in p.steps]
    return p.model_copy(update={"steps": steps, "reason": None})


def write_metrics(rundir: RunDir) -> dict[str, Any]:
    metrics = compute_metrics(rundir)
    write_json_atomic(rundir.metrics_path, metrics)
    return metrics
