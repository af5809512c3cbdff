"""Where the client's CPU goes: `vlmfer run` and the bare loop under cProfile, by package.

Both clients run against one emulator (latency 0.2 s, concurrency 64, N JPEGs, images
validated), each under ``python -m cProfile``; their own-time (``tottime``) is grouped by
the package that spent it and printed side by side. The profiler inflates call-heavy
code, so read shares, not seconds; the main thread only (vlmfer's worker threads are
not in it). Asserts nothing.

    python benchmarks/profile_clients.py [--n 1000] [--top 25]
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import emulator, ensure_bytecode, fresh, machine, make_jpeg_tree, table, vlmfer_env

HERE = Path(__file__).resolve().parent


def by_package(path: Path) -> tuple[Counter[str], float]:
    """Own time per package: site-packages name, ``vlmfer/<subpackage>``, stdlib module."""
    stats = pstats.Stats(str(path))
    out: Counter[str] = Counter()
    for (filename, _, func), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        m = re.search(r"site-packages/([^/]+)", filename)
        if m:
            key = m.group(1).removesuffix(".py")
        elif "/vlmfer/" in filename:
            key = "vlmfer/" + filename.split("/vlmfer/")[-1].split("/")[0].removesuffix(".py")
        elif filename == "~":
            key = "builtin " + re.sub(r"[<>{}']|method |built-in ", "", func).split(" of ")[0]
        else:
            key = "stdlib " + Path(filename).stem
        out[key] += tottime
    return out, sum(out.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    ensure_bytecode()
    work = Path(tempfile.mkdtemp(prefix="vlmfer-bench-prof-"))
    try:
        data = work / "data"
        make_jpeg_tree(data, args.n)
        print(f"profile_clients: {machine()}; N={args.n}, latency 0.2 s, concurrency 64")
        profiles: dict[str, Path] = {}
        with emulator(work, latency=0.2, policy="neutral-biased", strict_media=True) as emu:
            for name in ("bare", "vlmfer"):
                out = work / f"{name}.prof"
                head = [sys.executable, "-m", "cProfile", "-o", str(out)]
                if name == "bare":
                    cmd = [*head, str(HERE / "throughput.py"), "--bare-child",
                           emu.openai_base_url, str(data), "64"]
                    env = None
                else:
                    cmd = [*head, "-m", "vlmfer", "run", "--dataset", "folder", "--data-root",
                           str(data), "--split", "test", "--model", "openai/gpt-5.2",
                           "--base-url", emu.openai_base_url, "--concurrency", "64",
                           "--out", str(fresh(work / "run")), "--quiet"]
                    env = {**os.environ, **vlmfer_env(work),
                           "VLMFER_CACHE_DIR": str(fresh(work / "cache"))}
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if proc.returncode not in (0, 1):
                    raise SystemExit(f"{name} failed: {proc.stderr[-2000:]}")
                profiles[name] = out
        (bare, bare_total), (vl, vl_total) = by_package(profiles["bare"]), by_package(
            profiles["vlmfer"])
        keys = sorted(set(bare) | set(vl), key=lambda k: -max(bare[k], vl[k]))[: args.top]
        rows = [["where (own time)", "bare s", "vlmfer s", "vlmfer - bare s"]]
        for k in keys:
            rows.append([k, f"{bare[k]:.3f}", f"{vl[k]:.3f}", f"{vl[k] - bare[k]:+.3f}"])
        rows.append(["total (main thread, under the profiler)", f"{bare_total:.2f}",
                     f"{vl_total:.2f}", f"{vl_total - bare_total:+.2f}"])
        print(table(rows))
        own = sum(v for k, v in vl.items() if k.startswith("vlmfer/"))
        print(f"vlmfer's own code: {own:.2f} s of {vl_total:.2f} s "
              f"({100 * own / vl_total:.1f} %); the rest is the SDK, its HTTP stack, the "
              "standard library and the imports")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
