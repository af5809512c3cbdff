"""The SQLite response cache, including two processes writing at once."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from vlmfer.engine.cache import ResponseCache, cache_dir
from vlmfer.types import Response

WRITER = """
import sys
from pathlib import Path
from vlmfer.engine.cache import ResponseCache
from vlmfer.types import Response
c = ResponseCache(Path(sys.argv[1]))
for i in range(300):
    c.put(f"{sys.argv[2]}-{i}", Response(text=f"answer {i}"))
    assert c.get(f"{sys.argv[2]}-{i}").text == f"answer {i}"
"""


def test_only_answers_are_cached(tmp_path: Path) -> None:
    c = ResponseCache(tmp_path / "c.sqlite3")
    c.put("a", Response(text="Happy"))
    c.put("b", Response(text=None, status="refused"))
    c.put("c", Response(text=None, status="blocked"))
    hit = c.get("a")
    assert hit is not None and hit.text == "Happy"
    assert c.get("b") is None and c.get("c") is None


def test_two_processes_share_one_cache_without_corruption(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite3"
    ResponseCache(db)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), name])
             for name in ("p1", "p2")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    c = ResponseCache(db)
    assert len(c) == 600
    assert c._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_default_file_lives_in_the_cache_dir(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(tmp_path / "a" / "b"))
    assert cache_dir() == tmp_path / "a" / "b"
    ResponseCache().put("k", Response(text="Happy"))
    assert (tmp_path / "a" / "b" / "responses.sqlite3").is_file()
    monkeypatch.delenv("VLMFER_CACHE_DIR")
    from platformdirs import user_cache_dir

    assert cache_dir() == Path(user_cache_dir("vlmfer"))


def test_an_answer_is_stored_as_received_not_as_a_hit(tmp_path: Path) -> None:
    c = ResponseCache(tmp_path / "deep" / "er" / "c.sqlite3")
    c.put("a", Response(text="Happy", cached=True, latency_s=1.5))
    c.put("empty", Response(text=None))  # "ok" without text is no answer either
    hit = c.get("a")
    assert hit is not None and (hit.text, hit.cached, hit.latency_s) == ("Happy", False, 1.5)
    assert c.get("empty") is None and c.get("never") is None
    assert len(c) == 1


def test_a_write_is_seen_by_another_connection_at_once(tmp_path: Path) -> None:
    """Autocommit: nothing waits in an open transaction (another process must see it)."""
    path = tmp_path / "c.sqlite3"
    writer, reader = ResponseCache(path), ResponseCache(path)
    writer.put("a", Response(text="Sad"))
    hit = reader.get("a")
    assert hit is not None and hit.text == "Sad"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_unreadable_entry_is_asked_again_and_close_can_be_repeated(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    c = ResponseCache(path)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO responses VALUES ('old', '{\"from\": \"v0\"}', 0)")
    assert c.get("old") is None
    c.close()
    c.close()
    c.put("b", Response(text="Fear"))  # reopens
    assert len(c) == 2


def test_close_releases_the_file(tmp_path: Path) -> None:
    """The last connection to close checkpoints the write-ahead log and removes it."""
    path = tmp_path / "c.sqlite3"
    c = ResponseCache(path)
    c.put("a", Response(text="Happy"))
    assert path.with_name("c.sqlite3-wal").exists()
    c.close()
    assert not path.with_name("c.sqlite3-wal").exists()


ASYNC_WRITER = """
import asyncio, sys
from pathlib import Path
from vlmfer.engine.cache import ResponseCache
from vlmfer.types import Response

async def main() -> None:
    c = ResponseCache(Path(sys.argv[1]))
    name, n = sys.argv[2], int(sys.argv[3])
    for i in range(n):
        c.put_later(f"{name}-{i}", Response(text=f"answer {i}"))
        if i % 7 == 0:  # reads while the writer commits: its own rows, at once
            hit = await c.aget(f"{name}-{i}")
            assert hit is not None and hit.text == f"answer {i}", i
            await asyncio.sleep(0)
    c.close()
    print(c.write_errors)

asyncio.run(main())
"""

LOCK_HOLDER = """
import sqlite3, sys, time
from pathlib import Path
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO responses VALUES ('holder', '{}', 0)")
print("locked", flush=True)
release = Path(sys.argv[2])
deadline = time.monotonic() + 20  # a safeguard only: the test releases it
while not release.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
conn.execute("COMMIT")
print("released" if release.exists() else "timed out", flush=True)
"""


def test_two_processes_writing_through_the_background_writer_lose_nothing(
        tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite3"
    ResponseCache(db).close()
    procs = [subprocess.Popen([sys.executable, "-c", ASYNC_WRITER, str(db), name, "1500"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("p1", "p2")]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert [out.strip() for out, _ in outs] == ["0", "0"]  # no write errors
    c = ResponseCache(db)
    assert len(c) == 3000
    assert c.get("p2-1499") is not None
    assert c._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_another_process_holding_the_write_lock_does_not_stall_the_event_loop(
        tmp_path: Path) -> None:
    """Answers are stored and read while another process holds the lock; committed after."""
    db = tmp_path / "c.sqlite3"
    c = ResponseCache(db)
    c.put("before", Response(text="Sad"))
    release = tmp_path / "release"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(db), str(release)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"

    async def under_lock() -> list[str | None]:
        texts = []
        for i in range(200):
            c.put_later(f"k{i}", Response(text=f"answer {i}"))
            hit = await c.aget(f"k{i}")
            texts.append(hit.text if hit else None)
        old = await c.aget("before")
        texts.append(old.text if old else None)
        missing = await c.aget("never stored")
        texts.append(missing.text if missing else None)
        return texts

    texts = asyncio.run(under_lock())
    # The loop finished everything while the lock was still held by the other process.
    assert holder.poll() is None
    assert texts == [f"answer {i}" for i in range(200)] + ["Sad", None]
    release.touch()
    assert holder.stdout.readline().strip() == "released"
    holder.wait(timeout=60)
    c.close()
    again = ResponseCache(db)
    assert len(again) == 202 and c.write_errors == 0
    assert again.get("k199") is not None
