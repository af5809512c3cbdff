"""Helpers of the local-server suite (imported by basename, so the name is unique)."""

from __future__ import annotations

import threading
from typing import Any

#: The id the server is pinned to (the folder the tests save the model in).
MODEL = "tiny-llava"


class Recorder:
    """What went through the proxy: method, path, JSON body and status, in order."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def posts(self, path: str = "/v1/chat/completions") -> list[dict[str, Any]]:
        return [e for e in self.entries if e["method"] == "POST" and e["path"] == path]
