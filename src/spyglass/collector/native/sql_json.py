"""SQL that turns OTLP attribute lists into the JSON texts `rows.encode_value` writes.

The stored ``attributes`` / ``resource_attributes`` / event and link maps hold each value as
orjson text; these expressions produce the same bytes inside ClickHouse (floats, every code
point, nested arrays and kvlists, duplicate keys, the 1,000,000-character cut and its marker).
Checked against orjson in ``tests/test_native_ingest.py``.

Why the SQL looks like this: ClickHouse analyzes the whole expression tree on every INSERT
(about 120 ms for this statement), so node count is what we minimize:
- one encoder per nesting level: children of all arrays/kvlists are flattened into one array,
  encoded once and sliced back, instead of one encoder per branch;
- span, event and link (and the resource's) attribute lists share one encoder call;
- a value used several times is bound once with `let` (a one-element arrayMap) rather than an
  alias, because the analyzer inlines every alias reference;
- dotted tuple paths become ``tupleElement`` calls (`explicit_tuple_elements`): resolving a
  compound identifier costs time proportional to the (large) OTLP tuple type.

Values are read ``DEPTH`` levels deep: a top-level value and the children of an array or kvlist.
Anything nested deeper makes the INSERT fail with `DEEP_ERROR`; the inserter then re-frames
the bodies with such values pre-encoded by Python (``x_spyglass_json``, see `deep.py`); only
that retry reads the field (``pre_encoded``), so a client cannot set a value's JSON itself.
"""

from __future__ import annotations

import itertools
import re

from spyglass.collector.rows import MAX_VALUE_CHARS

__all__ = [
    "DEEP_ERROR", "ONEOF_TYPE", "encode_groups", "explicit_tuple_elements", "kv_type", "let", "sq",
]  # fmt: skip

DEPTH = 2
DEEP_ERROR = "SPYGLASS_DEEP_VALUE: attribute value nested deeper than the SQL decoder reads"

# The AnyValue oneof as an Enum8 of its field numbers. With input_format_protobuf_oneof_presence
# ClickHouse fills it with the member present on the wire (0 = none), so "" / 0 / false / unset
# stay distinct. 8 is string_value_strindex (profiles only), which Python decodes as None.
ONEOF_TYPE = "Enum8('none'=0,'s'=1,'b'=2,'i'=3,'d'=4,'a'=5,'kv'=6,'by'=7,'sx'=8)"
_SCALARS = (
    "string_value String, bool_value Bool, int_value Int64, double_value Float64, "
    f"bytes_value String, value {ONEOF_TYPE}"
)

_ids = itertools.count()


def _uid(prefix: str) -> str:
    return f"_{prefix}{next(_ids)}"


