"""Hostile and malformed input against a running server: every answer exact, nothing lost.

A known good batch is stored first; then malformed, oversized, mislabelled and half-valid bodies
are thrown at ``/v1/traces`` (and bad parameters at the query API). Each error must carry the
exact status and a message naming the problem, in the request's own encoding. At the end the
server is still healthy and the first batch is still all there.
"""

from __future__ import annotations

import base64
import gzip
import random
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from spyglass.collector.rows import MAX_VALUE_CHARS
from tests.conftest import ServerProcess

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
LIMIT = 32 * 1024 * 1024  # the server's default body limit
# google.rpc.Code carried in the error body for each HTTP status.
GRPC_CODES = {400: 3, 413: 8, 415: 3}
TIMEOUT = 60.0


# -- building requests ------------------------------------------------------------------------


def new_trace_id() -> bytes:
    return uuid.uuid4().bytes


def new_span_id() -> bytes:
    return uuid.uuid4().bytes[:8]


def make_span(
    trace_id: bytes,
    span_id: bytes,
    name: str,
    *,
    parent: bytes = b"",
    start: int | None = None,
    attributes: dict[str, str] | None = None,
) -> Span:
    start = time.time_ns() if start is None else start
    span = Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1_000_000 if start else 0,
    )
    for key, value in (attributes or {}).items():
        span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return span


def make_request(*spans: Span) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="bad-input-tests"))
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tests.bad_input"
    scope_spans.spans.extend(spans)
    return request


def json_span(
    trace_hex: str, span_hex: str, name: str, *, start: int | None = None, **extra: Any
) -> dict[str, Any]:
    span: dict[str, Any] = {"traceId": trace_hex, "spanId": span_hex, "name": name, "kind": 1}
    if start != 0:
        start = time.time_ns() if start is None else start
        span["startTimeUnixNano"] = str(start)
        span["endTimeUnixNano"] = str(start + 1_000_000)
    span.update(extra)
    return span


def json_request(*spans: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "bad-input-tests"}}
                    ]
                },
                "scopeSpans": [{"scope": {"name": "tests.bad_input"}, "spans": list(spans)}],
            }
        ]
    }


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def length_delimited(field_number: int, payload: bytes) -> bytes:
    return varint(field_number << 3 | 2) + varint(len(payload)) + payload


def deeply_nested_protobuf(levels: int) -> bytes:
    """A span whose one attribute is an AnyValue array nested ``levels`` deep (hand-encoded:
    the protobuf library itself refuses to build or serialize such a message)."""
    value = length_delimited(1, b"x")  # AnyValue.string_value
    for _ in range(levels):
        value = length_delimited(5, length_delimited(1, value))  # AnyValue{array_value{values}}
    attribute = length_delimited(9, length_delimited(1, b"deep") + length_delimited(2, value))
    span = make_span(new_trace_id(), new_span_id(), "deep").SerializeToString() + attribute
    return length_delimited(1, length_delimited(2, length_delimited(2, span)))


def deeply_nested_json(levels: int) -> bytes:
    """OTLP JSON whose attribute value nests about ``levels`` JSON levels deep."""
    wrappers = levels // 3  # each AnyValue array adds an object, an object and an array
    value = '{"arrayValue":{"values":[' * wrappers + '{"stringValue":"x"}' + "]}}" * wrappers
    span = json_span("ab" * 16, "cd" * 8, "deep")
    text = orjson.dumps(json_request(span)).decode()
    attributes = f'"attributes":[{{"key":"deep","value":{value}}}],'
    return text.replace('"name":"deep",', '"name":"deep",' + attributes).encode()


# -- talking to the server --------------------------------------------------------------------


def post(
    server: ServerProcess,
    body: bytes | Iterator[bytes],
    content_type: str | None,
    project: str,
    *,
    encoding: str | None = None,
) -> httpx.Response:
    headers = {"x-spyglass-project": project}
    if content_type is not None:
        headers["content-type"] = content_type
    if encoding is not None:
        headers["content-encoding"] = encoding
    return httpx.post(f"{server.url}/v1/traces", content=body, headers=headers, timeout=TIMEOUT)


