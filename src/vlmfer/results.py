"""``Run``: a finished (or resumed) run, read from its folder.

It sits above the engine and the report: the engine writes the folder, and this
handle reads it, recomputes ``metrics.json`` and writes the report on demand.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from vlmfer.engine.rundir import RunFolder
from vlmfer.types import Prediction


def _metrics_stale(rundir: RunFolder) -> bool:
    """Whether metrics.json is missing or older than predictions.jsonl (a crash can leave it).

    One of three such checks (with ``report.html``'s); they are to become one.
    """
    try:
        return rundir.metrics_path.stat().st_mtime_ns < rundir.predictions_path.stat().st_mtime_ns
    except FileNotFoundError:
        return not rundir.metrics_path.exists()


class Run:
    """A finished (or resumed) run: its folder, metrics and predictions.

    >>> run = vlmfer.Run("runs/gpt-single")  # doctest: +SKIP
    >>> run.metrics["uar"], run.outcomes["refused"]  # doctest: +SKIP
    """

    def __init__(self, path: Path | str) -> None:
        self.dir = RunFolder(path)

    @property
    def path(self) -> Path:
        return self.dir.path

    @property
    def manifest(self) -> dict[str, Any]:
        return self.dir.read_manifest()

    @property
    def predictions(self) -> list[Prediction]:
        return list(self.dir.iter_predictions())

    @property
    def metrics(self) -> dict[str, Any]:
        """``metrics.json``, recomputed first when predictions.jsonl is newer."""
        if _metrics_stale(self.dir):
            self.recompute()
        data: dict[str, Any] = json.loads(self.dir.metrics_path.read_text(encoding="utf-8"))
        return data

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(p.outcome for p in self.predictions)

    def recompute(self) -> dict[str, Any]:
        """Recompute metrics.json from predictions.jsonl alone."""
        from vlmfer.report.summary import write_metrics

        return write_metrics(self.dir)

    def report(self, path: Path | str | None = None, *, thumbnails: bool = True) -> Path:
        """Write the HTML report (and confusion_matrix.png); return its path."""
        from vlmfer.report.html import write_report

        return write_report(self.dir, Path(path) if path else None, thumbnails=thumbnails)

    def to_pandas(self) -> Any:
        """One row per sample (needs pandas: pip install vlmfer[pandas])."""
        try:
            import pandas as pd
        except ImportError as e:
            from vlmfer.errors import MissingDependencyError

            raise MissingDependencyError("Run.to_pandas", "vlmfer[pandas]") from e
        rows = [
            {"sample_id": p.sample_id, "gold": p.gold, "pred": p.pred, "outcome": p.outcome,
             "reason": p.reason, "n_steps": len(p.steps), "cost_usd": p.cost_usd,
             "text": p.steps[-1].response_text if p.steps else None}
            for p in self.predictions
        ]
        return pd.DataFrame(rows)
