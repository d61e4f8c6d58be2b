"""SQL for `PriceTable.cost`: the same model-name lookup and arithmetic, prices as parameters.

The table is bound as five parallel arrays (``{pk}`` names sorted longest first, as
`PriceTable` searches prefixes; ``{pin}``, ``{pout}``, ``{pcr}``, ``{pcc}`` prices per 1M
tokens, -1 where a cache price is None), so the statement text does not change with prices and
no price is pasted into SQL.
"""

from __future__ import annotations

from typing import Any

from spyglass.collector import pricing
from spyglass.collector.native.sql_canonical import py_strip
from spyglass.collector.pricing import PriceTable

__all__ = ["cost_sql", "price_parameters"]

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


def _re(pattern: str) -> str:
    """A Python regex of pricing.py as an RE2 SQL literal (both accept these patterns)."""
    return "'" + pattern.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _index() -> str:
    """1-based index of the price for (_m, _pv) in {pk}, 0 if none: `PriceTable._lookup`."""
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
        f"arrayConcat([if(_p = '', '', concat(_p, '/', _n0)), _n0], _ns, [_cl])))"
    )
    final = "if(_cl != '', _cl, _last)"
    body = (
        f"arrayMap((_ns, _last) -> arrayMap(_cl -> if({exact} > 0, {exact}, "
        f"arrayMap(_nm -> {prefix}, [{final}])[1]), [{claude}])[1], [_st], [_st[-1]])[1]"
    )
    fuzzy = (
        f"arrayMap(_n1 -> arrayMap(_st -> {body}, [{steps}])[1], "
        f"[replaceRegexpOne(splitByChar('/', _n0)[-1], {vendor}, '')])[1]"
    )
    # Most spans name a model exactly as the table does: skip the regex steps for them.
    direct = f"if(_p = '', 0, indexOf({pk}, concat(_p, '/', _n0)))"
    return (
        f"arrayMap((_n0, _p) -> if(_n0 = '', 0, if({direct} > 0, {direct}, if(indexOf({pk}, _n0) "
        f"> 0, indexOf({pk}, _n0), {fuzzy}))), [lowerUTF8({py_strip('_m')})], "
        f"[lowerUTF8({py_strip('_pv')})])[1]"
    )


def cost_sql(model: str, provider: str, usage: str) -> str:
    """The cost map of (model, provider, usage) columns: `PriceTable.cost`, term by term."""
    _, pin, pout, pcr, pcc = _PARAMS
    # Python adds input, output, cache_read, cache_creation in this order; absent terms add
    # 0.0, which changes no sum of non-negative floats.
    terms = (
        "[toFloat64(if(_it >= _cached, _it - _cached, _it)) * _pr.1 * 1e-6, "
        "toFloat64(_u['output']) * _pr.2 * 1e-6, toFloat64(_cr) * _pr.3 * 1e-6, "
        "toFloat64(_cc) * _pr.4 * 1e-6]"
    )
    keep = "[mapContains(_u, 'input') OR _cached > 0, mapContains(_u, 'output'), _cr > 0, _cc > 0]"
    result = (
        "arrayMap((_v, _k) -> CAST(mapFromArrays(arrayConcat(arrayFilter((_n, _b) -> _b, "
        "['input', 'output', 'cache_read', 'cache_creation'], _k), ['total']), "
        "arrayConcat(arrayFilter((_x, _b) -> _b, _v, _k), [((if(_k[1], _v[1], 0.) + if(_k[2], "
        "_v[2], 0.)) + if(_k[3], _v[3], 0.)) + if(_k[4], _v[4], 0.)])), "
        f"'Map(LowCardinality(String), Float64)'), [{terms}], [{keep}])[1]"
    )
    applies = "(mapContains(_u, 'input') OR mapContains(_u, 'output') OR _cr > 0 OR _cc > 0)"
    priced = (
        f"arrayMap((_it, _cr, _cc) -> arrayMap(_cached -> if({applies}, {result}, {_EMPTY}), "
        "[_cr + _cc])[1], [_u['input']], [if(_pr.3 >= 0, _u['cache_read'], 0)], "
        "[if(_pr.4 >= 0, _u['cache_creation'], 0)])[1]"
    )
    price = f"({pin}[_i], {pout}[_i], {pcr}[_i], {pcc}[_i])"
    return (
        f"CAST(arrayMap((_m, _pv, _u) -> if(empty(_u), {_EMPTY}, "
        f"arrayMap(_i -> if(_i = 0, {_EMPTY}, "
        f"arrayMap(_pr -> {priced}, [{price}])[1]), [{_index()}])[1]), [{model}], [{provider}], "
        f"[{usage}])[1], 'Map(LowCardinality(String), Float64)')"
    )
