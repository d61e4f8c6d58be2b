"""Aggregates over traces: sessions and statistics over time.

Same rules as `traces`: user values are server-side binds, identifiers come from settings.
"""

from __future__ import annotations

from typing import Any

from spyglass.errors import BadRequestError
from spyglass.store.traces import (
    MAX_TRACE_PAGE,
    TraceStore,
    decode_cursor,
    encode_cursor,
    ns_to_iso,
)

MIN_BUCKET_SECONDS = 1
MAX_BUCKETS = 2000

# One row per trace (summary rows merged), restricted to a project and optional time range.
_PER_TRACE = """
    SELECT trace_id,
           min(start_time) AS t_start, max(end_time) AS t_end,
           toInt64(toUnixTimestamp64Nano(t_end) - toUnixTimestamp64Nano(t_start)) AS duration_ns,
           sum(error_count) AS errors, sum(total_tokens) AS tokens, sum(total_cost) AS cost,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           max(session_id) AS session, max(user_id) AS user
    FROM {db}.traces
    WHERE project = {{project:String}} {time}
    GROUP BY trace_id
"""


def _time_filter(params: dict[str, Any], start_ns: int | None, end_ns: int | None) -> str:
    parts = []
    if start_ns is not None:
        params["start_ns"] = start_ns
        parts.append("AND end_time >= fromUnixTimestamp64Nano({start_ns:Int64})")
    if end_ns is not None:
        params["end_ns"] = end_ns
        parts.append("AND start_time < fromUnixTimestamp64Nano({end_ns:Int64})")
    return " ".join(parts)


def list_sessions(
    store: TraceStore,
    project: str,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    user_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Sessions (conversations) with their trace counts, most recently active first."""
    limit = max(1, min(limit, MAX_TRACE_PAGE))
    params: dict[str, Any] = {"project": project, "limit": limit + 1}
    per_trace = _PER_TRACE.format(db=store.db, time=_time_filter(params, start_ns, end_ns))
    having = []
    if user_id:
        params["user"] = user_id
        having.append("has(users, {user:String})")
    if cursor:
        last, session = decode_cursor(cursor, 2)
        params["c_last"], params["c_session"] = int(last), str(session)
        having.append(
            "(toUnixTimestamp64Nano(last_end), session) < ({c_last:Int64}, {c_session:String})"
        )
    sql = f"""
        SELECT session, count() AS traces, toUnixTimestamp64Nano(min(t_start)) AS first_start,
               toUnixTimestamp64Nano(max(t_end)) AS last_end_ns, max(t_end) AS last_end,
               countIf(errors > 0) AS error_traces, sum(tokens), sum(cost),
               groupUniqArrayIf(user, user != '') AS users
        FROM ({per_trace})
        WHERE session != ''
        GROUP BY session
        {"HAVING " + " AND ".join(having) if having else ""}
        ORDER BY last_end DESC, session DESC
        LIMIT {{limit:UInt32}}
    """
    rows = store.client.query(sql, parameters=params).result_rows
    more = len(rows) > limit
    rows = rows[:limit]
    sessions = [
        {
            "session_id": session,
            "traces": traces,
            "first_start": ns_to_iso(first),
            "last_end": ns_to_iso(last_ns),
            "error_traces": errors,
            "tokens": tokens,
            "cost": cost,
            "users": sorted(users),
        }
        for session, traces, first, last_ns, _, errors, tokens, cost, users in rows
    ]
    next_cursor = encode_cursor(rows[-1][3], rows[-1][0]) if more else None
    return {"sessions": sessions, "next_cursor": next_cursor}


def trace_stats(
    store: TraceStore,
    project: str,
    *,
    start_ns: int,
    end_ns: int,
    bucket_seconds: int,
) -> dict[str, Any]:
    """Per time bucket: traces, error rate, latency p50/p95/p99, tokens, cost; and by model."""
    if end_ns <= start_ns:
        raise BadRequestError("'end' must be after 'start'")
    if bucket_seconds < MIN_BUCKET_SECONDS:
        raise BadRequestError("bucket must be at least 1 second")
    if (end_ns - start_ns) / 1e9 / bucket_seconds > MAX_BUCKETS:
        raise BadRequestError(f"too many buckets: at most {MAX_BUCKETS}; use a larger bucket")
    params: dict[str, Any] = {"project": project, "bucket": bucket_seconds}
    per_trace = _PER_TRACE.format(db=store.db, time=_time_filter(params, start_ns, end_ns))
    rows = store.client.query(
        f"""
        SELECT toUnixTimestamp(toStartOfInterval(t_start, INTERVAL {{bucket:UInt32}} SECOND)) AS b,
               count(), countIf(errors > 0),
               quantiles(0.5, 0.95, 0.99)(duration_ns / 1e6),
               sum(input_tokens), sum(output_tokens), sum(tokens), sum(cost)
        FROM ({per_trace})
        WHERE t_start >= fromUnixTimestamp64Nano({{start_ns:Int64}})
          AND t_start < fromUnixTimestamp64Nano({{end_ns:Int64}})
        GROUP BY b ORDER BY b
        """,
        parameters=params,
    ).result_rows
    buckets = [
        {
            "start": ns_to_iso(b * 1_000_000_000),
            "traces": n,
            "errors": e,
            "error_rate": e / n if n else 0.0,
            "latency_ms": {"p50": q[0], "p95": q[1], "p99": q[2]},
            "input_tokens": it,
            "output_tokens": ot,
            "tokens": t,
            "cost": c,
        }
        for b, n, e, q, it, ot, t, c in rows
    ]
    models = store.client.query(
        f"""
        SELECT model, count(), countIf(status_code = 'ERROR'),
               quantiles(0.5, 0.95, 0.99)(duration_ns / 1e6),
               sum(usage['input']), sum(usage['output']), sum(total_tokens), sum(total_cost)
        FROM {store.db}.spans
        WHERE project = {{project:String}} AND model != ''
          AND start_time >= fromUnixTimestamp64Nano({{start_ns:Int64}})
          AND start_time < fromUnixTimestamp64Nano({{end_ns:Int64}})
        GROUP BY model ORDER BY count() DESC
        """,
        parameters=params,
    ).result_rows
    by_model = [
        {
            "model": m,
            "calls": n,
            "errors": e,
            "latency_ms": {"p50": q[0], "p95": q[1], "p99": q[2]},
            "input_tokens": it,
            "output_tokens": ot,
            "tokens": t,
            "cost": c,
        }
        for m, n, e, q, it, ot, t, c in models
    ]
    return {"bucket_seconds": bucket_seconds, "buckets": buckets, "by_model": by_model}
