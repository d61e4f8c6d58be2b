"""The real OpenTelemetry SDK exporting to a running `spyglass server`, read back by the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.json.http.trace_exporter import (
    OTLPSpanExporter as JsonExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as ProtobufExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.conftest import ServerProcess

ExporterFactory = Callable[[str, str], SpanExporter]

EXPORTERS: dict[str, ExporterFactory] = {
    "protobuf": lambda url, project: ProtobufExporter(
        endpoint=f"{url}/v1/traces", headers={"x-spyglass-project": project}
    ),
    "protobuf-gzip": lambda url, project: ProtobufExporter(
        endpoint=f"{url}/v1/traces",
        headers={"x-spyglass-project": project},
        compression=Compression.Gzip,
    ),
    "json": lambda url, project: JsonExporter(
        endpoint=f"{url}/v1/traces", headers={"x-spyglass-project": project}
    ),
}


def emit_trace(exporter: SpanExporter) -> dict[str, str]:
    """A three-span GenAI trace with attributes of every type, an event and an error."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": "checkout-bot", "deployment.environment": "test"})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.e2e", "1.2.3")
    ids: dict[str, str] = {}
    with tracer.start_as_current_span("handle-request", kind=SpanKind.SERVER) as root:
        root.set_attributes(
            {"session.id": "s-1", "user.id": "u-9", "http.route": "/chat", "retry": 2}
        )
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as llm:
            llm.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 300,
                    "gen_ai.request.temperature": 0.5,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "flag": True,
                }
            )
            llm.add_event("first_token", {"latency_ms": 41.5})
            ids["llm"] = format(llm.get_span_context().span_id, "016x")
        with tracer.start_as_current_span("lookup-order") as tool:
            tool.set_status(Status(StatusCode.ERROR, "order service timed out"))
            tool.record_exception(TimeoutError("order service timed out"))
            ids["tool"] = format(tool.get_span_context().span_id, "016x")
        ids["root"] = format(root.get_span_context().span_id, "016x")
        ids["trace"] = format(root.get_span_context().trace_id, "032x")
    provider.force_flush()
    provider.shutdown()
    return ids


def fetch_trace(server: ServerProcess, project: str, trace_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/traces/{trace_id}", params={"project": project})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("encoding", list(EXPORTERS))
def test_sdk_spans_are_stored_and_read_back_intact(
    server: ServerProcess, project: str, encoding: str
) -> None:
    ids = emit_trace(EXPORTERS[encoding](server.url, project))

    body = fetch_trace(server, project, ids["trace"])
    spans = {s["span_id"]: s for s in body["spans"]}
    assert set(spans) == {ids["root"], ids["llm"], ids["tool"]}

    root, llm, tool = spans[ids["root"]], spans[ids["llm"]], spans[ids["tool"]]
    assert root["parent_span_id"] is None
    assert llm["parent_span_id"] == ids["root"]
    assert tool["parent_span_id"] == ids["root"]
    assert root["kind"] == "SERVER" and llm["kind"] == "CLIENT" and tool["kind"] == "INTERNAL"

    # Attributes keep their types through the JSON-encoded map.
    assert root["attributes"] == {
        "session.id": "s-1",
        "user.id": "u-9",
        "http.route": "/chat",
        "retry": 2,
    }
    assert llm["attributes"]["gen_ai.usage.input_tokens"] == 1200
    assert llm["attributes"]["gen_ai.request.temperature"] == 0.5
    assert llm["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert llm["attributes"]["flag"] is True

    # Canonical fields from the GenAI conventions, with cost from the price table.
    assert llm["span_type"] == "LLM"
    assert llm["model"] == "gpt-4o-mini-2024-07-18"
    assert llm["provider"] == "openai"
    assert llm["usage"] == {"input": 1200, "output": 300, "total": 1500}
    # gpt-4o-mini list price: $0.15 / 1M input, $0.60 / 1M output.
    assert llm["total_cost"] == pytest.approx(1200 * 0.15e-6 + 300 * 0.60e-6)

    assert [e["name"] for e in llm["events"]] == ["first_token"]
    assert llm["events"][0]["attributes"] == {"latency_ms": 41.5}
    assert tool["status"] == {"code": "ERROR", "message": "order service timed out"}
    exception = next(e for e in tool["events"] if e["name"] == "exception")
    assert exception["attributes"]["exception.type"] == "TimeoutError"
    assert tool["scope"] == {"name": "tests.e2e", "version": "1.2.3"}
    assert tool["resource"]["service.name"] == "checkout-bot"
    assert tool["resource"]["deployment.environment"] == "test"
    assert root["start_time_unix_nano"] <= llm["start_time_unix_nano"]
    assert llm["end_time_unix_nano"] <= root["end_time_unix_nano"]

    summary = body["trace"]
    assert summary["name"] == "handle-request"
    assert summary["spans"] == 3
    assert summary["status"] == "ERROR"
    assert summary["session"] == "s-1" and summary["user"] == "u-9"
    assert summary["models"] == ["gpt-4o-mini-2024-07-18"]
    assert summary["tokens"] == 1500

    listed = httpx.get(f"{server.url}/api/traces", params={"project": project}).json()
    assert [t["trace_id"] for t in listed["traces"]] == [ids["trace"]]


def test_unknown_trace_is_404(server: ServerProcess, project: str) -> None:
    response = httpx.get(f"{server.url}/api/traces/{'ab' * 16}", params={"project": project})
    assert response.status_code == 404


def test_trace_of_another_project_is_not_visible(server: ServerProcess, project: str) -> None:
    ids = emit_trace(EXPORTERS["protobuf"](server.url, project))
    response = httpx.get(
        f"{server.url}/api/traces/{ids['trace']}", params={"project": project + "-other"}
    )
    assert response.status_code == 404
