"""The SQLite response cache, including two processes writing at once."""

from __future__ import annotations

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
    assert c.get("a") is not None and c.get("a").text == "Happy"  # type: ignore[union-attr]
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
