"""The runs a viewer shows: their indexes, the confusion matrix, filters and pages.

Everything is computed from ``predictions.jsonl`` (through its index), the
source of truth, so a view never disagrees with a recomputed report.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vlmfer.engine.rundir import RunFolder
from vlmfer.errors import ConfigError
from vlmfer.types import NON_ANSWERS, OUTCOMES, Prediction
from vlmfer.view.index import Row, RunIndex, StaleIndexError

#: The view cache's folder inside a run folder. Deleting it loses nothing.
CACHE_FOLDER = ".view"
#: The most samples one page may ask for.
MAX_PAGE = 200


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError:
        return False
    return True


def view_cache_dir(run: Path) -> tuple[Path, bool]:
    """Where a run's index and thumbnails are cached, and whether that is the run folder.

    ``RUN/.view`` when it can be written; else (a read-only share) a folder of the
    system's temporary directory named after the run's path.
    """
    own = run / CACHE_FOLDER
    if _writable(own):
        return own, True
    digest = hashlib.sha256(str(run.resolve()).encode("utf-8")).hexdigest()[:16]
    fallback = Path(tempfile.gettempdir()) / "vlmfer-view" / f"{run.name}-{digest}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback, False


def answer_of(row: Row) -> str:
    """What a run said about a sample, for comparing runs: a label, or the outcome."""
    return row.pred if row.outcome == "ok" and row.pred is not None else row.outcome


class ViewRun:
    """One run folder, read-only, with its index in the view cache."""

    def __init__(self, path: Path | str, name: str | None = None) -> None:
        self.path = Path(path)
        self.dir = RunFolder(self.path)
        self.manifest = self.dir.read_manifest()  # a clear error if this is not a run folder
        if not self.dir.predictions_path.exists():
            raise ConfigError(
                f"{self.path}: no predictions.jsonl yet; start the run first "
                "(`vlmfer run ... --out DIR`) or pass another run folder"
            )
        self.name = name or self.path.name
        self.cache_dir, self.cache_in_run = view_cache_dir(self.path)
        self.index = RunIndex(self.dir.predictions_path, self.cache_dir)

    @property
    def labels(self) -> list[str]:
        labels = self.manifest.get("labels") or (self.manifest.get("dataset") or {}).get("labels")
        return [str(x) for x in labels or []]

    def describe(self) -> dict[str, Any]:
        model = self.manifest.get("model") or {}
        dataset = self.manifest.get("dataset") or {}
        strategy = self.manifest.get("strategy") or {}
        return {
            "name": self.name, "path": str(self.path), "model": model.get("name"),
            "strategy": strategy.get("name"), "dataset": dataset.get("name"),
            "split": dataset.get("split"), "labels": self.labels,
            "started": self.manifest.get("started"), "finished": self.manifest.get("finished"),
            "cache": "run folder" if self.cache_in_run else f"temporary folder {self.cache_dir}",
        }

    def confusion(self) -> dict[str, Any]:
        """Gold rows × predicted columns, with one column per non-answer outcome."""
        rows = self.index.rows()
        labels = self.labels
        golds = labels + sorted({r.gold for r in rows if r.gold and r.gold not in labels})
        preds = labels + sorted({r.pred for r in rows if r.pred and r.pred not in labels})
        cols = preds + [o for o in NON_ANSWERS if o not in preds]
        counts = Counter((r.gold, answer_of(r)) for r in rows)
        return {
            "rows": golds, "cols": cols,
            "counts": [[counts[(g, c)] for c in cols] for g in golds],
            "no_gold": sum(1 for r in rows if r.gold is None),
            "outcomes": {o: sum(1 for r in rows if r.outcome == o) for o in OUTCOMES},
            "n": len(rows),
        }

    def read(self, row: Row) -> Prediction:
        return self.index.read(row)


class Filters(BaseModel):
    """What a page asks for. Empty strings mean "any"."""

    model_config = ConfigDict(extra="forbid")

    focus: int = Field(default=0, ge=0, description="the run the label filters apply to")
    gold: str = ""
    pred: str = ""
    outcome: str = ""
    q: str = Field(default="", description="text the answer contains (case-insensitive)")
    disagree: bool = False
    page: int = Field(default=0, ge=0)
    size: int = Field(default=20, ge=1, le=MAX_PAGE)


class Catalog:
    """The runs of one viewer, joined on sample id (the first run's order first)."""

    def __init__(self, runs: Sequence[ViewRun]) -> None:
        if not runs:
            raise ConfigError("vlmfer view needs at least one run folder")
        self.runs = list(runs)
        self._joined_for: list[int] | None = None
        self._ids: list[str] = []
        self._maps: list[dict[str, Row]] = []

    @classmethod
    def open(cls, paths: Sequence[Path | str]) -> Catalog:
        names = [Path(p).resolve().name for p in paths]
        dupes = {n for n in names if names.count(n) > 1}
        runs = []
        for path, name in zip(paths, names, strict=True):
            label = f"{Path(path).resolve().parent.name}/{name}" if name in dupes else name
            runs.append(ViewRun(path, label))
        return cls(runs)

    def _join(self) -> tuple[list[str], list[dict[str, Row]]]:
        all_rows = [run.index.rows() for run in self.runs]
        key = [run.index.generation for run in self.runs]
        if key != self._joined_for:
            maps = [{r.sample_id: r for r in rows} for rows in all_rows]
            ids: dict[str, None] = {}
            for rows in all_rows:
                ids.update((r.sample_id, None) for r in rows)
            self._ids, self._maps, self._joined_for = list(ids), maps, key
        return self._ids, self._maps

    def summary(self) -> dict[str, Any]:
        ids, _ = self._join()
        return {
            "runs": [{**run.describe(), "confusion": run.confusion()} for run in self.runs],
            "outcomes": list(OUTCOMES),
            "n_samples": len(ids),
        }

    def _check(self, f: Filters) -> None:
        if f.focus >= len(self.runs):
            raise ConfigError(f"focus={f.focus}: there are {len(self.runs)} runs "
                              f"(0 to {len(self.runs) - 1})")
        if f.outcome and f.outcome not in OUTCOMES:
            raise ConfigError(f"outcome={f.outcome!r}: choose one of {', '.join(OUTCOMES)}")

    def select(self, f: Filters) -> list[str]:
        """The ids of the samples that pass every filter, in order."""
        self._check(f)
        ids, maps = self._join()
        focus = maps[f.focus]
        q = f.q.strip().lower()
        chosen = []
        for sid in ids:
            row = focus.get(sid)
            if f.gold or f.pred or f.outcome or q:
                if row is None:
                    continue
                if f.gold and (row.gold or "") != f.gold:
                    continue
                if f.pred and (row.pred or "") != f.pred:
                    continue
                if f.outcome and row.outcome != f.outcome:
                    continue
                if q and q not in row.text:
                    continue
            if f.disagree:
                answers = {answer_of(m[sid]) for m in maps if sid in m}
                if len(answers) < 2:
                    continue
            chosen.append(sid)
        return chosen

    def page(self, f: Filters) -> dict[str, Any]:
        """One page of samples: every run's full prediction, read by offset."""
        for attempt in range(3):
            try:
                return self._page(f)
            except StaleIndexError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _page(self, f: Filters) -> dict[str, Any]:
        chosen = self.select(f)
        _, maps = self._join()
        pages = max(1, -(-len(chosen) // f.size))
        page = min(f.page, pages - 1)
        items = []
        for sid in chosen[page * f.size:(page + 1) * f.size]:
            preds: list[dict[str, Any] | None] = []
            gold = None
            for run, m in zip(self.runs, maps, strict=True):
                row = m.get(sid)
                if row is None:
                    preds.append(None)
                    continue
                p = run.read(row)
                gold = gold if gold is not None else p.gold
                preds.append(p.model_dump(mode="json"))
            items.append({"sample_id": sid, "gold": gold, "runs": preds})
        return {"total": len(chosen), "page": page, "pages": pages, "size": f.size,
                "items": items}

    def prediction(self, run: int, sample_id: str) -> Prediction | None:
        if not 0 <= run < len(self.runs):
            return None
        _, maps = self._join()
        row = maps[run].get(sample_id)
        return self.runs[run].read(row) if row is not None else None
