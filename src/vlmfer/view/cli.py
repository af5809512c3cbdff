"""The ``vlmfer view`` command: open the runs, print the URL, serve until Ctrl-C."""

from __future__ import annotations

import argparse
import time

from vlmfer.view.server import ViewServer


def main_from_args(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    server = ViewServer.open(args.run_dirs, port=args.port or 0, quiet=not args.verbose)
    for run in server.app.catalog.runs:
        n = len(run.index.rows())  # built now, so a corrupt file fails before the URL shows
        where = "" if run.cache_in_run else f" (the folder is read-only: cache in {run.cache_dir})"
        print(f"{run.name}: {n} samples, index {run.index.source}{where}")
    took = time.perf_counter() - started
    print(f"vlmfer view: serving {len(server.app.catalog.runs)} run(s) read-only at "
          f"{server.url} (ready in {took:.1f} s; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("vlmfer view: stopped")
    finally:
        server.stop()
    return 0
