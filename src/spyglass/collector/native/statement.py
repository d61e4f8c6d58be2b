"""The ``INSERT INTO spans ... SELECT ... FROM file(..., 'Protobuf', ...)`` statement.

Levels, innermost first. ClickHouse plans each level's columns again per INSERT (~70 µs per
column per level) and blows up past ~5 levels, so each level computes what the next needs:
  A  per body: the project override, resource attribute lists, and all valid spans of all
     resources/scopes as one array (invalid spans dropped inside arrayFilter, by the rule of
     `rows.span_error`)
  B  ARRAY JOIN the spans: scalar columns; one JSON encoder call for the resource, span,
     event and link attribute lists (`sql_fast_json.fast_groups`, or the general
     `sql_json.encode_groups`); each side's message attribute as sent
  C  stored maps, events, links, project, service; the map `normalize` reads (details merge)
  D  canonical fields and per-side message sources (`sql_canonical`)
  E  span type, model, operation, input/output, raw_io; the names the price lookup reads
  F  total tokens, the price index; G  the cost terms; H  the cost map and total cost
     (`sql_cost`), dropping spans already stored or repeated in the file

Each INSERT is specialised to its file (`survey_sql`, or the names of files surveyed before,
checked by the INSERT: `sql_canonical.Present.guessed`): expressions reading only attribute
keys or event names no span of the file has are left out (`sql_canonical.Present`), and so is
the repeat filter when no span id repeats; an app's files usually hold one dialect, so the
statement shrinks to it (~0.1 s less analysis, ~5 µs/span less work for OTel GenAI spans).
A file without array or kvlist values is read and encoded as scalars only: ~60 ms less
analysis per INSERT and ~1.5 µs/span less work (the nested members are many columns to read,
carry through ARRAY JOIN and encode).

Settings: ``optimize_and_compare_chain = 0`` (that rewrite costs ~7 ms of analysis per AND
here), ``short_circuit_function_evaluation = 'force_enable'`` (message checks run only for
the spans that need them), ``query_plan_enable_optimizations = 0`` (~40 ms of planning, no
effect on this plan's speed), ``optimize_on_insert = 0`` (ReplacingMergeTree would otherwise
run a merge over each inserted block to drop repeated keys, ~5 µs/span, though the statement
already stores no span twice), ``compile_expressions = 0`` (JIT compilation took ~80 ms of
each INSERT, more than the compiled code saved: saturated ingest ran ~5% faster without),
``os_thread_priority = 10`` (the INSERT's threads yield the CPU to queries: under saturated
ingest a trace-list call took 68 ms median instead of 138 ms, at the same ingest rate; a no-op
without CAP_SYS_NICE).
"""

from __future__ import annotations

from typing import Literal

from spyglass.collector import normalize as n
from spyglass.collector.native import sql_canonical as c
from spyglass.collector.native.sql_cost import cost_sql, cost_terms_sql, price_index_sql
from spyglass.collector.native.sql_fast_json import fast_groups
from spyglass.collector.native.sql_json import (
    ONEOF_TYPE,
    encode_groups,
    explicit_tuple_elements,
    kv_type,
    sq,
)
from spyglass.collector.rows import (
    DEFAULT_PROJECT,
    MARK_MAX_BYTES,
    MARKED_ATTRIBUTES,
    MAX_PROJECT_CHARS,
    MAX_TIME_NS,
    PROJECT_RESOURCE_KEYS,
    SPAN_COLUMNS,
)

__all__ = ["INSERT_COLUMNS", "Encoder", "insert_sql", "structure", "survey_sql"]

# fast: `sql_fast_json` (fails with FALLBACK_ERROR on what it cannot encode); general:
# `sql_json.encode_groups`; pre_encoded: general, reading values Python pre-encoded (`deep`).
Encoder = Literal["fast", "general", "pre_encoded"]

INSERT_COLUMNS: tuple[str, ...] = (*SPAN_COLUMNS, "raw_io")

