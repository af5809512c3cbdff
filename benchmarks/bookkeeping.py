"""Bookkeeping: vlmfer's own CPU per sample, in-process, with an answer that costs nothing.

``execute`` (the engine: listing already done, cache and run folder on) over N tiny PNGs with
the offline ``mock/`` predictor, which answers at once, so what is measured is vlmfer's own
per-sample work: prompt and hash, media preparation, the cache, the ``Step``/``Prediction``
records, label parsing, writing predictions.jsonl. Then the metrics and the report, apart.
CPU is ``time.process_time`` of this process around each phase (imports excluded). This is
the ablation the request-span figures cannot show; ``--profile`` prints a cProfile summary.

    python benchmarks/bookkeeping.py [--n 2000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import emit_result, ensure_bytecode, machine, make_tiny_tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    ensure_bytecode()
    work = Path(tempfile.mkdtemp(prefix="vlmfer-bench-book-"))
    os.environ["VLMFER_CACHE_DIR"] = str(work / "cache")
    try:
        run(work, args.n, args.concurrency, args.profile)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, n: int, c: int, profile: bool) -> None:
    import vlmfer
    from vlmfer.engine import EngineOptions
    from vlmfer.engine.run import execute
    from vlmfer.results import Run

    make_tiny_tree(work / "data", n)
    dataset = vlmfer.get_dataset("folder", root=str(work / "data"), split="test")
    list(dataset)
    predictor = vlmfer.get_predictor("mock/neutral-biased")
    strategy = vlmfer.get_strategy("single-shot")
    opts = EngineOptions(concurrency=c, progress=False)
    prof = cProfile.Profile() if profile else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if prof:
        prof.enable()
    asyncio.run(execute(dataset, predictor, strategy, out=work / "run", options=opts))
    cpu1, wall1 = time.process_time(), time.perf_counter()
    run_ = Run(work / "run")
    run_.recompute()
    cpu2 = time.process_time()
    run_.report()
    cpu3 = time.process_time()
    if prof:
        prof.disable()
    # The report again, in a new template Environment each time (imports already done):
    # its templates read back from <cache>/jinja, as a new process finds them after a
    # machine's first run; then with that folder emptied, compiled again.
    from vlmfer.report.templating import environment

    environment.cache_clear()
    run_.report()
    cpu4 = time.process_time()
    shutil.rmtree(Path(os.environ["VLMFER_CACHE_DIR"]) / "jinja", ignore_errors=True)
    environment.cache_clear()
    run_.report()
    cpu5 = time.process_time()
    print(f"bookkeeping: {machine()}")
    print(f"N={n} tiny PNGs, mock predictor (answers at once), concurrency {c}, cache on")
    print(f"engine: {(cpu1 - cpu0) * 1000 / n:.3f} ms CPU a sample "
          f"({wall1 - wall0:.2f} s wall for {n})")
    print(f"metrics: {(cpu2 - cpu1) * 1000:.0f} ms CPU; report: {(cpu3 - cpu2) * 1000:.0f} ms CPU "
          f"(imports, templates compiled); imports done: {(cpu4 - cpu3) * 1000:.0f} ms with the "
          f"compiled templates read from <cache>/jinja, {(cpu5 - cpu4) * 1000:.0f} ms "
          "compiling them")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
    emit_result("bookkeeping", n=n, engine_ms=round((cpu1 - cpu0) * 1000 / n, 3),
                metrics_ms=round((cpu2 - cpu1) * 1000), report_ms=round((cpu3 - cpu2) * 1000),
                report_compiled_ms=round((cpu4 - cpu3) * 1000),
                report_compiling_ms=round((cpu5 - cpu4) * 1000))


if __name__ == "__main__":
    main()
