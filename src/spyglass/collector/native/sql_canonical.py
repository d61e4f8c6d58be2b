"""SQL for `normalize`'s canonical fields, read from the JSON-encoded attribute map.

Every expression here mirrors a rule of ``spyglass.collector.normalize`` (the same key lists
are imported from it), evaluated on ``_a``: the span's attributes as stored (JSON text per
value) merged under the last ``gen_ai.client.inference.operation.details`` event's, as
`normalize` merges them. The JSON text tells the Python type of each value: ``"`` a str,
digits an int, ``.``/``e`` a float, ``true``/``false`` a bool, ``[`` a list, ``{`` a dict,
``null`` None (absent for `normalize`).

Input/output: where the canonical text comes from a plain text key (``input.value`` …) the
row stores exactly that, with ``raw_io = 0``. Where any message source is involved, or the
plain value is not a string or was cut at 1,000,000 chars, the row gets ``raw_io = 1`` and
readers rebuild the canonical text (`rebuild_io`). Such a row stores searchable source text,
per side, from the source `normalize` would read first:
- ``gen_ai.input.messages`` / ``gen_ai.output.messages``: the attribute's text as sent (a
  string as is, an array value as its JSON);
- indexed messages (``llm.input_messages.N.message.content``, ``gen_ai.prompt.N.content``):
  the ``content`` values joined by newlines;
- GenAI message events: their ``gen_ai.event.content`` (else ``content``) joined by newlines;
- legacy ``gen_ai.prompt`` / ``gen_ai.completion`` (attribute or event): its text;
- input only: ``gen_ai.system_instructions``' text when no other source has text;
- otherwise the plain text key's value (JSON for a non-string), else the MLflow payload text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from spyglass.collector import normalize as n
from spyglass.collector.native.sql_json import sq
from spyglass.collector.rows import MAX_VALUE_CHARS

A = "_a"  # the merged attribute map of level D
EVENT_NAMES = "_en"  # Array(String) event names of the span
EVENT_MAPS = "_em"  # Array(Map(String, String)) event attributes (JSON values)
# (string, oneof type, marked) columns of the span's own input / output message attribute as
# sent; marked: stored as a `message_marks` marker, so ``_a[key]`` reads '' for it.
RAW_MESSAGES = (("_rin", "_tin", "_min"), ("_rout", "_tout", "_mout"))

# Exactly the characters Python's str.isspace() accepts (what str.strip() removes).
_PY_WS = (
    "[\\\\t\\\\n\\\\x0B\\\\x0C\\\\r\\\\x1C-\\\\x1F \u0085\u00a0\u1680\u2000-\u200a"
    "\u2028\u2029\u202f\u205f\u3000]"
)
_INVALID = "-2"  # a count that is not one (see `_count`)


@dataclass(frozen=True)
class Present:
    """The attribute keys and event names a batch file holds (None: unknown, assume any).

    An expression reading only keys absent from every span of the file is a constant there,
    so it is left out of the statement: ClickHouse analyses each INSERT's expressions anew
    (~0.3 s with every dialect's) and evaluates them per span. One dialect per app is usual.

    ``nested``: whether some attribute value may be an array or a kvlist. A file with none
    gets a statement that reads and encodes only scalar values (`sql_fast_json`).

    ``guessed``: the names come from earlier files, not from a survey of this one; the
    INSERT then checks every span's names and fails with `GUARD_ERROR` on any other.
    """

    names: frozenset[str] | None = None
    nested: bool = True
    guessed: bool = False

    def has(self, key: str) -> bool:
        return self.names is None or key in self.names

    def any(self, keys: Iterable[str]) -> bool:
        return any(self.has(k) for k in keys)


ANY = Present()
GUARD_ERROR = "SPYGLASS_UNSURVEYED_NAME: the file holds a name its statement left out"


def arr(items: Sequence[str]) -> str:
    return "[" + ", ".join(sq(i) for i in items) + "]"


def tmap(mapping: Mapping[str, str], x: str, default: str = "''") -> str:
    """``mapping.get(x, default)`` as transform()."""
    return f"transform({x}, {arr(list(mapping))}, {arr(list(mapping.values()))}, {default})"


def v(key: str, m: str = A) -> str:
    return f"{m}[{sq(key)}]"


def av(key: str, p: Present) -> str:
    """``_a[key]``, or '' (what the lookup gives) when no span of the file has the key."""
    return v(key) if p.has(key) else "''"


def present(key: str, m: str = A, p: Present = ANY) -> str:
    """`normalize`'s ``get(key) is not None``: a value that is not JSON null."""
    if m == A and not p.has(key):
        return "0"
    return f"({v(key, m)} NOT IN ('', 'null'))"


def is_str(t: str) -> str:
    return f"startsWith({t}, '\"')"


def py_strip(x: str) -> str:
    """Python's str.strip(); the regex only runs when an end is not printable ASCII."""
    if not x.replace("_", "").isalnum():
        return f"arrayMap(_u -> {py_strip('_u')}, [{x}])[1]"
    ends = f"substring({x}, 1, 1) BETWEEN '!' AND '~' AND substring({x}, -1, 1) BETWEEN '!' AND '~'"
    return f"if({x} = '' OR ({ends}), {x}, replaceRegexpAll({x}, '^{_PY_WS}+|{_PY_WS}+$', ''))"


def py_lstrip(x: str) -> str:
    return f"replaceRegexpOne({x}, '^{_PY_WS}+', '')"


def str_of(t: str) -> str:
    """The str of a JSON text that holds one (else '')."""
    return f"if({is_str(t)}, JSONExtractString({t}), '')"


def text_of(t: str) -> str:
    """Searchable text of any value: a str as is, JSON for the rest, '' for None."""
    return f"multiIf({is_str(t)}, JSONExtractString({t}), {t} = 'null', '', {t})"


def first_str(keys: Sequence[str], p: Present = ANY) -> str:
    """`normalize._first_str`: the first str value with non-blank stripped text."""
    keys = [k for k in keys if p.has(k)]
    if not keys:
        return "''"
    values = ", ".join(v(k) for k in keys)
    strip = py_strip("JSONExtractString(_t)")
    return (
        f"arrayFirst(_x -> _x != '', arrayMap(_t -> if({is_str('_t')}, {strip}, ''), [{values}]))"
    )


def mlflow_value_str(t: str) -> str:
    """`normalize._mlflow_value` of a value, as a str ('' when the result is not a str)."""
    s = f"JSONExtractString({t})"
    # Valid JSON that starts with '"' is a string, with '{' or '[' a dict or list.
    return (
        f"if({is_str(t)}, multiIf(startsWith({s}, '\"'), if(isValidJSON({s}), "
        f"JSONExtractString({s}), {s}), startsWith({s}, '{{') OR startsWith({s}, '['), "
        f"if(isValidJSON({s}), '', {s}), {s}), '')"
    )


def mlflow_object(t: str) -> str:
    """JSON text of `_mlflow_value`'s result when it is a dict, else ''."""
    s = f"JSONExtractString({t})"
    return (
        f"multiIf(startsWith({t}, '{{'), {t}, {is_str(t)}, if(startsWith({s}, '{{'), "
        f"if(isValidJSON({s}), {s}, ''), ''), '')"
    )


def first_mlflow_str(keys: Sequence[str], p: Present = ANY) -> str:
    keys = [k for k in keys if p.has(k)]
    if not keys:
        return "''"
    values = ", ".join(v(k) for k in keys)
    strip = py_strip(mlflow_value_str("_t"))
    return f"arrayFirst(_x -> _x != '', arrayMap(_t -> {strip}, [{values}]))"


def ident(t: str) -> str:
    """`normalize._id`: a stripped str or an int's digits."""
    return f"multiIf({is_str(t)}, {py_strip(str_of(t))}, match({t}, '^-?[0-9]+$'), {t}, '')"


def first_id(keys: Sequence[str], mlflow_key: str, p: Present = ANY) -> str:
    keys = [k for k in keys if p.has(k)]
    lists = []
    if keys:
        values = ", ".join(v(k) for k in keys)
        lists.append(f"arrayMap(_t -> {ident('_t')}, [{values}])")
    if p.has(mlflow_key):
        mlflow = f"if(match(_t, '^-?[0-9]+$'), _t, {py_strip(mlflow_value_str('_t'))})"
        lists.append(f"arrayMap(_t -> {mlflow}, [{v(mlflow_key)}])")
    if not lists:
        return "''"
    return f"arrayFirst(_x -> _x != '', arrayConcat({', '.join(lists)}, ['']))"


def count(t: str) -> str:
    """`normalize._count` of a JSON text: an Int64 count, or -2 for none."""
    return (
        f"multiIf(match({t}, '^-?[0-9]+$'), if(startsWith({t}, '-') AND NOT match({t}, '^-0+$'), "
        f"toInt64({_INVALID}), toInt64OrDefault({t}, toInt64({_INVALID}))), "
        f"match({t}, '^-?[0-9]+(\\\\.[0-9]+)?([eE][-+]?[0-9]+)?$'), "
        f"if(toFloat64OrZero({t}) >= 0 AND toFloat64OrZero({t}) < 9223372036854775808., "
        f"toInt64(toFloat64OrZero({t})), {_INVALID}), "
        f"match({t}, '^\"[0-9]{{1,18}}\"$'), toInt64(substring({t}, 2, length({t}) - 2)), "
        f"toInt64({_INVALID}))"
    )


_USAGE_NAMES = [name for name, _ in n._USAGE_SOURCES]
_USAGE_KEYS = [key for _, keys in n._USAGE_SOURCES for key in keys]
# code = 8 * (1-based name index) + rank: sorting by code puts each name's best source first.
_USAGE_CODES = [
    str(8 * (i + 1) + rank)
    for i, (_, keys) in enumerate(n._USAGE_SOURCES)
    for rank in range(len(keys))
]
_MLFLOW_FIELDS = [dict(n._MLFLOW_USAGE_FIELDS).get(name, "") for name in _USAGE_NAMES]


def _attribute_usage(p: Present) -> str:
    """`usage` without MLflow's payload: per name, the first valid count among the keys the
    file holds, best-ranked first. No lambda per candidate, unlike the general form."""
    counts = []
    for _, keys in n._USAGE_SOURCES:
        held = [count(v(k)) for k in keys if p.has(k)]
        if not held:
            counts.append("toInt64(-1)")
        elif len(held) == 1:
            counts.append(held[0])
        else:  # several sources of one name in a file: rare, each count written twice
            counts.append(f"multiIf({', '.join(f'{c} >= 0, {c}' for c in held)}, toInt64(-1))")
    values = [f"toInt128(_c[{i}])" for i in range(1, len(counts) + 1)]
    # total = input + output when no total was reported (Int128: it may exceed Int64).
    t = _USAGE_NAMES.index("total")
    values[t] = (
        f"if(_c[{t + 1}] < 0 AND (_c[1] >= 0 OR _c[2] >= 0), "
        f"toInt128(greatest(_c[1], 0)) + greatest(_c[2], 0), toInt128(_c[{t + 1}]))"
    )
    pairs = ", ".join(
        f"{sq(name)}, {value}" for name, value in zip(_USAGE_NAMES, values, strict=True)
    )
    as_map = f"mapFilter((_k, _x) -> _x >= 0, map({pairs}))"
    return (
        f"CAST(arrayMap(_c -> {as_map}, [[{', '.join(counts)}]])[1], "
        "'Map(LowCardinality(String), UInt64)')"
    )


def usage(p: Present = ANY) -> str:
    """The usage map: the best-ranked valid attribute source per name, MLflow's payload for
    names still missing, and total = input + output when no total was reported."""
    if not p.any([*_USAGE_KEYS, n._MLFLOW_USAGE_KEY]):
        return "CAST(map(), 'Map(LowCardinality(String), UInt64)')"
    if not p.has(n._MLFLOW_USAGE_KEY):
        return _attribute_usage(p)
    found = f"mapFilter((_k, _t) -> has({arr(_USAGE_KEYS)}, _k), {A})"
    codes = f"[{', '.join(_USAGE_CODES)}]"
    cand = (
        f"arraySort(_x -> _x.1, arrayFilter(_x -> _x.2 >= 0, arrayMap((_k, _t) -> "
        f"(transform(_k, {arr(_USAGE_KEYS)}, {codes}, 0), {count('_t')}), mapKeys(_f), "
        "mapValues(_f))))"
    )
    per_name = (
        "arrayMap(_i -> if(has(arrayMap(_x -> intDiv(_x.1, 8), _cs), _i), "
        f"arrayFirst(_x -> intDiv(_x.1, 8) = _i, _cs).2, -1), range(1, {len(_USAGE_NAMES) + 1}))"
    )
    mlflow = mlflow_object(av(n._MLFLOW_USAGE_KEY, p))
    with_mlflow = (
        f"arrayMap((_x, _fl) -> if(_x >= 0 OR _fl = '' OR _o = '', _x, greatest("
        f"{count('JSONExtractRaw(_o, _fl)')}, -1)), {per_name}, {arr(_MLFLOW_FIELDS)})"
    )
    t = _USAGE_NAMES.index("total") + 1
    # Counts are Int64 (-1 = none); the derived total may exceed it, hence Int128.
    filled = (
        f"arrayMap((_x, _i) -> if(_i = {t} AND _x < 0 AND (_c[1] >= 0 OR _c[2] >= 0), "
        "toInt128(greatest(_c[1], 0)) + greatest(_c[2], 0), toInt128(_x)), _c, arrayEnumerate(_c))"
    )
    as_map = (
        f"mapFromArrays(arrayFilter((_n, _x) -> _x >= 0, {arr(_USAGE_NAMES)}, _d), "
        "arrayMap(_x -> toUInt64(_x), arrayFilter(_x -> _x >= 0, _d)))"
    )
    return (
        f"CAST(arrayMap((_f, _o) -> arrayMap(_cs -> arrayMap(_c -> arrayMap(_d -> {as_map}, "
        f"[{filled}])[1], [{with_mlflow}])[1], [{cand}])[1], [{found}], [{mlflow}])[1], "
        "'Map(LowCardinality(String), UInt64)')"
    )


# --- kinds, model, provider ---------------------------------------------------------------


def explicit_kind(p: Present = ANY) -> str:
    """The span type from framework kinds, the GenAI operation or llm.request.type ('' if none)."""
    kinds = []
    if p.has("openinference.span.kind"):
        oi = str_of(v("openinference.span.kind"))
        kinds.append(tmap(n._OPENINFERENCE_KINDS, f"upperUTF8({oi})"))
    if p.has("mlflow.spanType"):
        ml = mlflow_value_str(v("mlflow.spanType"))
        kinds.append(tmap(n._MLFLOW_KINDS, f"upperUTF8({ml})"))
    if p.has("traceloop.span.kind"):
        kinds.append(tmap(n._TRACELOOP_KINDS, f"lowerUTF8({str_of(v('traceloop.span.kind'))})"))
    kinds.append(tmap(n._OPERATION_KINDS, "_op"))
    kinds.append(tmap(n._REQUEST_TYPE_KINDS, "_rt"))
    return f"arrayFirst(_x -> _x != '', [{', '.join(kinds)}, ''])"


def models(p: Present = ANY) -> str:
    """[model keys, embedding, reranker, MLflow]: the source index decides EMBEDDING/RERANKER."""
    return (
        f"[{first_str(n._MODEL_KEYS, p)}, {first_str((n._EMBEDDING_MODEL_KEY,), p)}, "
        f"{first_str((n._RERANKER_MODEL_KEY,), p)}, {first_mlflow_str(n._MLFLOW_MODEL_KEYS, p)}]"
    )


def provider(p: Present = ANY) -> str:
    found = (
        f"lowerUTF8(arrayFirst(_x -> _x != '', [{first_str(n._PROVIDER_KEYS, p)}, "
        f"{first_mlflow_str((n._MLFLOW_PROVIDER_KEY,), p)}, '']))"
    )
    return f"arrayMap(_p -> {tmap(n._PROVIDER_ALIASES, '_p', '_p')}, [{found}])[1]"


# --- messages -----------------------------------------------------------------------------


def is_messages(t: str, marked: str = "0", raw: str = "''") -> str:
    """`normalize._messages(value)` is non-empty: a JSON array (or an attribute array) whose
    items are all objects, or strings holding a JSON object. Where ``marked`` holds, the
    value is the JSON string of ``raw`` (a `message_marks` marker; ``t`` must then be a JSON
    string's text, e.g. '"'), so its text is ``raw`` itself: no JSON string to encode."""
    decoded = f"if({is_str('_t')}, {py_lstrip('JSONExtractString(_t)')}, _t)"
    j = decoded if marked == "0" else f"if({marked}, {py_lstrip(raw)}, {decoded})"
    # A non-empty JSONExtractArrayRaw means the whole text parsed, so an item that starts
    # with '{' is an object and one that starts with '"' a string.
    item = (
        "if(startsWith(_i, '{'), 1, if(startsWith(_i, '\"'), "
        f"JSONType({py_lstrip('JSONExtractString(_i)')}) = 'Object', 0))"
    )
    body = f"if(notEmpty(_r), arrayAll(_i -> {item}, _r), 0)"
    # (JSON functions inside AND/OR cost ~4 ms of analysis each: if() is used instead.)
    check = (
        f"if(startsWith(_j, '[') AND (startsWith(_t, '[') OR {is_str('_t')}), "
        f"arrayMap(_r -> {body}, [JSONExtractArrayRaw(_j)])[1], 0)"
    )
    return f"arrayMap(_t -> arrayMap(_j -> {check}, [{j}])[1], [{t}])[1]"


def _indexed(prefix: str, tail: Sequence[str], p: Present) -> str:
    """An indexed dialect gives messages: its first index has a role, content or call."""
    first, second = n._INDEXED_MARKERS[prefix]
    if not (p.has(first) or p.has(second)):
        return "0"
    marker = f"(mapContains({A}, {sq(first)}) OR mapContains({A}, {sq(second)}))"
    any_part = " OR ".join(present(k, p=p) for k in (first, second, *tail))
    return f"({marker} AND ({any_part}))"


def _oi(prefix: str, p: Present) -> str:
    base = f"{prefix}0.message."
    return _indexed(
        prefix,
        (f"{base}contents.0.message_content.text", f"{base}tool_calls.0.tool_call.function.name"),
        p,
    )


def _tl(prefix: str, p: Present) -> str:
    return _indexed(prefix, (f"{prefix}0.tool_calls.0.name",), p)


def _joined(prefix: str, suffix: str) -> str:
    """Values of ``prefix…suffix`` keys joined by newlines (searchable text of indexed msgs)."""
    return (
        f"arrayStringConcat(arrayMap(_jt -> {text_of('_jt')}, mapValues(mapFilter((_jk, _jv) -> "
        f"startsWith(_jk, {sq(prefix)}) AND endsWith(_jk, {sq(suffix)}), {A}))), '\\n')"
    )


def _event_texts(names: Sequence[str]) -> str:
    content = (
        "if(mapContains(_m, 'gen_ai.event.content'), _m['gen_ai.event.content'], _m['content'])"
    )
    return (
        f"arrayStringConcat(arrayMap(_m -> {text_of(content)}, arrayFilter((_m, _n) -> _n IN "
        f"{arr(names)}, {EVENT_MAPS}, {EVENT_NAMES})), '\\n')"
    )


def _legacy_event(name: str, key: str, p: Present) -> str:
    if not p.has(name):
        return "''"
    return f"arrayLast((_m, _n) -> _n = {sq(name)}, {EVENT_MAPS}, {EVENT_NAMES})[{sq(key)}]"


def side_columns(is_input: bool, p: Present = ANY) -> dict[str, str]:
    """Level-D columns for one side (prefix ``_in``/``_out``), combined by `side`.

    ``k`` the message attribute (JSON) and ``kt`` its text, ``o``/``tl``/``e``
    OpenInference or OpenLLMetry indexed messages or GenAI message events are present, ``j``
    their joined texts, ``l`` the legacy value (JSON);
    ``sys`` system instructions make a message and ``st`` their text (input only); ``pl`` the
    first plain text value (JSON); ``mlp``/``ml``/``mlt`` the MLflow payload is present /
    gives messages / its text. Sources no span of the file has are constants (`Present`).
    """
    key, oi_prefix, tl_prefix, legacy = n._IN_SIDE if is_input else n._OUT_SIDE
    plain_keys = [k for k in (n._INPUT_TEXT_KEYS if is_input else n._OUTPUT_TEXT_KEYS) if p.has(k)]
    role_events = [e for e in (n._EVENT_ROLES if is_input else ["gen_ai.choice"]) if p.has(e)]
    legacy_event = "gen_ai.content.prompt" if is_input else "gen_ai.content.completion"
    lev = _legacy_event(legacy_event, legacy, p)
    oi, tl = _oi(oi_prefix, p), _tl(tl_prefix, p)
    events = f"hasAny({EVENT_NAMES}, {arr(role_events)})" if role_events else "0"
    # The legacy value: the attribute, else the last legacy event's.
    legacy_t = f"if({present(legacy, p=p)}, {v(legacy)}, {lev})" if p.has(legacy) else lev
    cols: dict[str, str] = {}
    # The sources as columns of their own (_k the message attribute, _o/_tl/_e indexed
    # OpenInference/OpenLLMetry messages or GenAI events present, _l the legacy value), so
    # `side` combines them at the top level: a lambda capturing the attribute map would
    # copy the whole map for every span.
    cols["k"] = av(key, p)
    # Its text: the string as sent when the span's own attribute is a string short enough
    # to be stored uncut (the usual case), else decoded from the stored JSON.
    raw, kind, mark = RAW_MESSAGES[0 if is_input else 1]
    uncut = f"{kind} = 's' AND length({raw}) <= {MAX_VALUE_CHARS}"
    cols["kt"] = f"if({uncut}, {raw}, {text_of(v(key))})" if p.has(key) else "''"
    cols["m"] = mark if p.has(key) else "0"
    cols["o"] = oi
    cols["tl"] = tl
    cols["e"] = events
    cols["l"] = legacy_t
    # Indexed messages or events: their joined texts (only computed where present).
    live = []
    if oi != "0":
        live.append(f"{oi}, {_joined(oi_prefix, '.content')}")
    if tl != "0":
        live.append(f"{tl}, {_joined(tl_prefix, '.content')}")
    if role_events:
        live.append(f"{events}, {_event_texts(role_events)}")
    cols["j"] = f"multiIf({', '.join(live)}, '')" if live else "''"
    if is_input:
        sys_key = "gen_ai.system_instructions"
        t = v(sys_key)
        s = py_lstrip(f"JSONExtractString({t})")
        cols["sys"] = (
            f"if({present(sys_key)}, multiIf(startsWith({t}, '{{'), 1, startsWith({t}, '['), "
            f"{t} != '[]', {is_str(t)}, if(startsWith({s}, '{{'), 1, if(startsWith({s}, '['), "
            f"if(isValidJSON({s}), JSONLength({s}) > 0, 1), {t} != '\"\"')), 0), 0)"
            if p.has(sys_key)
            else "0"
        )
        cols["st"] = text_of(t) if p.has(sys_key) else "''"
    plain = ", ".join(v(k) for k in plain_keys)
    no_text = "('', 'null', '\"\"')"
    cols["pl"] = f"arrayFirst(_t -> _t NOT IN {no_text}, [{plain}, ''])" if plain_keys else "''"
    mlflow_key = "mlflow.spanInputs" if is_input else "mlflow.spanOutputs"
    cols["mlp"] = present(mlflow_key, p=p)
    cols["ml"] = _mlflow_messages(is_input) if p.has(mlflow_key) else "0"
    cols["mlt"] = text_of(v(mlflow_key)) if p.has(mlflow_key) else "''"
    return cols


def _mlflow_messages(is_input: bool) -> str:
    """The MLflow payload gives messages (`normalize._mlflow_payload`); cheap without one."""
    obj = mlflow_object(v("mlflow.spanInputs" if is_input else "mlflow.spanOutputs"))
    if is_input:
        from_obj = is_messages("JSONExtractRaw(_o, 'messages')")
    else:
        objs = "arrayFilter(_i -> startsWith(_i, '{'), _r)"
        from_obj = (
            f"arrayMap(_r -> if(notEmpty(_r), if(notEmpty({objs}), arrayAll(_i -> "
            f"startsWith(JSONExtractRaw(_i, 'message'), '{{'), {objs}), 0), "
            "if(JSONHas(_o, 'role'), JSONHas(_o, 'content'), 0)), "
            "[JSONExtractArrayRaw(JSONExtractRaw(_o, 'choices'))])[1]"
        )
    return f"arrayMap(_o -> if(_o != '', {from_obj}, 0), [{obj}])[1]"


# Boolean and branch SQL that drops what constants decide: a source no span of the file has
# is the literal 0 or '' in `side_columns`, and leaving it out saves its analysis per INSERT.
_CONSTANTS = ("0", "''")


def _or(*terms: str) -> str:
    kept = [t for t in terms if t != "0"]
    return "1" if "1" in kept else f"({' OR '.join(kept)})" if kept else "0"


def _and(*terms: str) -> str:
    kept = [t for t in terms if t != "1"]
    return "0" if "0" in kept else f"({' AND '.join(kept)})" if kept else "1"


def _not(term: str) -> str:
    return {"0": "1", "1": "0"}.get(term, f"(NOT {term})")


def _nonempty(text: str) -> str:
    return "0" if text == "''" else f"({text} != '')"


def _multi_if(branches: Sequence[tuple[str, str]], default: str) -> str:
    kept: list[tuple[str, str]] = []
    for condition, value in branches:
        if condition == "1":
            default = value
            break
        if condition != "0":
            kept.append((condition, value))
    if not kept:
        return default
    pairs = ", ".join(f"{condition}, {value}" for condition, value in kept)
    return f"multiIf({pairs}, {default})"


def side(p: str, columns: Mapping[str, str]) -> tuple[str, str, str]:
    """(has messages, text, raw) for level E from the level-D columns of prefix ``p``
    (``columns``: that side's `side_columns`, whose constants are used as such).

    `normalize`'s order: message sources (+ system instructions), else plain text keys, else
    the MLflow payload. Whether the sources give messages (a JSON parse of the message text)
    only matters for ``has``, which span type and operation read in short-circuited branches,
    so most spans never parse their messages.
    """

    def col(name: str) -> str:
        return columns[name] if columns[name] in _CONSTANTS else f"{p}_{name}"

    k, kt, o, tl, e, j, ll, pl, m = (
        col(x) for x in ("k", "kt", "o", "tl", "e", "j", "l", "pl", "m")
    )
    # A marked attribute (`message_marks`) reads '' but is a non-empty string: the raw text.
    has_key = _or(m, "0" if k == "''" else f"({k} NOT IN ('', 'null'))")
    listed = _or(o, tl, e)
    indexed = _and(_not(has_key), listed)
    # The source text `normalize` falls back to; the searchable source text; the JSON text
    # whose message check runs lazily.
    legacy_text = "''" if ll == "''" else text_of(ll)
    pt = _multi_if([(has_key, kt), (listed, "''")], legacy_text)
    src = _multi_if([(has_key, kt), (listed, j)], legacy_text)
    cand = _multi_if([(m, "'\"'"), (has_key, k)], ll)
    decided = indexed
    if p == "_in":
        decided = _or(indexed, col("sys"))
        if col("st") != "''":  # system instructions are searchable too, when nothing else is
            src = f"if({src} != '', {src}, {col('st')})"
    messages = "0" if cand == "''" else is_messages(cand, m, RAW_MESSAGES[p == "_out"][0])
    has = _multi_if([(_nonempty(pt), messages), (decided, "1"), (_nonempty(pl), "0")], col("ml"))
    from_sources = _or(_nonempty(pt), decided)
    plain_text = "''" if pl == "''" else text_of(pl)
    text = _multi_if([(from_sources, src), (_nonempty(pl), plain_text)], col("mlt"))
    plain_exact = "0" if pl == "''" else f"({is_str(pl)} AND length({pl}) <= {MAX_VALUE_CHARS})"
    no_payload = _and("1" if pl == "''" else f"({pl} = '')", _not(col("mlp")))
    exact = _and(_not(from_sources), _or(plain_exact, no_payload))
    return has, text, _not(exact)