def error_of(response: httpx.Response, content_type: str | None) -> tuple[int, str]:
    """(google.rpc code, message) of an OTLP error, checking it is in the request's encoding."""
    if content_type == PROTOBUF:
        assert response.headers["content-type"] == PROTOBUF, response.content[:300]
        status = Status.FromString(response.content)
        return status.code, status.message
    assert response.headers["content-type"].split(";")[0] == JSON, response.content[:300]
    body = response.json()
    assert set(body) == {"code", "message"}, body
    return int(body["code"]), str(body["message"])


def assert_error(
    response: httpx.Response, content_type: str | None, status: int, *fragments: str
) -> None:
    assert response.status_code == status, (response.status_code, response.content[:500])
    code, message = error_of(response, content_type)
    assert code == GRPC_CODES[status], (code, message)
    for fragment in fragments:
        assert fragment.lower() in message.lower(), (fragment, message)


def success_of(response: httpx.Response, content_type: str) -> tuple[int, str]:
    """(rejected spans, error message) of a 200 export response in the request's encoding."""
    assert response.status_code == 200, (response.status_code, response.content[:500])
    assert response.headers["content-type"].split(";")[0] == content_type
    if content_type == PROTOBUF:
        parsed = ExportTraceServiceResponse.FromString(response.content)
        return parsed.partial_success.rejected_spans, parsed.partial_success.error_message
    partial = response.json().get("partialSuccess", {})
    # proto3 JSON may carry an int64 as a string
    return int(partial.get("rejectedSpans", 0)), str(partial.get("errorMessage", ""))


