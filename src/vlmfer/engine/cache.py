"""The response cache: SQLite in WAL mode, shared safely by several processes.

The key is a hash of everything the model saw and was asked (see
``cache_key``). Only real answers are stored: refusals, blocks and errors are
not cached, so they are asked again next time.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from vlmfer.paths import cache_dir
from vlmfer.types import Prompt, Response, stable_hash

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
