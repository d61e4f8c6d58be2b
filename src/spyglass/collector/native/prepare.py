"""Python's share of native ingest: validate a request and frame its body for ClickHouse.

The receiver has already parsed the request with upb (it needs the spans to validate them);
here each span is checked with the same rule as the Python path (`rows.span_error`), and the
body is framed as the ``Protobuf`` input format expects: a varint length, then the message.
No attribute is looked at: ClickHouse decodes, normalizes and prices them in the INSERT.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spyglass.collector.native.proto_schema import PROJECT_FIELD
from spyglass.collector.rows import MAX_ERRORS_REPORTED, MAX_TIME_NS, span_error
from spyglass.collector.wal import merge_windows, varint

__all__ = [
    "PreparedBody",
    "frame",
    "prepare_body",
    "top_level_fields",
    "varint",
    "write_batch_file",
]

_ZERO_TRACE = b"\0" * 16
_ZERO_SPAN = b"\0" * 8
_PROJECT_TAG = bytes([(PROJECT_FIELD << 3 | 2) & 0x7F | 0x80, PROJECT_FIELD >> 4])


@dataclass(frozen=True, slots=True)
class PreparedBody:
    """One validated request, ready to append to a batch file.

    Attributes:
        framed: varint length + serialized request (+ the project override field).
        accepted: spans the INSERT will store (unless already stored).
        rejected: invalid spans, which the INSERT drops by the same rule.
        errors: the first `MAX_ERRORS_REPORTED` rejection messages.
        trace_ids: hex trace ids of the accepted spans (`NativeInserter.insert` needs them).
        window: the earliest and latest start (ns) of the accepted spans, (0, 0) if none: a
            span stored twice has the same start, so the dedup looks only there.
        trace_starts: the earliest start (ns) of each trace's accepted spans, by hex id: the
            dedup looks for stored spans of long-running traces apart (`NativeInserter.store`).
        repeats: two accepted spans share a span id (the same span sent twice, or, rarely,
            two traces' spans with equal ids): the INSERT must keep only the first.
    """

    framed: bytes
    accepted: int
    rejected: int
    errors: tuple[str, ...]
    trace_ids: frozenset[str]
    window: tuple[int, int] = (0, 0)
    repeats: bool = False
    trace_starts: Mapping[str, int] = field(default_factory=dict)

    @property
    def error_message(self) -> str:
        """The ``partial_success`` message, worded as `rows.SpanBatch.error_message`."""
        more = self.rejected - len(self.errors)
        suffix = f"; and {more} more" if more > 0 else ""
        return "; ".join(self.errors) + suffix


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _scan(body: bytes) -> list[tuple[int, int, int]]:
    """(field number, start, end) of each top-level length-delimited field, without copying.

    Raises:
        ValueError: a top-level field is not length-delimited or runs past the end.
    """
    fields: list[tuple[int, int, int]] = []
    pos, end = 0, len(body)
    try:
        while pos < end:
            tag, pos = _read_varint(body, pos)
            if tag & 7 != 2:
                raise ValueError(f"field {tag >> 3} is not length-delimited")
            size, pos = _read_varint(body, pos)
            if pos + size > end:
                raise ValueError("truncated field")
            fields.append((tag >> 3, pos, pos + size))
            pos += size
    except IndexError:
        raise ValueError("truncated varint") from None
    return fields


def top_level_fields(body: bytes) -> list[tuple[int, bytes]]:
    """(field number, payload) of the top-level length-delimited fields of a message.

    Raises:
        ValueError: a top-level field is not length-delimited or runs past the end.
    """
    return [(number, body[start:end]) for number, start, end in _scan(body)]


def _top_level_fields(body: bytes) -> set[int]:
    """Numbers of the top-level fields (a request has few: one per resource)."""
    try:
        return {number for number, _, _ in _scan(body)}
    except ValueError:
        return {0}


def frame(body: bytes) -> bytes:
    """One length-delimited message of a ``Protobuf``-format file."""
    return varint(len(body)) + body


def prepare_body(
    request: ExportTraceServiceRequest, raw: bytes | None, project: str | None
) -> PreparedBody:
    """Validate every span of ``request`` and frame its body for `NativeInserter`.

    Args:
        request: the parsed export request.
        raw: the client's protobuf body when it sent protobuf (saves re-serializing);
            None for JSON requests, whose parsed request is serialized here.
        project: the project override (request header); empty or None resolves the project
            from each resource's attributes at insert time, as the Python path does.

    Returns:
        The framed body with the counts, messages and trace ids of the spans. Rejection
        rules and messages are `rows.span_error`'s.

    Example:
        >>> prepared = prepare_body(request, body, None)
        >>> spool.write(prepared.framed)
    """
    accepted = 0
    rejected = 0
    errors: list[str] = []
    # The earliest start of each trace (a dict: its keys are the trace ids too).
    starts: dict[bytes, int] = {}
    earliest = starts.get
    span_ids: set[bytes] = set()
    add_span = span_ids.add
    first, last = MAX_TIME_NS, 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                # Inline fast check of the common case; span_error words the rare rejection.
                trace_id = span.trace_id
                span_id = span.span_id
                parent = span.parent_span_id
                start = span.start_time_unix_nano
                if (
                    len(trace_id) == 16
                    and trace_id != _ZERO_TRACE
                    and len(span_id) == 8
                    and span_id != _ZERO_SPAN
                    and (not parent or len(parent) == 8)
                    and 0 < start <= MAX_TIME_NS
                    and span.end_time_unix_nano <= MAX_TIME_NS
                ):
                    accepted += 1
                    known = earliest(trace_id)
                    if known is None or start < known:
                        starts[trace_id] = start
                    add_span(span_id)
                    if start < first:
                        first = start
                    if start > last:
                        last = start
                    continue
                error = span_error(span)
                if error is None:  # pragma: no cover - the inline check mirrors span_error
                    accepted += 1
                    known = earliest(trace_id)
                    if known is None or start < known:
                        starts[trace_id] = start
                    add_span(span_id)
                    first, last = min(first, start), max(last, start)
                    continue
                rejected += 1
                if len(errors) < MAX_ERRORS_REPORTED:
                    errors.append(error)
    body = raw if raw is not None else request.SerializeToString()
    if _top_level_fields(body) != {1}:
        # Fields other than resource_spans (e.g. a client's own field 1000) would reach the
        # INSERT: it reads field 1000 as the project override. Drop every unknown field.
        clean = ExportTraceServiceRequest()
        clean.CopyFrom(request)
        clean.DiscardUnknownFields()
        body = clean.SerializeToString()
    tail = b""
    if project:
        encoded = project.encode()
        tail = _PROJECT_TAG + varint(len(encoded)) + encoded
    trace_starts = {trace_id.hex(): start for trace_id, start in starts.items()}
    return PreparedBody(
        framed=b"".join((varint(len(body) + len(tail)), body, tail)),  # one copy of the body
        accepted=accepted,
        rejected=rejected,
        errors=tuple(errors),
        trace_ids=frozenset(trace_starts),
        window=(first, last) if accepted else (0, 0),
        repeats=len(span_ids) != accepted,
        trace_starts=trace_starts,
    )


def write_batch_file(
    path: Path, bodies: Iterable[bytes], project: str | None = None
) -> tuple[set[str], tuple[int, int]]:
    """Frame serialized export requests into ``path`` (outside the server: tests, seeding,
    benchmarks); return the trace ids and start window `NativeInserter.insert` needs."""
    trace_ids: set[str] = set()
    window = (0, 0)
    with path.open("wb") as out:
        for body in bodies:
            prepared = prepare_body(ExportTraceServiceRequest.FromString(body), body, project)
            out.write(prepared.framed)
            trace_ids |= prepared.trace_ids
            window = merge_windows(window, prepared.window)
    return trace_ids, window
