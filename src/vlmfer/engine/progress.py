"""The progress display: a tqdm bar with outcome counts and cost."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

from vlmfer.types import Prediction


class Progress:
    """A tqdm bar with outcome counts and cost; silent when not a TTY."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.counts: Counter[str] = Counter()
        self.cost = 0.0
        self._last = 0.0
        self._bar: Any = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="sample", dynamic_ncols=True, file=sys.stderr)

    @property
    def total_done(self) -> int:
        return sum(self.counts.values())

    def update(self, pred: Prediction) -> None:
        self.counts[pred.outcome] += 1
        # What this run paid: cache hits were paid for by an earlier run.
        self.cost += sum(s.cost_usd or 0.0 for s in pred.steps if not s.cached)
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.monotonic()
        if now - self._last > 0.5:
            self._last = now
            parts = {k: self.counts[k] for k in ("ok", "invalid", "refused", "blocked", "error")
                     if self.counts[k]}
            self._bar.set_postfix(cost=f"${self.cost:.4f}", **parts, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
