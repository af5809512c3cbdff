"""Delete Gemini Files API uploads that a crashed run left behind.

    python -m vlmfer.predictors.cleanup [--prefix vlmfer-] [--base-url URL] [--api-version v1beta]

The key comes from ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``. Only files whose
display name starts with the prefix (every vlmfer upload's does) are deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from vlmfer.errors import ConfigError, PredictorError
from vlmfer.presets import DEFAULT_GEMINI_MODEL


async def cleanup_gemini_uploads(prefix: str = "vlmfer-", **options: Any) -> list[str]:
    """Delete leftover uploads; ``options`` are gemini predictor options (``base_url``...)."""
    from vlmfer.predictors.plugin import gemini_factory

    predictor: Any = gemini_factory(DEFAULT_GEMINI_MODEL, **options)
    try:
        deleted: list[str] = await predictor.cleanup_uploads(prefix)
    finally:
        await predictor.aclose()
    return deleted


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exit 0 on success, 1 on an API error, 2 on bad usage."""
    parser = argparse.ArgumentParser(prog="python -m vlmfer.predictors.cleanup",
                                     description="Delete leftover vlmfer uploads from the "
                                                 "Gemini Files API.")
    parser.add_argument("--prefix", default="vlmfer-", help="display-name prefix to delete")
    parser.add_argument("--base-url", help="API base URL (default: Google's)")
    parser.add_argument("--api-version", default="v1beta")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {"api_version": args.api_version}
    if args.base_url:
        options["base_url"] = args.base_url
    try:
        deleted = asyncio.run(cleanup_gemini_uploads(args.prefix, **options))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PredictorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in deleted:
        print(f"deleted {name}")
    print(f"{len(deleted)} upload(s) deleted")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
