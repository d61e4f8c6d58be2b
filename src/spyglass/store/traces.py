"""Writing spans and reading traces back: the query side of the trace store.

Every value that comes from a user is a server-side bind (``{name:Type}``); identifiers come
only from `SchemaOptions` (validated) and from the fixed field tables below.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from spyglass.errors import BadRequestError
from spyglass.store.filters import (
    And,
    Comparison,
    CompiledFilter,
    Field,
    FilterError,
    compile_filter,
    compile_node,
    parse_filter,
)
from spyglass.store.message_marks import attribute_sql
from spyglass.store.raw_io import PLAIN_IO_SQL, canonical_preview, canonical_span_json
from spyglass.store.schema import SchemaOptions
from spyglass.store.span_json import SPAN_JSON_SQL

MAX_TRACE_PAGE = 500
# Summary rows read to find a page of newest traces before falling back to aggregating all.
WINDOW_MIN_ROWS = 200
WINDOW_MAX_ROWS = 200 * 8**3
WINDOW_IDS_BOUND = 2_000  # windows up to this many rows become a constant id set
# Up to this many traces matching a pre-filter are bound as a list instead of a subquery.
MAX_PREFILTER_IDS = 1_000
MAX_SPAN_PAGE = 50_000
DEFAULT_SPAN_PAGE = 10_000

# The per-trace row the list queries produce; filter fields and sort keys name these columns.
_TRACE_SELECT = """
    trace_id,
    min(start_time) AS t_start,
    max(end_time) AS t_end,
    toInt64(toUnixTimestamp64Nano(t_end) - toUnixTimestamp64Nano(t_start)) AS duration_ns,
    max(name) AS name,
    max(service_name) AS service,
    max(has_root) AS has_root,
    sum(span_count) AS spans,
    sum(error_count) AS errors,
    sum(llm_count) AS llm_calls,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(total_tokens) AS tokens,
    sum(total_cost) AS cost,
    groupUniqArrayArray(models) AS models,
    max(session_id) AS session,
    max(user_id) AS user,
    max(input) AS input,
    max(output) AS output,
    if(errors > 0, 'ERROR', 'OK') AS status,
    max(raw_io) AS raw_io
