"""Print how long ``import vlmfer`` and ``vlmfer --help`` take, as ratios over a bare interpreter.

Run: python benchmarks/import_time.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import ensure_bytecode


def _time(cmd: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    ensure_bytecode()
    py = sys.executable
    bare = _time([py, "-c", "pass"], args.repeat)
    imp = _time([py, "-c", "import vlmfer"], args.repeat)
    api = _time([py, "-c", "import vlmfer; vlmfer.get_registry().all_entries()"], args.repeat)
    helps = _time([py, "-m", "vlmfer", "--help"], args.repeat)
    print(f"bare interpreter          {bare * 1000:7.1f} ms")
    print(f"import vlmfer             {imp * 1000:7.1f} ms  "
          f"(+{(imp - bare) * 1000:.1f} ms, {imp / bare:.2f}x bare; target +150 ms)")
    print(f"import + load registry    {api * 1000:7.1f} ms  (+{(api - bare) * 1000:.1f} ms)")
    print(f"vlmfer --help             {helps * 1000:7.1f} ms  "
          f"({helps / bare:.2f}x bare; target 300 ms)")


if __name__ == "__main__":
    main()
