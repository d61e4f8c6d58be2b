"""Synthetic OTLP payloads shaped like real GenAI traffic (~1.4 KB per span)."""

from __future__ import annotations

import json
import os
import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "claude-sonnet-4", "gemini-2.5-flash")

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


def genai_request(
    spans: int,
    spans_per_trace: int = 10,
    project: str = "bench",
    start_ns: int | None = None,
    spread_s: float = 0.0,
    seed: int = 0,
) -> bytes:
    """One serialized export request: traces of ``spans_per_trace`` spans, LLM spans inside.

    With ``spread_s`` the traces start at random times over that many seconds before
    ``start_ns``; every 20th trace fails and models, sessions and latencies vary.
    """
    rng = random.Random(seed)
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [_kv("service.name", "bench-app"), _kv("spyglass.project", project)]
    )
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "bench"
    now = start_ns or time.time_ns()
    trace_id = os.urandom(16)
    root_id = os.urandom(8)
    trace_start = now
    model = MODELS[0]
    failed = False
    for i in range(spans):
        if i % spans_per_trace == 0:
            trace_id, root_id = os.urandom(16), os.urandom(8)
            trace_start = now - 5_000_000_000 - int(rng.random() * spread_s * 1e9)
            model = MODELS[rng.randrange(len(MODELS))]
            failed = rng.randrange(20) == 0
        is_root = i % spans_per_trace == 0
        start = trace_start + (i % spans_per_trace) * 1000
        duration = int(rng.uniform(50, 3000) * 1e6) if is_root else 800_000_000
        span = Span(
            trace_id=trace_id,
            span_id=root_id if is_root else os.urandom(8),
            parent_span_id=b"" if is_root else root_id,
            name="agent-turn" if is_root else "chat gpt-4o-mini",
            kind=Span.SPAN_KIND_INTERNAL if is_root else Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start,
            end_time_unix_nano=start + duration,
        )
        if is_root:
            span.attributes.extend(
                [_kv("session.id", f"s-{rng.randrange(5000)}"), _kv("user.id", f"u-{i % 50}")]
            )
            if failed:
                span.status.code = Status.STATUS_CODE_ERROR
        else:
            span.attributes.extend(
                [
                    _kv("gen_ai.operation.name", "chat"),
                    _kv("gen_ai.provider.name", "openai"),
                    _kv("gen_ai.request.model", model),
                    _kv("gen_ai.response.model", model),
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
