"""Turn a decoded OTLP export request into column lists for the ``spans`` table.

Each span is validated (ids, times), normalized from its attribute dialect into the canonical
fields (`normalize`), and priced (`PriceTable`). Invalid spans are counted and reported through
``partial_success`` instead of failing the request. Attribute values are stored JSON-encoded in
``Map(String, String)`` so their types survive the round trip.

This is the per-span hot path of ingest: keep it to plain loops and dict lookups.
"""

from __future__ import annotations

import base64
import gc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from spyglass.collector.normalize import normalize
from spyglass.collector.otlp import id_hex
from spyglass.collector.pricing import PriceTable

SPAN_COLUMNS: tuple[str, ...] = (
    "project", "trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind",
    "span_type", "start_time", "end_time", "duration_ns", "status_code", "status_message",
    "service_name", "scope_name", "scope_version", "model", "provider", "operation", "input",
    "output", "session_id", "user_id", "usage", "cost", "total_tokens", "total_cost",
    "attributes", "resource_attributes", "events", "links",
)  # fmt: skip

DEFAULT_PROJECT = "default"
# Resource attributes that name the project, most specific first.
PROJECT_RESOURCE_KEYS = ("spyglass.project", "openinference.project.name", "mlflow.experimentName")
MAX_PROJECT_CHARS = 200
# A single attribute value above this is cut (with a marker) rather than dropping the span.
MAX_VALUE_CHARS = 1_000_000
# Message attributes the native ingest may store once (`store.message_marks`): the empty
# marker '' in ``attributes``, the text in this column.
MARKED_ATTRIBUTES = (("gen_ai.input.messages", "input"), ("gen_ai.output.messages", "output"))
# A string of at most this many bytes has a JSON text of at most MAX_VALUE_CHARS characters
# (one byte escapes to at most 6), so its stored value is never cut.
MARK_MAX_BYTES = MAX_VALUE_CHARS // 6
MAX_ERRORS_REPORTED = 5
MAX_TIME_NS = 2**63 - 1  # the range of DateTime64(9)

_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS = ("UNSET", "OK", "ERROR")
_dumps = orjson.dumps
_ZERO_TRACE = b"\0" * 16
_ZERO_SPAN = b"\0" * 8