def sq(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _any_value_type(level: int, pre_encoded: bool) -> str:
    if level >= DEPTH - 1:
        return f"Tuple({_SCALARS})"
    child = _any_value_type(level + 1, pre_encoded)
    extra = ", x_spyglass_json String" if level == 0 and pre_encoded else ""
    return (
        f"Tuple({_SCALARS}, array_value Tuple(values Array({child})), "
        f"kvlist_value Tuple(values Array(Tuple(key String, value {child}))){extra})"
    )


def kv_type(pre_encoded: bool = False, nested: bool = True) -> str:
    """The structure type of a repeated KeyValue (an attribute list); without ``nested``,
    scalar members only (arrays and kvlists are skipped; the oneof still names them)."""
    if not nested:
        return f"Array(Tuple(key String, value Tuple({_SCALARS})))"
    return f"Array(Tuple(key String, value {_any_value_type(0, pre_encoded)}))"


def let(expr: str, name: str, body: str) -> str:
    """Evaluate ``expr`` once as ``name`` inside ``body``; ``body`` must not capture columns
    (lambda captures are replicated eagerly, even in short-circuited branches)."""
    return f"arrayMap({name} -> {body}, [{expr}])[1]"


def lets(bindings: list[tuple[str, str]], body: str) -> str:
    names = ", ".join(n for _, n in bindings)
    args = ", ".join(f"[{e}]" for e, _ in bindings)
    return f"arrayMap(({names}) -> {body}, {args})[1]"


_DOTTED = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")
_NUMBER_DOT = re.compile(r"\d\.\d")


def explicit_tuple_elements(sql: str) -> str:
    """Rewrite ``a.b.c`` outside string literals as ``tupleElement(tupleElement(a,'b'),'c')``."""

    def rep(m: re.Match[str]) -> str:
        expr = m.group(1)
        for part in m.group(2)[1:].split("."):
            expr = f"tupleElement({expr}, '{part}')"
        return expr

    def fix(chunk: str) -> str:
        chunk = re.sub(r"(tupleElement\(_j, \d\))((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", rep, chunk)
        return _DOTTED.sub(rep, chunk)

    out, pos = [], 0
    for m in _QUOTED.finditer(sql):
        out.append(fix(sql[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(fix(sql[pos:]))
    return "".join(out)


def _simple(x: str) -> bool:
    return x.replace("_", "").replace(".", "").isalnum()


# toJSONString() equals orjson except for \u000B \u000E \u000F \u001A-\u001F (upper-case hex)
# and U+2028/U+2029 (escaped by ClickHouse, not by orjson); '/' is kept with
# output_format_json_escape_forward_slashes=0. Strings whose JSON has any \u escape are
# escaped byte by byte with transform() instead (rare).
_NAMED = {0x08: "b", 0x0C: "f", 0x0A: "n", 0x0D: "r", 0x09: "t"}
_ESC_FROM = "[" + ", ".join([f"'\\x{c:02X}'" for c in range(0x20)] + ["'\"'", "'\\\\'"]) + "]"
_ESC_TO = (
    "["
    + ", ".join(
        [f"'\\\\{_NAMED[c]}'" if c in _NAMED else f"'\\\\u{c:04x}'" for c in range(0x20)]
        + ["'\\\\\"'", "'\\\\\\\\'"]
    )
    + "]"
)


def json_string(x: str) -> str:
    """JSON string literal of the String expression ``x``, byte-identical to orjson."""
    if not _simple(x):
        j = _uid("j")
        return let(x, j, json_string(j))
    c = _uid("c")
    slow = (
        f"concat('\"', arrayStringConcat(arrayMap({c} -> transform({c}, {_ESC_FROM}, "
        f"{_ESC_TO}, {c}), splitByRegexp('', {x}))), '\"')"
    )
    return f"if(position(toJSONString({x}), '\\\\u') > 0, {slow}, toJSONString({x}))"


def json_float(x: str) -> str:
    """Float64 → orjson text. ClickHouse prints the same shortest round-trip digits with a
    JavaScript layout; only the layout is rewritten. NaN and ±Inf become ``null``."""
    if not _simple(x):
        f = _uid("f")
        return let(x, f, json_float(f))
    s = f"toString({x})"
    a = f"replaceOne({s}, '-', '')"
    sign = f"if({x} < 0 OR startsWith({s}, '-'), '-', '')"

    def sci(digits: str, exp: str, plus: bool) -> str:
        return (
            f"concat({sign}, substring({digits}, 1, 1), if(length({digits}) > 1, concat('.', "
            f"substring({digits}, 2)), ''), '{'e+' if plus else 'e'}', toString({exp}))"
        )

    big = sci(f"trimRight({a}, '0')", f"length({a}) - 1", True)
    frac = f"substring({a}, 3)"
    small = sci(
        f"trimLeft({frac}, '0')",
        f"toInt64(length(trimLeft({frac}, '0'))) - toInt64(length({frac})) - 1",
        False,
    )
    return (
        f"multiIf(isNaN({x}) OR isInfinite({x}), 'null', "
        f"position({s}, 'e') > 0, if(position({s}, 'e-') > 0, {s}, replaceOne({s}, 'e', 'e+')), "
        f"abs({x}) >= 1e16, {big}, "
        f"abs({x}) < 1e-5 AND {x} != 0, {small}, "
        f"position({s}, '.') = 0, concat({s}, '.0'), {s})"
    )


def _truncated(x: str) -> str:
    """`rows.encode_value`'s cut of a long string: the first MAX chars + a marker."""
    m = MAX_VALUE_CHARS
    return (
        f"if(length({x}) > {m} AND lengthUTF8({x}) > {m}, concat(substringUTF8({x}, 1, {m}), "
        f"'…[truncated ', toString(lengthUTF8({x}) - {m}), ' chars]'), {x})"
    )


def _dedup(pairs: str) -> str:
    """Array(Tuple(key, json)) collapsed like a dict built in order: first position, last
    value. ``pairs`` must be a short expression; the copies are merged by the analyzer."""
    k, p = _uid("k"), _uid("P")
    ks = f"arrayMap(_z -> _z.1, {pairs})"
    pks = f"arrayMap(_z -> _z.1, {p})"
    slow = (
        f"arrayMap(({k}, {p}) -> ({k}, {p}[length({p}) + 1 - indexOf(arrayReverse({pks}), "
        f"{k})].2), arrayDistinct({ks}), arrayWithConstant(length(arrayDistinct({ks})), {pairs}))"
    )
    return f"if(arrayUniq({ks}) = length({pairs}), {pairs}, {slow})"


def _encode_level(arr: str, level: int, pre_encoded: bool) -> str:
    if level > 0:  # bind the (usually empty) children array; its expression is long
        a = _uid("arr")
        return let(arr, a, _encode(a, level, pre_encoded))
    return _encode(arr, level, pre_encoded)


def _encode(a: str, level: int, pre_encoded: bool) -> str:
    """Array(AnyValue at ``level``) → Array(String) of JSON texts."""
    # Strings are encoded in their own pass over all values: inside the multiIf below the
    # short-circuit masking would copy the big strings (about twice the cost).
    strs = f"arrayMap(_x -> {json_string('_x')}, arrayMap(_w -> _w.string_value, {a}))"
    v, sj = _uid("v"), _uid("sj")
    branches = (
        f"{v}.value = 's', {sj}, "
        f"{v}.value = 'i', toString({v}.int_value), "
        f"{v}.value = 'd', {json_float(f'{v}.double_value')}, "
        f"{v}.value = 'b', if({v}.bool_value, 'true', 'false'), "
        f"{v}.value = 'by', concat('\"', base64Encode({v}.bytes_value), '\"'), "
    )
    if level >= DEPTH - 1:
        deep = f"toString(throwIf({v}.value IN ('a', 'kv'), {sq(DEEP_ERROR)}))"
        return (
            f"arrayMap(({v}, {sj}) -> multiIf({branches}{v}.value IN ('a', 'kv'), {deep}, "
            f"'null'), {a}, {strs})"
        )
    kids = (
        f"arrayFlatten(arrayMap(_w -> arrayConcat(_w.array_value.values, "
        f"arrayMap(_kv -> _kv.value, _w.kvlist_value.values)), {a}))"
    )
    children = _encode_level(kids, level + 1, pre_encoded)
    counts = f"arrayMap(_w -> length(_w.array_value.values) + length(_w.kvlist_value.values), {a})"
    starts = f"arrayMap((_x, _y) -> _x - _y + 1, arrayCumSum({counts}), {counts})"
    cc = _uid("C")
    slices = (
        f"arrayMap((_x, _y, {cc}) -> arraySlice({cc}, _x, _y), {starts}, {counts}, "
        f"arrayWithConstant(length({counts}), {children}))"
    )
    sl, e, kp = _uid("sl"), _uid("e"), _uid("kp")
    na = f"length({v}.array_value.values)"
    arr_json = f"concat('[', arrayStringConcat(arraySlice({sl}, 1, {na}), ','), ']')"
    kv_pairs = (
        f"arrayZip(arrayMap(_kv -> _kv.key, {v}.kvlist_value.values), arraySlice({sl}, {na} + 1))"
    )
    kv_json = (
        f"concat('{{', arrayStringConcat(arrayMap({e} -> concat({json_string(f'{e}.1')}, ':', "
        f"{e}.2), {let(kv_pairs, kp, _dedup(kp))}), ','), '}}')"
    )
    # Level 0 only: a value Python pre-encoded (nested too deeply for this decoder).
    pre = ""
    if level == 0 and pre_encoded:
        pre = f"{v}.value = 'none' AND {v}.x_spyglass_json != '', {v}.x_spyglass_json, "
    return (
        f"arrayMap(({v}, {sj}, {sl}) -> multiIf({branches}{v}.value = 'a', {arr_json}, "
        f"{v}.value = 'kv', {kv_json}, {pre}'null'), {a}, {strs}, {slices})"
    )


def _top_limit(arr_json: str, values: str, pre_encoded: bool) -> str:
    """`rows.encode_value`'s limits on top-level values: a string over MAX chars is cut before
    encoding; JSON text over MAX+64 chars is cut and re-encoded as a string. Both imply a
    text over MAX bytes, the cheap test done per value. Pre-encoded values are final."""
    t, v, t2 = _uid("t"), _uid("v"), _uid("t2")
    m = MAX_VALUE_CHARS
    own = f" AND {v}.x_spyglass_json = ''" if pre_encoded else ""
    s_cut = f"if({v}.value = 's', {json_string(_truncated(f'{v}.string_value'))}, {t})"
    slow = let(s_cut, t2, f"if(lengthUTF8({t2}) > {m + 64}, {json_string(_truncated(t2))}, {t2})")
    return f"arrayMap(({t}, {v}) -> if(length({t}) > {m}{own}, {slow}, {t}), {arr_json}, {values})"


def encode_groups(groups: str, pre_encoded: bool = False) -> str:
    """Array(Array(KeyValue)) → Array(Array(Tuple(key, json))), each group deduplicated.

    All groups share one encoder call (flattened, then sliced back); ``groups`` must be short.
    """
    flat = f"arrayFlatten({groups})"
    pr, cn, st, s_, c_, sl, pp = (_uid(x) for x in ("pr", "cn", "st", "s", "n", "sl", "P"))
    counts = f"arrayMap(_q -> length(_q), {groups})"
    starts = f"arrayMap((_x, _y) -> _x - _y + 1, arrayCumSum({counts}), {counts})"
    values = f"arrayMap(_kv -> _kv.value, {flat})"
    pairs = (
        f"arrayZip(arrayMap(_kv -> _kv.key, {flat}), "
        f"{_top_limit(_encode_level(values, 0, pre_encoded), values, pre_encoded)})"
    )
    several = (
        f"arrayMap(({s_}, {c_}, {pp}) -> {let(f'arraySlice({pp}, {s_}, {c_})', sl, _dedup(sl))}, "
        f"{st}, {cn}, arrayWithConstant(length({cn}), {pr}))"
    )
    return lets([(pairs, pr), (counts, cn), (starts, st)], several)
