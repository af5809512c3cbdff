"""Cache: re-running a finished run makes 0 API calls, in <= 5 % of the first run's wall time.

A first ``vlmfer run`` (the CLI, in a child process) of N images against the emulator (its own
process; latency 0.5 s, concurrency 16, so the first run takes about N x 0.5 / 16 s), then:

- the same command again: the run resumes, finds every sample finished, asks nothing;
- the same experiment into a new run folder: every answer comes from the response cache.

Each is timed as a whole process (interpreter start-up included), and the emulator's log says
how many calls each made. Prints figures; asserts nothing.

    python benchmarks/cache_rerun.py [--quick] [--n 1000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import (
    emit_result,
    emulator,
    ensure_bytecode,
    fresh,
    inference,
    machine,
    make_jpeg_tree,
    run_child,
    table,
    verdict,
    vlmfer_cmd,
    vlmfer_env,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one re-run of each kind (else 3)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    ensure_bytecode()
    work = args.keep or Path(tempfile.mkdtemp(prefix="vlmfer-bench-cache-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(work, args.n, args.latency, args.concurrency, 1 if args.quick else 3)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, n: int, latency: float, c: int, repeat: int) -> None:
    data = work / "data"
    make_jpeg_tree(data, n)
    env = vlmfer_env(work)
    fresh(work / "cache")
    for old in work.glob("again*"):
        fresh(old)
    fresh(work / "first")
    print(f"cache_rerun: {machine()}")
    print(f"N={n} JPEGs, emulator latency {latency} s in its own process, concurrency {c}")
    rows = [["run", "API calls", "wall s", "CPU s", "wall / first"]]
    result: dict[str, object] = {"n": n}
    with emulator(work, latency=latency, policy="neutral-biased", strict_media=False) as emu:
        def go(out: str) -> tuple[float, float, int]:
            mark = emu.log_lines()
            child = run_child(vlmfer_cmd("run", "--dataset", "folder", "--data-root", str(data),
                                         "--split", "test", "--model", "openai/gpt-5.2",
                                         "--base-url", emu.openai_base_url, "--concurrency",
                                         str(c), "--out", str(work / out)), env=env)
            if child.returncode not in (0, 1):
                raise SystemExit(f"vlmfer run failed: {child.stderr[-2000:]}")
            return child.wall_s, child.cpu_s, len(inference(emu.log(mark)))

        first, first_cpu, first_calls = go("first")
        rows.append(["first run", str(first_calls), f"{first:.2f}", f"{first_cpu:.2f}", "1"])
        for kind, outs in (("same command (resume)", ["first"] * repeat),
                           ("new folder, from cache", [f"again{i}" for i in range(repeat)])):
            best = None
            for out in outs:
                wall, cpu, calls = go(out)
                if best is None or wall < best[0]:
                    best = (wall, cpu, calls)
            assert best is not None
            wall, cpu, calls = best
            rows.append([kind, str(calls), f"{wall:.2f}", f"{cpu:.2f}", f"{wall / first:.3f}"])
            key = "resume" if "resume" in kind else "from_cache"
            result[f"{key}_calls"] = calls
            result[f"{key}_ratio"] = round(wall / first, 3)
            print(f"{kind}: {calls} API calls, {wall / first:.1%} of the first run's wall time "
                  f"(targets 0 calls and <= 5 %: {verdict(calls == 0 and wall / first <= 0.05)})")
    startup = run_child([sys.executable, "-c", "import vlmfer.engine.experiment, openai"])
    print(table(rows))
    print(f"(for scale: importing vlmfer's engine and openai takes {startup.wall_s:.2f} s wall, "
          f"{startup.cpu_s:.2f} s CPU; the first run took {first:.1f} s)")
    emit_result("cache_rerun", first_wall_s=round(first, 2), **result)


if __name__ == "__main__":
    main()
