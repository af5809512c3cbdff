"""Run every benchmark and print one summary of its targets.

    python benchmarks/run_all.py --quick      # all of them in under 5 minutes on 2 cores
    python benchmarks/run_all.py              # the full measurements (about 10 minutes)
    python benchmarks/run_all.py --only throughput,video

Each script runs in its own process; its output is shown as it comes, and every line that
states a target is collected into the summary at the end. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import ensure_bytecode, machine, table

HERE = Path(__file__).resolve().parent

#: name -> (arguments in --quick mode, arguments in the full mode)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "import_time": (["--repeat", "5"], ["--repeat", "15"]),
    "list_tree": (["--files", "70000"], ["--files", "70000"]),
    "media": (["--repeat", "5"], ["--repeat", "15"]),
    "throughput": (["--quick"], []),
    "video": (["--quick"], []),
    "cache_rerun": (["--quick"], []),
    "memory": (["--quick"], []),
    "ratelimit": (["--quick"], []),
    "bookkeeping": (["--n", "2000"], ["--n", "5000"]),
    "view": (["--n", "20000"], ["--n", "20000"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--inspect", action="store_true",
                        help="throughput also runs inspect_ai (installs it in a side venv)")
    parser.add_argument("--json", type=Path, help="also write the collected results here")
    args = parser.parse_args()
    ensure_bytecode()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    print(f"run_all{' --quick' if args.quick else ''}: {machine()}\n", flush=True)
    started = time.perf_counter()
    rows = [["benchmark", "s", "status", "targets"]]
    results = []
    for name in names:
        quick, full = BENCHMARKS[name]
        extra = ["--inspect"] if (name == "throughput" and args.inspect) else []
        cmd = [sys.executable, str(HERE / f"{name}.py"), *(quick if args.quick else full), *extra]
        print(f"=== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        targets = []
        for line in proc.stdout:
            if line.startswith("RESULT "):
                results.append(json.loads(line[len("RESULT "):]))
                continue
            print("    " + line, end="", flush=True)
            if re.search(r"\btarget", line):
                targets.append(_squeeze(line))
        code = proc.wait()
        seconds = time.perf_counter() - t0
        status = "ok" if code == 0 else f"exit {code}"
        if not targets:
            targets = ["(no target line)"]
        for i, t in enumerate(targets):
            rows.append([name if i == 0 else "", f"{seconds:.0f}" if i == 0 else "",
                         status if i == 0 else "", t])
        print(flush=True)
    total = time.perf_counter() - started
    print("=== summary")
    print(table(rows))
    missed = sum(1 for r in rows[1:] if "MISSED" in r[3])
    met = sum(1 for r in rows[1:] if re.search(r"\bmet\b", r[3]))
    print(f"\n{met} target(s) met, {missed} missed; total {total:.0f} s"
          + (" (--quick budget: 300 s)" if args.quick else ""))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "quick": args.quick,
                                         "seconds": round(total, 1), "results": results},
                                        indent=2), encoding="utf-8")


def _squeeze(line: str) -> str:
    line = re.sub(r"\s+", " ", line.strip())
    return line if len(line) <= 150 else line[:147] + "..."


if __name__ == "__main__":
    main()
