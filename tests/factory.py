"""Build OTLP export requests for tests, one trace at a time."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from spyglass.collector.pricing import PriceTable
from spyglass.collector.rows import SPAN_COLUMNS, build_batch
from spyglass.store.traces import TraceStore

BASE_NS = 1_780_000_000_000_000_000  # 2026-05-28


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(kv(k, v) for k, v in value.items())
        return out
    return AnyValue(string_value=str(value))


def kv(key: str, value: Any) -> KeyValue:
    return KeyValue(key=key, value=any_value(value))


@dataclass
class TraceSpec:
    """A trace: a root span and optional children, all relative to ``start_ms``."""

    name: str = "root"
    start_ms: float = 0
    duration_ms: float = 100
    attributes: dict[str, Any] = field(default_factory=dict)
    children: list[dict[str, Any]] = field(default_factory=list)
    error: bool = False
    trace_id: bytes = field(default_factory=lambda: os.urandom(16))


def export_request(
    traces: list[TraceSpec], resource: dict[str, Any] | None = None
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        kv(k, v) for k, v in (resource or {"service.name": "svc"}).items()
    )
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "tests"
    for spec in traces:
        root_id = os.urandom(8)
        start = BASE_NS + int(spec.start_ms * 1e6)
        root = scope.spans.add(
            trace_id=spec.trace_id,
            span_id=root_id,
            name=spec.name,
            start_time_unix_nano=start,
            end_time_unix_nano=start + int(spec.duration_ms * 1e6),
        )
        root.attributes.extend(kv(k, v) for k, v in spec.attributes.items())
        if spec.error:
            root.status.code = Status.STATUS_CODE_ERROR
        for i, child in enumerate(spec.children):
            span = scope.spans.add(
                trace_id=spec.trace_id,
                span_id=os.urandom(8),
                parent_span_id=root_id,
                name=child.get("name", f"child-{i}"),
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=start + 1000 * (i + 1),
                end_time_unix_nano=start + 2000 * (i + 1),
            )
            span.attributes.extend(kv(k, v) for k, v in child.get("attributes", {}).items())
    return request


def store_traces(
    store: TraceStore, traces: list[TraceSpec], project: str | None = None
) -> list[str]:
    """Ingest ``traces`` through the same conversion as the server; return their hex ids."""
    batch = build_batch(export_request(traces), PriceTable.load(), project)
    store.insert_spans(SPAN_COLUMNS, batch.columns)
    return [t.trace_id.hex() for t in traces]
