"""A minimal OTLP/HTTP endpoint on loopback that counts received spans; it can be told to
answer 503, to stall, or to stop listening (a real outage)."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def count_spans(body: bytes) -> list[str]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return [
        span.span_id.hex()
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    return getattr(value, kind) if kind else None


def decode_spans(body: bytes) -> list[dict[str, Any]]:
    """The spans of an OTLP body as plain dicts (name, attributes, events, status...)."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return [
        {
            "name": span.name,
            "span_id": span.span_id.hex(),
            "parent_span_id": span.parent_span_id.hex(),
            "trace_id": span.trace_id.hex(),
            "kind": span.kind,
            "start": span.start_time_unix_nano,
            "end": span.end_time_unix_nano,
            "attributes": {a.key: _value(a.value) for a in span.attributes},
            "events": [e.name for e in span.events],
            "status": span.status.code,
        }
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


class OtlpStub:
    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.mode = "ok"  # ok | 503 | stall
        self.span_ids: list[str] = []
        self.projects: set[str] = set()
        self.requests = 0
        self.bodies: list[bytes] = []
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                stub.requests += 1
                if stub.mode == "stall":
                    time.sleep(2)
                if stub.mode != "ok":
                    self.send_response(503)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                with stub._lock:
                    stub.bodies.append(body)
                    stub.span_ids.extend(count_spans(body))
                    stub.projects.add(self.headers.get("x-spyglass-project", ""))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def spans(self) -> list[dict[str, Any]]:
        """Every span received so far, decoded."""
        with self._lock:
            return [span for body in self.bodies for span in decode_spans(body)]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
