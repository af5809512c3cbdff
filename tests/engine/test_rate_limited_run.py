"""An RPM-limited run against the emulator's limit: no 429, never over the budget.

How close the run gets to the allowed rate is a speed figure: benchmarks/ratelimit.py
measures it. Here only the behaviour is asserted.
"""

from __future__ import annotations

import asyncio
import bisect
from pathlib import Path

from engine_parts import ParseStrategy, TinyDataset

import vlmfer
from vlmfer import evaluate_async
from vlmfer.emulator import Emulator, EmulatorConfig
from vlmfer.engine import EngineOptions, ResponseCache


def _most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


def test_an_rpm_limited_run_never_trips_the_servers_limit(tmp_path: Path) -> None:
    """Scaled time: a 2 s window instead of a minute, on both sides, same mechanism."""
    window, per_window, n = 2.0, 10, 30
    cfg = EmulatorConfig(policy="fixed:Happy", rpm=per_window, rate_window_s=window)
    with Emulator(cfg, port=0) as emu:
        pred = vlmfer.get_predictor("openai/gpt-4.1", base_url=emu.openai_base_url,
                                    api_key="k")
        opts = EngineOptions(concurrency=16, rpm=per_window, rate_window_s=window,
                             progress=False, n_boot=10, max_attempts=1)
        run = asyncio.run(evaluate_async(TinyDataset(tmp_path / "d", n=n), pred,
                                         ParseStrategy(), out=tmp_path / "run", options=opts,
                                         cache=ResponseCache(tmp_path / "c.sqlite3")))
        arrivals = [r["time"] for r in emu.calls("openai.chat")]
        limited = emu.counters.get("limits", {})
    assert limited == {}  # the server never refused a request for its rate
    assert run.metrics["outcomes"]["ok"] == n and len(arrivals) == n
    # Arrivals on the server's clock: never more than the budget in any window.
    assert _most_in_any_window(arrivals, window) <= per_window
