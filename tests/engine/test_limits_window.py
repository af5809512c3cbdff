"""The sliding-window budget, checked with explicit clock values (no timing)."""

from __future__ import annotations

from collections import deque

from vlmfer.engine.limits import RateLimiter


def _limiter(done: list[tuple[float, float]], inflight: int = 0, **kw: float) -> RateLimiter:
    lim = RateLimiter(**kw)  # type: ignore[arg-type]
    lim._done = deque(done)
    lim._done_tokens = sum(t for _, t in done)
    lim._inflight = inflight
    return lim


def test_rpm_counts_a_finished_request_for_a_window_from_its_completion() -> None:
    lim = _limiter([(0.0, 0), (1.0, 0), (2.0, 0)], rpm=3)
    assert lim.wait_needed(2.5, 0) == lim.span_s - 2.5
    assert lim.wait_needed(lim.span_s + 0.01, 0) == 0


def test_requests_in_flight_hold_their_place_until_they_complete() -> None:
    lim = _limiter([], inflight=3, rpm=3)
    assert lim.wait_needed(100.0, 0) is None  # nothing can expire before a completion
    lim = _limiter([(0.0, 0)], inflight=2, rpm=3)
    assert lim.wait_needed(1.0, 0) == lim.span_s - 1.0


def test_tpm_waits_for_enough_tokens_to_expire() -> None:
    lim = _limiter([(0.0, 400), (10.0, 400)], tpm=1000)
    assert lim.wait_needed(11.0, 100) == 0
    assert lim.wait_needed(11.0, 300) == lim.span_s - 11.0


def test_inactive_limiter_books_nothing() -> None:
    import asyncio

    assert asyncio.run(RateLimiter().acquire(10)) is None
