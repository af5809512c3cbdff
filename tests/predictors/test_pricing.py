"""The dated price table: known models cost money, unknown ones cost "unknown"."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from vlmfer.errors import ConfigError
from vlmfer.predictors import pricing
from vlmfer.types import Usage


def test_every_builtin_price_says_where_and_when() -> None:
    for name, periods in pricing.BUILTIN_PRICES.items():
        assert "/" in name
        for price in periods:
            assert price.source.startswith("http") and price.date, name


def test_cost_of_a_call() -> None:
    table = pricing.PriceTable()
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cached_input_tokens=200_000)
    # gpt-4o: 0.8M fresh at 2.50 + 0.2M cached at 1.25 + 0.1M out at 10.00
    assert table.cost("openai", "gpt-4o", usage) == pytest.approx(2.0 + 0.25 + 1.0)
    assert table.cost("openai", "gpt-4o", usage, batch=True) == pytest.approx(3.25 / 2)
    # Dated snapshots share the family price.
    assert table.cost("openai", "gpt-4o-2024-08-06", usage) == pytest.approx(3.25)


def test_thinking_tokens_are_billed_as_output() -> None:
    table = pricing.PriceTable()
    usage = Usage(input_tokens=0, output_tokens=10, thinking_tokens=90)
    assert table.cost("gemini", "gemini-2.5-flash", usage) == pytest.approx(100 * 2.50 / 1e6)


def test_unknown_model_costs_none_not_zero() -> None:
    table = pricing.PriceTable()
    assert table.cost("openai", "my-local-llava", Usage(input_tokens=10)) is None
    # A prefix is not a family: gpt-4o-audio is not gpt-4o.
    assert table.lookup("openai", "gpt-4o-audio-preview") is None


def test_dated_periods_switch_on_their_end_date() -> None:
    table = pricing.PriceTable()
    before = table.lookup("gemini", "gemini-3.8-flash", on=dt.date(2026, 12, 31))
    after = table.lookup("gemini", "gemini-3.8-flash", on=dt.date(2027, 1, 1))
    assert before is not None and after is not None
    assert (before.input, after.input) == (0.75, 1.50)


def test_user_file_overrides_and_adds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "prices.toml"
    toml.write_text('["openai/llava-local"]\ninput = 0.0\noutput = 0.0\n'
                    '["openai/gpt-4o"]\ninput = 5.0\noutput = 20.0\ndate = "2027-01-01"\n',
                    encoding="utf-8")
    table = pricing.price_table(toml)
    assert table.cost("openai", "llava-local", Usage(input_tokens=5)) == 0.0
    assert table.cost("openai", "gpt-4o", Usage(input_tokens=1_000_000)) == pytest.approx(5.0)

    js = tmp_path / "prices.json"
    js.write_text(json.dumps({"gemini/custom": {"input": 1, "output": 2}}), encoding="utf-8")
    monkeypatch.setenv(pricing.PRICES_ENV, str(js))
    assert pricing.price_table().cost("gemini", "custom", Usage(output_tokens=10**6)) == 2.0


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('["gpt-4o"]\ninput = 1\noutput = 1\n', "provider/model"),
        ('["openai/x"]\ninput = 1\n', "output"),
        ('["openai/x"]\ninput = 1\noutput = 1\ncost = 3\n', "cost"),
        ("not toml [", "not valid"),
    ],
)
def test_bad_price_files_fail_clearly(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        pricing.load_price_file(path)


def test_missing_price_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the price file"):
        pricing.load_price_file(tmp_path / "nope.toml")
