"""``vlmfer view``: a per-sample viewer of one or more run folders, on 127.0.0.1.

It reads ``predictions.jsonl`` through a compact index (byte offsets plus the
fields filters need) and never loads a whole run; media is re-created by the
media layer as the model saw it. Its caches live in ``RUN/.view/`` (or a
temporary folder when the run folder is read-only), never in the run's files.

    from vlmfer.view import ViewServer
    with ViewServer.open(["runs/gpt-single"]) as server:
        print(server.url)
"""

from __future__ import annotations

from vlmfer.view.index import RunIndex
from vlmfer.view.runs import Catalog, Filters, ViewRun, view_cache_dir
from vlmfer.view.server import ViewServer

__all__ = ["Catalog", "Filters", "RunIndex", "ViewRun", "ViewServer", "view_cache_dir"]