def get_trace(server: ServerProcess, project: str, trace_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{server.url}/api/traces/{trace_id}", params={"project": project}, timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text[:500]
    body: dict[str, Any] = response.json()
    return body


def listed_traces(server: ServerProcess, project: str) -> dict[str, dict[str, Any]]:
    response = httpx.get(
        f"{server.url}/api/traces", params={"project": project, "limit": 500}, timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text[:500]
    return {t["trace_id"]: t for t in response.json()["traces"]}


# -- the known good batch ---------------------------------------------------------------------


@dataclass(frozen=True)
class GoodBatch:
    project: str
    spans: dict[str, set[str]]  # trace id -> span ids
    names: dict[str, str]  # span id -> name


@pytest.fixture(scope="module")
def good_batch(server: ServerProcess) -> GoodBatch:
    """Two traces of three spans each, stored (and acknowledged) before any abuse."""
    project = f"good-{uuid.uuid4().hex[:8]}"
    spans: list[Span] = []
    for t in range(2):
        trace_id, root_id = new_trace_id(), new_span_id()
        spans.append(make_span(trace_id, root_id, f"root-{t}", attributes={"n": str(t)}))
        for c in range(2):
            spans.append(make_span(trace_id, new_span_id(), f"child-{t}-{c}", parent=root_id))
    response = post(server, make_request(*spans).SerializeToString(), PROTOBUF, project)
    assert success_of(response, PROTOBUF) == (0, "")
    by_trace: dict[str, set[str]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id.hex(), set()).add(span.span_id.hex())
    return GoodBatch(project, by_trace, {s.span_id.hex(): s.name for s in spans})


def assert_good_batch_intact(server: ServerProcess, batch: GoodBatch) -> None:
    listed = listed_traces(server, batch.project)
    assert set(listed) == set(batch.spans)
    for trace_id, span_ids in batch.spans.items():
        assert listed[trace_id]["spans"] == len(span_ids)
        body = get_trace(server, batch.project, trace_id)
        assert {s["span_id"]: s["name"] for s in body["spans"]} == {
            i: batch.names[i] for i in span_ids
        }


def test_a_good_batch_is_stored_and_listed(server: ServerProcess, good_batch: GoodBatch) -> None:
    assert_good_batch_intact(server, good_batch)


# -- bodies that do not parse -----------------------------------------------------------------


def _good_protobuf() -> bytes:
    spans = [make_span(new_trace_id(), new_span_id(), f"s{i}") for i in range(5)]
    return make_request(*spans).SerializeToString()


def _invalid_utf8_protobuf() -> bytes:
    body = make_request(make_span(new_trace_id(), new_span_id(), "NAME")).SerializeToString()
    return body.replace(b"NAME", b"\xff\xfe\xc0\x80")


PROTOBUF_GARBAGE: dict[str, bytes] = {
    "invalid wire type": b"\x0f\x00",
    "length past the end": b"\x0a\xff\xff\xff\xff\x07x",
    "truncated valid message": _good_protobuf()[:-7],
    "truncated in the middle": _good_protobuf()[:100],
    "random bytes": random.Random(20240607).randbytes(4096),
    "JSON labelled protobuf": orjson.dumps(json_request(json_span("ab" * 16, "cd" * 8, "x"))),
    "invalid UTF-8 in a string field": _invalid_utf8_protobuf(),
    "AnyValue nested 2000 levels": deeply_nested_protobuf(2000),
}


@pytest.mark.parametrize("case", list(PROTOBUF_GARBAGE))
def test_a_protobuf_body_that_does_not_parse_is_400(
    server: ServerProcess, project: str, case: str
) -> None:
    response = post(server, PROTOBUF_GARBAGE[case], PROTOBUF, project)
    assert_error(response, PROTOBUF, 400, "not a valid OTLP protobuf message")
    assert listed_traces(server, project) == {}


JSON_GARBAGE: dict[str, tuple[bytes, str]] = {
    "not JSON": (b'{"resourceSpans": [', "not valid JSON"),
    "random bytes": (random.Random(7).randbytes(2048), "not valid JSON"),
    "empty body": (b"", "not valid JSON"),
    "a lone surrogate": (b'{"resourceSpans": [], "x": "\\ud800"}', "not valid JSON"),
    "an array": (b"[]", "must be an object with 'resourceSpans'"),
    "a string": (b'"resourceSpans"', "must be an object with 'resourceSpans'"),
    "resourceSpans a number": (b'{"resourceSpans": 5}', "'resourceSpans' must be an array"),
    "resourceSpans holding a number": (b'{"resourceSpans": [5]}', "expected an object"),
    "spans a string": (
        b'{"resourceSpans": [{"scopeSpans": [{"spans": "span"}]}]}',
        "'spans' must be an array",
    ),
    "a span that is a number": (
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}]}',
        "not a valid OTLP JSON message",
    ),
    "non-hex trace id": (
        orjson.dumps(json_request(json_span("zz" * 16, "cd" * 8, "x"))),
        "traceId 'zzzz",
    ),
    "base64 span id": (
        orjson.dumps(json_request(json_span("ab" * 16, "AAAAAAAAAAA=", "x"))),
        "spanId 'AAAAAAAAAAA=' is not hex",
    ),
    "odd-length hex parent id": (
        orjson.dumps(json_request(json_span("ab" * 16, "cd" * 8, "x", parentSpanId="abc"))),
        "parentSpanId 'abc' is not hex",
    ),
    "numeric trace id": (
        orjson.dumps(json_request({**json_span("ab" * 16, "cd" * 8, "x"), "traceId": 12345})),
        "traceId must be a hex string",
    ),
    "start time not a number": (
        orjson.dumps(json_request(json_span("ab" * 16, "cd" * 8, "x", startTimeUnixNano="soon"))),
        "startTimeUnixNano",
    ),
    "attribute value of the wrong type": (
        orjson.dumps(
            json_request(
                json_span(
                    "ab" * 16, "cd" * 8, "x", attributes=[{"key": "k", "value": {"intValue": []}}]
                )
            )
        ),
        "intValue",
    ),
    "nested 100 levels": (deeply_nested_json(100), "nesting deeper than"),
    "nested 10,000 levels": (deeply_nested_json(10_000), "not valid JSON"),
    "an array nested 10,000 levels": (
        b'{"resourceSpans": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        "not valid JSON",
    ),
}


