"""Budgets shared by the runs of a study: one RPM/TPM window per provider endpoint.

A provider's limits belong to the key, not to a run. Inside ``shared_budgets()``
every engine that talks to the same provider and ``base_url`` books its calls in
one ``RateLimiter``, so runs one after another (or side by side) never exceed the
budget that one run is given: the window a run leaves behind is still full when
the next one starts. Outside it, each run has a limiter of its own, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

from vlmfer.engine.limits import RateLimiter
from vlmfer.predictors.base import Predictor


@dataclass
class BudgetPool:
    """The shared limiters of one study, by (provider, base_url)."""

    limiters: dict[tuple[str, str], RateLimiter] = field(default_factory=dict)

    def limiter(self, key: tuple[str, str], rpm: float | None, tpm: float | None,
                window_s: float) -> RateLimiter:
        found = self.limiters.get(key)
        if found is None:
            found = self.limiters[key] = RateLimiter(rpm=rpm, tpm=tpm, window_s=window_s)
            return found
        # Runs that name different budgets for one key share the smallest of them.
        found.rpm = _least(found.rpm, rpm)
        found.tpm = _least(found.tpm, tpm)
        found.window_s = min(found.window_s, window_s)
        return found


def _least(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


_POOL: ContextVar[BudgetPool | None] = ContextVar("vlmfer_budget_pool", default=None)


def budget_key(predictor: Predictor) -> tuple[str, str]:
    """Which budget a predictor's calls count against: its provider and endpoint."""
    described = predictor.describe()
    provider = str(described.get("name") or predictor.name).partition("/")[0]
    return provider, str(described.get("base_url") or "")


def limiter_for(predictors: Mapping[str, Predictor], *, rpm: float | None,
                tpm: float | None, window_s: float) -> RateLimiter:
    """The limiter a run's engine books its calls in: the study's shared one for the
    run's main predictor inside ``shared_budgets()``, else a limiter of its own."""
    pool = _POOL.get()
    main = predictors.get("main")
    if pool is None or main is None:
        return RateLimiter(rpm=rpm, tpm=tpm, window_s=window_s)
    return pool.limiter(budget_key(main), rpm, tpm, window_s)


@contextlib.contextmanager
def shared_budgets(pool: BudgetPool | None = None) -> Iterator[BudgetPool]:
    """Share RPM/TPM windows between every run started inside this block."""
    pool = pool or BudgetPool()
    token = _POOL.set(pool)
    try:
        yield pool
    finally:
        _POOL.reset(token)
