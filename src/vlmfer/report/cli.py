"""The ``vlmfer compare`` command, for the main CLI to hook up."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_compare(args: argparse.Namespace) -> int:
    """Print the paired comparison of ``args.run_a`` and ``args.run_b``; exit code 0.

    A ``ConfigError`` (different datasets, no shared samples) propagates, so the
    CLI prints it and exits 2. With ``args.json`` (if the parser defines it)
    the result is printed as JSON instead.
    """
    from vlmfer.report.compare import compare_runs, format_comparison

    result = compare_runs(Path(args.run_a), Path(args.run_b))
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2))
    else:
        print(format_comparison(result), end="")
    return 0
