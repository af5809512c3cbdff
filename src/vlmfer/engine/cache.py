"""The response cache: SQLite in WAL mode, shared safely by several processes.

The key is a hash of everything the model saw and was asked (see
``cache_key``). Only real answers are stored: refusals, blocks and errors are
not cached, so they are asked again next time. ``SnapshotPins`` decides whether a
cached answer from another model snapshot may serve a run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from vlmfer.paths import cache_dir
from vlmfer.types import Prompt, Response, stable_hash

__all__ = ["ResponseCache", "cache_dir", "cache_key"]

log = logging.getLogger("vlmfer")

SCHEMA_VERSION = 1


def cache_key(identity: dict[str, Any], prompt: Prompt | str) -> str:
    """Provider, model, base_url and options, plus the prompt's content hash.

    ``prompt`` may be the Prompt or its ``hash()`` already computed.
    """
    digest = prompt if isinstance(prompt, str) else prompt.hash()
    return stable_hash({"v": SCHEMA_VERSION, "predictor": identity, "prompt": digest})


#: Writes wait at most this long to be committed together (one transaction, ``executemany``).
FLUSH_INTERVAL_S = 0.05
#: Above this many rows the in-memory key index is not built: every read goes to the thread.
INDEX_MAX_ROWS = 200_000
#: How stale the key index may be before it is refreshed with other processes' new rows.
INDEX_REFRESH_S = 1.0


def cache_keyer(identity: dict[str, Any]) -> Callable[[str], str]:
    """``cache_key`` for one predictor identity, its JSON rendered once: ``keyer(digest)``.

    ``digest`` is a prompt's ``hash()`` (hex). Byte for byte the key ``cache_key`` gives.
    """
    head = ('{"predictor":' + json.dumps(identity, sort_keys=True, separators=(",", ":"),
                                          default=str, ensure_ascii=False) + ',"prompt":"')
    tail = f'","v":{SCHEMA_VERSION}}}'

    def keyer(digest: str) -> str:
        return hashlib.sha256((head + digest + tail).encode("utf-8")).hexdigest()

    return keyer


class ResponseCache:
    """A small key → Response store. Safe across threads and processes.

    ``get`` and ``put`` are synchronous. The engine uses ``aget`` and ``put_later``, which
    keep SQLite off the event loop: another process holding the write lock stalls a
    background thread, never the loop. ``put_later`` hands the row to one writer thread that
    commits what arrived within ``FLUSH_INTERVAL_S`` in one transaction; until then this
    process reads it from memory. ``aget`` answers a key this process knows is absent (an
    in-memory index of the keys, refreshed with other processes' rows about once a second)
    at once, and reads the rest in a reader thread.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "responses.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._opened_lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []  # every thread's, closed by close()
        self._conn()  # create the schema now, so errors show at start-up
        self._lock = threading.Lock()
        #: Rows handed to the writer and not yet committed: key -> JSON.
        self._pending: dict[str, str] = {}
        self._buffer: list[tuple[str, str]] = []  # rows for the writer's next batch
        self._waiters: list[threading.Event] = []  # flush() calls to wake after that batch
        self._has_work = threading.Event()
        self._flush_now = threading.Event()
        self._stopping = False
        self._writer: threading.Thread | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._index: set[int] | None = None  # hash(key) of every stored key, once loaded
        self._index_rowid = 0
        self._index_at = 0.0
        self._index_busy = False
        self._index_off = False  # too many rows to index
        #: Errors the writer met (logged as well); a run goes on without the cache.
        self.write_errors = 0

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " key TEXT PRIMARY KEY, response TEXT NOT NULL, created REAL NOT NULL)"
            )
            self._local.conn = conn
            with self._opened_lock:
                self._opened.append(conn)
        return conn

    def get(self, key: str) -> Response | None:
        text = self._pending.get(key)
        if text is None:
            row = self._conn().execute(
                "SELECT response FROM responses WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            text = row[0]
        try:
            return Response.model_validate_json(text)
        except ValueError:
            return None  # an entry from an incompatible version: ask again

    async def aget(self, key: str) -> Response | None:
        """``get`` without touching SQLite on the calling (event-loop) thread."""
        if key not in self._pending:
            index = self._index
            if index is not None and hash(key) not in index:
                if time.monotonic() - self._index_at > INDEX_REFRESH_S:
                    self._refresh_index()
                return None
            if index is None and not self._index_off:
                self._refresh_index()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool(), self.get, key)

    def _reader_pool(self) -> ThreadPoolExecutor:
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="vlmfer-cache-read")
        return self._reader

    def _refresh_index(self) -> None:
        """Load (then extend) the key index in the reader thread; never waits for it."""
        with self._lock:
            if self._index_busy:
                return
            self._index_busy = True
        self._reader_pool().submit(self._load_index)

    def _load_index(self) -> None:
        try:
            conn = self._conn()
            if self._index is None:
                (rows,) = conn.execute("SELECT COUNT(*) FROM responses").fetchone()
                if rows > INDEX_MAX_ROWS:
                    self._index_off = True  # stays None: every read goes to this thread
                    return
            new = conn.execute("SELECT rowid, key FROM responses WHERE rowid > ?",
                               (self._index_rowid,)).fetchall()
            index = set(self._index or ())
            index.update(hash(k) for _, k in new)
            with self._lock:
                index.update(hash(k) for k in self._pending)
                self._index = index
            if new:
                self._index_rowid = max(r for r, _ in new)
            self._index_at = time.monotonic()
        except sqlite3.Error as e:
            log.warning("vlmfer: the response cache %s could not be read (%s)", self.path, e)
        finally:
            self._index_busy = False

    def put(self, key: str, response: Response) -> None:
        row = _stored(response)
        if row is None:
            return
        self._conn().execute(
            "INSERT OR REPLACE INTO responses (key, response, created) VALUES (?, ?, ?)",
            (key, row, time.time()),
        )
        self._note(key)

    def put_later(self, key: str, response: Response) -> None:
        """``put`` through the background writer: returns at once (see the class doc)."""
        row = _stored(response)
        if row is None:
            return
        with self._lock:
            self._pending[key] = row
            self._buffer.append((key, row))
            self._note(key)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop,
                                                name="vlmfer-cache-write", daemon=True)
                self._writer.start()
        # Wakes the writer once a batch, not once a row: a wake-up per row costs the loop
        # a GIL hand-off each time.
        if not self._has_work.is_set():
            self._has_work.set()

    def _note(self, key: str) -> None:
        if self._index is not None:
            self._index.add(hash(key))

    def _write_loop(self) -> None:
        while True:
            self._has_work.wait()
            self._flush_now.wait(FLUSH_INTERVAL_S)  # let the batch fill, unless asked now
            with self._lock:
                batch, self._buffer = self._buffer, []
                waiters, self._waiters = self._waiters, []
                stop = self._stopping
                self._has_work.clear()
                self._flush_now.clear()
            if batch:
                self._commit(batch)
            for w in waiters:
                w.set()
            if stop:
                return

    def _commit(self, batch: list[tuple[str, str]]) -> None:
        now = time.time()
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR REPLACE INTO responses (key, response, created) VALUES (?, ?, ?)",
                    [(k, r, now) for k, r in batch])
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            self.write_errors += 1
            log.warning("vlmfer: %d answer(s) could not be written to the response cache %s "
                        "(%s); they will be asked again next time", len(batch), self.path, e)
        with self._lock:
            for k, r in batch:
                if self._pending.get(k) is r:
                    del self._pending[k]

    def flush(self) -> None:
        """Wait until every ``put_later`` so far is committed."""
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                return
            done = threading.Event()
            self._waiters.append(done)
        self._flush_now.set()
        self._has_work.set()
        done.wait()

    def __len__(self) -> int:
        self.flush()
        row = self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Commit what is pending, stop the threads and close every connection."""
        with self._lock:
            writer, self._writer = self._writer, None
            self._stopping = writer is not None
        if writer is not None:
            self._flush_now.set()
            self._has_work.set()
            writer.join()
            self._stopping = False
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.shutdown(wait=True)
        self._index = None
        self._index_rowid = 0
        with self._opened_lock:
            opened, self._opened[:] = list(self._opened), []
        for conn in opened:
            conn.close()
        self._local = threading.local()


def _stored(response: Response) -> str | None:
    """The JSON kept for an answer (as received, not as a hit); None when it is no answer."""
    if response.status != "ok" or response.text is None:
        return None
    if response.cached:  # a live answer is not: no copy on the hot path
        response = response.model_copy(update={"cached": False})
    return response.model_dump_json()


class _StepOrigin(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def model_version(self) -> str | None: ...
    @property
    def cached(self) -> bool: ...


class Answered(Protocol):
    """A finished sample as the pins read it: a ``Prediction``, or the lighter
    ``FinishedSample`` that a resume parses."""

    @property
    def steps(self) -> Sequence[_StepOrigin]: ...


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

    def stale(self, prediction: Answered) -> bool:
        """Whether a finished sample used a cached answer from a snapshot other than the pin."""
        return any(
            s.cached and s.model_version is not None
            and self.pins.get(s.model, s.model_version) != s.model_version
            for s in prediction.steps
        )

    @classmethod
    def of_run(cls, manifest: Mapping[str, Any], finished: Sequence[Answered]) -> SnapshotPins:
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
