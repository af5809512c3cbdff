"""Rate limits: the emulator enforces RPM and TPM, and `vlmfer run` is given the same budget.

The emulator (its own process) answers 429 to any request beyond ``rpm`` requests or ``tpm``
input tokens in its sliding 60 s window. ``vlmfer run --rpm R --tpm T`` (the CLI, in a child
process) must use the budget fully and never be refused:

- achieved rate = requests that arrived in the first k full minutes / (k x rpm), for the largest
  k the run spans (target >= 0.95);
- the most requests that arrived in any 60 s window (must be <= rpm);
- rate-limit 429s from the emulator's counters (target 0).

The TPM is set to ``tpm_factor`` x rpm x the tokens one request costs at the emulator
(measured with a probe request first), so an estimate that is too high slows the run and one
that is too low trips the emulator. The client's window is a minute, so a run that shows a
second minute's worth takes more than 60 s: the normal mode sends 2 x rpm + 100 requests
(about two minutes); --quick sends rpm + 100 (just over one minute). Prints figures; asserts
nothing.

    python benchmarks/ratelimit.py [--quick] [--rpm 600]
"""

from __future__ import annotations

import argparse
import bisect
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
    verdict,
    vlmfer_cmd,
    vlmfer_env,
)

MODEL = "openai/gpt-5.2"


def max_in_window(times: list[float], window: float = 60.0) -> int:
    """The most arrivals in any half-open window of ``window`` seconds."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)),
               default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="rpm + 100 requests (~65 s)")
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--tpm-factor", type=float, default=1.1)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    ensure_bytecode()
    work = args.keep or Path(tempfile.mkdtemp(prefix="vlmfer-bench-rl-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        minutes = 1 if args.quick else 2
        run(work, args.rpm, args.tpm_factor, args.latency, args.concurrency,
            args.rpm * minutes + 100)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, rpm: int, tpm_factor: float, latency: float, c: int, n: int) -> None:
    data = work / "data"
    make_jpeg_tree(data, n, size=(320, 240), quality=85)
    common = ["--dataset", "folder", "--data-root", str(data), "--split", "test",
              "--model", MODEL, "--quiet", "--no-cache"]
    # The probe: what one request costs in the emulator's token count.
    with emulator(work, policy="neutral-biased", strict_media=False) as emu:
        probe = run_child(vlmfer_cmd("run", *common, "--base-url", emu.openai_base_url,
                                     "--limit", "7", "--out", str(fresh(work / "probe"))),
                          env=vlmfer_env(work))
        if probe.returncode != 0:
            raise SystemExit(f"probe run failed: {probe.stderr[-2000:]}")
        per_request = max(e.get("input_tokens") or 0 for e in inference(emu.log()))
    tpm = int(rpm * per_request * tpm_factor)
    print(f"ratelimit: {machine()}")
    print(f"N={n} requests, budget rpm={rpm} tpm={tpm} (= {tpm_factor} x rpm x {per_request} "
          f"tokens a request) on both sides, emulator latency {latency} s, concurrency {c}"
          + ("; --quick: one minute of budget plus 100 requests" if n < 2 * rpm else ""))
    with emulator(work, latency=latency, policy="neutral-biased", strict_media=False,
                  rpm=rpm, tpm=tpm) as emu:
        child = run_child(vlmfer_cmd("run", *common, "--base-url", emu.openai_base_url,
                                     "--concurrency", str(c), "--rpm", str(rpm), "--tpm",
                                     str(tpm), "--out", str(fresh(work / "run"))),
                          env=vlmfer_env(work), timeout=600)
        entries = inference(emu.log())
        counters = emu.stop()
    if child.returncode not in (0, 1):
        raise SystemExit(f"vlmfer run failed ({child.returncode}): {child.stderr[-2000:]}")
    arrivals = sorted(e["time"] for e in entries)
    t0 = arrivals[0]
    whole = int((arrivals[-1] - t0) // 60)
    limited = counters.get("limits", {})
    refused = sum(limited.values())
    ok = [e for e in entries if e.get("status") == 200]
    print(f"vlmfer run: {len(entries)} requests ({len(ok)} answered) in "
          f"{arrivals[-1] - t0:.1f} s, wall {child.wall_s:.1f} s")
    result: dict[str, object] = {"n": n, "rpm": rpm, "tpm": tpm, "rate_limit_429s": refused}
    if whole >= 1:
        sent = bisect.bisect_left(arrivals, t0 + 60 * whole)
        ratio = sent / (rpm * whole)
        tokens = sum(e.get("input_tokens") or 0 for e in entries if e["time"] < t0 + 60 * whole)
        print(f"achieved rate over the first {whole} min: {sent / whole:.0f} requests/min = "
              f"{ratio:.3f} of rpm (target >= 0.95: {verdict(ratio >= 0.95)}); "
              f"{tokens / whole:.0f} tokens/min = {tokens / whole / tpm:.3f} of tpm")
        result["rate_ratio"] = round(ratio, 3)
    else:
        print("the run spanned less than a minute: no rate to measure")
    peak = max_in_window(arrivals)
    print(f"most requests in any 60 s window: {peak} (target <= rpm {rpm}: "
          f"{verdict(peak <= rpm)})")
    print(f"rate-limit 429s from the emulator: {refused} {limited or ''} "
          f"(target 0: {verdict(refused == 0)})")
    result["peak_60s"] = peak
    emit_result("ratelimit", **result)


if __name__ == "__main__":
    main()
