"""Client-side request and token budgets (RPM / TPM) over a sliding window.

Providers count requests in a trailing window; a token bucket with a full
burst would overshoot such a window at the start, so we mirror the window.
Token estimates are booked before a call and replaced by the reported usage
after it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

WINDOW_S = 60.0
# Arrival at the server lags our send time; a slightly longer window keeps
# our count at or below the server's for every instant.
SAFETY_S = 1.0


@dataclass(eq=False)  # compared by identity
class _Booking:
    t: float
    tokens: float


@dataclass
class RateLimiter:
    rpm: float | None = None
    tpm: float | None = None
    _events: deque[_Booking] = field(default_factory=deque)
    _tokens: float = 0.0
    _lock: asyncio.Lock | None = None

    @property
    def active(self) -> bool:
        return bool(self.rpm) or bool(self.tpm)

    def _expire(self, now: float) -> None:
        horizon = now - WINDOW_S - SAFETY_S
        while self._events and self._events[0].t <= horizon:
            self._tokens -= self._events.popleft().tokens

    def _wait_needed(self, now: float, tokens: float) -> float:
        self._expire(now)
        waits = [0.0]
        span = WINDOW_S + SAFETY_S
        if self.rpm and len(self._events) >= self.rpm:
            k = len(self._events) - int(self.rpm)
            waits.append(self._events[k].t + span - now)
        if self.tpm and self._events and self._tokens + tokens > self.tpm:
            excess = self._tokens + tokens - self.tpm
            freed = 0.0
            for ev in self._events:
                freed += ev.tokens
                if freed >= excess:
                    waits.append(ev.t + span - now)
                    break
        return max(waits)

    async def acquire(self, tokens: float = 0.0) -> _Booking | None:
        """Wait until one more request of ``tokens`` fits both budgets; book it."""
        if not self.active:
            return None
        if self._lock is None:
            self._lock = asyncio.Lock()
        if self.tpm:
            tokens = min(tokens, self.tpm)  # a single huge request must still go, alone
        async with self._lock:  # FIFO: waiters are served in arrival order
            while True:
                now = time.monotonic()
                wait = self._wait_needed(now, tokens)
                if wait <= 0:
                    booking = _Booking(now, tokens)
                    self._events.append(booking)
                    self._tokens += tokens
                    return booking
                await asyncio.sleep(wait + 0.001)

    def reconcile(self, booking: _Booking | None, actual_tokens: float) -> None:
        """Replace a booking's estimate with what the provider reported."""
        if booking is None or actual_tokens <= 0:
            return
        if booking in self._events:
            self._tokens += actual_tokens - booking.tokens
        booking.tokens = actual_tokens