_KINDS = "['UNSPECIFIED','INTERNAL','SERVER','CLIENT','PRODUCER','CONSUMER']"
_ZERO16 = "repeat('\\0', 16)"
_ZERO8 = "repeat('\\0', 8)"
_VALID_SPAN = (
    f"length(_s.trace_id) = 16 AND _s.trace_id != {_ZERO16} AND length(_s.span_id) = 8 "
    f"AND _s.span_id != {_ZERO8} AND (_s.parent_span_id = '' OR length(_s.parent_span_id) = 8) "
    f"AND _s.start_time_unix_nano != 0 AND _s.start_time_unix_nano <= {MAX_TIME_NS} "
    f"AND _s.end_time_unix_nano <= {MAX_TIME_NS}"
)
_DETAILS = "gen_ai.client.inference.operation.details"
_MAP = "'Map(String, String)'"


def structure(pre_encoded: bool = False, nested: bool = True) -> str:
    """The input structure: the OTLP fields the INSERT reads (others are skipped); values'
    array and kvlist members only with ``nested`` (`sql_json.kv_type`)."""
    kv = kv_type(pre_encoded, nested)
    return (
        "x_spyglass_project String, "
        "resource_spans Array(Tuple("
        f"resource Tuple(attributes {kv}), "
        "scope_spans Array(Tuple("
        "scope Tuple(name String, version String), "
        "spans Array(Tuple("
        "trace_id String, span_id String, trace_state String, parent_span_id String, "
        "name String, kind Int32, start_time_unix_nano UInt64, end_time_unix_nano UInt64, "
        f"attributes {kv}, "
        f"events Array(Tuple(time_unix_nano UInt64, name String, attributes {kv})), "
        f"links Array(Tuple(trace_id String, span_id String, attributes {kv})), "
        "status Tuple(message String, code Int32)"
        "))))))"
    )


_B_SCALARS = (
    "trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "start_time",
    "end_time", "duration_ns", "status_code", "status_message", "scope_name", "scope_version",
)  # fmt: skip


def _guard(present: c.Present) -> str:
    """`c.GUARD_ERROR` unless every attribute key, event name and event attribute key of the
    body is among the guessed names (the ones `survey_sql` collects)."""
    r = "resource_spans.scope_spans.spans"
    names = (
        f"arrayConcat(arrayFlatten({r}.attributes.key), arrayFlatten({r}.events.name), "
        f"arrayFlatten({r}.events.attributes.key))"
    )
    known = c.arr(sorted(present.names)) if present.names else "CAST([], 'Array(String)')"
    return f"throwIf(NOT hasAll({known}, {names}), {sq(c.GUARD_ERROR)})"


def _level_a(source: str, present: c.Present) -> str:
    project = "x_spyglass_project"
    if present.guessed and present.names is not None:
        # Part of an output column, so a block fails before any of its rows is written.
        project = f"if({_guard(present)} = 0, {project}, '')"
    spans = (
        "arrayFlatten(arrayMap((_r, _ri) -> arrayFlatten(arrayMap(_x -> arrayMap(_s -> "
        "(_x.scope.name, _x.scope.version, _ri, _s), "
        f"arrayFilter(_s -> {_VALID_SPAN}, _x.spans)), _r.scope_spans)), resource_spans, "
        "arrayEnumerate(resource_spans)))"
    )
    return (
        f"SELECT {project} AS _hp, resource_spans.resource.attributes AS _res_kvs, "
        f"{spans} AS _spans FROM {source}"
    )


def _marks(encoder: Encoder, present: c.Present) -> bool:
    """Whether message attributes are stored once (`message_marks`): by the fast encoder,
    whose keys are unique, so the value it marks is the one `_raw_messages` reads."""
    return encoder == "fast" and present.any(key for key, _ in MARKED_ATTRIBUTES)


def _encode(groups: str, encoder: Encoder, present: c.Present) -> str:
    if encoder == "fast":
        marked = 2 if _marks(encoder, present) else 0
        return fast_groups(groups, marked_group=marked, nested=present.nested)
    return encode_groups(groups, pre_encoded=encoder == "pre_encoded")


