"""``python -m vlmfer.labels docs/labels.md`` rewrites the generated tables of the docs."""

from __future__ import annotations

import sys

from vlmfer.labels.docs import _main

if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
