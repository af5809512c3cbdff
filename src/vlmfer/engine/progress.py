"""What the terminal shows while a run goes and when it ends.

On a terminal: a tqdm bar with outcome counts, cost and retries. Elsewhere (nohup,
SLURM, a pipe) a bar is noise, so a plain progress line is printed at a steady
interval (``VLMFER_PROGRESS_INTERVAL`` seconds, default 30) and once at the end.
``failure_table`` says why samples did not end ``ok``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable
from typing import IO, Any

from vlmfer.engine.core import failure_of
from vlmfer.types import Prediction

#: Seconds between progress lines when stderr is not a terminal.
DEFAULT_INTERVAL_S = 30.0
INTERVAL_ENV = "VLMFER_PROGRESS_INTERVAL"
OUTCOMES = ("ok", "invalid", "refused", "blocked", "error")

#: What each error kind means for the user, in the words of the fix.
ERROR_KINDS: dict[str, str] = {
    "not_found": "the model id does not exist on this server (or was retired)",
    "auth": "the API key was rejected",
    "permission": "the key has no access to this model or feature",
    "bad_request": "the server rejected the request (an option, a parameter or the media)",
    "capability": "the predictor cannot take this media",
    "too_many_images": "the request carried more images than the predictor allows",
    "upload_failed": "the Files API upload failed",
    "upload_timeout": "the Files API upload did not finish in time",
    "rate_limit": "rate limited on every attempt (lower --concurrency or set --rpm)",
    "server": "server errors on every attempt",
    "timeout": "timed out on every attempt",
    "connection": "could not connect to the server (check --base-url)",
    "malformed": "malformed responses on every attempt",
    "media": "the media file cannot be used",
    "internal": "a bug in the strategy or predictor (the log has the traceback)",
    "api_error": "the API returned an error",
    "other": "the call failed",
}
OUTCOME_MEANING: dict[str, str] = {
    "invalid": "the answer named no single label",
    "refused": "the model declined to answer",
    "blocked": "the provider's safety filter blocked the request or the answer",
}


def progress_interval() -> float:
    """The interval of plain progress lines: ``VLMFER_PROGRESS_INTERVAL`` or 30 s."""
    raw = os.environ.get(INTERVAL_ENV)
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if value > 0 else DEFAULT_INTERVAL_S


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def retries_of(pred: Prediction) -> int:
    """Attempts beyond the first, over the calls this sample made (cache hits made none)."""
    return sum(max(0, s.attempts - 1) for s in pred.steps if not s.cached)


class Progress:
    """Counts finished samples; shows a bar on a terminal, plain lines elsewhere.

    ``enabled=False`` (``--quiet``) shows nothing, but still counts.
    """

    def __init__(self, total: int, *, enabled: bool, stream: IO[str] | None = None,
                 interval_s: float | None = None) -> None:
        self.total = total
        self.counts: Counter[str] = Counter()
        self.cost = 0.0
        self.retries = 0
        self._stream = stream or sys.stderr
        self._enabled = enabled
        self._interval = interval_s if interval_s is not None else progress_interval()
        self._start = time.monotonic()
        self._last = 0.0
        self._bar: Any = None
        self._lines = enabled and not self._stream.isatty()

    def start(self) -> None:
        """Show the bar (on a terminal) and start the clock; notes before this come first."""
        self._start = time.monotonic()
        if self._enabled and not self._lines and self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, unit="sample", dynamic_ncols=True,
                             file=self._stream)

    @property
    def total_done(self) -> int:
        return sum(self.counts.values())

    def note(self, text: str) -> None:
        """A line for the user (when progress is shown), above the bar."""
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.write(text, file=self._stream)
        else:
            print(text, file=self._stream, flush=True)

    def update(self, pred: Prediction) -> None:
        self.counts[pred.outcome] += 1
        # What this run paid: cache hits were paid for by an earlier run.
        self.cost += sum(s.cost_usd or 0.0 for s in pred.steps if not s.cached)
        self.retries += retries_of(pred)
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.monotonic()
        if now - self._last > 0.5:
            self._last = now
            self._bar.set_postfix(self._postfix(), refresh=False)

    def _postfix(self) -> dict[str, str]:
        parts = {k: str(self.counts[k]) for k in OUTCOMES if self.counts[k]}
        parts["cost"] = f"${self.cost:.4f}"
        if self.retries:
            parts["retries"] = str(self.retries)
        return parts

    def line(self, *, final: bool = False) -> str:
        """One plain progress line: done/total, rate, ETA, cost, outcomes, retries."""
        done = self.total_done
        elapsed = time.monotonic() - self._start
        rate = done / elapsed if elapsed > 0 else 0.0
        pct = f" ({done / self.total:.0%})" if self.total else ""
        head = f"{done}/{self.total} samples{pct}"
        if final:
            timing = f"{_duration(elapsed)} elapsed"
        elif rate > 0:
            timing = f"ETA {_duration(max(0, self.total - done) / rate)}"
        else:
            timing = "ETA unknown"
        outcomes = " ".join(f"{k}={self.counts[k]}" for k in OUTCOMES if self.counts[k])
        return (f"progress: {head} · {rate:.2f} samples/s · {timing} · cost ${self.cost:.4f}"
                f" · {outcomes or 'none finished yet'} · retries {self.retries}")

    async def heartbeat(self) -> None:
        """Print a progress line every interval until cancelled (plain lines only)."""
        if not self._lines:
            return
        while True:
            await asyncio.sleep(self._interval)
            print(self.line(), file=self._stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            # The postfix is refreshed at most twice a second: make the last one exact.
            self._bar.set_postfix(self._postfix(), refresh=False)
            self._bar.n = self.total_done
            self._bar.refresh()
            self._bar.close()
        elif self._lines:
            print(self.line(final=True), file=self._stream, flush=True)


def failure_table(predictions: Iterable[Prediction], *, width: int = 110) -> list[str]:
    """Why samples did not end ``ok``: one line per cause, with its count and an example.

    Causes are the outcome and, for errors, the error kind, e.g.
    ``48 × error: not_found — the model id does not exist on this server (or was retired)``.
    """
    groups: dict[tuple[str, str], list[Prediction]] = {}
    for p in predictions:
        if p.outcome == "ok":
            continue
        failure = failure_of(p)
        kind = failure[0] if failure is not None else ""
        groups.setdefault((p.outcome, kind), []).append(p)
    lines = []
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    n_width = len(str(max((len(v) for v in groups.values()), default=0)))
    for (outcome, kind), preds in ranked:
        what = (f"{outcome}: {kind} — {ERROR_KINDS.get(kind, ERROR_KINDS['other'])}"
                if outcome == "error" else f"{outcome} — {OUTCOME_MEANING.get(outcome, outcome)}")
        example = preds[0]
        reason = " ".join((example.reason or "no reason recorded").split())
        if len(reason) > width:
            reason = reason[: width - 1] + "…"
        lines.append(f"{len(preds):>{n_width}} × {what}")
        lines.append(f"{'':>{n_width}}   e.g. {example.sample_id}: {reason}")
    return lines
