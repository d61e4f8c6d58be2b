from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spyglass.collector.pricing import ModelPrice, PriceTable


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


def write(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return path


def test_the_shipped_table_loads_from_package_data(table: PriceTable) -> None:
    assert table.version == "2026-11-01"
    assert table.price_for("gpt-4o") == ModelPrice(input=2.5, output=10.0, cache_read=1.25)
    for price in table.models.values():
        assert price.input >= 0 and price.output >= 0


def test_input_and_output_are_charged_per_million_tokens(table: PriceTable) -> None:
    cost = table.cost("gpt-4o", "openai", {"input": 1000, "output": 500, "total": 1500})
    assert cost == pytest.approx({"input": 0.0025, "output": 0.005, "total": 0.0075})


def test_cached_tokens_are_taken_out_of_input_and_charged_at_the_cache_price(
    table: PriceTable,
) -> None:
    # gpt-4o: 600 uncached x $2.50 + 400 cached x $1.25 + 100 output x $10 (per 1M)
    cost = table.cost("gpt-4o", "openai", {"input": 1000, "cache_read": 400, "output": 100})
    assert cost == pytest.approx(
        {"input": 0.0015, "cache_read": 0.0005, "output": 0.001, "total": 0.003}
    )


def test_cache_writes_have_their_own_price_where_published(table: PriceTable) -> None:
    # claude-3-5-sonnet: 1000 x $3 + 1000 read x $0.30 + 1000 written x $3.75 + 200 out x $15
    usage = {"input": 3000, "cache_read": 1000, "cache_creation": 1000, "output": 200}
    cost = table.cost("claude-3-5-sonnet-20241022", "anthropic", usage)
    assert cost == pytest.approx(
        {
            "input": 0.003,
            "cache_read": 0.0003,
            "cache_creation": 0.00375,
            "output": 0.003,
            "total": 0.01005,
        }
    )


def test_input_smaller_than_the_cache_counts_is_read_as_uncached_only(table: PriceTable) -> None:
    # Anthropic's raw usage reports input without the cached tokens.
    cost = table.cost("claude-sonnet-4", "anthropic", {"input": 100, "cache_read": 1000})
    assert cost == pytest.approx({"input": 0.0003, "cache_read": 0.0003, "total": 0.0006})


def test_cache_tokens_without_a_cache_price_stay_in_input(table: PriceTable) -> None:
    cost = table.cost("gemini-2.0-flash", "gcp.gemini", {"input": 1000, "cache_read": 900})
    assert cost == pytest.approx({"input": 0.0001, "total": 0.0001})


@pytest.mark.parametrize(
    ("model", "usage"),
    [
        ("no-such-model", {"input": 10, "output": 10}),
        ("gpt-4o", {}),
        ("gpt-4o", {"total": 100}),
        ("", {"input": 1}),
    ],
)
def test_unknown_models_or_missing_usage_cost_nothing(
    table: PriceTable, model: str, usage: dict[str, int]
) -> None:
    assert table.cost(model, "", usage) == {}


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("gpt-4o", "gpt-4o"),
        ("GPT-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("gpt-4o-realtime-preview", "gpt-4o"),
        ("gpt-5-chat-latest", "gpt-5"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
        ("claude-sonnet-4-0", "claude-sonnet-4"),
        ("claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
        ("anthropic/claude-3.5-haiku", "claude-3-5-haiku"),
        ("models/gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"),
        ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
        ("mistral-large-latest", "mistral-large"),
        ("mistral-large-2411", "mistral-large"),
    ],
)
def test_model_names_match_exactly_then_without_prefix_suffix_or_by_prefix(
    table: PriceTable, model: str, key: str
) -> None:
    assert table.price_for(model) is table.models[key]


@pytest.mark.parametrize("model", ["gpt-4oo", "o10", "llama-3-70b", "claude", "", "  "])
def test_names_that_only_share_characters_do_not_match(table: PriceTable, model: str) -> None:
    assert table.price_for(model) is None


def test_lookups_are_memoised(table: PriceTable) -> None:
    first = table.price_for("gpt-4o-2024-11-20", "openai")
    assert first is not None
    assert table.price_for("gpt-4o-2024-11-20", "openai") is first


def test_an_override_file_is_merged_on_top_per_model(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "version": "acme-3",
            "currency": "USD",
            "models": {
                "GPT-4o": {"input": 2.0, "output": 8.0},
                "groq/llama-3.3-70b-versatile": {"input": 0.59, "output": 0.79},
            },
        },
    )
    table = PriceTable.load(path)
    assert table.version == "2026-11-01+acme-3"
    assert table.price_for("gpt-4o") == ModelPrice(input=2.0, output=8.0)
    assert table.price_for("gpt-4o-mini") == ModelPrice(input=0.15, output=0.6, cache_read=0.075)
    assert table.price_for("llama-3.3-70b-versatile", "groq") == ModelPrice(0.59, 0.79)
    assert table.price_for("llama-3.3-70b-versatile") is None
    assert PriceTable.load(str(path)).price_for("gpt-4o") == ModelPrice(input=2.0, output=8.0)


def test_an_override_without_a_version_is_marked_in_the_table_version(tmp_path: Path) -> None:
    path = write(tmp_path, {"models": {"my-model": {"input": 1, "output": 2}}})
    table = PriceTable.load(path)
    assert table.version == "2026-11-01+override"
    assert table.cost("my-model", "", {"input": 1_000_000, "output": 0}) == pytest.approx(
        {"input": 1.0, "output": 0.0, "total": 1.0}
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ([], "top level must be a JSON object"),
        ({"version": "x"}, "'models' must be an object"),
        ({"models": {"m": {"input": -1, "output": 1}}}, "'input' must be a finite number"),
        ({"models": {"m": {"input": "1", "output": 1}}}, "'input' must be a finite number"),
        ({"models": {"m": {"input": True, "output": 1}}}, "'input' must be a finite number"),
        ({"models": {"m": {"input": 1}}}, "'output' must be a finite number"),
        ({"models": {"m": {"input": 1, "output": 1, "cache_read": -2}}}, "'cache_read'"),
        ({"models": {"m": {"input": 1, "output": 1, "cached": 1}}}, "unknown keys ['cached']"),
        ({"models": {"m": 3}}, "must map to an object of prices"),
        ({"models": {" ": {"input": 1, "output": 1}}}, "empty model name"),
        ({"currency": "EUR", "models": {}}, "only USD prices"),
        ({"version": 3, "models": {}}, "'version' must be"),
    ],
)
def test_a_bad_override_file_raises_a_clear_value_error(
    tmp_path: Path, content: Any, message: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ValueError, match="price override file") as raised:
        PriceTable.load(path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_missing_override_file_raises_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read price override file"):
        PriceTable.load(tmp_path / "absent.json")