@pytest.mark.parametrize("case", list(JSON_GARBAGE))
def test_a_json_body_that_does_not_parse_is_400(
    server: ServerProcess, project: str, case: str
) -> None:
    body, fragment = JSON_GARBAGE[case]
    response = post(server, body, JSON, project)
    assert_error(response, JSON, 400, fragment)
    assert listed_traces(server, project) == {}


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        ("text/plain", "'text/plain'"),
        (None, "(none)"),
        ("application/grpc", "'application/grpc'"),
        ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
    ],
)
def test_an_unsupported_content_type_is_415(
    server: ServerProcess, project: str, content_type: str | None, named: str
) -> None:
    response = post(server, _good_protobuf(), content_type, project)
    assert_error(response, content_type, 415, "Content-Type", named)
    assert listed_traces(server, project) == {}


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip"])
def test_an_unsupported_content_encoding_is_415(
    server: ServerProcess, project: str, content_type: str, encoding: str
) -> None:
    response = post(server, _good_protobuf(), content_type, project, encoding=encoding)
    assert_error(response, content_type, 415, "Content-Encoding", repr(encoding))


COMPRESSED_GARBAGE: dict[str, tuple[str, bytes, str]] = {
    "gzip header, corrupt data": (
        "gzip",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + random.Random(3).randbytes(500),
        "not valid gzip data",
    ),
    "not gzip at all": ("gzip", _good_protobuf(), "not valid gzip data"),
    "truncated gzip": ("gzip", gzip.compress(_good_protobuf())[:-12], "truncated"),
    "corrupt deflate": ("deflate", b"\x78\x9c" + b"\xff" * 300, "not valid deflate data"),
}


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
@pytest.mark.parametrize("case", list(COMPRESSED_GARBAGE))
def test_corrupt_compressed_data_is_400(
    server: ServerProcess, project: str, content_type: str, case: str
) -> None:
    encoding, body, fragment = COMPRESSED_GARBAGE[case]
    response = post(server, body, content_type, project, encoding=encoding)
    assert_error(response, content_type, 400, fragment)
    assert listed_traces(server, project) == {}


# -- too large --------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compression_bomb_is_413(server: ServerProcess, project: str, encoding: str) -> None:
    zeros = bytes(100 * 1024 * 1024)
    if encoding == "gzip":
        body = gzip.compress(zeros, compresslevel=9)
    else:
        body = zlib.compress(zeros, 9)
    assert len(body) < 200_000
    response = post(server, body, PROTOBUF, project, encoding=encoding)
    assert_error(response, PROTOBUF, 413, f"decompressed body exceeds {LIMIT} bytes")


def test_a_body_over_the_limit_with_content_length_is_413(
    server: ServerProcess, project: str
) -> None:
    response = post(server, bytes(LIMIT + 1), PROTOBUF, project)
    assert_error(response, PROTOBUF, 413, f"body of {LIMIT + 1} bytes exceeds the limit")


def test_a_chunked_body_over_the_limit_is_413(server: ServerProcess, project: str) -> None:
    def chunks() -> Iterator[bytes]:
        chunk = bytes(1024 * 1024)
        for _ in range(LIMIT // len(chunk) + 1):
            yield chunk

    response = post(server, chunks(), JSON, project)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert_error(response, JSON, 413, f"body exceeds the limit of {LIMIT} bytes")


# -- half-valid batches -----------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_a_mixed_batch_keeps_the_valid_spans_and_reports_the_rest(
    server: ServerProcess, project: str, content_type: str
) -> None:
    trace_id, root_id = new_trace_id(), new_span_id()
    good = [
        make_span(trace_id, root_id, "good-root"),
        make_span(trace_id, new_span_id(), "good-child", parent=root_id),
        make_span(trace_id, new_span_id(), "good-child-2", parent=root_id),
    ]
    bad = [
        make_span(new_trace_id()[:15], new_span_id(), "short-trace-id"),
        make_span(trace_id, bytes(8), "zero-span-id"),
        make_span(trace_id, new_span_id(), "no-start-time", start=0),
    ]
    spans = [good[0], bad[0], good[1], bad[1], bad[2], good[2]]
    if content_type == PROTOBUF:
        body = make_request(*spans).SerializeToString()
    else:
        body = orjson.dumps(
            json_request(
                *(
                    json_span(
                        s.trace_id.hex(),
                        s.span_id.hex(),
                        s.name,
                        start=s.start_time_unix_nano,
                        **({"parentSpanId": s.parent_span_id.hex()} if s.parent_span_id else {}),
                    )
                    for s in spans
                )
            )
        )
    rejected, message = success_of(post(server, body, content_type, project), content_type)
    assert rejected == 3
    assert "'short-trace-id': trace_id must be 16 non-zero bytes" in message
    assert "'zero-span-id': span_id must be 8 non-zero bytes" in message
    assert "'no-start-time': start_time_unix_nano is missing" in message

    assert set(listed_traces(server, project)) == {trace_id.hex()}
    body_read = get_trace(server, project, trace_id.hex())
    assert {s["span_id"]: s["name"] for s in body_read["spans"]} == {
        s.span_id.hex(): s.name for s in good
    }
    assert body_read["trace"]["spans"] == 3