def _level_b(source: str, encoder: Encoder, present: c.Present) -> str:
    s = "tupleElement(_j, 4)"
    groups = (
        f"arrayConcat([_res_kvs[tupleElement(_j, 3)]], [{s}.attributes], "
        f"{s}.events.attributes, {s}.links.attributes)"
    )
    end = f"greatest({s}.end_time_unix_nano, {s}.start_time_unix_nano)"
    return f"""SELECT _hp,
    lower(hex({s}.trace_id)) AS trace_id,
    lower(hex({s}.span_id)) AS span_id,
    if({s}.parent_span_id IN ('', {_ZERO8}), '', lower(hex({s}.parent_span_id))) AS parent_span_id,
    {s}.trace_state AS trace_state,
    {s}.name AS name,
    transform({s}.kind, [0, 1, 2, 3, 4, 5], {_KINDS}, 'UNSPECIFIED') AS kind,
    fromUnixTimestamp64Nano(toInt64({s}.start_time_unix_nano), 'UTC') AS start_time,
    fromUnixTimestamp64Nano(toInt64({end}), 'UTC') AS end_time,
    {end} - {s}.start_time_unix_nano AS duration_ns,
    transform({s}.status.code, [0, 1, 2], ['UNSET', 'OK', 'ERROR'], 'UNSET') AS status_code,
    {s}.status.message AS status_message,
    tupleElement(_j, 1) AS scope_name,
    tupleElement(_j, 2) AS scope_version,
    {_encode(groups, encoder, present)} AS _maps,
    {s}.events.time_unix_nano AS _et, {s}.events.name AS _en,
    {s}.links.trace_id AS _lt, {s}.links.span_id AS _ls,
    {_raw_messages(s, present, _marks(encoder, present))}
FROM ({_level_a(source, present)}) ARRAY JOIN _spans AS _j"""


def _raw_messages(s: str, present: c.Present, marks: bool) -> str:
    """Each side's message attribute as sent (`sql_canonical.RAW_MESSAGES`): its string, its
    oneof type (the last occurrence, as a dict keeps), and whether the encoder stored it as a
    `message_marks` marker. Decoding the stored JSON instead costs ~5 µs/span."""
    out = []
    for (text, kind, mark), key in zip(
        c.RAW_MESSAGES, (n._IN_SIDE[0], n._OUT_SIDE[0]), strict=True
    ):
        if not present.has(key):
            out += [f"'' AS {text}", f"'' AS {kind}", f"0 AS {mark}"]
            continue
        index = f"arrayLastIndex(_x -> _x = {sq(key)}, {s}.attributes.key)"
        string = f"{s}.attributes.value.string_value[{index}]"
        out.append(f"{string} AS {text}")
        out.append(f"{s}.attributes.value.value[{index}] AS {kind}")
        # A non-empty string_value is a string: the encoder's condition (`sql_fast_json`).
        marked = f"length({string}) BETWEEN 1 AND {MARK_MAX_BYTES}" if marks else "0"
        out.append(f"{marked} AS {mark}")
    return ", ".join(out)


def _level_c(source: str, encoder: Encoder, present: c.Present) -> str:
    res = f"CAST(_maps[1], {_MAP})"
    project_keys = ", ".join(c.str_of(f"{res}[{sq(k)}]") for k in PROJECT_RESOURCE_KEYS)
    project = (
        f"substringUTF8(arrayFirst(_p -> _p != '', [_hp, {project_keys}, "
        f"{sq(DEFAULT_PROJECT)}]), 1, {MAX_PROJECT_CHARS})"
    )
    em = f"arrayMap(_m -> CAST(_m, {_MAP}), arraySlice(_maps, 3, length(_et)))"
    attributes = f"CAST(_maps[2], {_MAP})"
    # normalize reads {**details event attributes, **span attributes}.
    merged = (
        f"if(has(_en, {sq(_DETAILS)}), mapUpdate(arrayLast((_m, _n) -> _n = {sq(_DETAILS)}, "
        f"{em}, _en), {attributes}), {attributes})"
        if present.has(_DETAILS)
        else attributes
    )
    return f"""SELECT {", ".join(_B_SCALARS)},
    {project} AS project,
    {c.str_of(f"{res}['service.name']")} AS service_name,
    {attributes} AS attributes,
    CAST(_maps[1], 'Map(LowCardinality(String), String)') AS resource_attributes,
    arrayMap((_t, _n, _m) -> (fromUnixTimestamp64Nano(toInt64(_t), 'UTC'), _n, _m), _et, _en,
        {em}) AS events,
    arrayMap((_t, _n, _m) -> (lower(hex(_t)), lower(hex(_n)), CAST(_m, {_MAP})), _lt, _ls,
        arraySlice(_maps, 3 + length(_et))) AS links,
    _en, {em} AS _em, {merged} AS _a, {", ".join(x for side in c.RAW_MESSAGES for x in side)}
FROM ({_level_b(source, encoder, present)})"""


