"""Known model ids: status, retirement dates and the snapshots that aliases point to.

Model ids are configuration; this table only informs (``vlmfer models``, and a
warning when a run names a retired model or one without a known price). An id
missing here is not an error: new models appear faster than any table.

A predictor plugin lists its own models by giving its factory a ``known_models``
attribute (a sequence of ``ModelInfo``); ``known_models()`` collects them from
every registered predictor, built-ins through the same path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vlmfer.predictors.pricing import Price

Status = Literal["current", "deprecated", "retired"]

_OAI_DEPRECATIONS = "OpenAI deprecations page (announced 2026-10-14)"
_GEMINI_DEPRECATIONS = "Gemini deprecations page as read by third parties, 2026-11"


class ModelInfo(BaseModel):
    """One model id as the provider documents it, on the date ``as_of``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    model: str
    status: Status = "current"
    #: The day calls stop working (past or scheduled), ISO date.
    retires: str | None = None
    #: The dated snapshot an alias served when last checked (the run records the real one).
    snapshot: str | None = None
    #: What replaces it, or anything a user should know.
    note: str = ""
    source: str = ""
    as_of: str = "2026-11"
    #: Dated prices a plugin knows for it (the built-in table covers the built-ins).
    prices: tuple[Price, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.model}"

    def retired_on(self, day: dt.date | None = None) -> bool:
        """Whether calls to it fail on ``day`` (today by default)."""
        if self.status == "retired":
            return True
        return self.retires is not None and (day or dt.date.today()).isoformat() >= self.retires


OPENAI_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(provider="openai", model="gpt-5.2", note="default for new experiments",
              source="OpenAI models page"),
    ModelInfo(provider="openai", model="gpt-5-mini", source="OpenAI models page"),
    ModelInfo(provider="openai", model="gpt-4o", status="deprecated", retires="2027-01-14",
              snapshot="gpt-4o-2024-08-06",
              note="the seed study's GPT model (preset seed-gpt4o); 2024-08-06 and 2024-11-20 "
                   "snapshots retire together",
              source=_OAI_DEPRECATIONS),
    ModelInfo(provider="openai", model="gpt-4o-2024-05-13", status="retired",
              retires="2026-10-23", source="OpenAI deprecations page"),
    ModelInfo(provider="openai", model="gpt-4o-mini", status="deprecated", retires="2027-01-14",
              snapshot="gpt-4o-mini-2024-07-18", source=_OAI_DEPRECATIONS),
    ModelInfo(provider="openai", model="gpt-4.1", status="deprecated", retires="2027-01-14",
              source=_OAI_DEPRECATIONS),
    ModelInfo(provider="openai", model="gpt-4.1-mini", status="deprecated",
              retires="2027-01-14", source=_OAI_DEPRECATIONS),
    ModelInfo(provider="openai", model="chatgpt-4o-latest", status="retired",
              retires="2026-02-17", note="removed from the API", source="OpenAI deprecations"),
)

GEMINI_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(provider="gemini", model="gemini-3.5-flash",
              note="default for new experiments (GA 2026-05-19)", source="Google launch, 2026-05"),
    ModelInfo(provider="gemini", model="gemini-3.8-flash", note="GA 2026-09-02",
              source="Google release notes, 2026-09"),
    ModelInfo(provider="gemini", model="gemini-3.5-flash-lite", source="Google release notes"),
    ModelInfo(provider="gemini", model="gemini-2.5-flash", status="deprecated",
              retires="2026-12-01",
              note="trackers report requests auto-routed to gemini-3.5-flash-lite from then",
              source=_GEMINI_DEPRECATIONS),
    ModelInfo(provider="gemini", model="gemini-2.0-flash", status="retired",
              retires="2026-06-01",
              note="the seed study's Gemini model (preset seed-gemini); calls fail",
              source="Firebase AI Logic docs, updated 2026-06-18"),
    ModelInfo(provider="gemini", model="gemini-2.0-flash-lite", status="retired",
              retires="2026-06-01", source="Firebase AI Logic docs, updated 2026-06-18"),
)


def known_models(factories: Iterable[object]) -> list[ModelInfo]:
    """Every model that these predictor factories list, sorted by provider then model.

    Pass the registered factories (``vlmfer.plugins.predictor_factories()``).
    """
    out: list[ModelInfo] = []
    for factory in factories:
        listed: Sequence[ModelInfo] = getattr(factory, "known_models", ()) or ()
        out.extend(m for m in listed if isinstance(m, ModelInfo))
    return sorted(out, key=lambda m: (m.provider, m.status != "current", m.model))


def lookup(provider: str, model: str, models: Iterable[ModelInfo]) -> ModelInfo | None:
    """The entry for ``provider/model`` (a dated snapshot falls back to its alias)."""
    table = {m.name: m for m in models}
    name = f"{provider}/{model.removeprefix('models/')}"
    if name in table:
        return table[name]
    for info in table.values():
        if info.snapshot and f"{info.provider}/{info.snapshot}" == name:
            return info
    return None


def model_warnings(provider: str, model: str, *, models: Iterable[ModelInfo],
                   price_known: bool, day: dt.date | None = None) -> list[str]:
    """What a run on ``provider/model`` should be warned about before it starts."""
    out = []
    info = lookup(provider, model, models)
    name = f"{provider}/{model}"
    if info is not None and info.retired_on(day):
        out.append(f"{name} was retired on {info.retires or 'an earlier date'}: calls will "
                   f"fail{f' ({info.note})' if info.note else ''}. `vlmfer models` lists current "
                   "ids")
    elif info is not None and info.retires:
        out.append(f"{name} is scheduled to retire on {info.retires}; results will not be "
                   "reproducible with it after that day")
    if not price_known and provider != "mock":
        out.append(f"{name} has no known price: costs are reported as unknown. Add it to a "
                   "price file (VLMFER_PRICES or the price_file option; docs/costs.md)")
    return out