"""
_TRACE_COLUMNS = (
    "trace_id", "t_start", "t_end", "duration_ns", "name", "service", "has_root", "spans",
    "errors", "llm_calls", "input_tokens", "output_tokens", "tokens", "cost", "models",
    "session", "user", "input", "output", "status", "raw_io",
)  # fmt: skip

# Fields of the filter language on trace lists (columns of the aggregated row above).
TRACE_FILTER_FIELDS: dict[str, Field] = {
    "name": Field("name", "string"),
    "status": Field("status", "string"),
    "service": Field("service", "string"),
    "session": Field("session", "string"),
    "user": Field("user", "string"),
    "input": Field("input", "string"),
    "output": Field("output", "string"),
    "trace_id": Field("trace_id", "string"),
    "model": Field("arrayStringConcat(models, ',')", "string"),
    "latency_ms": Field("(duration_ns / 1e6)", "number"),
    "spans": Field("spans", "number"),
    "errors": Field("errors", "number"),
    "llm_calls": Field("llm_calls", "number"),
    "tokens": Field("tokens", "number"),
    "input_tokens": Field("input_tokens", "number"),
    "output_tokens": Field("output_tokens", "number"),
    "cost": Field("cost", "number"),
}

SORT_KEYS: dict[str, tuple[str, str]] = {
    # name -> (column, bind type for the keyset cursor)
    "start_time": ("toUnixTimestamp64Nano(t_start)", "Int64"),
    "latency": ("duration_ns", "Int64"),
    "tokens": ("tokens", "UInt64"),
    "cost": ("cost", "Float64"),
}


@dataclass
class TraceQuery:
    """Filters for a trace list. Empty fields do not filter."""

    project: str = "default"
    start_ns: int | None = None
    end_ns: int | None = None
    name: str | None = None
    status: str | None = None
    model: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    min_latency_ms: float | None = None
    max_latency_ms: float | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    filter: str | None = None
    sort: str = "start_time"
    descending: bool = True
    limit: int = 50
    cursor: str | None = None


def ns_to_iso(ns: int) -> str:
    """Nanoseconds since the epoch as ISO 8601 UTC (microsecond precision)."""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _iso(value: datetime) -> str:
    """ClickHouse hands back naive UTC datetimes; mark them as UTC."""
    return value.replace(tzinfo=None).isoformat() + "Z"


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode()


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise BadRequestError("cursor is not one this server issued") from None
    if not isinstance(values, list) or len(values) != size:
        raise BadRequestError("cursor is not one this server issued")
    return values


def _cursor_number(value: Any, bind_type: str) -> int | float:
    if bind_type == "Float64" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    raise BadRequestError("cursor is not one this server issued")


def _cursor_text(value: Any) -> str:
    if isinstance(value, str) and len(value) <= 64:
        return value
    raise BadRequestError("cursor is not one this server issued")


class TraceStore:
    """Spans in, traces out, over one clickhouse-connect client."""

    def __init__(self, client: Client, options: SchemaOptions) -> None:
        self.client = client
        self.db = options.database

    # -- writing ---------------------------------------------------------------------------

    def insert_spans(self, column_names: Sequence[str], columns: Sequence[list[Any]]) -> int:
        """Insert column-oriented span rows in one statement; return how many were new.

        Spans already stored (an exporter retrying a batch whose answer it never saw) and
        repeats within the batch are skipped, so trace summaries never count a span twice.
        The caller must not run two inserts concurrently (the pipeline has one writer).
        """
        names = list(column_names)
        project, trace, span = (columns[names.index(c)] for c in ("project", "trace_id", "span_id"))
        keys = list(zip(project, trace, span, strict=True))
        stored = self._stored_keys(keys)
        keep: list[int] = []
        seen: set[tuple[str, str, str]] = set()
        for i, key in enumerate(keys):
            if key not in seen and key not in stored:
                seen.add(key)
                keep.append(i)
        if len(keep) < len(keys):
            columns = [[column[i] for i in keep] for column in columns]
        if not keep:
            return 0
        self.client.insert(
            f"{self.db}.spans",
            list(columns),
            column_names=list(column_names),
            column_oriented=True,
            # No key repeats (just checked): skip ReplacingMergeTree's merge of the block.
            settings={"optimize_on_insert": 0},
        )
        return len(keep)

    def _stored_keys(self, keys: list[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        traces = sorted({(project, trace_id) for project, trace_id, _ in keys})
        if not traces:
            return set()
        rows = self.client.query(
            f"SELECT project, trace_id, span_id FROM {self.db}.spans "
            "WHERE (project, trace_id) IN {traces:Array(Tuple(String, String))}",
            parameters={"traces": traces},
        ).result_rows
        return {(str(p), str(t), str(s)) for p, t, s in rows}

    # -- reading ---------------------------------------------------------------------------

    def projects(self) -> list[dict[str, Any]]:
        rows = self.client.query(
            f"SELECT project, sum(span_count), uniqExact(trace_id), "
            f"toUnixTimestamp64Nano(max(end_time)) "
            f"FROM {self.db}.traces GROUP BY project ORDER BY project"
        ).result_rows
        return [
            {"name": p, "spans": s, "traces": t, "last_seen": ns_to_iso(last)}
            for p, s, t, last in rows
        ]

    def list_traces(self, q: TraceQuery) -> dict[str, Any]:
        """One page of trace summaries, newest first by default, with a keyset cursor.

        Two steps: find the page's trace ids (reading only the columns the filters need),
        then summarize just those traces.
        """
        if q.sort not in SORT_KEYS:
            raise BadRequestError(f"sort must be one of {', '.join(SORT_KEYS)}")
        limit = max(1, min(q.limit, MAX_TRACE_PAGE))
        params: dict[str, Any] = {"project": q.project, "limit": limit + 1}
        inner, bounds, outer, row_filters = self._trace_conditions(q, params)
        # Filters that only whole-trace aggregates can decide (the others are pushed ahead of
        # the window, so its rows already match).
        filtered = bool(
            q.filter
            or q.name
            or q.min_latency_ms is not None
            or q.max_latency_ms is not None
            or (q.status or "").upper() == "OK"
        )
        sort_sql, sort_type = SORT_KEYS[q.sort]
        cursor_ns: int | None = None
        if q.cursor:
            value, after_id = decode_cursor(q.cursor, 2)
            params["cursor_value"] = _cursor_number(value, sort_type)
            params["cursor_id"] = _cursor_text(after_id)
            op = "<" if q.descending else ">"
            outer.append(
                f"({sort_sql}, trace_id) {op} ({{cursor_value:{sort_type}}}, {{cursor_id:String}})"
            )
            if q.sort == "start_time":
                cursor_ns = int(params["cursor_value"])
        if q.sort == "start_time":
            rows = self._page_in_time_window(
                q.descending, inner, bounds, outer, row_filters, params, limit, cursor_ns, filtered
            )
            if rows is not None:  # whole-trace summaries already, with the sort value last
                more = len(rows) > limit
                traces = [self._trace_summary(row) for row in rows[:limit]]
                last = rows[limit - 1] if more else None
                next_cursor = encode_cursor(last[-1], last[0]) if last is not None else None
                return {"traces": traces, "next_cursor": next_cursor}
        if row_filters:
            inner.append(
                self._trace_id_condition(
                    f"SELECT DISTINCT trace_id FROM {self.db}.traces "
                    f"WHERE project = {{project:String}} AND {' AND '.join(row_filters)}",
                    params,
                    "pre_traces",
                )
            )
        page = self._page(q.descending, [*inner, *bounds], outer, params, sort_sql)
        more = len(page) > limit
        page = page[:limit]
        summaries = self._summaries(q.project, [trace_id for trace_id, _ in page])
        traces = [summaries[trace_id] for trace_id, _ in page if trace_id in summaries]
        next_cursor = encode_cursor(page[-1][1], page[-1][0]) if more else None
        return {"traces": traces, "next_cursor": next_cursor}

    def _page(
        self,
        descending: bool,
        inner: list[str],
        outer: list[str],
        params: dict[str, Any],
        sort_sql: str,
    ) -> list[tuple[str, Any]]:
        """(trace_id, sort value) of one page, ordered; ClickHouse prunes unused aggregates."""
        direction = "DESC" if descending else "ASC"
        sql = (
            f"SELECT trace_id, {sort_sql} AS sort_value FROM ("
            f"SELECT {_TRACE_SELECT} FROM {self.db}.traces WHERE {' AND '.join(inner)} "
            f"GROUP BY trace_id) WHERE {' AND '.join(outer) or '1'} "
            f"ORDER BY sort_value {direction}, trace_id {direction} LIMIT {{limit:UInt32}}"
        )
        return [(r[0], r[1]) for r in self.client.query(sql, parameters=params).result_rows]

    def _page_in_time_window(
        self,
        descending: bool,
        inner: list[str],
        bounds: list[str],
        outer: list[str],
        row_filters: list[str],
        params: dict[str, Any],
        limit: int,
        cursor_ns: int | None,
        filtered: bool,
    ) -> list[Sequence[Any]] | None:
        """A start-time page found in a window of the newest (or oldest) summary rows.

        A trace's start is the minimum over its summary rows, so it has a row starting exactly
        then: every trace starting after the window's oldest row has that row inside the
        window, and results past that bound are exact. The window grows until it holds a full
        page or the whole range; None means "too wide, aggregate everything instead".
        The window's traces are summarized whole (all their rows, not only those in the time
        range), so the page comes back as finished summary rows with the sort value last.
        """
        # Row filters (a trace matches iff one of its rows does) apply to the window rows
        # directly: a matching trace's rows inside the window start no earlier than the trace.
        window = [*inner, *bounds, *row_filters]
        # Past a cursor, only a trace's first row is sure to start before the cursor; a row
        # that merely matches a row filter may start after it, so then the window cannot skip.
        if cursor_ns is not None and not row_filters:
            window.append(
                f"start_time {'<=' if descending else '>='} "
                "fromUnixTimestamp64Nano({cursor_value:Int64})"
            )
        direction = "DESC" if descending else "ASC"
        rows_sql = (
            f"SELECT trace_id, start_time FROM {self.db}.traces WHERE {' AND '.join(window)} "
            f"ORDER BY start_time {direction} LIMIT {{window:UInt32}}"
        )
        size = max(WINDOW_MIN_ROWS, 4 * (limit + 1))
        if filtered:
            size *= 8  # filters keep a fraction of the window: start wider, save a round

        while size <= WINDOW_MAX_ROWS:
            params["window"] = size
            edge = f"toUnixTimestamp64Nano({'min' if descending else 'max'}(start_time))"
            if size <= WINDOW_IDS_BOUND:
                # One statement: the window's ids, count and bound as a scalar (its constant
                # set still lets the trace_id skip index prune the summary read). Fetching
                # the ids and binding them back cost ~20 ms more at 1,632 ids.
                scalar = (
                    f"WITH (SELECT (groupArray(trace_id), count(), {edge}) FROM ({rows_sql})) "
                    "AS _w "
                )
                in_window, window_columns = "trace_id IN _w.1", "_w.2, _w.3, "
            else:
                scalar, window_columns = "", ""
                in_window = f"trace_id IN (SELECT trace_id FROM ({rows_sql}))"
            where = [*inner, in_window]
            page = self.client.query(
                f"{scalar}SELECT *, {window_columns}{SORT_KEYS['start_time'][0]} AS sort_value "
                f"FROM (SELECT {_TRACE_SELECT} FROM {self.db}.traces WHERE {' AND '.join(where)} "
                f"GROUP BY trace_id) WHERE {' AND '.join(outer) or '1'} "
                f"ORDER BY sort_value {direction}, trace_id {direction} LIMIT {{limit:UInt32}}",
                parameters=params,
            ).result_rows
            if window_columns and page:
                count, bound = page[0][-3], page[0][-2]
                page = [(*row[:-3], row[-1]) for row in page]
            else:  # the window's count and bound are not in the (empty or wide) page
                count, bound = self.client.query(
                    f"SELECT count(), {edge} FROM ({rows_sql})", parameters=params
                ).result_rows[0]
            if count < size:
                return list(page)  # the window holds the whole range: exact
            exact = [row for row in page if (row[-1] > bound if descending else row[-1] < bound)]
            if len(exact) > limit:
                return exact
            size *= 8
        return None

    def _summaries(self, project: str, trace_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not trace_ids:
            return {}
        rows = self.client.query(
            f"SELECT {_TRACE_SELECT} FROM {self.db}.traces "
            "WHERE project = {project:String} AND trace_id IN {ids:Array(String)} "
            "GROUP BY trace_id",
            parameters={"project": project, "ids": trace_ids},
        ).result_rows
        return {row[0]: self._trace_summary(row) for row in rows}

    def _trace_conditions(
        self, q: TraceQuery, params: dict[str, Any]
    ) -> tuple[list[str], list[str], list[str], list[str]]:
        """WHERE parts: on summary rows selecting whole traces (project, pre-filters), on
        summary rows by time (they prune rows, so a trace's aggregates may be partial), after
        aggregation (on whole traces), and row filters (a trace matches iff one row does)."""
        inner = ["project = {project:String}"]
        bounds: list[str] = []
        outer: list[str] = []
        if q.end_ns is not None:
            params["end_ns"] = q.end_ns
            bounds.append("start_time < fromUnixTimestamp64Nano({end_ns:Int64})")
            outer.append("t_start < fromUnixTimestamp64Nano({end_ns:Int64})")
        if q.start_ns is not None:
            params["start_ns"] = q.start_ns
            bounds.append("end_time >= fromUnixTimestamp64Nano({start_ns:Int64})")
            outer.append("t_start >= fromUnixTimestamp64Nano({start_ns:Int64})")
        simple = {
            "status": (q.status.upper() if q.status else None, "status = {status:String}"),
            "name": (q.name, "positionCaseInsensitive(name, {name:String}) > 0"),
            "model": (q.model, "has(models, {model:String})"),
            "session": (q.session_id, "session = {session:String}"),
            "user": (q.user_id, "user = {user:String}"),
            "min_ms": (q.min_latency_ms, "duration_ns >= {min_ms:Float64} * 1e6"),
            "max_ms": (q.max_latency_ms, "duration_ns <= {max_ms:Float64} * 1e6"),
        }
        for bind, (value, condition) in simple.items():
            if value is not None and value != "":
                params[bind] = value
                outer.append(condition)
        # Conditions that hold for a trace iff they hold for one of its summary rows: select
        # those traces first (skip indexes help), so the newest-first window stays small.
        row_conditions = {
            "session": "session_id = {session:String}",
            "user": "user_id = {user:String}",
            "model": "has(models, {model:String})",
            "status": "error_count > 0",
        }
        pushed = [
            condition
            for bind, condition in row_conditions.items()
            if bind in params and (bind != "status" or params[bind] == "ERROR")
        ]
        span_conditions: list[str] = []
        for i, (key, value) in enumerate(sorted(q.attributes.items())):
            params[f"ak{i}"], params[f"av{i}"] = key, value
            # Values are stored JSON-encoded: match the string form and the raw (number/bool).
            stored = attribute_sql(f"{{ak{i}:String}}")
            span_conditions.append(
                f"({stored} = toJSONString({{av{i}:String}}) "
                f"OR (mapContains(attributes, {{ak{i}:String}}) AND {stored} = {{av{i}:String}}))"
            )
        if q.text:
            params["text"] = q.text
            span_conditions.append(
                "(positionCaseInsensitive(input, {text:String}) > 0 "
                "OR positionCaseInsensitive(output, {text:String}) > 0)"
            )
        if span_conditions:
            inner.append(
                self._trace_id_condition(
                    f"SELECT DISTINCT trace_id FROM {self.db}.spans "
                    f"WHERE project = {{project:String}} AND {' AND '.join(span_conditions)}",
                    params,
                    "pre_spans",
                )
            )
        if q.filter:
            compiled = _compile(q.filter)
            params.update(compiled.params)
            outer.append(f"({compiled.sql})")
            pushed += _row_conjuncts(q.filter, params)
        return inner, bounds, outer, pushed

    def _trace_id_condition(self, subquery: str, params: dict[str, Any], bind: str) -> str:
        """``trace_id IN (...)``: the ids themselves when few (the list query runs up to
        seven statements, and a bound list uses the trace_id skip index), else the subquery."""
        rows = self.client.query(
            f"{subquery} LIMIT {MAX_PREFILTER_IDS + 1}", parameters=params
        ).result_rows
        if len(rows) > MAX_PREFILTER_IDS:
            return f"trace_id IN ({subquery})"
        params[bind] = [row[0] for row in rows]
        return f"trace_id IN {{{bind}:Array(String)}}"

    @staticmethod
    def _trace_summary(row: Sequence[Any]) -> dict[str, Any]:
        r = dict(zip(_TRACE_COLUMNS, row, strict=False))
        start = r.pop("t_start")
        end = r.pop("t_end")
        r["start_time"] = _iso(start)
        r["end_time"] = _iso(end)
        r["duration_ms"] = r.pop("duration_ns") / 1e6
        r["has_root"] = bool(r["has_root"])
        r["models"] = sorted(r["models"])
        if r.pop("raw_io", 0):
            r["input"] = canonical_preview(r["input"])
            r["output"] = canonical_preview(r["output"])
        return r

    def get_trace(
        self,
        project: str,
        trace_id: str,
        *,
        limit: int = DEFAULT_SPAN_PAGE,
        cursor: str | None = None,
    ) -> dict[str, Any] | None:
        """A trace's summary and its spans in start order (one page), or None if unknown."""
        trace_id = trace_id.lower()
        summary = self.trace_summary(project, trace_id)
        if summary is None:
            return None
        page = self.get_spans(project, trace_id, limit=limit, cursor=cursor)
        return {"trace": summary, **page}

    def trace_summary(self, project: str, trace_id: str) -> dict[str, Any] | None:
        rows = self.client.query(
            f"SELECT {_TRACE_SELECT} FROM {self.db}.traces "
            "WHERE project = {project:String} AND trace_id = {trace_id:String} GROUP BY trace_id",
            parameters={"project": project, "trace_id": trace_id},
        ).result_rows
        return self._trace_summary(rows[0]) if rows else None

    def get_spans(
        self,
        project: str,
        trace_id: str,
        *,
        limit: int = DEFAULT_SPAN_PAGE,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Spans of one trace ordered by (start time, span id), paged by a keyset cursor."""
        limit = max(1, min(limit, MAX_SPAN_PAGE))
        params: dict[str, Any] = {"project": project, "trace_id": trace_id, "limit": limit + 1}
        after = ""
        if cursor:
            start, span_id = decode_cursor(cursor, 2)
            params["c_start"] = _cursor_number(start, "Int64")
            params["c_span"] = _cursor_text(span_id)
            after = (
                "AND (toUnixTimestamp64Nano(start_time), span_id) > "
                "({c_start:Int64}, {c_span:String})"
            )
        sql = f"""
            SELECT {SPAN_JSON_SQL}, toUnixTimestamp64Nano(start_time), span_id, raw_io,
                {PLAIN_IO_SQL}
            FROM {self.db}.spans
            WHERE project = {{project:String}} AND trace_id = {{trace_id:String}} {after}
            ORDER BY toUnixTimestamp64Nano(start_time), span_id
            LIMIT 1 BY span_id
            LIMIT {{limit:UInt32}}
        """
        rows = self.client.query(sql, parameters=params).result_rows
        more = len(rows) > limit
        rows = rows[:limit]
        # ClickHouse writes each span's JSON (attribute values are stored JSON-encoded), so a
        # 10k-span page costs no per-value work in Python.
        texts = (canonical_span_json(row[0], row[4]) if row[3] else row[0] for row in rows)
        spans = orjson.Fragment("[" + ",".join(texts) + "]")
        next_cursor = encode_cursor(rows[-1][1], rows[-1][2]) if more else None
        return {"spans": spans, "next_cursor": next_cursor}


def _row_conjuncts(text: str, params: dict[str, Any]) -> list[str]:
    """Conditions on summary rows implied by the filter's top-level conjuncts.

    A trace matches ``model ~ "x"`` (x without a comma) or ``status = "ERROR"`` iff one of its
    summary rows does, so those also narrow the rows the newest-first window reads; the whole
    filter still decides on the aggregated trace.
    """
    node = parse_filter(text)
    conjuncts = node.operands if isinstance(node, And) else (node,)
    out: list[str] = []
    for c in conjuncts:
        if not isinstance(c, Comparison) or c.key is not None:
            continue
        if c.field == "model" and c.op == "~" and isinstance(c.value, str) and "," not in c.value:
            pushed = compile_node(c, TRACE_FILTER_FIELDS, prefix=f"rc{len(out)}_")
            params.update(pushed.params)
            out.append(pushed.sql)
        elif c.field == "status" and c.op == "=" and c.value == "ERROR":
            out.append("error_count > 0")
    return out


def _compile(text: str) -> CompiledFilter:
    try:
        return compile_filter(text, TRACE_FILTER_FIELDS, prefix="flt")
    except FilterError as exc:
        raise BadRequestError(f"invalid filter: {exc}") from None
