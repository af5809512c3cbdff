"""The ``vlmfer compare`` command, for the main CLI to hook up."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_compare(args: argparse.Namespace) -> int:
    """Print the comparison table of ``args.runs`` (or ``run_a`` and ``run_b``); exit 0.

    ``args.format`` is markdown (the default), latex, csv or json; ``args.json`` is
    ``--format json``; ``args.html`` also writes the one-page HTML comparison. A
    ``ConfigError`` (a folder that is not a run) propagates, so the CLI exits 2.
    """
    from vlmfer.report.compare import compare
    from vlmfer.report.table import render_table, write_html

    runs = list(getattr(args, "runs", None) or [args.run_a, args.run_b])
    paths = [Path(r) for r in runs]
    result = compare(paths)
    fmt = "json" if getattr(args, "json", False) else (getattr(args, "format", None)
                                                       or "markdown")
    if fmt == "json":
        print(json.dumps(result, indent=2))
    else:
        sys.stdout.write(render_table(result, fmt))
    html = getattr(args, "html", None)
    if html:
        links = {str(p): str((p / "report.html").resolve().as_uri()) for p in paths}
        path = write_html(result, html, links=links)
        print(f"html: {path}", file=sys.stderr)
    return 0
