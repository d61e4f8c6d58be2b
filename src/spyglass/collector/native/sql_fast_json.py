"""The common-case attribute encoder: scalars, and arrays or kvlists of scalars.

`sql_json.encode_groups` handles every OTLP value (nesting, repeated keys, the 1,000,000-
character cut) with array slicing and lambda captures that cost about 10 µs/span even when a
span has none of them. This encoder reads the attribute lists as component arrays
(``tupleElement`` on ``Array(Tuple)``: keys, oneof, string, int, ...) and encodes them in
capture-free ``arrayMap`` passes, each expression written once: ClickHouse analyzes the
statement on every INSERT, so its size is a per-INSERT cost.

A span it cannot encode exactly (a repeated key, a value nested two levels, a text over the
length limit, a child string needing a ``\\u`` escape) makes the INSERT fail with
`FALLBACK_ERROR`; the inserter then runs the general statement on the same file (the
stored-span check skips rows of blocks stored before the failure). Output bytes equal
`encode_groups`' (checked by the parity tests), except for the span's message attributes,
which it leaves empty when `message_marks` applies (``marked``).
"""

from __future__ import annotations

from spyglass.collector.native.sql_json import json_float, json_string, sq
from spyglass.collector.rows import MARK_MAX_BYTES, MARKED_ATTRIBUTES, MAX_VALUE_CHARS

__all__ = ["FALLBACK_ERROR", "fast_groups"]

FALLBACK_ERROR = "SPYGLASS_GENERAL_VALUE: attribute list needs the general encoder"
_NAMES = ("value", "string_value", "int_value", "double_value", "bool_value", "bytes_value")
_ESCAPED = "position(toJSONString({0}), '\\\\u') = 0"  # no \u escape in the JSON of {0}


def _fail(condition: str) -> str:
    """A String expression that fails the INSERT with `FALLBACK_ERROR` (``condition`` must
    not be constant: the analyzer would fail at once)."""
    return f"toString(throwIf({condition}, {sq(FALLBACK_ERROR)}))"


def _components(values: str, names: tuple[str, ...] = _NAMES) -> str:
    """Component arrays of an Array(AnyValue) expression."""
    return ", ".join(f"tupleElement({values}, '{n}')" for n in names)


def _unique(keys: str) -> str:
    """``keys``, or a failure when one repeats (a dict keeps the last: the general encoder)."""
    repeated = f"arrayMap(_k -> concat(_k, {_fail('length(_k) >= 0')}), {keys})"
    return f"if(arrayUniq({keys}) = length({keys}), {keys}, {repeated})"


# A child of an array or kvlist: a scalar. Strings needing a \u escape (where orjson and
# ClickHouse differ; `json_string` handles them) are left to the general encoder.
_CHILD_FAIL = _fail("_ct IN ('s', 'a', 'kv')")
_CHILD = (
    f"multiIf(_ct = 's' AND {_ESCAPED.format('_cs')}, toJSONString(_cs), "
    f"_ct = 'i', toString(_ci), _ct = 'd', {json_float('_cd')}, "
    "_ct = 'b', if(_cb, 'true', 'false'), _ct = 'by', concat('\"', base64Encode(_cby), '\"'), "
    f"_ct IN ('s', 'a', 'kv'), {_CHILD_FAIL}, 'null')"
)


def _children(values: str) -> str:
    return f"arrayMap((_ct, _cs, _ci, _cd, _cb, _cby) -> {_CHILD}, {_components(values)})"


_KEY = f"if({_ESCAPED.format('_ck')}, toJSONString(_ck), {_fail('length(_ck) >= 0')})"
# ``_av`` / ``_kv``: an array value's children / a kvlist value's pairs.
_ARRAY = f"concat('[', arrayStringConcat({_children('_av')}, ','), ']')"
_KV_KEYS = _unique("tupleElement(_kv, 'key')")
_KV_VALUES = _children("tupleElement(_kv, 'value')")
_KVLIST = (
    f"concat('{{', arrayStringConcat(arrayMap((_ck, _cj) -> concat({_KEY}, ':', _cj), "
    f"{_KV_KEYS}, {_KV_VALUES}), ','), '}}')"
)


