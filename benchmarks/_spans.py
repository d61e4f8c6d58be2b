"""Synthetic OTLP payloads shaped like real GenAI traffic (~1.4 KB per span)."""

from __future__ import annotations

import json
import os
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

PROMPT = json.dumps(
    [
        {"role": "system", "parts": [{"type": "text", "content": "You are a support agent. " * 8}]},
        {"role": "user", "parts": [{"type": "text", "content": "Where is my order? " * 12}]},
    ]
)
ANSWER = json.dumps(
    [{"role": "assistant", "parts": [{"type": "text", "content": "It shipped today. " * 12}]}]
)


def _kv(key: str, value: str | int | float) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(double_value=value))


def genai_request(spans: int, spans_per_trace: int = 10, project: str = "bench") -> bytes:
    """One serialized export request: traces of ``spans_per_trace`` spans, LLM spans inside."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [_kv("service.name", "bench-app"), _kv("spyglass.project", project)]
    )
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "bench"
    now = time.time_ns()
    trace_id = os.urandom(16)
    root_id = os.urandom(8)
    for i in range(spans):
        if i % spans_per_trace == 0:
            trace_id, root_id = os.urandom(16), os.urandom(8)
        is_root = i % spans_per_trace == 0
        start = now - 5_000_000_000 + i * 1000
        span = Span(
            trace_id=trace_id,
            span_id=root_id if is_root else os.urandom(8),
            parent_span_id=b"" if is_root else root_id,
            name="agent-turn" if is_root else "chat gpt-4o-mini",
            kind=Span.SPAN_KIND_INTERNAL if is_root else Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start,
            end_time_unix_nano=start + 800_000_000,
        )
        if is_root:
            span.attributes.extend([_kv("session.id", f"s-{i % 97}"), _kv("user.id", "u-1")])
        else:
            span.attributes.extend(
                [
                    _kv("gen_ai.operation.name", "chat"),
                    _kv("gen_ai.provider.name", "openai"),
                    _kv("gen_ai.request.model", "gpt-4o-mini"),
                    _kv("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
                    _kv("gen_ai.request.temperature", 0.2),
                    _kv("gen_ai.usage.input_tokens", 412),
                    _kv("gen_ai.usage.output_tokens", 96),
                    _kv("gen_ai.input.messages", PROMPT),
                    _kv("gen_ai.output.messages", ANSWER),
                ]
            )
        scope.spans.append(span)
    body: bytes = request.SerializeToString()
    return body
