"""An RPM-limited run against the emulator's limit: zero 429s at the allowed rate."""

from __future__ import annotations


def test_an_rpm_limited_run_never_trips_the_servers_limit(tmp_path: object) -> None:
    """Scaled time: a 3 s window instead of a minute, on both sides, same mechanism."""
    import asyncio
    import time
    from pathlib import Path

    from engine_parts import ParseStrategy, TinyDataset

    import vlmfer
    from vlmfer import evaluate_async
    from vlmfer.emulator import Emulator, EmulatorConfig
    from vlmfer.engine import EngineOptions
    from vlmfer.engine.cache import ResponseCache

    root = Path(str(tmp_path))
    window, per_window, n = 2.0, 10, 30
    cfg = EmulatorConfig(policy="fixed:Happy", rpm=per_window, rate_window_s=window)
    with Emulator(cfg, port=0) as emu:
        pred = vlmfer.get_predictor("openai/gpt-4.1", base_url=emu.openai_base_url,
                                    api_key="k")
        opts = EngineOptions(concurrency=16, rpm=per_window, rate_window_s=window,
                             progress=False, n_boot=10, max_attempts=1)
        t0 = time.monotonic()
        asyncio.run(evaluate_async(TinyDataset(root / "d", n=n), pred, ParseStrategy(),
                                   out=root / "run", options=opts,
                                   cache=ResponseCache(root / "c.sqlite3")))
        elapsed = time.monotonic() - t0
        times = sorted(r["time"] for r in emu.calls("chat"))
        limited = sum(emu.counters.get("limits", {}).values())
    assert limited == 0
    assert len(times) == n
    # After the first window's burst, requests arrive at the allowed steady rate.
    steady = (n - per_window) / (times[-1] - times[per_window - 1])
    allowed = per_window / window
    assert steady >= 0.9 * allowed, (steady, allowed, elapsed)
