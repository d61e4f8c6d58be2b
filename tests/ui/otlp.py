"""Spans for the UI tests, sent to a running server as OTLP/HTTP protobuf."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

MS = 1_000_000


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


@dataclass
class TraceBuilder:
    """Spans of one trace; ``span`` returns the new span's id for use as a parent."""

    start_ns: int = field(default_factory=lambda: time.time_ns() - 60_000 * MS)
    trace_id: bytes = field(default_factory=lambda: os.urandom(16))
    spans: list[Span] = field(default_factory=list)

    @property
    def trace_hex(self) -> str:
        return self.trace_id.hex()

    def span(
        self,
        name: str,
        parent: bytes | None = None,
        offset_ms: float = 0,
        duration_ms: float = 10,
        attributes: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> bytes:
        span_id = os.urandom(8)
        start = self.start_ns + int(offset_ms * MS)
        span = Span(
            trace_id=self.trace_id,
            span_id=span_id,
            parent_span_id=parent or b"",
            name=name,
            start_time_unix_nano=start,
            end_time_unix_nano=start + int(duration_ms * MS),
            attributes=[kv(k, v) for k, v in (attributes or {}).items()],
        )
        if error:
            span.status.code = Status.STATUS_CODE_ERROR
            span.status.message = error
            event = span.events.add(name="exception", time_unix_nano=start)
            event.attributes.extend(
                [kv("exception.type", "ValueError"), kv("exception.message", error)]
            )
        self.spans.append(span)
        return span_id


def messages(*pairs: tuple[str, str]) -> str:
    """OTel GenAI parts-format messages as JSON text."""
    return json.dumps(
        [{"role": role, "parts": [{"type": "text", "content": text}]} for role, text in pairs]
    )


def _chunks(spans: list[Span], size: int) -> Iterator[list[Span]]:
    for i in range(0, len(spans), size):
        yield spans[i : i + size]


def send(url: str, project: str, spans: list[Span], chunk: int = 5000) -> None:
    """POST spans to ``/v1/traces`` (acknowledged only once stored)."""
    with httpx.Client(timeout=120) as client:
        for part in _chunks(spans, chunk):
            request = ExportTraceServiceRequest()
            resource_spans = request.resource_spans.add()
            resource_spans.resource.attributes.append(kv("service.name", "ui-tests"))
            resource_spans.scope_spans.add().spans.extend(part)
            response = client.post(
                f"{url}/v1/traces",
                content=request.SerializeToString(),
                headers={
                    "content-type": "application/x-protobuf",
                    "x-spyglass-project": project,
                },
            )
            response.raise_for_status()


def big_trace(spans: int, fanout: int = 100) -> tuple[TraceBuilder, str]:
    """A trace of ``spans`` spans: a root, steps under it, leaves under each step.

    Returns the builder and the name of the span that starts last.
    """
    b = TraceBuilder()
    root = b.span("big-root", offset_ms=0, duration_ms=spans * 0.1 + 10)
    made, step, parent = 1, 0, root
    while made < spans:
        if (made - 1) % fanout == 0:
            parent = b.span(f"step-{step}", root, offset_ms=made * 0.1, duration_ms=fanout * 0.1)
            step += 1
        else:
            b.span(f"leaf-{made}", parent, offset_ms=made * 0.1, duration_ms=0.08)
        made += 1
    last = "last-span"
    b.spans[-1].name = last
    return b, last
