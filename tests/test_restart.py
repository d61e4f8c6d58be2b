"""Acknowledged spans survive the server stopping: SIGTERM, SIGKILL, restarts on the same data.

Each test runs its own `ServerProcess` (the shared module fixture must not be killed). A span
whose export was answered 200 must be readable after any restart, exactly once.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as ProtobufExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import ServerProcess

PROTOBUF = "application/x-protobuf"
PROJECT = "restart"
# At info level uvicorn logs "Application shutdown complete." once the lifespan has drained
# the write queue and closed the store.
LOG_INFO = ["--log-level", "info"]

Expected = dict[str, set[str]]  # trace id -> acknowledged span ids


# -- sending ----------------------------------------------------------------------------------


def build_request(spans: Iterable[tuple[bytes, bytes, str]]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="restart-tests"))
    )
    scope_spans = resource_spans.scope_spans.add()
    start = time.time_ns()
    for i, (trace_id, span_id, name) in enumerate(spans):
        scope_spans.spans.append(
            Span(
                trace_id=trace_id,
                span_id=span_id,
                name=name,
                start_time_unix_nano=start + i,
                end_time_unix_nano=start + i + 1_000_000,
            )
        )
    return request


def new_batch(
    batch_no: int, traces: int = 2, spans_per_trace: int = 5, shared_trace: bytes | None = None
) -> list[tuple[bytes, bytes, str]]:
    """``traces`` fresh traces, plus two spans more of ``shared_trace`` (a trace whose spans
    arrive over many batches, as a long request's do)."""
    spans = []
    for t in range(traces):
        trace_id = uuid.uuid4().bytes
        for s in range(spans_per_trace):
            spans.append((trace_id, uuid.uuid4().bytes[:8], f"b{batch_no}-t{t}-s{s}"))
    if shared_trace is not None:
        spans += [(shared_trace, uuid.uuid4().bytes[:8], f"b{batch_no}-shared-{s}") for s in (0, 1)]
    return spans


def send(
    client: httpx.Client, server: ServerProcess, spans: list[tuple[bytes, bytes, str]]
) -> httpx.Response:
    return post(client, server, build_request(spans).SerializeToString())


def post(client: httpx.Client, server: ServerProcess, body: bytes) -> httpx.Response:
    return client.post(
        f"{server.url}/v1/traces",
        content=body,
        headers={"content-type": PROTOBUF, "x-spyglass-project": PROJECT},
        timeout=30,
    )


def acknowledge(expected: Expected, spans: list[tuple[bytes, bytes, str]]) -> None:
    for trace_id, span_id, _ in spans:
        expected.setdefault(trace_id.hex(), set()).add(span_id.hex())


def send_acknowledged(
    server: ServerProcess, expected: Expected, batches: int, first_batch_no: int, shared: bytes
) -> None:
    """Send ``batches`` batches one after another; every one must be answered 200."""
    with httpx.Client() as client:
        for n in range(first_batch_no, first_batch_no + batches):
            spans = new_batch(n, shared_trace=shared)
            response = send(client, server, spans)
            assert response.status_code == 200, (response.status_code, response.content)
            assert not ExportTraceServiceResponse.FromString(response.content).HasField(
                "partial_success"
            )
            acknowledge(expected, spans)


def sdk_spans(traces: int, spans_per_trace: int) -> list[ReadableSpan]:
    """Finished spans from the real SDK (root plus children per trace)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "restart-tests"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.restart")
    for t in range(traces):
        with tracer.start_as_current_span(f"sdk-root-{t}"):
            for c in range(spans_per_trace - 1):
                with tracer.start_as_current_span(f"sdk-child-{t}-{c}"):
                    pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def export_with_sdk(server: ServerProcess, expected: Expected, batches: int) -> None:
    """Each batch through the SDK's protobuf exporter, which reports SUCCESS only on 200."""
    exporter = ProtobufExporter(
        endpoint=f"{server.url}/v1/traces", headers={"x-spyglass-project": PROJECT}, timeout=30
    )
    try:
        for _ in range(batches):
            spans = sdk_spans(traces=2, spans_per_trace=4)
            assert exporter.export(spans) is SpanExportResult.SUCCESS
            for span in spans:
                context = span.get_span_context()
                assert context is not None
                expected.setdefault(format(context.trace_id, "032x"), set()).add(
                    format(context.span_id, "016x")
                )
    finally:
        exporter.shutdown()


# -- reading back -----------------------------------------------------------------------------


def all_traces(server: ServerProcess) -> list[dict[str, Any]]:
    traces: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"project": PROJECT, "limit": 500}
        if cursor:
            params["cursor"] = cursor
        response = httpx.get(f"{server.url}/api/traces", params=params, timeout=30)
        assert response.status_code == 200, response.text[:500]
        page = response.json()
        traces += page["traces"]
        cursor = page["next_cursor"]
        if not cursor:
            return traces


