"""The RPM / TPM budget, through ``acquire`` / ``release`` / ``wait_needed`` on a test clock.

The limiter reads time only from its ``clock``; here that is a number the test sets, so
every completion lands at a known moment and no assertion depends on the wall clock.
Waits that must end are bounded by ``HANG_S``, which only turns a hang into a failure.

A waiter sleeps (really) until the moment its budget frees on the limiter's clock, then
looks again. Tests that let a waiter through after the clock moved use a window of
``SHORT_S``, so that sleep is short; what they assert is read from the test clock.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from vlmfer.engine import RateLimiter
from vlmfer.errors import ConfigError

HANG_S = 10.0
SHORT_S = 0.01
T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _soon(aw: Awaitable[T]) -> T:
    return await asyncio.wait_for(aw, HANG_S)


async def _blocked(task: asyncio.Task[object]) -> bool:
    for _ in range(20):  # let the task run as far as it can without time passing
        await asyncio.sleep(0)
    return not task.done()


# ------------------------------------------------------------------ tokens

def test_the_reported_usage_replaces_the_estimate() -> None:
    async def scenario() -> None:
        clock = Clock()
        lim = RateLimiter(tpm=1000, clock=clock)
        # Booked at 100, but the provider counted 700: 700 stay in the window.
        await lim.release(await _soon(lim.acquire(100)), 700)
        clock.now = 1.0
        assert lim.wait_needed(1.0, 300) == 0
        assert lim.wait_needed(1.0, 301) == pytest.approx(lim.span_s - 1.0)
        # Booked at 900, counted 100: the 800 not used are free again at once.
        clock.now = lim.span_s
        await lim.release(await _soon(lim.acquire(900)), 100)
        assert lim.wait_needed(lim.span_s, 900) == 0
        assert lim.wait_needed(lim.span_s, 901) == pytest.approx(lim.span_s)

    asyncio.run(scenario())


@pytest.mark.parametrize("reported", [None, 0])
def test_without_a_reported_count_the_estimate_stays_booked(reported: int | None) -> None:
    async def scenario() -> None:
        lim = RateLimiter(tpm=1000, clock=Clock())
        await lim.release(await _soon(lim.acquire(600)), reported)
        assert lim.wait_needed(0.0, 400) == 0
        assert lim.wait_needed(0.0, 401) == pytest.approx(lim.span_s)

    asyncio.run(scenario())


def test_tokens_in_flight_hold_the_budget_until_their_call_ends() -> None:
    async def scenario() -> None:
        clock = Clock()
        lim = RateLimiter(tpm=1000, window_s=SHORT_S, clock=clock)
        first = await _soon(lim.acquire(600))
        assert lim.wait_needed(0.0, 401) is None  # nothing can expire before a completion
        second = await _soon(lim.acquire(400))  # exactly fills the budget
        waiter = asyncio.ensure_future(lim.acquire(500))
        assert await _blocked(waiter)
        clock.now = 5.0
        await lim.release(first, 600)
        # 600 done at t=5 and 400 still in flight: 500 more fit once the 600 expire.
        assert lim.wait_needed(5.0, 500) == pytest.approx(lim.span_s)
        assert lim.wait_needed(5.0 + lim.span_s, 500) == 0
        clock.now = 5.0 + lim.span_s
        booking = await _soon(waiter)
        assert booking is not None and booking.tokens == 500
        await lim.release(second, 400)
        await lim.release(booking, 500)

    asyncio.run(scenario())


def test_a_request_larger_than_the_budget_goes_alone_and_never_waits_for_ever() -> None:
    async def scenario() -> None:
        clock = Clock()
        lim = RateLimiter(tpm=1000, window_s=SHORT_S, clock=clock)
        huge = await _soon(lim.acquire(5000))  # alone: at once
        assert huge is not None and huge.tokens == 1000  # it books the whole budget
        assert lim.wait_needed(0.0, 1) is None
        await lim.release(huge, 5000)
        # What the provider counted holds the window; then the budget is whole again.
        assert lim.wait_needed(0.0, 1) == pytest.approx(lim.span_s)
        assert lim.wait_needed(lim.span_s, 1000) == 0
        clock.now = lim.span_s
        small = await _soon(lim.acquire(100))
        # With a request in flight, the huge one waits until it is alone.
        waiter = asyncio.ensure_future(lim.acquire(5000))
        assert await _blocked(waiter)
        await lim.release(small, 100)
        clock.now = 2 * lim.span_s
        assert (await _soon(waiter)) is not None

    asyncio.run(scenario())


def test_finished_tokens_free_oldest_first_until_the_request_fits() -> None:
    async def scenario() -> None:
        clock = Clock()
        lim = RateLimiter(tpm=1000, clock=clock)
        for t in (0.0, 10.0):
            clock.now = t
            await lim.release(await _soon(lim.acquire(400)), 400)
        first, second = lim.span_s - 11.0, 10.0 + lim.span_s - 11.0
        assert lim.wait_needed(11.0, 200) == 0
        assert lim.wait_needed(11.0, 600) == pytest.approx(first)  # frees exactly enough
        assert lim.wait_needed(11.0, 601) == pytest.approx(second)  # needs both
        assert lim.wait_needed(11.0, 1000) == pytest.approx(second)
        assert lim.wait_needed(second + 11.0, 1000) == 0

    asyncio.run(scenario())


def test_a_report_of_one_token_is_a_report() -> None:
    async def scenario() -> None:
        lim = RateLimiter(tpm=1000, clock=Clock())
        await lim.release(await _soon(lim.acquire(600)), 1)
        assert lim.wait_needed(0.0, 999) == 0
        booking = await _soon(lim.acquire())  # no estimate: books nothing
        assert booking is not None and booking.tokens == 0

    asyncio.run(scenario())


def test_a_waiter_wakes_when_its_budget_frees_with_nothing_else_happening() -> None:
    """Only time passes (the real clock, a window of SHORT_S): no release wakes it."""
    async def scenario() -> None:
        lim = RateLimiter(rpm=1, window_s=SHORT_S)
        await lim.release(await _soon(lim.acquire()))
        assert (await _soon(lim.acquire())) is not None

    asyncio.run(scenario())


def test_a_waiter_does_not_go_before_its_time_however_close() -> None:
    async def scenario() -> None:
        clock = Clock()
        lim = RateLimiter(rpm=1, clock=clock)
        await lim.release(await _soon(lim.acquire()))
        clock.now = lim.span_s - 0.5
        waiter = asyncio.ensure_future(lim.acquire())
        assert await _blocked(waiter)
        waiter.cancel()
        assert not await _blocked(waiter)

    asyncio.run(scenario())


# ------------------------------------------------------------------ requests

def test_a_finished_request_counts_for_a_window_from_its_completion() -> None:
    async def scenario() -> None:
        clock = Clock()
        lim = RateLimiter(rpm=3, clock=clock)
        for t in (0.0, 1.0, 2.0):
            clock.now = t
            await lim.release(await _soon(lim.acquire()))
        assert lim.wait_needed(2.5, 0) == pytest.approx(lim.span_s - 2.5)
        assert lim.wait_needed(lim.span_s, 0) == 0  # the first one expired

    asyncio.run(scenario())


def test_requests_in_flight_hold_their_place_until_they_complete() -> None:
    async def scenario() -> None:
        clock = Clock()
        lim = RateLimiter(rpm=3, clock=clock)
        bookings = [await _soon(lim.acquire()) for _ in range(3)]
        assert lim.wait_needed(100.0, 0) is None
        clock.now = 1.0
        await lim.release(bookings[0])
        assert lim.wait_needed(1.0, 0) == pytest.approx(lim.span_s)
        await lim.release(bookings[0])  # a second release of one booking changes nothing
        assert lim.wait_needed(1.0, 0) == pytest.approx(lim.span_s)

    asyncio.run(scenario())


def test_releasing_a_booking_twice_does_not_free_a_place() -> None:
    async def scenario() -> None:
        clock = Clock()
        lim = RateLimiter(rpm=1, clock=clock)
        booking = await _soon(lim.acquire())
        await lim.release(booking)
        await lim.release(booking)
        clock.now = lim.span_s
        await _soon(lim.acquire())
        assert lim.wait_needed(lim.span_s, 0) is None  # one in flight: the budget is full

    asyncio.run(scenario())


def test_one_call_after_another_never_exceeds_the_budget_in_any_window() -> None:
    """Sequential calls of 0.2 s on the test clock: the arrivals the server would count."""
    async def scenario() -> list[float]:
        clock = Clock()
        lim = RateLimiter(rpm=5, window_s=10.0, clock=clock)
        sent = []
        for _ in range(23):
            wait = lim.wait_needed(clock.now, 0)
            assert wait is not None  # nothing is in flight between calls
            clock.now += wait
            booking = await _soon(lim.acquire())
            sent.append(clock.now)
            clock.now += 0.2
            await lim.release(booking)
        return sent

    sent = asyncio.run(scenario())
    most = max(bisect.bisect_left(sent, t + 10.0) - i for i, t in enumerate(sent))
    assert most == 5  # the whole budget is used, never more


@pytest.mark.parametrize("steps", range(6))
def test_a_cancelled_waiter_stops_whenever_the_cancel_lands(steps: int) -> None:
    """Ctrl-C cancels the workers; one woken at that very moment must not keep waiting
    (``asyncio.wait_for`` before Python 3.12 lost such a cancellation)."""
    async def scenario() -> None:
        lim = RateLimiter(rpm=2, clock=Clock())
        await lim.release(await _soon(lim.acquire()))  # done at t=0: it holds the window
        second = await _soon(lim.acquire())
        waiter = asyncio.ensure_future(lim.acquire())
        assert await _blocked(waiter)
        await lim.release(second)  # wakes the waiter, which finds the budget still full
        for _ in range(steps):
            await asyncio.sleep(0)
        waiter.cancel()
        assert not await _blocked(waiter)
        assert waiter.cancelled()

    asyncio.run(scenario())


def test_an_rpm_below_one_request_per_window_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        RateLimiter(rpm=0.5)
    assert str(info.value) == ("rpm=0.5 is less than one request per 60 s window, so no "
                               "request could ever be sent; use rpm >= 1 (or no rpm limit)")
    assert RateLimiter(rpm=1).active and RateLimiter(rpm=1.5).active


def test_an_inactive_limiter_books_nothing() -> None:
    async def scenario() -> None:
        lim = RateLimiter()
        assert not lim.active
        booking = await _soon(lim.acquire(10))
        assert booking is None
        await lim.release(booking, 10)

    asyncio.run(scenario())
