"""Rewriting a batch file whose bodies the INSERT cannot read as they are.

Two cases, both rare, both handled by re-serializing every body with upb (`rewrite_file`):
- a value nested deeper than the SQL decoder reads (a value and the children of an
  array/kvlist value; deeper levels would cost analysis time on every INSERT for values GenAI
  spans rarely carry): the INSERT fails with `sql_json.DEEP_ERROR`, and the value is rewritten
  as ``AnyValue.x_spyglass_json`` holding `rows.encode_value`'s text, which the SQL stores as
  is, so the stored JSON is still exactly the Python path's;
- wire encodings upb accepts and ClickHouse's reader rejects, such as two members of one
  oneof in an AnyValue (upb keeps the last): re-serializing gives the canonical encoding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from spyglass.collector.native.prepare import frame, top_level_fields
from spyglass.collector.native.proto_schema import PROJECT_FIELD, VALUE_JSON_FIELD
from spyglass.collector.rows import any_value, encode_value
from spyglass.collector.wal import frames, varint

__all__ = ["rewrite_body", "rewrite_file"]

_NESTED = ("array_value", "kvlist_value")
_JSON_TAG = varint(VALUE_JSON_FIELD << 3 | 2)


def _too_deep(value: AnyValue) -> bool:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        children = list(value.array_value.values)
    elif kind == "kvlist_value":
        children = [kv.value for kv in value.kvlist_value.values]
    else:
        return False
    return any(child.WhichOneof("value") in _NESTED for child in children)


def _flatten(attributes: Any) -> None:
    for kv in attributes:
        if _too_deep(kv.value):
            text = encode_value(any_value(kv.value)).encode()
            kv.value.Clear()
            # Unknown to the OTLP classes: kept as an unknown field when serialized.
            kv.value.MergeFromString(_JSON_TAG + varint(len(text)) + text)


def rewrite_body(body: bytes) -> bytes:
    """``body`` re-serialized by upb, with values nested too deeply pre-encoded.

    Raises:
        google.protobuf.message.DecodeError: ``body`` is not a valid export request.
    """
    request = ExportTraceServiceRequest.FromString(body)
    # Unknown fields go (a client's AnyValue field 1000 must not pass for ours); the project
    # override `prepare_body` appended is put back.
    project = [payload for number, payload in top_level_fields(body) if number == PROJECT_FIELD]
    request.DiscardUnknownFields()
    for resource_spans in request.resource_spans:
        _flatten(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                _flatten(span.attributes)
                for event in span.events:
                    _flatten(event.attributes)
                for link in span.links:
                    _flatten(link.attributes)
    # The x_spyglass_json fields set above are kept by upb as unknown fields.
    serialized: bytes = request.SerializeToString()
    if project:
        serialized += varint(PROJECT_FIELD << 3 | 2) + varint(len(project[-1])) + project[-1]
    return serialized


def rewrite_file(source: Path, target: Path) -> None:
    """Write ``source``'s bodies to ``target``, each through `rewrite_body`."""
    data = source.read_bytes()
    with target.open("wb") as out:
        for start, stop in frames(data):
            body = data[start:stop]
            out.write(frame(rewrite_body(body)))
