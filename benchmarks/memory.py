"""Memory: peak RSS of `vlmfer run` over a generated tree, at N = 2 000 and N = 20 000.

Each N runs as a fresh ``vlmfer run`` child process (the CLI) over a folder tree of tiny PNGs;
its peak RSS is the kernel's ``ru_maxrss`` for that child (``os.wait4``). The predictor is the
emulator at latency 0 (its own process, so its memory is not counted) or, with ``--mock``, the
offline ``mock/`` backend. Targets: <= 200 MB at 20 000, and growth from 2 000 to 20 000
<= 25 MB. Then the largest run is resumed with the same command: a no-op resume of a finished
run (target <= 1.5 s wall at 20 000), beside a bare interpreter importing the engine, for
reference. Prints figures; asserts nothing.

    python benchmarks/memory.py [--quick] [--mock] [--sizes 2000,20000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import (
    Child,
    emit_result,
    emulator,
    ensure_bytecode,
    fresh,
    machine,
    make_tiny_tree,
    run_child,
    table,
    verdict,
    vlmfer_cmd,
    vlmfer_env,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the offline mock backend")
    parser.add_argument("--mock", action="store_true", help="the offline mock backend")
    parser.add_argument("--sizes", default="2000,20000")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    ensure_bytecode()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = args.keep or Path(tempfile.mkdtemp(prefix="vlmfer-bench-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(work, sizes, args.mock or args.quick, args.concurrency)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, sizes: list[int], mock: bool, c: int) -> None:
    print(f"memory: {machine()}")
    backend = "mock/neutral-biased (offline)" if mock else "the emulator at latency 0"
    print(f"N in {sizes}, tiny PNGs, {backend}, concurrency {c}, one fresh process per N")
    baseline = run_child([sys.executable, "-c", "import vlmfer.engine.experiment, openai, PIL"])
    peaks: dict[int, Child] = {}
    resume_cmd: list[str] = []
    resume_env: dict[str, str] = {}
    rows = [["N", "peak RSS MB", "wall s", "CPU ms/sample", "exit"]]
    for n in sizes:
        data = work / f"data{n}"
        make_tiny_tree(data, n)
        args = ["run", "--dataset", "folder", "--data-root", str(data), "--split", "test",
                "--concurrency", str(c), "--out", str(fresh(work / f"run{n}")), "--quiet"]
        env = {**vlmfer_env(work), "VLMFER_CACHE_DIR": str(fresh(work / f"cache{n}"))}
        if mock:
            resume_cmd = vlmfer_cmd(*args, "--model", "mock/neutral-biased")
            resume_env = env
            child = run_child(resume_cmd, env=env)
        else:
            with emulator(work, latency=0.0, policy="neutral-biased",
                          strict_media=False) as emu:
                child = run_child(vlmfer_cmd(*args, "--model", "openai/gpt-5.2", "--base-url",
                                             emu.openai_base_url), env=env)
        if child.returncode not in (0, 1):
            raise SystemExit(f"vlmfer run (N={n}) failed: {child.stderr[-2000:]}")
        peaks[n] = child
        rows.append([str(n), f"{child.maxrss_mb:.1f}", f"{child.wall_s:.1f}",
                     f"{child.cpu_s * 1000 / n:.2f}", str(child.returncode)])
    print(table(rows))
    lo, hi = peaks[min(sizes)], peaks[max(sizes)]
    growth = hi.maxrss_mb - lo.maxrss_mb
    print(f"(for scale: importing the engine, openai and Pillow peaks at "
          f"{baseline.maxrss_mb:.1f} MB)")
    print(f"peak RSS at N={max(sizes)}: {hi.maxrss_mb:.1f} MB "
          f"(target <= 200 MB: {verdict(hi.maxrss_mb <= 200)})")
    print(f"growth from N={min(sizes)} to N={max(sizes)}: {growth:+.1f} MB "
          f"({hi.maxrss_mb / lo.maxrss_mb:.2f}x; target <= 25 MB: {verdict(growth <= 25)})")
    result: dict[str, object] = {f"peak_mb_{n}": round(ch.maxrss_mb, 1)
                                 for n, ch in peaks.items()}
    if resume_cmd:
        again = run_child(resume_cmd, env=resume_env)
        ref = run_child([sys.executable, "-c", "import vlmfer.cli, vlmfer.engine.run"])
        print(f"no-op resume of the finished N={max(sizes)} run: {again.wall_s:.2f} s wall, "
              f"{again.cpu_s:.2f} s CPU, exit {again.returncode} (importing the CLI and the "
              f"engine alone: {ref.wall_s:.2f} s; target <= 1.5 s: "
              f"{verdict(again.wall_s <= 1.5 and again.returncode in (0, 1))})")
        result["noop_resume_s"] = round(again.wall_s, 2)
    emit_result("memory", backend="mock" if mock else "emulator", **result)


if __name__ == "__main__":
    main()
