"""SQL that makes ClickHouse write a span as the JSON the API returns.

Attribute values are stored JSON-encoded, so ClickHouse can splice them into the output as they
are: a 10k-span page then costs no per-value work in Python.
"""

from __future__ import annotations

from spyglass.store.message_marks import attributes_json_sql


def map_json(column: str) -> str:
    """SQL for a JSON object from a Map(String, String) whose values are JSON texts."""
    return (
        f"concat('{{', arrayStringConcat(arrayMap((k, v) -> concat(toJSONString(k), ':', v), "
        f"mapKeys({column}), mapValues({column})), ','), '}}')"
    )


def _iso_sql(column: str) -> str:
    return f"toJSONString(formatDateTime({column}, '%Y-%m-%dT%H:%i:%S.%fZ'))"


def _object_sql(fields: list[tuple[str, str]]) -> str:
    """SQL building a JSON object from (key, SQL expression yielding JSON text) pairs."""
    parts = []
    for i, (key, value) in enumerate(fields):
        opener = "{" if i == 0 else ","
        parts.append(f"'{opener}\"{key}\":', {value}")
    return "concat(" + ", ".join(parts) + ", '}')"


def _text(column: str) -> str:
    return f"toJSONString(toString({column}))"


SPAN_JSON_SQL = _object_sql(
    [
        ("trace_id", _text("trace_id")),
        ("span_id", _text("span_id")),
        ("parent_span_id", "if(parent_span_id = '', 'null', toJSONString(parent_span_id))"),
        ("name", _text("name")),
        ("kind", _text("kind")),
        ("span_type", _text("span_type")),
        ("start_time", _iso_sql("start_time")),
        ("end_time", _iso_sql("end_time")),
        ("start_time_unix_nano", "toString(toUnixTimestamp64Nano(start_time))"),
        ("end_time_unix_nano", "toString(toUnixTimestamp64Nano(end_time))"),
        ("duration_ms", "toString(duration_ns / 1e6)"),
        (
            "status",
            _object_sql([("code", _text("status_code")), ("message", _text("status_message"))]),
        ),
        ("service_name", _text("service_name")),
        (
            "scope",
            _object_sql([("name", _text("scope_name")), ("version", _text("scope_version"))]),
        ),
        ("model", _text("model")),
        ("provider", _text("provider")),
        ("operation", _text("operation")),
        # Spans stored with raw_io = 1 get empty placeholders: the reader rebuilds both
        # (`raw_io.canonical_span_json`) and splices them in.
        ("input", "if(raw_io, '\"\"', toJSONString(input))"),
        ("output", "if(raw_io, '\"\"', toJSONString(output))"),
        ("session_id", _text("session_id")),
        ("user_id", _text("user_id")),
        ("usage", "toJSONString(usage)"),
        ("cost", "toJSONString(cost)"),
        ("total_tokens", "toString(total_tokens)"),
        ("total_cost", "toString(total_cost)"),
        ("attributes", attributes_json_sql()),
        ("resource", map_json("resource_attributes")),
        (
            "events",
            "concat('[', arrayStringConcat(arrayMap(e -> "
            + _object_sql(
                [
                    ("time_unix_nano", "toString(toUnixTimestamp64Nano(e.1))"),
                    ("name", "toJSONString(e.2)"),
                    ("attributes", map_json("e.3")),
                ]
            )
            + ", events), ','), ']')",
        ),
        (
            "links",
            "concat('[', arrayStringConcat(arrayMap(l -> "
            + _object_sql(
                [
                    ("trace_id", "toJSONString(l.1)"),
                    ("span_id", "toJSONString(l.2)"),
                    ("attributes", map_json("l.3")),
                ]
            )
            + ", links), ','), ']')",
        ),
        ("trace_state", _text("trace_state")),
    ]
)
