"""Realistic sample GenAI traces, so a newcomer sees data at once.

Three kinds of application over the last few hours: a RAG chat assistant with multi-turn
sessions, a tool-using support agent (with some failures), and a one-shot summarizer. Spans use
the OTel GenAI conventions, with OpenInference retriever spans mixed in, exactly as real
instrumentation would send them.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

MS = 1_000_000
QUESTIONS = [
    "How do I rotate my API key?",
    "What's the refund policy for annual plans?",
    "Can I export my traces to S3?",
    "Why is my dashboard empty?",
    "How do I invite a teammate?",
    "Does the free tier include evaluations?",
]
DOCS = ["docs/security.md", "docs/billing.md", "docs/export.md", "docs/quickstart.md"]


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(_value(v) for v in value)
        return out
    return AnyValue(string_value=str(value))


def _attrs(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in attributes.items()]


@dataclass
class _TraceBuilder:
    rng: random.Random
    start_ns: int
    trace_id: bytes = b""
    spans: list[Span] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.trace_id = self.rng.randbytes(16)

    def span(
        self,
        name: str,
        parent: Span | None,
        offset_ms: float,
        duration_ms: float,
        attributes: dict[str, Any],
        *,
        kind: int = Span.SPAN_KIND_INTERNAL,
        error: str | None = None,
    ) -> Span:
        start = self.start_ns + int(offset_ms * MS)
        span = Span(
            trace_id=self.trace_id,
            span_id=self.rng.randbytes(8),
            parent_span_id=parent.span_id if parent else b"",
            name=name,
            kind=kind,  # type: ignore[arg-type]
            start_time_unix_nano=start,
            end_time_unix_nano=start + int(duration_ms * MS),
            attributes=_attrs(attributes),
        )
        if error:
            span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=error))
            event = span.events.add(name="exception", time_unix_nano=span.end_time_unix_nano)
            event.attributes.extend(
                _attrs({"exception.type": "RateLimitError", "exception.message": error})
            )
        self.spans.append(span)
        return span


def _messages(*pairs: tuple[str, str]) -> str:
    return json.dumps(
        [{"role": role, "parts": [{"type": "text", "content": text}]} for role, text in pairs]
    )


def _llm(
    b: _TraceBuilder,
    parent: Span,
    offset: float,
    model: str,
    provider: str,
    prompt: list[tuple[str, str]],
    answer: str,
    error: str | None = None,
) -> Span:
    tokens_in = 40 + sum(len(text) // 4 for _, text in prompt)
    tokens_out = 0 if error else 10 + len(answer) // 4
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.input.messages": _messages(*prompt),
        "gen_ai.usage.input_tokens": tokens_in,
    }
    if not error:
        attributes |= {
            "gen_ai.response.model": model,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.output.messages": _messages(("assistant", answer)),
            "gen_ai.usage.output_tokens": tokens_out,
        }
    duration = 250 + tokens_out * b.rng.uniform(8, 25)
    return b.span(
        f"chat {model}",
        parent,
        offset,
        duration,
        attributes,
        kind=Span.SPAN_KIND_CLIENT,
        error=error,
    )


def _rag_turn(b: _TraceBuilder, session: str, user: str, question: str) -> None:
    answer = f"Here is how: see {b.rng.choice(DOCS)} for the steps."
    total = b.rng.uniform(900, 2600)
    root = b.span(
        "rag-chat",
        None,
        0,
        total,
        {"session.id": session, "user.id": user, "input.value": question, "output.value": answer},
    )
    b.span(
        "embeddings text-embedding-3-small",
        root,
        5,
        40,
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.usage.input_tokens": len(question) // 4 + 2,
        },
        kind=Span.SPAN_KIND_CLIENT,
    )
    b.span(
        "retrieve",
        root,
        50,
        60,
        {
            "openinference.span.kind": "RETRIEVER",
            "input.value": question,
            "retrieval.documents.0.document.id": b.rng.choice(DOCS),
            "retrieval.documents.0.document.score": round(b.rng.uniform(0.6, 0.95), 3),
        },
    )
    model = b.rng.choice(["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"])
    _llm(
        b,
        root,
        120,
        model,
        "openai",
        [("system", "Answer from the docs."), ("user", question)],
        answer,
    )


def _agent_run(b: _TraceBuilder, user: str, fail: bool) -> None:
    order = f"A-{b.rng.randint(1000, 9999)}"
    question = f"Where is my order {order}?"
    root = b.span(
        "invoke_agent support-agent",
        None,
        0,
        b.rng.uniform(2500, 6000),
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support-agent",
            "user.id": user,
            "input.value": question,
        },
        error="Rate limit reached for gpt-4.1" if fail else None,
    )
    _llm(
        b, root, 10, "gpt-4.1", "openai", [("user", question)], f"Calling get_order_status({order})"
    )
    b.span(
        "execute_tool get_order_status",
        root,
        900,
        120,
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_order_status",
            "gen_ai.tool.call.arguments": json.dumps({"order_id": order}),
            "gen_ai.tool.call.result": json.dumps({"status": "shipped"}),
        },
    )
    _llm(
        b,
        root,
        1100,
        "gpt-4.1",
        "openai",
        [("user", question), ("tool", '{"status": "shipped"}')],
        f"Your order {order} has shipped.",
        error="Rate limit reached for gpt-4.1" if fail else None,
    )


def _summarize(b: _TraceBuilder, user: str) -> None:
    text = "Quarterly report: revenue grew 12%, churn fell to 3%, two new regions launched."
    root = b.span(
        "summarize", None, 0, b.rng.uniform(700, 1500), {"user.id": user, "input.value": text}
    )
    _llm(
        b,
        root,
        5,
        "claude-3-5-sonnet-20241022",
        "anthropic",
        [("user", f"Summarize: {text}")],
        "Revenue +12%, churn 3%, two new regions.",
    )


def demo_request(
    traces: int = 60, seed: int = 7, now_ns: int | None = None
) -> ExportTraceServiceRequest:
    """An OTLP export request holding ``traces`` sample traces from the last six hours."""
    rng = random.Random(seed)
    now_ns = now_ns or time.time_ns()
    builders: list[tuple[str, _TraceBuilder]] = []
    sessions = [f"session-{i:03d}" for i in range(max(1, traces // 6))]
    for i in range(traces):
        start = now_ns - int(rng.uniform(60, 6 * 3600) * 1e9)
        b = _TraceBuilder(rng, start)
        user = f"user-{rng.randint(1, 12)}"
        kind = i % 5
        if kind in (0, 1, 2):
            _rag_turn(b, rng.choice(sessions), user, rng.choice(QUESTIONS))
            service = "docs-assistant"
        elif kind == 3:
            _agent_run(b, user, fail=(i // 5) % 3 == 0)  # every third run fails
            service = "support-agent"
        else:
            _summarize(b, user)
            service = "report-summarizer"
        builders.append((service, b))
    request = ExportTraceServiceRequest()
    for service in sorted({s for s, _ in builders}):
        resource_spans = ResourceSpans()
        resource_spans.resource.attributes.extend(
            _attrs({"service.name": service, "deployment.environment": "demo"})
        )
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "spyglass.demo"
        for s, b in builders:
            if s == service:
                scope.spans.extend(b.spans)
        request.resource_spans.append(resource_spans)
    return request
