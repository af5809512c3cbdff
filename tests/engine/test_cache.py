"""The SQLite response cache, including two processes writing at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from vlmfer.engine.cache import ResponseCache
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
