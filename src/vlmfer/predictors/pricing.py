"""A dated price table, per 1M tokens, that a user file can override.

Prices change; every entry says where it came from and when. A model missing
from the table costs ``None`` ("unknown"), never 0. Batch requests cost 50 %
of the standard price on both providers. Thinking (reasoning) tokens are billed
as output tokens.

Override file (``VLMFER_PRICES=prices.toml`` or the predictor option
``price_file``), TOML or JSON, keyed by ``provider/model``::

    ["openai/gpt-5.2"]
    input = 1.75           # USD per 1M input tokens
    output = 14.0          # USD per 1M output tokens (thinking included)
    cached_input = 0.175   # optional
    source = "https://openai.com/api/pricing/"
    date = "2026-11-20"
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vlmfer.errors import ConfigError
from vlmfer.types import Response, Usage

#: The date the built-in table was last checked.
PRICES_AS_OF = "2026-11-25"
BATCH_DISCOUNT = 0.5
PRICES_ENV = "VLMFER_PRICES"


class Price(BaseModel):
    """USD per 1M tokens for one model over a period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    source: str = "user price file"
    date: str | None = None
    #: Last day (inclusive, ISO date) this price applies; None means open-ended.
    until: str | None = None


_OAI = "https://openai.com/api/pricing/"
_GEM = "https://ai.google.dev/gemini-api/docs/pricing"

#: provider/model -> prices in date order. Sources are third-party transcriptions
#: of the official pages (named in each entry) unless the official page is named.
BUILTIN_PRICES: dict[str, tuple[Price, ...]] = {
    # gpt-4o (2024-08-06, 2024-11-20): scheduled to shut down 2027-01-14.
    "openai/gpt-4o": (
        Price(input=2.50, output=10.00, cached_input=1.25, date="2026-06",
              source=f"{_OAI} as cited by third-party guides, Apr-Jun 2026"),
    ),
    "openai/gpt-4o-mini": (
        Price(input=0.15, output=0.60, cached_input=0.075, date="2026-06",
              source=f"{_OAI} as cited by third-party guides, Apr-Jun 2026"),
    ),
    "openai/gpt-5.2": (
        Price(input=1.75, output=14.00, cached_input=0.175, date="2026-03",
              source=f"{_OAI} as transcribed by nicolalazzari.ai and evolink.ai, 2026"),
    ),
    "openai/gpt-5-mini": (
        Price(input=0.25, output=2.00, cached_input=0.025, date="2026",
              source=f"{_OAI} as transcribed by nicolalazzari.ai, 2026"),
    ),
    # gemini-2.0-flash: shut down 2026-06-01; kept to price the seed study.
    "gemini/gemini-2.0-flash": (
        Price(input=0.10, output=0.40, date="2026-06",
              source=f"{_GEM} as listed by OpenRouter and Vercel (text/image/video input)"),
    ),
    "gemini/gemini-2.5-flash": (
        Price(input=0.30, output=2.50, date="2026-09-20",
              source=f"{_GEM} as transcribed 2026-09-20 (input); 2026-06 articles (output)"),
    ),
    "gemini/gemini-3-flash-preview": (
        Price(input=0.50, output=3.00, cached_input=0.05, date="2026-07-04",
              source=f"{_GEM} as quoted by factquire.com, accessed 2026-07-04"),
    ),
    "gemini/gemini-3.5-flash": (
        Price(input=1.50, output=9.00, cached_input=0.15, date="2026-05",
              source=f"{_GEM} as reported at launch (apidog.com, wowhow.cloud), May 2026"),
    ),
    "gemini/gemini-3.8-flash": (
        Price(input=0.75, output=3.75, date="2026-10", until="2026-12-31",
              source=f"{_GEM} as transcribed 2026-09/10 (introductory price)"),
        Price(input=1.50, output=7.50, date="2026-10",
              source=f"{_GEM} as transcribed 2026-09/10"),
    ),
}

# Dated snapshots and numbered versions share their family's price.
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{3})$")


class PriceTable:
    """Prices by ``provider/model``: the built-in table, then the user's file on top."""

    def __init__(self, overrides: dict[str, tuple[Price, ...]] | None = None) -> None:
        self._prices = dict(BUILTIN_PRICES)
        self._prices.update(overrides or {})

    def lookup(self, provider: str, model: str, on: dt.date | None = None) -> Price | None:
        """The price in force on ``on`` (today by default), or None if unknown."""
        name = model.removeprefix("models/")
        periods = self._prices.get(f"{provider}/{name}")
        if periods is None:
            base = _SNAPSHOT.sub("", name)
            periods = self._prices.get(f"{provider}/{base}")
        if not periods:
            return None
        day = (on or dt.date.today()).isoformat()
        for price in periods:
            if price.until is None or day <= price.until:
                return price
        return None

    def cost(
        self,
        provider: str,
        model: str,
        usage: Usage,
        *,
        batch: bool = False,
        on: dt.date | None = None,
    ) -> float | None:
        """USD for one call's usage, or None when the model's price is unknown."""
        price = self.lookup(provider, model, on)
        if price is None:
            return None
        return usage_cost(usage, price, batch=batch)

    def response_cost(self, provider: str, model: str, response: Response) -> float | None:
        """USD for one answer: at the price of the model version that answered, else at
        the configured ``model``'s; at the batch rate when ``details["batch"]`` is set."""
        batch = bool(response.details.get("batch"))
        cost = None
        if response.model_version:
            cost = self.cost(provider, response.model_version, response.usage, batch=batch)
        if cost is None and response.model_version != model:
            cost = self.cost(provider, model, response.usage, batch=batch)
        return cost


def usage_cost(usage: Usage, price: Price, *, batch: bool = False) -> float:
    """USD for ``usage``. ``input_tokens`` includes cached ones; output excludes thinking."""
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    total = (
        (usage.input_tokens - cached) * price.input
        + cached * cached_rate
        + (usage.output_tokens + usage.thinking_tokens) * price.output
    ) / 1_000_000
    return total * (BATCH_DISCOUNT if batch else 1.0)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the price file ({exc.strerror}); set {PRICES_ENV} or "
            "price_file to a readable TOML or JSON file"
        ) from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw)
        else:
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover
                import tomli as tomllib
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix or 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table keyed by provider/model")
    return data


def load_price_file(path: Path) -> dict[str, tuple[Price, ...]]:
    """Read a user price file; each key is ``provider/model``, each value a price
    table or a list of them (in date order, all but the last with ``until``)."""
    out: dict[str, tuple[Price, ...]] = {}
    for name, value in _read_file(path).items():
        if "/" not in name:
            raise ConfigError(
                f"{path}: price key {name!r} must be provider/model, e.g. 'openai/gpt-5.2'"
            )
        items = value if isinstance(value, list) else [value]
        try:
            out[name] = tuple(Price.model_validate(item) for item in items)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(
                f"{path}: price for {name!r}: {problems}. Fields: input, output "
                "(USD per 1M tokens), cached_input, source, date, until"
            ) from None
    return out


@lru_cache(maxsize=16)
def _table_for(path: str | None) -> PriceTable:
    return PriceTable(load_price_file(Path(path)) if path else None)


def price_table(price_file: Path | None = None) -> PriceTable:
    """The table in force: built-in, overridden by ``price_file`` or ``$VLMFER_PRICES``."""
    chosen = price_file or (Path(os.environ[PRICES_ENV]) if os.environ.get(PRICES_ENV) else None)
    return _table_for(str(chosen) if chosen else None)
