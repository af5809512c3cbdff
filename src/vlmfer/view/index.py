"""A compact index of ``predictions.jsonl``: where each line starts, and what filters need.

The viewer pages through 20 000 samples without holding them: the index keeps,
per sample, the byte offset and length of its line plus the few fields the
filters look at (gold, predicted label, outcome, the answer text). A page reads
its lines by offset. The index is cached in the run's view cache and rebuilt
when ``predictions.jsonl`` changes size or modification time, so a run that is
still being written shows its new lines on the next request.

Like ``RunFolder.iter_predictions``, the first line of a sample wins and a torn
last line (no newline yet) is left out.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

from vlmfer.errors import ConfigError
from vlmfer.types import Prediction

#: Bumped when the cached index's layout changes, so an old file is rebuilt.
INDEX_VERSION = 1
INDEX_FILE = "index.json"


class StaleIndexError(RuntimeError):
    """predictions.jsonl changed between reading the index and reading a line."""


class Row(NamedTuple):
    """One sample's place in predictions.jsonl and its filterable fields."""

    offset: int
    length: int
    sample_id: str
    gold: str | None
    pred: str | None
    outcome: str
    #: Every step's answer text, lower-cased, for the text filter.
    text: str


def _answer_text(record: dict[str, Any]) -> str:
    parts = [s.get("response_text") or "" for s in record.get("steps") or []
             if isinstance(s, dict)]
    return "\n".join(p for p in parts if p).lower()


def build_rows(path: Path) -> list[Row]:
    """Scan ``path`` once and return one ``Row`` per sample (first line wins)."""
    rows: list[Row] = []
    seen: set[str] = set()
    offset = 0
    with path.open("rb") as f:
        for lineno, line in enumerate(f, start=1):
            start, offset = offset, offset + len(line)
            if not line.endswith(b"\n"):
                break  # a torn last line: the run is still writing it, or crashed
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                sample_id = record["sample_id"]
                outcome = record["outcome"]
            except (ValueError, KeyError, TypeError) as e:
                raise ConfigError(
                    f"{path}:{lineno}: not a valid prediction ({type(e).__name__}: {e}); "
                    "the file is corrupt: fix or delete that line, then open the viewer again"
                ) from e
            if sample_id in seen:
                continue
            seen.add(sample_id)
            rows.append(Row(start, len(line), str(sample_id), record.get("gold"),
                            record.get("pred"), str(outcome), _answer_text(record)))
    return rows


def _stamp(path: Path) -> list[int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return [-1, -1]
    return [st.st_size, st.st_mtime_ns]


class RunIndex:
    """The index of one run's predictions.jsonl, cached in ``cache_dir``.

    Thread-safe: the viewer's server answers requests on several threads.
    """

    def __init__(self, predictions: Path, cache_dir: Path | None) -> None:
        self.predictions = predictions
        self.cache_file = cache_dir / INDEX_FILE if cache_dir is not None else None
        self._lock = threading.Lock()
        self._stamp: list[int] | None = None
        self._rows: list[Row] = []
        #: How the current rows were obtained: "built", "cached" or "empty".
        self.source = "empty"
        #: Goes up by one each time the rows are reloaded, so joins know to redo.
        self.generation = 0

    def rows(self) -> list[Row]:
        """The current rows, rebuilt first if predictions.jsonl changed."""
        with self._lock:
            stamp = _stamp(self.predictions)
            if stamp != self._stamp:
                self._rows, self.source = self._load(stamp)
                self._stamp = stamp
                self.generation += 1
            return self._rows

    def _load(self, stamp: list[int]) -> tuple[list[Row], str]:
        if stamp[0] < 0:
            return [], "empty"
        cached = self._read_cache(stamp)
        if cached is not None:
            return cached, "cached"
        rows = build_rows(self.predictions)
        self._write_cache(stamp, rows)
        return rows, "built"

    def _read_cache(self, stamp: list[int]) -> list[Row] | None:
        if self.cache_file is None:
            return None
        try:
            data = json.loads(self.cache_file.read_text(encoding="utf-8"))
            if data.get("version") != INDEX_VERSION or data.get("source") != stamp:
                return None
            return [Row(*r) for r in data["rows"]]
        except (OSError, ValueError, TypeError, KeyError):
            return None  # a missing or damaged cache is rebuilt, never an error

    def _write_cache(self, stamp: list[int], rows: list[Row]) -> None:
        if self.cache_file is None:
            return
        data = {"version": INDEX_VERSION, "source": stamp, "rows": [list(r) for r in rows]}
        tmp = self.cache_file.with_name(f".{self.cache_file.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False),
                           encoding="utf-8")
            os.replace(tmp, self.cache_file)
        except OSError:
            pass  # the cache is an optimisation: a read-only folder just rebuilds next time

    def read(self, row: Row) -> Prediction:
        """The prediction at ``row``, read by offset (one line, not the file)."""
        with self.predictions.open("rb") as f:
            f.seek(row.offset)
            line = f.read(row.length)
        try:
            pred = Prediction.model_validate_json(line)
        except ValueError as e:
            if _stamp(self.predictions) != self._stamp:
                raise StaleIndexError(row.sample_id) from e
            raise ConfigError(
                f"{self.predictions}: the line of sample {row.sample_id!r} (byte {row.offset}) "
                f"is not a valid prediction ({type(e).__name__}); fix or delete that line"
            ) from e
        if pred.sample_id != row.sample_id:
            raise StaleIndexError(row.sample_id)
        return pred

    def invalidate(self) -> None:
        """Forget the rows, so the next ``rows()`` checks the file again."""
        with self._lock:
            self._stamp = None
