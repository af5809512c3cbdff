"""Claude prices, per 1M tokens, dated and sourced; a user price file overrides them.

Priced through vlmfer's own table (``vlmfer.predictors.pricing``): the built-in table, this
plugin's entries, then the user's ``price_file`` / ``VLMFER_PRICES`` on top. The Message
Batches API costs 50 % of these (vlmfer's ``BATCH_DISCOUNT``). vlmfer sets no prompt-cache
breakpoints, so cache writes never occur; cache reads are priced as ``cached_input``.
"""

from __future__ import annotations

from pathlib import Path

from vlmfer.predictors.pricing import (
    PRICES_ENV,
    Price,
    PriceTable,
    load_price_file,
)

_DOCS = "https://platform.claude.com/docs/en/about-claude/pricing"

#: Read 2026-12-02 from the model overview pages (platform.claude.com/docs/.../models/...).
PRICES: dict[str, tuple[Price, ...]] = {
    "anthropic/claude-sonnet-5-5": (
        Price(input=2.00, output=10.00, cached_input=0.20, date="2026-09", until="2026-10-06",
              source=f"{_DOCS}; Claude Sonnet 5.5 overview (cache reads before the cut)"),
        Price(input=2.00, output=10.00, cached_input=0.10, date="2026-10-07",
              source=f"{_DOCS}; Claude Sonnet 5.5 overview; cache-read cut of 2026-10-07 "
              "as transcribed by third-party price trackers"),
    ),
    # Two bands by prompt length: see LONG_PROMPT.
    "anthropic/claude-haiku-5-5": (
        Price(input=0.10, output=0.50, cached_input=0.01, date="2026-10-07",
              source=f"{_DOCS}; Claude Haiku 5.5 overview (prompts up to 100,000 tokens)"),
    ),
    "anthropic/claude-opus-5-5": (
        Price(input=4.00, output=20.00, date="2026-09",
              source=f"{_DOCS}; Claude Opus 5.5 in the model comparison table"),
    ),
    "anthropic/claude-sonnet-5": (
        Price(input=2.00, output=10.00, cached_input=0.20, date="2026-09",
              source=f"{_DOCS}; Claude Sonnet 5 overview"),
    ),
    "anthropic/claude-opus-5": (
        Price(input=5.00, output=25.00, date="2026-09",
              source=f"{_DOCS}; Claude Opus 5 in the model comparison table"),
    ),
    "anthropic/claude-opus-4-8": (
        Price(input=5.00, output=25.00, date="2026-06",
              source=f"{_DOCS} as transcribed by third-party guides, mid-2026"),
    ),
    "anthropic/claude-sonnet-4-6": (
        Price(input=3.00, output=15.00, cached_input=0.30, date="2026-03",
              source=f"{_DOCS} as transcribed by third-party guides, 2026"),
    ),
    "anthropic/claude-haiku-4-5": (
        Price(input=1.00, output=5.00, cached_input=0.10, date="2026-03",
              source=f"{_DOCS}; Claude Haiku 4.5 in the model comparison tables"),
    ),
}

#: Models priced higher, on every token of a request, once its prompt exceeds a threshold.
LONG_PROMPT: dict[str, tuple[int, Price]] = {
    "anthropic/claude-haiku-5-5": (100_000, Price(
        input=0.50, output=2.50, cached_input=0.05, date="2026-10-07",
        source=f"{_DOCS}; Claude Haiku 5.5 overview (prompts over 100,000 tokens)")),
}


def price_table(price_file: Path | None = None) -> PriceTable:
    """vlmfer's table with Claude's prices added; the user's file wins over both."""
    import os

    chosen = price_file or (Path(os.environ[PRICES_ENV]) if os.environ.get(PRICES_ENV) else None)
    user = load_price_file(chosen) if chosen else {}
    return PriceTable({**PRICES, **user})