def _level_d(source: str, encoder: Encoder, present: c.Present) -> str:
    sides = [
        f"{expr} AS {prefix}_{name}"
        for prefix, is_input in (("_in", True), ("_out", False))
        for name, expr in c.side_columns(is_input, present).items()
    ]
    return f"""SELECT * EXCEPT (_en, _em),
    lowerUTF8({c.first_str(("gen_ai.operation.name",), present)}) AS _op,
    lowerUTF8({c.str_of(c.av("llm.request.type", present))}) AS _rt,
    {c.explicit_kind(present)} AS _k0,
    {c.models(present)} AS _ml,
    {c.provider(present)} AS provider,
    {c.first_id(n._SESSION_KEYS, n._MLFLOW_SESSION_KEY, present)} AS session_id,
    {c.first_id(n._USER_KEYS, n._MLFLOW_USER_KEY, present)} AS user_id,
    {c.usage(present)} AS usage,
    {", ".join(sides)}
FROM ({_level_c(source, encoder, present)})"""


_SIDE_COLUMNS = ", ".join(
    [f"{p}_{name}" for p, i in (("_in", True), ("_out", False)) for name in c.side_columns(i)]
    + [x for side in c.RAW_MESSAGES for x in side]
)


def _level_e(source: str, encoder: Encoder, present: c.Present) -> str:
    in_has, in_text, in_raw = c.side("_in", c.side_columns(True, present))
    out_has, out_text, out_raw = c.side("_out", c.side_columns(False, present))
    model = "arrayFirst(_x -> _x != '', _ml)"
    source_index = "arrayFirstIndex(_x -> _x != '', _ml)"
    # Message checks (in_has/out_has) sit in short-circuited branches: most spans are decided
    # by their kind, model or usage and never parse their messages.
    span_type = (
        f"multiIf(_k0 != '', _k0, {source_index} = 2, 'EMBEDDING', {source_index} = 3, "
        f"'RERANKER', {model} != '' OR notEmpty(usage), 'LLM', if({in_has}, 1, {out_has}), "
        "'LLM', 'UNKNOWN')"
    )
    rt_op = c.tmap(n._REQUEST_TYPE_OPERATIONS, "_rt")
    # normalize: the GenAI operation, else the request type's, else "chat" for an LLM span
    # with input messages, else the kind's. The span type is LLM here exactly when no other
    # kind decided it (an LLM span without input messages gets "", as does UNKNOWN).
    llm = f"(_k0 = 'LLM' OR (_k0 = '' AND {source_index} != 2 AND {source_index} != 3))"
    other_kind = f"if(_k0 != '', _k0, if({source_index} = 2, 'EMBEDDING', ''))"
    operation = (
        f"multiIf(_op != '', _op, {rt_op} != '', {rt_op}, {llm}, if({in_has}, 'chat', ''), "
        f"{c.tmap(n._KIND_OPERATIONS, other_kind)})"
    )
    return f"""SELECT * EXCEPT (_a, _op, _rt, _k0, _ml, {_SIDE_COLUMNS}),
    {span_type} AS span_type,
    {in_text} AS input,
    {out_text} AS output,
    {model} AS model,
    {operation} AS operation,
    if(empty(usage), '', lowerUTF8({c.py_strip(model)})) AS _pm,
    if(empty(usage), '', lowerUTF8({c.py_strip("provider")})) AS _pp,
    toUInt8(({in_raw}) OR ({out_raw})) AS raw_io
FROM ({_level_d(source, encoder, present)})"""