def test_spans_with_times_past_the_storable_range_are_rejected_not_retried_forever(
    server: ServerProcess, project: str
) -> None:
    """uint64 nanoseconds go beyond DateTime64(9) (2262-04-11): such spans must be reported
    in partial_success, not make the whole request fail with a 503 every retry."""
    trace_id = new_trace_id()
    fine = make_span(trace_id, new_span_id(), "fine")
    late_end = make_span(trace_id, new_span_id(), "late-end")
    late_end.end_time_unix_nano = 2**64 - 1
    late_start = make_span(trace_id, new_span_id(), "late-start", start=2**63 + 5)
    body = make_request(fine, late_end, late_start).SerializeToString()

    rejected, message = success_of(post(server, body, PROTOBUF, project), PROTOBUF)
    assert rejected == 2, message
    assert "'late-end'" in message and "'late-start'" in message
    spans = get_trace(server, project, trace_id.hex())["spans"]
    assert [s["name"] for s in spans] == ["fine"]


def test_unknown_json_fields_are_ignored(server: ServerProcess, project: str) -> None:
    """The OTLP spec: 'OTLP/JSON receivers MUST ignore message fields with unknown names'
    (a newer SDK adds fields before this server knows them)."""
    trace_id = new_trace_id().hex()
    span = json_span(trace_id, new_span_id().hex(), "from-the-future", someFutureField=1)
    document = json_request(span)
    document["resourceSpans"][0]["resource"]["entityRefsFromTheFuture"] = [{"type": "host"}]
    response = post(server, orjson.dumps(document), JSON, project)
    assert success_of(response, JSON) == (0, "")
    assert [s["name"] for s in get_trace(server, project, trace_id)["spans"]] == ["from-the-future"]


def test_a_multi_member_gzip_body_is_read_whole(server: ServerProcess, project: str) -> None:
    """RFC 1952: a gzip stream is a series of members; none may be silently dropped."""
    trace_id = new_trace_id()
    first = make_request(make_span(trace_id, new_span_id(), "in-member-1")).SerializeToString()
    second = make_request(make_span(trace_id, new_span_id(), "in-member-2")).SerializeToString()
    body = gzip.compress(first) + gzip.compress(second)
    assert gzip.decompress(body) == first + second  # one valid message: two ResourceSpans

    response = post(server, body, PROTOBUF, project, encoding="gzip")
    assert success_of(response, PROTOBUF) == (0, "")
    names = {s["name"] for s in get_trace(server, project, trace_id.hex())["spans"]}
    assert names == {"in-member-1", "in-member-2"}


