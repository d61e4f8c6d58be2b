"""Two reads for the trace view beyond the query API: a slim span outline and one span.

A trace's full span JSON is ~2.8 KB a span (141 MB for a 50,000-span trace, 1.3-1.9 s to
build), which is why other trace UIs hang on big traces. The tree and waterfall need only ten
narrow columns, so the outline is ~100 bytes a span and ClickHouse writes it as JSON itself
(~40 ms for 50,000 spans); a span's full detail is fetched when it is opened.

Values from the user are server-side binds; the database name comes from validated settings.
"""

from __future__ import annotations

from typing import Any

import orjson

from spyglass.errors import BadRequestError
from spyglass.store.raw_io import PLAIN_IO_SQL, canonical_span_json
from spyglass.store.span_json import SPAN_JSON_SQL
from spyglass.store.traces import TraceStore, decode_cursor, encode_cursor

__all__ = ["OUTLINE_COLUMNS", "Outline", "get_span", "span_outline", "trace_start_ns"]

# One outline row: [span_id, parent_span_id ("" for roots), name, start offset from the trace
# start (ns), duration (ns), status code, span type, model, total tokens, total cost].
OUTLINE_COLUMNS = (
    "span_id", "parent_span_id", "name", "offset_ns", "duration_ns", "status", "span_type",
    "model", "tokens", "cost",
)  # fmt: skip
MAX_OUTLINE_PAGE = 100_000
_NO_QUOTED_INTS = {"output_format_json_quote_64bit_integers": 0}


class Outline:
    """One page of outline rows as ready-made JSON bytes, plus what the next page needs."""

    def __init__(self, rows_json: bytes, count: int, t0_ns: int, next_cursor: str | None):
        self.rows_json = rows_json
        self.count = count
        self.t0_ns = t0_ns
        self.next_cursor = next_cursor

    def to_json(self) -> bytes:
        """``{"t0": "<ns>", "count": n, "rows": [...], "next_cursor": ...}``."""
        head = orjson.dumps(
            {"t0": str(self.t0_ns), "count": self.count, "next_cursor": self.next_cursor}
        )
        return head[:-1] + b',"rows":' + self.rows_json + b"}"


def trace_start_ns(store: TraceStore, project: str, trace_id: str) -> int | None:
    """The earliest span start of a trace in nanoseconds, or None if it has no spans."""
    rows = store.client.query(
        f"SELECT count(), toUnixTimestamp64Nano(min(start_time)) FROM {store.db}.spans "
        "WHERE project = {project:String} AND trace_id = {trace_id:String}",
        parameters={"project": project, "trace_id": trace_id},
    ).result_rows
    if not rows or not rows[0][0]:
        return None
    return int(rows[0][1])


def span_outline(
    store: TraceStore,
    project: str,
    trace_id: str,
    *,
    t0_ns: int,
    limit: int,
    cursor: str | None = None,
) -> Outline:
    """Outline rows of one trace in (start time, span id) order, paged by a keyset cursor.

    The cursor has the same form as the ``/api/traces/{id}/spans`` one.

    Raises:
        BadRequestError: for a cursor this server did not issue.
    """
    limit = max(1, min(limit, MAX_OUTLINE_PAGE))
    params: dict[str, Any] = {
        "project": project,
        "trace_id": trace_id,
        "t0": t0_ns,
        "limit": limit + 1,
    }
    after = ""
    if cursor:
        start, span_id = decode_cursor(cursor, 2)
        if not isinstance(start, int) or not isinstance(span_id, str) or len(span_id) > 64:
            raise BadRequestError("cursor is not one this server issued")
        params["c_start"], params["c_span"] = start, span_id
        after = (
            "AND (toUnixTimestamp64Nano(start_time), span_id) > ({c_start:Int64}, {c_span:String})"
        )
    sql = f"""
        SELECT span_id, parent_span_id, name,
               toInt64(toUnixTimestamp64Nano(start_time) - {{t0:Int64}}), duration_ns,
               status_code, span_type, model, total_tokens, round(total_cost, 10)
        FROM {store.db}.spans
        WHERE project = {{project:String}} AND trace_id = {{trace_id:String}} {after}
        ORDER BY toUnixTimestamp64Nano(start_time), span_id
        LIMIT 1 BY span_id
        LIMIT {{limit:UInt32}}
    """
    raw: bytes = store.client.raw_query(
        sql, parameters=params, fmt="JSONCompactEachRow", settings=_NO_QUOTED_INTS
    )
    lines = raw.rstrip(b"\n").split(b"\n") if raw.strip() else []
    next_cursor = None
    if len(lines) > limit:
        lines = lines[:limit]
        last = orjson.loads(lines[-1])
        next_cursor = encode_cursor(t0_ns + int(last[3]), str(last[0]))
    return Outline(b"[" + b",".join(lines) + b"]", len(lines), t0_ns, next_cursor)


def get_span(store: TraceStore, project: str, trace_id: str, span_id: str) -> dict[str, Any] | None:
    """One span in the same JSON shape as the spans of ``/api/traces/{id}``, or None."""
    rows = store.client.query(
        f"SELECT {SPAN_JSON_SQL}, raw_io, {PLAIN_IO_SQL} FROM {store.db}.spans "
        "WHERE project = {project:String} AND trace_id = {trace_id:String} "
        "AND span_id = {span_id:String} LIMIT 1",
        parameters={"project": project, "trace_id": trace_id, "span_id": span_id},
    ).result_rows
    if not rows:
        return None
    text, raw_io, plain_io = rows[0]
    span: dict[str, Any] = orjson.loads(canonical_span_json(text, plain_io) if raw_io else text)
    return span
