"""The response cache: SQLite in WAL mode, shared safely by several processes.

The key is a hash of everything the model saw and was asked (see
``cache_key``). Only real answers are stored: refusals, blocks and errors are
not cached, so they are asked again next time. ``SnapshotPins`` decides whether a
cached answer from another model snapshot may serve a run.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vlmfer.paths import cache_dir
from vlmfer.types import Prediction, Prompt, Response, stable_hash

__all__ = ["ResponseCache", "cache_dir", "cache_key"]

SCHEMA_VERSION = 1


def cache_key(identity: dict[str, Any], prompt: Prompt | str) -> str:
    """Provider, model, base_url and options, plus the prompt's content hash.

    ``prompt`` may be the Prompt or its ``hash()`` already computed.
    """
    digest = prompt if isinstance(prompt, str) else prompt.hash()
    return stable_hash({"v": SCHEMA_VERSION, "predictor": identity, "prompt": digest})


class ResponseCache:
    """A small key → Response store. Safe across threads and processes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "responses.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conn()  # create the schema now, so errors show at start-up

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " key TEXT PRIMARY KEY, response TEXT NOT NULL, created REAL NOT NULL)"
            )
            self._local.conn = conn
        return conn

    def get(self, key: str) -> Response | None:
        row = self._conn().execute(
            "SELECT response FROM responses WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        try:
            return Response.model_validate_json(row[0])
        except ValueError:
            return None  # an entry from an incompatible version: ask again

    def put(self, key: str, response: Response) -> None:
        if response.status != "ok" or response.text is None:
            return
        stored = response.model_copy(update={"cached": False})
        self._conn().execute(
            "INSERT OR REPLACE INTO responses (key, response, created) VALUES (?, ?, ?)",
            (key, stored.model_dump_json(), time.time()),
        )

    def __len__(self) -> int:
        row = self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(row[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class SnapshotPins:
    """Which snapshot answers a run, per requested model: the snapshot policy of the cache.

    The cache is keyed on the requested name (``gpt-4o-mini``), and a provider moves an
    alias to a new snapshot over time. So a run pins, per model, the snapshot of its first
    live answer (kept in the manifest under ``snapshots``, and read back on resume). A
    cached answer from another snapshot is then not used: it is asked again. Cached answers
    used before any live answer came back are checked at the end of the run (``stale``) and
    those samples asked again. When live answers themselves change snapshot mid-run, nothing
    can be asked again: the run warns, and metrics.json says ``mixed_snapshots``.
    """

    def __init__(self, pins: Mapping[str, str] | None = None) -> None:
        self.pins: dict[str, str] = dict(pins or {})
        self._warned: set[tuple[str, str]] = set()

    def accepts(self, model: str, cached: Response) -> bool:
        """Whether a cached answer may serve this run (unpinned or unknown snapshots may)."""
        pinned = self.pins.get(model)
        return pinned is None or cached.model_version in (None, pinned)

    def observe(self, model: str, live: Response) -> str | None:
        """Note a live answer; return the pinned snapshot when this one differs from it."""
        snapshot = live.model_version
        if snapshot is None:
            return None
        pinned = self.pins.setdefault(model, snapshot)
        if pinned == snapshot or (model, snapshot) in self._warned:
            return None
        self._warned.add((model, snapshot))
        return pinned

    def stale(self, prediction: Prediction) -> bool:
        """Whether a finished sample used a cached answer from a snapshot other than the pin."""
        return any(
            s.cached and s.model_version is not None
            and self.pins.get(s.model, s.model_version) != s.model_version
            for s in prediction.steps
        )

    @classmethod
    def of_run(cls, manifest: Mapping[str, Any], finished: Sequence[Prediction]) -> SnapshotPins:
        """The pins a resumed run continues with: the manifest's, else its first live answers."""
        pins: dict[str, str] = {}
        recorded = manifest.get("snapshots")
        if isinstance(recorded, Mapping):
            pins.update({str(k): str(v) for k, v in recorded.items()})
        for p in finished:
            for s in p.steps:
                if not s.cached and s.model_version is not None:
                    pins.setdefault(s.model, s.model_version)
        return cls(pins)