@pytest.mark.parametrize(("content_type", "encoding"), [(PROTOBUF, "gzip"), (JSON, None)])
def test_a_huge_attribute_value_is_truncated_with_a_marker_not_dropped(
    server: ServerProcess, project: str, content_type: str, encoding: str | None
) -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    huge = "".join(random.Random(11).choices("abcdefghij", k=3_000_000))
    span = make_span(trace_id, span_id, "huge", attributes={"big": huge, "small": "kept"})
    if content_type == PROTOBUF:
        body = gzip.compress(make_request(span).SerializeToString())
    else:
        attributes = [
            {"key": "big", "value": {"stringValue": huge}},
            {"key": "small", "value": {"stringValue": "kept"}},
        ]
        body = orjson.dumps(
            json_request(json_span(trace_id.hex(), span_id.hex(), "huge", attributes=attributes))
        )
    response = post(server, body, content_type, project, encoding=encoding)
    assert success_of(response, content_type) == (0, "")

    (stored,) = get_trace(server, project, trace_id.hex())["spans"]
    assert stored["span_id"] == span_id.hex()
    marker = f"…[truncated {len(huge) - MAX_VALUE_CHARS} chars]"
    assert stored["attributes"]["big"] == huge[:MAX_VALUE_CHARS] + marker
    assert stored["attributes"]["small"] == "kept"


WEIRD_TEXT = [
    "naïve 日本語 中文 العربية 🚀👩‍👩‍👧",
    "nul\x00in\x00the\x00middle\x00",
    "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "'; DROP TABLE spans; --",
    "\u202eright-to-left\u200b\u200dzero-width",
    "line\r\nbreak\ttab\x0bvt\x0cff",
    "\x01\x02\x1f\x7f controls",
    '"quoted" \\back\\slash {braces} [brackets]',
    "\ufeffbom",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0010fffd",
    "",
]


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_unicode_nul_and_markup_round_trip_byte_exact(
    server: ServerProcess, project: str, content_type: str
) -> None:
    trace_id = new_trace_id()
    start = time.time_ns()
    spans = [
        make_span(
            trace_id,
            new_span_id(),
            text,
            start=start + i,
            attributes={"value": text, f"key {text}": text},
        )
        for i, text in enumerate(WEIRD_TEXT)
    ]
    if content_type == PROTOBUF:
        body = make_request(*spans).SerializeToString()
    else:
        body = orjson.dumps(
            json_request(
                *(
                    json_span(
                        s.trace_id.hex(),
                        s.span_id.hex(),
                        s.name,
                        start=s.start_time_unix_nano,
                        attributes=[
                            {"key": kv.key, "value": {"stringValue": kv.value.string_value}}
                            for kv in s.attributes
                        ],
                    )
                    for s in spans
                )
            )
        )
    assert success_of(post(server, body, content_type, project), content_type) == (0, "")

    stored = {s["span_id"]: s for s in get_trace(server, project, trace_id.hex())["spans"]}
    assert len(stored) == len(WEIRD_TEXT)
    for span, text in zip(spans, WEIRD_TEXT, strict=True):
        got = stored[span.span_id.hex()]
        assert got["name"] == text
        assert got["attributes"] == {"value": text, f"key {text}": text}
        assert got["name"].encode("utf-8") == text.encode("utf-8")


# -- the query API ----------------------------------------------------------------------------


