"""The pages about the examples, the cache and costs stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vlmfer.predictors.pricing import BUILTIN_PRICES, PRICES_AS_OF
from vlmfer.types import GenerationOptions

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _money(v: float) -> str:
    return f"{v:.3f}".rstrip("0") if round(v, 2) != v else f"{v:.2f}"


@pytest.mark.parametrize("model", sorted(BUILTIN_PRICES))
def test_every_builtin_price_is_in_the_costs_table(model: str) -> None:
    rows = [line for line in _doc("costs.md").splitlines()
            if line.startswith(f"| `{model}` |")]
    assert len(rows) == len(BUILTIN_PRICES[model]), f"{model}: one table row per price period"
    for row, price in zip(rows, BUILTIN_PRICES[model], strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == _money(price.input), row
        assert cells[3] == _money(price.output), row
        cached = "–" if price.cached_input is None else _money(price.cached_input)
        assert cells[2] == cached, row
        if price.until:
            assert price.until in row, row


def test_costs_page_names_the_table_date() -> None:
    assert PRICES_AS_OF in _doc("costs.md")


def test_every_example_toml_is_on_the_seed_study_page() -> None:
    page = _doc("seed-study.md")
    for path in sorted((ROOT / "examples").glob("*.toml")):
        assert path.name in page, f"{path.name} is missing from docs/seed-study.md"


def test_caching_page_lists_every_generation_option_in_the_key() -> None:
    page = _doc("caching.md")
    missing = [f for f in GenerationOptions.model_fields if f"`{f}`" not in page]
    assert not missing, f"generation options missing from docs/caching.md: {missing}"


def _identity_keys() -> list[tuple[str, str]]:
    from vlmfer.predictors.gemini import GeminiPredictor
    from vlmfer.predictors.openai import OpenAIPredictor
    from vlmfer.predictors.options import GeminiOptions, OpenAIOptions

    found = []
    openai_p = OpenAIPredictor("gpt-5.2", OpenAIOptions(api_key="k", base_url="http://127.0.0.1:9/v1"))
    gemini_p = GeminiPredictor("gemini-3.5-flash",
                               GeminiOptions(api_key="k", base_url="http://127.0.0.1:9"))
    for p in (openai_p, gemini_p):
        found += [(p.provider, k) for k in p.cache_identity()]
    return found


# Identity keys whose documented name differs from the key.
_DOC_NAME = {"name": "provider and model", "supports": "supports_", "video_metadata": "video_fps",
             "thinking": "thinking settings"}


@pytest.mark.parametrize(("provider", "key"), _identity_keys())
def test_caching_page_lists_every_part_of_the_backend_key(provider: str, key: str) -> None:
    word = _DOC_NAME.get(key, f"`{key}`")
    assert re.search(re.escape(word), _doc("caching.md")), (
        f"{provider} cache identity key {key!r} is not described in docs/caching.md")