def _values_json(values: str, keys: str, marked: str, nested: bool) -> str:
    """Array(AnyValue) → Array(String) of JSON texts.

    Strings and arrays/kvlists are encoded in passes of their own, so the one multiIf picks
    them and applies the length limit without writing either expression twice. Where the
    UInt8 expression ``marked`` holds, message strings (`message_marks`) become ''. Without
    ``nested`` (values read without their array/kvlist members) an array or kvlist fails."""
    if marked == "0":
        strings = f"arrayMap(_s -> {json_string('_s')}, tupleElement({values}, 'string_value'))"
    else:
        # A non-empty string_value is a string (the oneof holds one member); keys are unique
        # here (`_unique`), so this is the span's own value `statement` flags as marked.
        names = ", ".join(sq(key) for key, _ in MARKED_ATTRIBUTES)
        mark = f"{marked} AND _sk IN ({names}) AND _s != '' AND length(_s) <= {MARK_MAX_BYTES}"
        strings = (
            f"arrayMap((_s, _sk) -> if({mark}, '', {json_string('_s')}), "
            f"tupleElement({values}, 'string_value'), {keys})"
        )
    limit = MAX_VALUE_CHARS
    scalars = (
        f"_t = 'i', toString(_i), _t = 'd', {json_float('_d')}, "
        "_t = 'b', if(_b, 'true', 'false'), _t = 'by', concat('\"', base64Encode(_by), '\"'), "
    )
    too_long = _fail("_t IN ('s', 'a', 'kv')")
    if not nested:
        value = (
            f"multiIf(_t = 's' AND length(_sj) <= {limit}, _sj, {scalars}"
            f"_t IN ('s', 'a', 'kv'), {too_long}, 'null')"
        )
        return (
            f"arrayMap((_t, _sj, _i, _d, _b, _by) -> {value}, tupleElement({values}, 'value'), "
            f"{strings}, {_components(values, _NAMES[2:])})"
        )
    array = f"tupleElement(tupleElement({values}, 'array_value'), 'values')"
    kvlist = f"tupleElement(tupleElement({values}, 'kvlist_value'), 'values')"
    nested_json = (
        f"arrayMap((_t, _av, _kv) -> multiIf(_t = 'a', {_ARRAY}, _t = 'kv', {_KVLIST}, ''), "
        f"tupleElement({values}, 'value'), {array}, {kvlist})"
    )
    value = (
        f"multiIf(_t = 's' AND length(_sj) <= {limit}, _sj, {scalars}"
        f"_t IN ('a', 'kv') AND length(_nj) <= {limit}, _nj, "
        f"_t IN ('s', 'a', 'kv'), {too_long}, 'null')"
    )
    return (
        f"arrayMap((_t, _sj, _i, _d, _b, _by, _nj) -> {value}, tupleElement({values}, 'value'), "
        f"{strings}, {_components(values, _NAMES[2:])}, {nested_json})"
    )


def fast_groups(groups: str, marked_group: int = 0, nested: bool = True) -> str:
    """Array(Array(KeyValue)) → Array(Array(Tuple(key, json))), like `encode_groups`; the
    group at 1-based index ``marked_group`` (the span's own attributes; 0: none) gets
    `message_marks` markers. ``nested``: see `_values_json`."""
    keys = _unique("tupleElement(_g, 'key')")
    if not marked_group:
        values = _values_json("tupleElement(_g, 'value')", keys, "0", nested)
        return f"arrayMap(_g -> arrayZip({keys}, {values}), {groups})"
    values = _values_json("tupleElement(_g, 'value')", "tupleElement(_g, 'key')", "_gm", nested)
    return (
        f"arrayMap((_g, _gm) -> arrayZip({keys}, {values}), {groups}, "
        f"arrayMap(_gi -> _gi = {marked_group}, arrayEnumerate({groups})))"
    )
