from __future__ import annotations

import gzip
import zlib

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from spyglass.collector.otlp import (
    decode_export_request,
    decompress,
    encode_export_response,
)
from spyglass.errors import BadRequestError

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
PARENT_ID = bytes.fromhex("eee19b7ec3c1b173")


def sample_request() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.parent_span_id = TRACE_ID, SPAN_ID, PARENT_ID
    span.name = "chat"
    span.start_time_unix_nano = 1_700_000_000_000_000_000
    link = span.links.add()
    link.trace_id, link.span_id = TRACE_ID, PARENT_ID
    return request


def test_protobuf_body_decodes() -> None:
    body = sample_request().SerializeToString()
    assert decode_export_request(body, "application/x-protobuf") == sample_request()


def test_json_body_with_hex_ids_decodes_to_the_same_message() -> None:
    body = b"""{"resourceSpans":[{"scopeSpans":[{"spans":[{
        "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
        "parentSpanId":"eee19b7ec3c1b173","name":"chat",
        "startTimeUnixNano":"1700000000000000000",
        "links":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b173"}]
    }]}]}]}"""
    decoded = decode_export_request(body, "application/json; charset=utf-8")
    assert decoded == sample_request()


def test_json_accepts_snake_case_field_names_too() -> None:
    body = b"""{"resource_spans":[{"scope_spans":[{"spans":[{
        "trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
        "name":"chat","start_time_unix_nano":1700000000000000000}]}]}]}"""
    span = decode_export_request(body, "application/json").resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == TRACE_ID and span.span_id == SPAN_ID


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "must be an object"),
        (b'{"resourceSpans": 5}', "'resourceSpans' must be an array"),
        (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}', "is not hex"),
        (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":7}]}]}]}', "hex string"),
        (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":{"a":1}}]}]}]}', "valid OTLP JSON"),
        (b"[" * 5000 + b"]" * 5000, "depth limit"),
        (b'{"a":' * 100 + b"1" + b"}" * 100, "nesting deeper"),
    ],
)
def test_bad_json_bodies_are_400_with_a_reason(body: bytes, message: str) -> None:
    with pytest.raises(BadRequestError, match=message) as info:
        decode_export_request(body, "application/json")
    assert info.value.status == 400


def test_unknown_json_fields_are_ignored_as_the_spec_requires() -> None:
    body = b'{"resourceSpans":[{"futureField":1,"scopeSpans":[{"spans":[{"name":"x"}]}]}]}'
    request = decode_export_request(body, "application/json")
    assert request.resource_spans[0].scope_spans[0].spans[0].name == "x"


def test_concatenated_gzip_members_are_all_inflated() -> None:
    body = gzip.compress(b"first,") + gzip.compress(b"second")
    assert decompress(body, "gzip", 1 << 20) == b"first,second"


@pytest.mark.parametrize("body", [b"\xff\xff\xff", sample_request().SerializeToString()[:-3]])
def test_bad_protobuf_bodies_are_400(body: bytes) -> None:
    with pytest.raises(BadRequestError, match="not a valid OTLP protobuf") as info:
        decode_export_request(body, "application/x-protobuf")
    assert info.value.status == 400


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/protobuf-ish"])
def test_other_content_types_are_415(content_type: str | None) -> None:
    with pytest.raises(BadRequestError) as info:
        decode_export_request(b"{}", content_type)
    assert info.value.status == 415


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some clients send
        ("identity", lambda b: b),
    ],
)
def test_compressed_bodies_are_inflated(encoding: str, compress: object) -> None:
    body = b"x" * 10_000
    assert decompress(compress(body), encoding, 1 << 20) == body  # type: ignore[operator]


def test_a_zip_bomb_is_413_without_inflating_it_all() -> None:
    bomb = gzip.compress(b"\0" * (50 << 20))
    with pytest.raises(BadRequestError, match="exceeds") as info:
        decompress(bomb, "gzip", 1 << 20)
    assert info.value.status == 413


def test_truncated_gzip_is_400() -> None:
    with pytest.raises(BadRequestError, match="truncated") as info:
        decompress(gzip.compress(b"y" * 1000)[:-10], "gzip", 1 << 20)
    assert info.value.status == 400


def test_unknown_content_encoding_is_415() -> None:
    with pytest.raises(BadRequestError) as info:
        decompress(b"abc", "br", 1 << 20)
    assert info.value.status == 415


def test_partial_success_is_encoded_in_the_request_encoding() -> None:
    raw = encode_export_response(2, "bad ids", "application/x-protobuf")
    response = ExportTraceServiceResponse.FromString(raw)
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message == "bad ids"
    as_json = encode_export_response(2, "bad ids", "application/json")
    parsed = json_format.Parse(as_json, ExportTraceServiceResponse())
    assert parsed == response
    assert encode_export_response(0, "", "application/json") == b"{}"
    assert encode_export_response(0, "", "application/x-protobuf") == b""
