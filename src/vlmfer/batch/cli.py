"""``vlmfer run --batch`` and ``vlmfer batch submit|status|collect RUN_DIR``.

Exit codes: 0 when a round was submitted, jobs are still running, or the run is complete
without errors; 1 when the run is complete but some samples ended in ``error`` (or a
provider call failed); 2 for usage and configuration errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlmfer.batch.driver import CollectResult
    from vlmfer.engine.config import Experiment

EXIT_OK = 0
EXIT_ERRORS = 1


def _echo(quiet: bool) -> Any:
    def echo(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    return echo


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``batch`` sub-command's arguments."""
    p.add_argument("action", choices=["submit", "status", "collect"],
                   help="submit: send what the current round has not sent yet; status: poll "
                   "the jobs; collect: download finished jobs, then submit the next round")
    p.add_argument("run_dir", help="the --out folder of a `vlmfer run ... --batch`")
    p.add_argument("--retry-failed", action="store_true",
                   help="collect: resubmit the requests whose batch failed (their samples "
                   "ended in an error outcome)")
    p.add_argument("--wait", action="store_true",
                   help="collect: keep polling (and submitting rounds) until the run is done")
    p.add_argument("--poll-s", type=float, default=60.0, metavar="S",
                   help="collect --wait: seconds between polls (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="print only the outcome")


def run_batch(exp: Experiment, *, command: Sequence[str] | None = None) -> int:
    """``vlmfer run ... --batch``: build, write the manifest, submit round 1."""
    from vlmfer.batch.driver import start_batch

    return _guard(lambda: _print(start_batch(exp, command=command,
                                             echo=_echo(exp.run.quiet)), exp.run.quiet))


def main_from_args(args: argparse.Namespace) -> int:
    """``vlmfer batch ACTION RUN_DIR``."""
    from vlmfer.batch.driver import batch_status, collect_batch, submit_batch

    quiet = bool(args.quiet)
    echo = _echo(quiet)
    if args.action != "collect" and (args.retry_failed or args.wait):
        print("vlmfer batch: --retry-failed and --wait go with `collect`", file=sys.stderr)
        return 2
    if args.poll_s <= 0:
        print("vlmfer batch: --poll-s must be a positive number of seconds", file=sys.stderr)
        return 2
    if args.action == "status":
        def status() -> int:
            print(batch_status(args.run_dir, echo=echo).text())
            return EXIT_OK

        return _guard(status)
    if args.action == "submit":
        return _guard(lambda: _print(submit_batch(args.run_dir, echo=echo), quiet))
    return _guard(lambda: _print(collect_batch(
        args.run_dir, retry_failed=args.retry_failed, wait=args.wait, poll_s=args.poll_s,
        echo=echo), quiet))


def _guard(fn: Any) -> int:
    from vlmfer.batch.store import BatchError

    try:
        code: int = fn()
    except BatchError as e:
        print(f"vlmfer: error: {e}", file=sys.stderr)
        return EXIT_ERRORS
    except KeyboardInterrupt:
        print("vlmfer: interrupted; the batch state is saved. Run the same command again "
              "to continue", file=sys.stderr)
        return 130
    return code


def _print(result: CollectResult, quiet: bool) -> int:
    if not result.complete:
        print(result.message)
        return EXIT_OK
    from vlmfer.results import Run

    run = Run(result.path)
    m = run.metrics
    outcomes = m.get("outcomes", {})
    if not quiet:
        def fmt(name: str) -> str:
            val = m.get(name)
            return f"{name}=n/a" if val is None else f"{name}={val:.3f}"

        print(result.message)
        print(f"{run.path}: n={m.get('n')}  "
              + "  ".join(fmt(k) for k in ("accuracy", "uar", "macro_f1")))
        print("outcomes: " + ", ".join(f"{k}={v}" for k, v in outcomes.items()))
        cost = m.get("cost_usd")
        print("cost: " + (f"${cost:.4f} at the batch price" if cost is not None else "unknown"))
        print(f"report: {run.path / 'report.html'}")
    errors = outcomes.get("error", 0)
    if errors:
        print(f"{errors} sample(s) ended in an error; resubmit their failed requests with:\n"
              f"  vlmfer batch collect {result.path} --retry-failed", file=sys.stderr)
        return EXIT_ERRORS
    return EXIT_OK
