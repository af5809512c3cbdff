"""The sliding-window budget, checked with explicit clock values (no timing)."""

from __future__ import annotations

from vlmfer.engine.limits import SAFETY_S, WINDOW_S, RateLimiter, _Booking


def _fill(lim: RateLimiter, times: list[float], tokens: float = 0.0) -> None:
    for t in times:
        lim._events.append(_Booking(t, tokens))
        lim._tokens += tokens


def test_rpm_waits_until_the_oldest_request_leaves_the_window() -> None:
    lim = RateLimiter(rpm=3)
    _fill(lim, [0.0, 1.0, 2.0])
    assert lim._wait_needed(2.5, 0) == WINDOW_S + SAFETY_S - 2.5
    assert lim._wait_needed(WINDOW_S + SAFETY_S + 0.1, 0) <= 0


def test_tpm_waits_for_enough_tokens_to_expire() -> None:
    lim = RateLimiter(tpm=1000)
    _fill(lim, [0.0, 10.0], tokens=400)
    assert lim._wait_needed(11.0, 100) <= 0
    assert lim._wait_needed(11.0, 300) == WINDOW_S + SAFETY_S - 11.0


def test_reconcile_replaces_the_estimate() -> None:
    lim = RateLimiter(tpm=1000)
    b = _Booking(0.0, 500)
    lim._events.append(b)
    lim._tokens = 500
    lim.reconcile(b, 120)
    assert lim._tokens == 120 and b.tokens == 120


def test_inactive_limiter_books_nothing() -> None:
    import asyncio

    lim = RateLimiter()
    assert asyncio.run(lim.acquire(10)) is None
