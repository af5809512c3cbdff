"""Client-side request and token budgets (RPM / TPM) over a sliding window.

Providers count requests in a trailing window from the moment each one
*arrives*. We cannot see arrival, but we know it lies between our send and the
response. So a request holds its place in the budget while in flight and, once
answered, stays in the window for a full window from its completion. Our count
is then never below the server's, and a run stays under the limit without a
single 429, at the cost of one latency per window (0.3 % at 0.2 s per minute).
Token estimates are booked at send time and replaced by the reported usage.

A single request larger than the whole token budget cannot ever fit: it is booked
as the full budget, so it goes alone once the window is empty, and never waits
for ever. An ``rpm`` below one request per window could never send anything and is
refused at construction.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from vlmfer.errors import ConfigError

WINDOW_S = 60.0
# Clock granularity and scheduling jitter between our clock and the server's.
MARGIN_S = 0.05


@dataclass(eq=False)  # compared by identity
class Booking:
    tokens: float
    done: bool = False


@dataclass
class RateLimiter:
    rpm: float | None = None
    tpm: float | None = None
    #: The window the budgets apply to; providers use a minute.
    window_s: float = WINDOW_S
    #: Seconds on a monotonic clock; tests pass their own to place completions exactly.
    clock: Callable[[], float] = time.monotonic
    _inflight: int = 0
    _inflight_tokens: float = 0.0
    _done: deque[tuple[float, float]] = field(default_factory=deque)
    _done_tokens: float = 0.0
    _changed: asyncio.Condition | None = None

    def __post_init__(self) -> None:
        if self.rpm and self.rpm < 1:
            raise ConfigError(
                f"rpm={self.rpm:g} is less than one request per {self.window_s:g} s window, "
                "so no request could ever be sent; use rpm >= 1 (or no rpm limit)"
            )

    @property
    def active(self) -> bool:
        return bool(self.rpm) or bool(self.tpm)

    @property
    def span_s(self) -> float:
        return self.window_s + MARGIN_S

    def _expire(self, now: float) -> None:
        horizon = now - self.span_s
        while self._done and self._done[0][0] <= horizon:
            self._done_tokens -= self._done.popleft()[1]

    def booked(self, tokens: float) -> float:
        """What a request of ``tokens`` books: at most the whole token budget."""
        return min(tokens, self.tpm) if self.tpm else tokens

    def wait_needed(self, now: float, tokens: float) -> float | None:
        """Seconds until one more request of ``tokens`` fits: 0 now, None until a completion."""
        tokens = self.booked(tokens)
        self._expire(now)
        waits = [0.0]
        if self.rpm:
            excess = self._inflight + len(self._done) + 1 - int(self.rpm)
            if excess > 0:
                if excess > len(self._done):
                    return None
                waits.append(self._done[excess - 1][0] + self.span_s - now)
        if self.tpm:
            excess_t = self._inflight_tokens + self._done_tokens + tokens - self.tpm
            if excess_t > 0:
                freed = 0.0
                for t_done, used in self._done:
                    freed += used
                    if freed >= excess_t:
                        waits.append(t_done + self.span_s - now)
                        break
                else:
                    return None
        return max(waits)

    async def acquire(self, tokens: float = 0.0) -> Booking | None:
        """Wait until one more request of ``tokens`` fits both budgets; book it."""
        if not self.active:
            return None
        if self._changed is None:
            self._changed = asyncio.Condition()
        tokens = self.booked(tokens)  # a single huge request must still go, alone
        async with self._changed:  # waiters are woken in arrival order
            while True:
                wait = self.wait_needed(self.clock(), tokens)
                if wait is not None and wait <= 0:
                    self._inflight += 1
                    self._inflight_tokens += tokens
                    return Booking(tokens)
                # Not asyncio.wait_for: before Python 3.12 it swallows a cancellation that
                # lands as the wait ends, and Ctrl-C would leave this worker running.
                timer = None if wait is None else asyncio.ensure_future(
                    self._notify_after(wait + 0.001))
                try:
                    await self._changed.wait()
                finally:
                    if timer is not None:
                        timer.cancel()

    async def _notify_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def release(self, booking: Booking | None, actual_tokens: float | None = None) -> None:
        """The call is over: it counts from now, with the tokens the provider reported."""
        if booking is None or booking.done:
            return
        booking.done = True
        used = booking.tokens if not actual_tokens or actual_tokens <= 0 else actual_tokens
        self._inflight -= 1
        self._inflight_tokens -= booking.tokens
        self._done.append((self.clock(), used))
        self._done_tokens += used
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()