# Spans stored twice have the same start: looking for them only within the batch's starts lets
# the partition key and the start_time index skip every older part of a large table.
START_WINDOW_SQL = (
    "start_time BETWEEN fromUnixTimestamp64Nano({first_start:Int64}, 'UTC') "
    "AND fromUnixTimestamp64Nano({last_start:Int64}, 'UTC')"
)
# With `old_trace_ids_path`, the window is cut at ``core_start``: the recent part is searched
# for all the batch's traces, the older part only for the traces with a span starting there.
_RECENT_WINDOW_SQL = (
    "start_time BETWEEN fromUnixTimestamp64Nano({core_start:Int64}, 'UTC') "
    "AND fromUnixTimestamp64Nano({last_start:Int64}, 'UTC')"
)
_OLD_WINDOW_SQL = (
    "start_time >= fromUnixTimestamp64Nano({first_start:Int64}, 'UTC') "
    "AND start_time < fromUnixTimestamp64Nano({core_start:Int64}, 'UTC')"
)


def stored_spans_sql(
    database: str, columns: str, trace_ids_path: str, old_trace_ids_path: str = ""
) -> str:
    """``columns`` of the stored spans a batch's spans may repeat (the same trace, a start in
    the batch's window), bound by ``first_start`` and ``last_start``.

    A batch holding a span that started long before the rest (a long agent run's root span)
    has a wide window, and every part stored within it is read for all the batch's traces.
    With ``old_trace_ids_path`` (the traces with a span starting before ``core_start``, also
    bound), only those few are looked for before ``core_start``: the primary key then skips
    most of each old part.
    """
    spans = f"`{database}`.`spans`"
    if not old_trace_ids_path:
        return (
            f"SELECT {columns} FROM {spans} WHERE {START_WINDOW_SQL} "
            f"AND trace_id IN {trace_ids_sql(trace_ids_path)}"
        )
    return (
        f"SELECT {columns} FROM {spans} WHERE {_RECENT_WINDOW_SQL} "
        f"AND trace_id IN {trace_ids_sql(trace_ids_path)} "
        f"UNION ALL SELECT {columns} FROM {spans} WHERE {_OLD_WINDOW_SQL} "
        f"AND trace_id IN {trace_ids_sql(old_trace_ids_path)}"
    )


def trace_ids_sql(path: str) -> str:
    """The batch's trace ids, read from a TSV file of hex ids (one per line).

    A file, not a bound array: binding thousands of ids costs ~100 ms per statement.
    """
    return f"(SELECT trace_id FROM file({sq(path)}, 'TSV', 'trace_id String'))"


# More distinct names than this in one file: the statement is not specialised (`Present`).
SURVEY_MAX_NAMES = 1000


def survey_sql(path: str) -> str:
    """One row for a batch file: the distinct attribute keys and event names of its spans and
    their events (up to `SURVEY_MAX_NAMES`), whether a (trace id, span id) repeats, and
    whether any attribute value (resource, span, event or link) is an array or a kvlist.

    Reads only keys, names, ids and value kinds (~1.5 µs/span); `insert_sql` leaves out what
    they show cannot matter: expressions of absent keys, the repeat filter when nothing
    repeats, and array/kvlist members when there are none. Run with the `format_schema` and
    ``input_format_protobuf_oneof_presence = 1`` settings of `insert_sql`.
    """
    kv = f"Array(Tuple(key String, value Tuple(value {ONEOF_TYPE})))"
    spans = (
        f"spans Array(Tuple(trace_id String, span_id String, attributes {kv}, "
        f"events Array(Tuple(name String, attributes {kv})), links Array(Tuple(attributes {kv}))))"
    )
    structure = (
        f"resource_spans Array(Tuple(resource Tuple(attributes {kv}), "
        f"scope_spans Array(Tuple({spans}))))"
    )

    def per_body(expr: str) -> str:
        return (
            f"arrayFlatten(arrayMap(_r -> arrayFlatten(arrayMap(_x -> arrayFlatten(arrayMap("
            f"_s -> {expr}, _x.spans)), _r.scope_spans)), resource_spans))"
        )

    names = per_body(
        "arrayConcat(_s.attributes.key, _s.events.name, arrayFlatten(_s.events.attributes.key))"
    )
    span_kinds = per_body(
        "arrayConcat(_s.attributes.value.value, arrayFlatten(_s.events.attributes.value.value), "
        "arrayFlatten(_s.links.attributes.value.value))"
    )
    kinds = (
        f"arrayConcat(arrayFlatten(resource_spans.resource.attributes.value.value), {span_kinds})"
    )
    return (
        f"SELECT groupUniqArrayArray({SURVEY_MAX_NAMES})(arrayDistinct({names})), "
        "sum(length(_ids)) != uniqExactArray(_ids), "
        f"max(arrayExists(_k -> _k IN ('a', 'kv'), {kinds})) "
        f"FROM (SELECT *, {per_body('[(_s.trace_id, _s.span_id)]')} AS _ids "
        f"FROM file({sq(path)}, 'Protobuf', {sq(structure)}))"
    )