@dataclass
class SpanBatch:
    """Rows ready to insert (column-oriented, parallel to `SPAN_COLUMNS`) plus rejections."""

    columns: list[list[Any]] = field(default_factory=lambda: [[] for _ in SPAN_COLUMNS])
    count: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def reject(self, message: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS_REPORTED:
            self.errors.append(message)

    def extend(self, other: SpanBatch) -> None:
        for mine, theirs in zip(self.columns, other.columns, strict=True):
            mine.extend(theirs)
        self.count += other.count

    @property
    def error_message(self) -> str:
        more = self.rejected - len(self.errors)
        suffix = f"; and {more} more" if more > 0 else ""
        return "; ".join(self.errors) + suffix


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a plain Python value (bytes become base64 text)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def decode_attributes(attributes: Any) -> dict[str, Any]:
    """Repeated KeyValue → dict of plain values (the last duplicate key wins)."""
    out: dict[str, Any] = {}
    kv: KeyValue
    for kv in attributes:
        out[kv.key] = any_value(kv.value)
    return out


def encode_value(value: Any) -> str:
    """JSON text of one attribute value, cut with a marker when oversized."""
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        value = value[:MAX_VALUE_CHARS] + f"…[truncated {len(value) - MAX_VALUE_CHARS} chars]"
    text = _dumps(value).decode()
    if len(text) > MAX_VALUE_CHARS + 64:
        cut = len(text) - MAX_VALUE_CHARS
        text = _dumps(text[:MAX_VALUE_CHARS] + f"…[truncated {cut} chars]").decode()
    return text


def encode_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    return {k: encode_value(v) for k, v in attributes.items()}


def resolve_project(header_project: str | None, resource: Mapping[str, Any]) -> str:
    """Header, else a resource attribute, else ``default``."""
    if header_project:
        return header_project[:MAX_PROJECT_CHARS]
    for key in PROJECT_RESOURCE_KEYS:
        value = resource.get(key)
        if isinstance(value, str) and value:
            return value[:MAX_PROJECT_CHARS]
    return DEFAULT_PROJECT


def span_error(span: Span) -> str | None:
    """Why ``span`` cannot be stored (ids, times), or None when it is valid.

    Shared by the Python ingest path and the native one (`spyglass.collector.native`), which
    must reject exactly the same spans with the same messages.
    """
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return f"span {span.name[:80]!r}: trace_id must be 16 non-zero bytes"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return f"span {span.name[:80]!r}: span_id must be 8 non-zero bytes"
    if parent and len(parent) != 8:
        return f"span {span.name[:80]!r}: parent_span_id must be 8 bytes"
    start = span.start_time_unix_nano
    if start == 0:
        return f"span {span.name[:80]!r}: start_time_unix_nano is missing"
    if start > MAX_TIME_NS or span.end_time_unix_nano > MAX_TIME_NS:
        return f"span {span.name[:80]!r}: timestamp is past the year 2262"
    return None


def build_batch(
    request: ExportTraceServiceRequest,
    prices: PriceTable,
    header_project: str | None = None,
) -> SpanBatch:
    """Validate, normalize and price every span of ``request`` into one `SpanBatch`."""
    # The batch allocates millions of small objects that all stay alive until it is written;
    # pausing the cyclic GC meanwhile saves about a quarter of the time (DESIGN.md).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build_batch(request, prices, header_project)
    finally:
        if collecting:
            gc.enable()


def _build_batch(
    request: ExportTraceServiceRequest, prices: PriceTable, header_project: str | None
) -> SpanBatch:
    batch = SpanBatch()
    (
        c_project, c_trace, c_span, c_parent, c_state, c_name, c_kind, c_type, c_start, c_end,
        c_duration, c_status, c_status_msg, c_service, c_scope, c_scope_version, c_model,
        c_provider, c_operation, c_input, c_output, c_session, c_user, c_usage, c_cost,
        c_tokens, c_total_cost, c_attrs, c_resource, c_events, c_links,
    ) = batch.columns  # fmt: skip
    for resource_spans in request.resource_spans:
        resource = decode_attributes(resource_spans.resource.attributes)
        project = resolve_project(header_project, resource)
        service = resource.get("service.name")
        service_name = service if isinstance(service, str) else ""
        resource_encoded = encode_attributes(resource)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            scope_version = scope_spans.scope.version
            for span in scope_spans.spans:
                error = span_error(span)
                if error is not None:
                    batch.reject(error)
                    continue
                trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                if end < start:
                    end = start
                attrs = decode_attributes(span.attributes)
                events = [
                    (e.time_unix_nano, e.name, decode_attributes(e.attributes)) for e in span.events
                ]
                canon = normalize(attrs, [(name, ea) for _, name, ea in events])
                usage = canon.usage
                cost = prices.cost(canon.model, canon.provider, usage) if usage else {}

                c_project.append(project)
                c_trace.append(id_hex(trace_id))
                c_span.append(id_hex(span_id))
                c_parent.append(id_hex(parent) if parent and parent != b"\0" * 8 else "")
                c_state.append(span.trace_state)
                c_name.append(span.name)
                c_kind.append(_KINDS[span.kind] if 0 <= span.kind < len(_KINDS) else "UNSPECIFIED")
                c_type.append(canon.span_type)
                c_start.append(start)
                c_end.append(end)
                c_duration.append(end - start)
                code = span.status.code
                c_status.append(_STATUS[code] if 0 <= code < len(_STATUS) else "UNSET")
                c_status_msg.append(span.status.message)
                c_service.append(service_name)
                c_scope.append(scope_name)
                c_scope_version.append(scope_version)
                c_model.append(canon.model)
                c_provider.append(canon.provider)
                c_operation.append(canon.operation)
                c_input.append(canon.input)
                c_output.append(canon.output)
                c_session.append(canon.session_id)
                c_user.append(canon.user_id)
                c_usage.append(usage)
                c_cost.append(cost)
                c_tokens.append(usage.get("total", 0))
                c_total_cost.append(cost.get("total", 0.0))
                c_attrs.append({k: encode_value(v) for k, v in attrs.items()})
                c_resource.append(resource_encoded)
                c_events.append([(t, n, encode_attributes(ea)) for t, n, ea in events])
                c_links.append(
                    [
                        (
                            id_hex(lk.trace_id),
                            id_hex(lk.span_id),
                            encode_attributes(decode_attributes(lk.attributes)),
                        )
                        for lk in span.links
                    ]
                )
                batch.count += 1
    return batch
