"""``Run``: a finished (or resumed) run, read from its folder.

It sits above the engine and the report: the engine writes the folder, and this
handle reads it, recomputes ``metrics.json`` and writes the report on demand.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vlmfer.engine.rundir import RunFolder
from vlmfer.types import Prediction


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
        """``metrics.json``, recomputed first when stale (``report.summary.metrics_stale``)."""
        from vlmfer.report.summary import load_metrics

        return load_metrics(self.dir)

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
        """One row per sample (needs pandas: pip install vlmfer[pandas]).

        Columns: ``run`` (the folder), ``model``, ``snapshot``, ``strategy``,
        ``dataset``, ``split``, ``sample_id``, ``gold``, ``pred``, ``outcome``,
        ``correct``, ``reason``, ``how`` (the parse rule of the last answer),
        ``n_steps``, ``input_tokens``, ``output_tokens``, ``latency_s``,
        ``cost_usd``, ``cached`` (every call came from the cache) and ``text`` (the
        last step's answer).
        """
        pd = _pandas("Run.to_pandas")
        return pd.DataFrame(self.rows(), columns=list(COLUMNS))

    def rows(self) -> list[dict[str, Any]]:
        """``to_pandas``' rows as plain dicts (no pandas needed)."""
        manifest = self.manifest
        model = (manifest.get("model") or {}).get("name")
        strategy = (manifest.get("strategy") or {}).get("name")
        ds = manifest.get("dataset") or {}
        rows = []
        for p in self.predictions:
            last = p.steps[-1] if p.steps else None
            answered = [s for s in p.steps if s.parsed is not None]
            how = answered[-1].parsed.how if answered and answered[-1].parsed else (
                p.extra.get("how") if isinstance(p.extra.get("how"), str) else None)
            versions = [str(s.details.get("model_version")) for s in p.steps
                        if s.details.get("model_version")]
            rows.append({
                "run": str(self.path), "model": model,
                "snapshot": versions[-1] if versions else manifest_snapshot(manifest),
                "strategy": strategy, "dataset": ds.get("name"), "split": ds.get("split"),
                "sample_id": p.sample_id, "gold": p.gold, "pred": p.pred, "outcome": p.outcome,
                "correct": p.gold is not None and p.outcome == "ok" and p.pred == p.gold,
                "reason": p.reason, "how": how, "n_steps": len(p.steps),
                "input_tokens": sum(s.usage.input_tokens for s in p.steps),
                "output_tokens": sum(s.usage.output_tokens for s in p.steps),
                "latency_s": sum(s.latency_s for s in p.steps),
                "cost_usd": p.cost_usd,
                "cached": bool(p.steps) and all(s.cached for s in p.steps),
                "text": last.response_text if last else None,
            })
        return rows


#: The columns of ``Run.to_pandas`` and ``load_runs``, in order.
COLUMNS: tuple[str, ...] = (
    "run", "model", "snapshot", "strategy", "dataset", "split", "sample_id", "gold", "pred",
    "outcome", "correct", "reason", "how", "n_steps", "input_tokens", "output_tokens",
    "latency_s", "cost_usd", "cached", "text",
)


def manifest_snapshot(manifest: dict[str, Any]) -> str | None:
    model = manifest.get("model") or {}
    value = model.get("snapshot") or model.get("model_version")
    return str(value) if value else None


def _pandas(what: str) -> Any:
    try:
        import pandas as pd
    except ImportError as e:
        from vlmfer.errors import MissingDependencyError

        raise MissingDependencyError(what, "vlmfer[pandas]") from e
    return pd


def load_runs(paths: Path | str | Iterable[Path | str]) -> Any:
    """One long DataFrame (a row per sample per run) over many run folders.

    A folder holding ``study.json`` (a study) stands for every run of the study.
    Columns as ``Run.to_pandas``; the ``run`` column tells the runs apart.

    >>> df = vlmfer.load_runs(["runs/gpt-single", "runs/gemini-single"])  # doctest: +SKIP
    >>> df.groupby("model")["correct"].mean()  # doctest: +SKIP
    """
    pd = _pandas("vlmfer.load_runs")
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    folders: list[Path] = []
    for item in items:
        folder = Path(item)
        study = folder / "study.json"
        if study.exists() and not (folder / "manifest.json").exists():
            data = json.loads(study.read_text(encoding="utf-8"))
            folders += [folder / e["folder"] for e in data.get("experiments", [])
                        if (folder / e["folder"] / "manifest.json").exists()]
        else:
            folders.append(folder)
    rows: list[dict[str, Any]] = []
    for folder in folders:
        rows += Run(folder).rows()
    return pd.DataFrame(rows, columns=list(COLUMNS))