def _cursor(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode()


QUERY_BAD_INPUT: dict[str, tuple[str, dict[str, str | int], str]] = {
    "filter with no value": ("/api/traces", {"filter": "status = "}, "invalid filter"),
    "filter on an unknown field": ("/api/traces", {"filter": "colour = 'red'"}, "invalid filter"),
    "filter unterminated string": ("/api/traces", {"filter": 'name = "x'}, "invalid filter"),
    "filter ill-typed": ("/api/traces", {"filter": 'latency_ms ~ "x"'}, "invalid filter"),
    "filter number out of range": ("/api/traces", {"filter": "cost > 1e999"}, "invalid filter"),
    "filter SQL": (
        "/api/traces",
        {"filter": "1=1; DROP TABLE spyglass.spans"},
        "invalid filter",
    ),
    "filter nested too deep": (
        "/api/traces",
        {"filter": "(" * 40 + "name = 'x'" + ")" * 40},
        "invalid filter",
    ),
    "filter too long": ("/api/traces", {"filter": "name = 'x' or " * 400 + "true"}, "filter"),
    "limit=0": ("/api/traces", {"limit": 0}, "limit"),
    "limit=100000": ("/api/traces", {"limit": 100_000}, "limit"),
    "limit not a number": ("/api/traces", {"limit": "ten"}, "limit"),
    "sort=evil": ("/api/traces", {"sort": "evil"}, "sort"),
    "sort=SQL": ("/api/traces", {"sort": "start_time; DROP TABLE x"}, "sort"),
    "order=sideways": ("/api/traces", {"order": "sideways"}, "order"),
    "status=maybe": ("/api/traces", {"status": "maybe"}, "status"),
    "start not a time": ("/api/traces", {"start": "yesterday-ish"}, "start"),
    "negative latency": ("/api/traces", {"min_latency_ms": -1}, "min_latency_ms"),
    "attribute without =": ("/api/traces", {"attribute": "novalue"}, "key=value"),
    "project too long": ("/api/traces", {"project": "p" * 201}, "project"),
    "non-hex trace id": ("/api/traces/" + "zz" * 16, {}, "trace_id"),
    "short trace id": ("/api/traces/abc123", {}, "trace_id"),
    "trace id with SQL": ("/api/traces/' OR 1=1 --", {}, "trace_id"),
    "non-hex trace id, spans": ("/api/traces/" + "g" * 32 + "/spans", {}, "trace_id"),
    "span limit=0": ("/api/traces/" + "ab" * 16, {"limit": 0}, "limit"),
    "garbage cursor": ("/api/traces", {"cursor": "!!not a cursor!!"}, "cursor"),
    "cursor of non-JSON": ("/api/traces", {"cursor": _cursor(b"\x00\x01garbage")}, "cursor"),
    "cursor of the wrong size": ("/api/traces", {"cursor": _cursor(b"[1, 2, 3]")}, "cursor"),
    "cursor of strings": ("/api/traces", {"cursor": _cursor(b'["a", "b"]')}, "cursor"),
    "cursor of objects": ("/api/traces", {"cursor": _cursor(b'[{"a": 1}, [2]]')}, "cursor"),
    "cursor of a float for an int key": (
        "/api/traces",
        {"cursor": _cursor(b'[1e300, "x"]')},
        "cursor",
    ),
    "garbage span cursor": (
        "/api/traces/" + "ab" * 16 + "/spans",
        {"cursor": "%%%"},
        "cursor",
    ),
    "span cursor of strings": (
        "/api/traces/" + "ab" * 16 + "/spans",
        {"cursor": _cursor(b'["a", "b"]')},
        "cursor",
    ),
    "span cursor of objects": (
        "/api/traces/" + "ab" * 16 + "/spans",
        {"cursor": _cursor(b'[{"a": 1}, 2]')},
        "cursor",
    ),
    "bucket_seconds=0": ("/api/stats", {"bucket_seconds": 0}, "bucket_seconds"),
}


@pytest.mark.parametrize("case", list(QUERY_BAD_INPUT))
def test_bad_query_parameters_are_400_with_a_message(
    server: ServerProcess, good_batch: GoodBatch, case: str
) -> None:
    path, params, fragment = QUERY_BAD_INPUT[case]
    response = httpx.get(
        f"{server.url}{path}", params={"project": good_batch.project, **params}, timeout=TIMEOUT
    )
    assert response.status_code == 400, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == JSON
    message = response.json()["error"]
    assert fragment.lower() in message.lower(), message


# -- afterwards -------------------------------------------------------------------------------


def test_the_server_is_healthy_and_the_first_batch_intact_after_all_of_it(
    server: ServerProcess, good_batch: GoodBatch
) -> None:
    assert server.healthy()
    assert server.process is not None and server.process.poll() is None
    assert_good_batch_intact(server, good_batch)
    # and it still takes new spans
    trace_id = new_trace_id()
    body = make_request(make_span(trace_id, new_span_id(), "after")).SerializeToString()
    assert success_of(post(server, body, PROTOBUF, good_batch.project), PROTOBUF) == (0, "")
    assert trace_id.hex() in listed_traces(server, good_batch.project)
