"""SQL for `PriceTable.cost`: the same model-name lookup and arithmetic, prices as parameters.

The table is bound as five parallel arrays (``{pk}`` names sorted longest first, as
`PriceTable` searches prefixes; ``{pin}``, ``{pout}``, ``{pcr}``, ``{pcc}`` prices per 1M
tokens, -1 where a cache price is None), so the statement text does not change with prices and
no price is pasted into SQL.
"""

from __future__ import annotations

from typing import Any

from spyglass.collector import pricing
from spyglass.collector.pricing import PriceTable

__all__ = ["cost_sql", "cost_terms_sql", "price_index_sql", "price_parameters"]

# Suffix strips tried in SQL; PriceTable loops until nothing changes. Real names need 2
# (``-v2:0`` then ``-20241022``); more than this many stacked suffixes are not priced.
SUFFIX_STEPS = 6
_NONE = -1.0
_EMPTY = "CAST(map(), 'Map(LowCardinality(String), Float64)')"


def price_parameters(prices: PriceTable) -> dict[str, Any]:
    """Query parameters holding ``prices`` (see the module docstring)."""
    # Longest first, ties in table order: PriceTable._by_length's order.
    names = sorted(prices.models, key=len, reverse=True)
    table = prices.models
    return {
        "pk": names,
        "pn": list(range(1, len(names) + 1)),
        "pin": [table[k].input for k in names],
        "pout": [table[k].output for k in names],
        "pcr": [_NONE if table[k].cache_read is None else table[k].cache_read for k in names],
        "pcc": [
            _NONE if table[k].cache_creation is None else table[k].cache_creation for k in names
        ],
    }


_PARAMS = (
    "{pk:Array(String)}",
    "{pin:Array(Float64)}",
    "{pout:Array(Float64)}",
    "{pcr:Array(Float64)}",
    "{pcc:Array(Float64)}",
)
_PN = "{pn:Array(UInt32)}"  # 1..len(pk)


def _re(pattern: str) -> str:
    """A Python regex of pricing.py as an RE2 SQL literal (both accept these patterns)."""
    return "'" + pattern.replace("\\", "\\\\").replace("'", "\\'") + "'"


def price_index_sql(model: str, provider: str) -> str:
    """1-based index of the price in {pk}, 0 if none: `PriceTable._lookup`. ``model`` and
    ``provider`` are columns of the stripped, lower-cased names."""
    pk = _PARAMS[0]
    vendor = _re(pricing._VENDOR_PREFIX.pattern)
    suffix = _re(pricing._VERSION_SUFFIX.pattern)
    # Each strip keeps the name when it would become empty (PriceTable stops there).
    step = f"if(replaceRegexpOne(_s, {suffix}, '') = '', _s, replaceRegexpOne(_s, {suffix}, ''))"
    steps = (
        f"arrayFold((_acc, _x) -> arrayPushBack(_acc, arrayMap(_s -> {step}, [_acc[-1]])[1]), "
        f"range({SUFFIX_STEPS}), [_n1])"
    )
    # Routers spell Anthropic versions with dots (claude-3.5-sonnet); applied twice because
    # RE2 has no lookaround and matches cannot overlap.
    dotted = "replaceRegexpAll(_s, '([0-9])\\\\.([0-9])', '\\\\1-\\\\2')"
    claude = (
        f"if(startsWith(_last, 'claude-'), arrayMap(_s -> {dotted}, "
        f"[arrayMap(_s -> {dotted}, [_last])[1]])[1], '')"
    )
    prefix = (
        f"arrayFirstIndex(_c -> length(_c) < length(_nm) AND startsWith(_nm, _c) AND NOT "
        f"match(substringUTF8(_nm, lengthUTF8(_c) + 1, 1), '^[\\\\p{{L}}\\\\p{{N}}]'), {pk})"
    )
    exact = (
        f"arrayFirst(_i -> _i > 0, arrayMap(_x -> if(_x = '', 0, indexOf({pk}, _x)), "
        f"arrayConcat([if({provider} = '', '', concat({provider}, '/', {model})), {model}], "
        "_ns, [_cl])))"
    )
    final = "if(_cl != '', _cl, _last)"
    body = (
        f"arrayMap((_ns, _last) -> arrayMap(_cl -> if({exact} > 0, {exact}, "
        f"arrayMap(_nm -> {prefix}, [{final}])[1]), [{claude}])[1], [_st], [_st[-1]])[1]"
    )
    fuzzy = (
        f"arrayMap(_n1 -> arrayMap(_st -> {body}, [{steps}])[1], "
        f"[replaceRegexpOne(splitByChar('/', {model})[-1], {vendor}, '')])[1]"
    )
    # Most spans name a model exactly as the table does: a hash lookup (transform), no
    # regex steps, and no lambda (which would copy the bound arrays per span).
    direct = f"if({provider} = '', 0, transform(concat({provider}, '/', {model}), {pk}, {_PN}, 0))"
    plain = f"transform({model}, {pk}, {_PN}, 0)"
    return f"multiIf({model} = '', 0, {direct} > 0, {direct}, {plain} > 0, {plain}, {fuzzy})"


def cost_terms_sql(usage: str, index: str) -> dict[str, str]:
    """Per-span columns `cost_sql` reads: ``_cv`` the four terms, ``_ck`` which are kept.

    Top-level expressions, not lambdas: a lambda would copy the bound price arrays per span.
    """
    # A price by hash lookup: `{pin}[i]` would copy the whole bound array for every span.
    pin, pout, pcr, pcc = (f"transform({index}, {_PN}, {p}, {_NONE})" for p in _PARAMS[1:])
    u = usage
    cr = f"if({pcr} >= 0, {u}['cache_read'], 0)"
    cc = f"if({pcc} >= 0, {u}['cache_creation'], 0)"
    it, cached = f"{u}['input']", f"({cr} + {cc})"
    # Python adds input, output, cache_read, cache_creation in this order; absent terms add
    # 0.0, which changes no sum of non-negative floats.
    return {
        "_cv": (
            f"[toFloat64(if({it} >= {cached}, {it} - {cached}, {it})) * {pin} * 1e-6, "
            f"toFloat64({u}['output']) * {pout} * 1e-6, toFloat64({cr}) * {pcr} * 1e-6, "
            f"toFloat64({cc}) * {pcc} * 1e-6]"
        ),
        "_ck": (
            f"[mapContains({u}, 'input') OR {cached} > 0, mapContains({u}, 'output'), "
            f"{cr} > 0, {cc} > 0]"
        ),
    }


def cost_sql(index: str) -> tuple[str, str]:
    """(cost map, total cost) from the `cost_terms_sql` columns: `PriceTable.cost`."""
    priced = f"({index} != 0 AND has(_ck, 1))"
    total = (
        "((if(_ck[1], _cv[1], 0.) + if(_ck[2], _cv[2], 0.)) + if(_ck[3], _cv[3], 0.)) "
        "+ if(_ck[4], _cv[4], 0.)"
    )
    names = "['input', 'output', 'cache_read', 'cache_creation']"
    as_map = (
        f"CAST(mapFromArrays(arrayConcat(arrayFilter((_n, _b) -> _b, {names}, _ck), ['total']), "
        f"arrayConcat(arrayFilter((_x, _b) -> _b, _cv, _ck), [{total}])), "
        "'Map(LowCardinality(String), Float64)')"
    )
    return f"if({priced}, {as_map}, {_EMPTY})", f"if({priced}, {total}, 0.)"