def assert_exactly_the_acknowledged_spans(server: ServerProcess, expected: Expected) -> None:
    listed = all_traces(server)
    ids = [t["trace_id"] for t in listed]
    assert len(ids) == len(set(ids)), "a trace is listed twice"
    assert set(ids) == set(expected), (
        f"missing {sorted(set(expected) - set(ids))[:5]}, unexpected "
        f"{sorted(set(ids) - set(expected))[:5]}"
    )
    counts = {t["trace_id"]: t["spans"] for t in listed}
    assert counts == {t: len(spans) for t, spans in expected.items()}

    # Every span id of a sample of traces (the largest ones first), read back one by one.
    by_size = sorted(expected, key=lambda t: (-len(expected[t]), t))
    sample = by_size[:2] + random.Random(len(expected)).sample(
        by_size[2:], min(8, len(by_size) - 2)
    )
    for trace_id in sample:
        span_ids = expected[trace_id]
        response = httpx.get(
            f"{server.url}/api/traces/{trace_id}", params={"project": PROJECT}, timeout=30
        )
        assert response.status_code == 200, (trace_id, response.text[:300])
        got = [s["span_id"] for s in response.json()["spans"]]
        assert sorted(got) == sorted(span_ids), trace_id


def assert_project_counts(server: ServerProcess, expected: Expected) -> None:
    """``/api/projects`` counts each trace once, however many batches its spans came in."""
    projects = httpx.get(f"{server.url}/api/projects", timeout=30).json()["projects"]
    (mine,) = [p for p in projects if p["name"] == PROJECT]
    assert mine["spans"] == sum(len(spans) for spans in expected.values())
    assert mine["traces"] == len(expected)


def assert_stopped_gracefully(server: ServerProcess, stops: int) -> None:
    """uvicorn re-raises the SIGTERM after its graceful shutdown, so the exit status is -15
    either way; uvicorn's lifespan log line tells a drained stop from a killed one."""
    assert server.process is not None
    assert server.process.returncode in (0, -signal.SIGTERM), server.log()
    assert server.log().count("Application shutdown complete.") == stops, server.log()


# -- the tests --------------------------------------------------------------------------------


def test_acknowledged_spans_survive_sigterm_sigkill_and_restarts(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, extra_args=LOG_INFO)
    expected: Expected = {}
    shared = uuid.uuid4().bytes
    server.start()
    try:
        # 1. Batches acknowledged one by one, then a graceful stop.
        send_acknowledged(server, expected, batches=5, first_batch_no=0, shared=shared)
        assert_exactly_the_acknowledged_spans(server, expected)
        server.stop(signal.SIGTERM)
        assert_stopped_gracefully(server, stops=1)

        server.start()
        assert_exactly_the_acknowledged_spans(server, expected)

        # 2. The SDK exporter, then SIGKILL straight after the last acknowledgement.
        export_with_sdk(server, expected, batches=3)
        send_acknowledged(server, expected, batches=2, first_batch_no=5, shared=shared)
        server.stop(signal.SIGKILL)
        assert server.process is not None and server.process.returncode == -signal.SIGKILL

        server.start()
        assert_exactly_the_acknowledged_spans(server, expected)

        # 3. More after the crash: old and new all there, each exactly once.
        send_acknowledged(server, expected, batches=3, first_batch_no=7, shared=shared)
        export_with_sdk(server, expected, batches=1)
        assert_exactly_the_acknowledged_spans(server, expected)
        assert len(expected[shared.hex()]) == 2 * 10
        assert_project_counts(server, expected)
    finally:
        server.stop(signal.SIGKILL)


def test_requests_in_flight_at_sigterm_are_either_stored_or_not_acknowledged(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path, extra_args=LOG_INFO)
    expected: Expected = {}
    lock = threading.Lock()
    shared = uuid.uuid4().bytes
    acknowledged = threading.Semaphore(0)
    statuses: list[int] = []

    def sender(worker: int) -> None:
        with httpx.Client() as client:
            for n in range(10_000):
                spans = new_batch(worker * 10_000 + n, traces=3, shared_trace=shared)
                try:
                    response = send(client, server, spans)
                except httpx.HTTPError:
                    return  # the server is gone: nothing acknowledged
                with lock:
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        acknowledge(expected, spans)
                if response.status_code != 200:
                    return
                acknowledged.release()

    server.start()
    try:
        threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for _ in range(20):  # some traffic first
            assert acknowledged.acquire(timeout=30)
        server.stop(signal.SIGTERM)
        for thread in threads:
            thread.join(60)
            assert not thread.is_alive()
        assert_stopped_gracefully(server, stops=1)
        # Refused or cut-off requests are fine (the exporter retries them); 500s are not.
        assert set(statuses) <= {200, 503}, statuses

        server.start()
        assert_exactly_the_acknowledged_spans(server, expected)
    finally:
        server.stop(signal.SIGKILL)


def test_a_batch_resent_after_a_crash_is_not_counted_twice(tmp_path: Path) -> None:
    """An exporter that never saw the 200 (the server died first) sends the batch again (the
    same bytes): OTLP delivery is at-least-once, so stored spans must not be counted twice."""
    server = ServerProcess(tmp_path)
    expected: Expected = {}
    server.start()
    try:
        spans = new_batch(0, traces=2, spans_per_trace=3)
        body = build_request(spans).SerializeToString()
        with httpx.Client() as client:
            assert post(client, server, body).status_code == 200
        acknowledge(expected, spans)
        server.stop(signal.SIGKILL)

        server.start()
        with httpx.Client() as client:
            assert post(client, server, body).status_code == 200  # the retry
        assert_exactly_the_acknowledged_spans(server, expected)
    finally:
        server.stop(signal.SIGKILL)