def insert_sql(
    database: str,
    path: str,
    format_schema: str,
    *,
    trace_ids_path: str = "",
    old_trace_ids_path: str = "",
    stored: bool = True,
    repeats: bool = True,
    encoder: Encoder = "general",
    present: c.Present = c.ANY,
) -> str:
    """The INSERT for one batch file.

    Args:
        trace_ids_path: the batch's trace ids (`trace_ids_sql`), for ``stored``.
        old_trace_ids_path: those of its traces with a span starting before ``core_start``,
            to look for stored spans in two windows (`stored_spans_sql`); empty: one window.
        stored: skip spans already stored; only needed when some span of the batch's traces
            is stored.
        repeats: keep only the first of spans repeated within the file.
        encoder: how attribute values become JSON (`Encoder`); ``pre_encoded`` reads
            ``AnyValue.x_spyglass_json`` (files rewritten by `deep.rewrite_file`).
        present: the keys and event names of the file (`survey_sql`); expressions reading
            only absent ones are left out.

    The price arrays of `sql_cost.price_parameters` are bound too.
    """
    # Only the fast encoder reads scalar members alone: the general one encodes any value.
    nested = encoder != "fast" or present.nested
    source = f"file({sq(path)}, 'Protobuf', {sq(structure(encoder == 'pre_encoded', nested))})"
    where = ""
    if stored:
        keys = "project, trace_id, span_id"
        stored_keys = stored_spans_sql(database, keys, trace_ids_path, old_trace_ids_path)
        where += f"\nWHERE ({keys}) NOT IN ({stored_keys})"
    if repeats:
        where += "\nLIMIT 1 BY project, trace_id, span_id"
    # Cost: the price index, then the terms, then the map, each at the top level of its own
    # SELECT (`sql_cost`): an extra level costs less analysis than repeating an expression.
    terms = ", ".join(f"{expr} AS {name}" for name, expr in cost_terms_sql("usage", "_pi").items())
    columns = {name: name for name in INSERT_COLUMNS}
    columns["cost"], columns["total_cost"] = cost_sql("_pi")
    select = f"""SELECT {", ".join(f"{expr} AS {name}" for name, expr in columns.items())}
FROM (SELECT *, {terms}
FROM (SELECT *, usage['total'] AS total_tokens, {price_index_sql("_pm", "_pp")} AS _pi
FROM ({_level_e(source, encoder, present)}))){where}"""
    settings = (
        f"format_schema = {sq(format_schema)}, input_format_protobuf_oneof_presence = 1, "
        "output_format_json_escape_forward_slashes = 0, optimize_and_compare_chain = 0, "
        "short_circuit_function_evaluation = 'force_enable', query_plan_enable_optimizations = 0, "
        "optimize_on_insert = 0, compile_expressions = 0, os_thread_priority = 10"
    )
    return (
        f"INSERT INTO {database}.spans ({', '.join(INSERT_COLUMNS)})\n"
        f"{explicit_tuple_elements(select)}\nSETTINGS {settings}"
    )
