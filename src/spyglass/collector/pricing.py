"""Versioned model price table, applied to token usage at ingest.

Prices are list prices in USD per 1M tokens. The shipped table (``prices.json`` beside this
module) can be extended or corrected by an override file of the same format, merged per model.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["ModelPrice", "PriceTable"]

_PER_TOKEN = 1e-6  # table prices are per 1M tokens
_CACHE_LIMIT = 4096  # model names come from spans: bound the memo against unbounded variety

# Cloud catalogues prefix vendor ids: "anthropic.claude-...", "us.anthropic.claude-...".
_VENDOR_PREFIX = re.compile(
    r"^(?:[a-z]+\.)?(?:anthropic|meta|mistral|amazon|cohere|ai21|openai|deepseek|google)\."
)
# Snapshot suffixes: dates (-20241022, -2024-08-06, @20241022), -0613 / -002 / -2411,
# -latest, Bedrock's -v1:0 and Vertex's -v2.
_VERSION_SUFFIX = re.compile(
    r"(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2}|\d{3,4}|latest|v\d+(?::\d+)?)|:\d+)$"
)
_CLAUDE_DOTTED = re.compile(r"(?<=\d)\.(?=\d)")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per 1M tokens; cache prices are None where the provider has no separate price."""

    input: float
    output: float
    cache_read: float | None = None
    cache_creation: float | None = None


class PriceTable:
    """Model prices of one table version, with memoised fuzzy model-name lookup."""

    def __init__(self, version: str, models: Mapping[str, ModelPrice]) -> None:
        self.version = version
        self._models = {name.strip().lower(): price for name, price in models.items()}
        self._by_length = sorted(self._models, key=len, reverse=True)
        self._memo: dict[tuple[str, str], ModelPrice | None] = {}

    @property
    def models(self) -> Mapping[str, ModelPrice]:
        """Read-only view of the table, keyed by lower-case model name."""
        return MappingProxyType(self._models)

    @classmethod
    def load(cls, override_path: str | Path | None = None) -> PriceTable:
        """The shipped table, with the override file's models merged on top (override wins).

        Raises ValueError naming the file when the override cannot be read or is malformed.
        """
        package = __name__.rpartition(".")[0]
        shipped = resources.files(package).joinpath("prices.json").read_text(encoding="utf-8")
        version, models = _parse(json.loads(shipped), "shipped price table", need_version=True)
        if override_path is not None:
            path = Path(override_path)
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise ValueError(f"cannot read price override file {path}: {exc}") from exc
            except ValueError as exc:
                raise ValueError(f"price override file {path} is not valid JSON: {exc}") from exc
            extra_version, extra = _parse(raw, f"price override file {path}", need_version=False)
            models.update(extra)
            version = f"{version}+{extra_version or 'override'}"
        return cls(version, models)

    def price_for(self, model: str, provider: str = "") -> ModelPrice | None:
        """Price of ``model``, or None if no entry fits.

        Tries, case-insensitively: the exact name (``provider/model`` first when a provider is
        given), the name without a provider path or cloud vendor prefix, the name without date
        or version suffixes, then the longest table key that is a prefix ending at a separator.
        """
        key = (model, provider)
        try:
            return self._memo[key]
        except KeyError:
            pass
        found = self._lookup(model, provider) if type(model) is str else None
        if len(self._memo) >= _CACHE_LIMIT:
            self._memo.clear()
        self._memo[key] = found
        return found

    def _lookup(self, model: str, provider: str) -> ModelPrice | None:
        models = self._models
        name = model.strip().lower()
        if not name:
            return None
        if provider and type(provider) is str:
            found = models.get(f"{provider.strip().lower()}/{name}")
            if found is not None:
                return found
        found = models.get(name)
        if found is not None:
            return found
        name = _VENDOR_PREFIX.sub("", name.rpartition("/")[2])
        found = models.get(name)
        if found is not None:
            return found
        while True:
            shorter = _VERSION_SUFFIX.sub("", name)
            if shorter == name or not shorter:
                break
            name = shorter
            found = models.get(name)
            if found is not None:
                return found
        if name.startswith("claude-"):
            # Routers spell Anthropic versions with dots: claude-3.5-sonnet.
            name = _CLAUDE_DOTTED.sub("-", name)
            found = models.get(name)
            if found is not None:
                return found
        for candidate in self._by_length:
            if (
                len(candidate) < len(name)
                and name.startswith(candidate)
                and not name[len(candidate)].isalnum()
            ):
                return models[candidate]
        return None

    def cost(self, model: str, provider: str, usage: Mapping[str, int]) -> dict[str, float]:
        """USD cost of ``usage`` (canonical usage keys) for ``model``.

        Returns ``input``, ``output``, ``cache_read``, ``cache_creation`` (only those that
        apply) and their ``total``; ``{}`` when the model is unknown or there is no usable
        usage. Input tokens include cached tokens (OpenAI semantics): cache tokens are charged
        at their own price where one exists and the rest of the input at the input price.
        """
        if not usage:
            return {}
        price = self.price_for(model, provider)
        if price is None:
            return {}
        has_input = "input" in usage
        has_output = "output" in usage
        input_tokens = _tokens(usage.get("input"))
        output_tokens = _tokens(usage.get("output"))
        cache_read = _tokens(usage.get("cache_read")) if price.cache_read is not None else 0
        cache_creation = (
            _tokens(usage.get("cache_creation")) if price.cache_creation is not None else 0
        )
        if not (has_input or has_output or cache_read or cache_creation):
            return {}
        cached = cache_read + cache_creation
        # Fewer input than cached tokens can only mean the source counted them apart (as
        # Anthropic's raw usage does); then all reported input tokens are uncached.
        uncached = input_tokens - cached if input_tokens >= cached else input_tokens
        result: dict[str, float] = {}
        if has_input or cached:
            result["input"] = uncached * price.input * _PER_TOKEN
        if has_output:
            result["output"] = output_tokens * price.output * _PER_TOKEN
        if cache_read and price.cache_read is not None:
            result["cache_read"] = cache_read * price.cache_read * _PER_TOKEN
        if cache_creation and price.cache_creation is not None:
            result["cache_creation"] = cache_creation * price.cache_creation * _PER_TOKEN
        result["total"] = sum(result.values())
        return result


def _tokens(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


def _parse(raw: Any, where: str, *, need_version: bool) -> tuple[str, dict[str, ModelPrice]]:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: top level must be a JSON object")
    version = raw.get("version", "")
    if not isinstance(version, str) or (need_version and not version):
        raise ValueError(f"{where}: 'version' must be a non-empty string")
    currency = raw.get("currency", "USD")
    if currency != "USD":
        raise ValueError(f"{where}: only USD prices are supported, got currency {currency!r}")
    entries = raw.get("models")
    if not isinstance(entries, dict):
        raise ValueError(f"{where}: 'models' must be an object of model name -> prices")
    models: dict[str, ModelPrice] = {}
    for name, entry in entries.items():
        if not name.strip():
            raise ValueError(f"{where}: empty model name")
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: model {name!r} must map to an object of prices")
        unknown = set(entry) - {"input", "output", "cache_read", "cache_creation"}
        if unknown:
            raise ValueError(f"{where}: model {name!r} has unknown keys {sorted(unknown)}")
        models[name.strip().lower()] = ModelPrice(
            input=_price(entry.get("input"), f"{where}: model {name!r} field 'input'"),
            output=_price(entry.get("output"), f"{where}: model {name!r} field 'output'"),
            cache_read=_optional_price(entry, "cache_read", where, name),
            cache_creation=_optional_price(entry, "cache_creation", where, name),
        )
    return version, models


def _price(value: Any, what: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def _optional_price(entry: Mapping[str, Any], field: str, where: str, name: str) -> float | None:
    value = entry.get(field)
    return None if value is None else _price(value, f"{where}: model {name!r} field {field!r}")
