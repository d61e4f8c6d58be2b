"""OTLP/HTTP trace codec: request bodies in, `ExportTraceServiceRequest` out, and responses back.

Pure functions, no I/O. Handles protobuf and JSON (whose trace and span ids are hex, not base64
as protobuf's JSON mapping would assume), gzip/deflate bodies and size limits. Every problem
becomes a `BadRequestError` carrying the HTTP status to answer with.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from spyglass.errors import BadRequestError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
# JSON nesting beyond this is hostile, not telemetry (AnyValue arrays/kvlists nest legitimately,
# but never this deep); protobuf's own parser has a recursion limit of 100.
MAX_JSON_DEPTH = 64


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header, e.g. ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def decompress(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """Undo gzip/deflate; refuse results larger than ``max_bytes`` (zip bombs) with 413."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        return body
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS  # zlib-wrapped; raw deflate is retried below
    else:
        raise BadRequestError(
            f"unsupported Content-Encoding {encoding!r}: use gzip or deflate", 415
        )
    try:
        return _inflate(body, wbits, max_bytes)
    except zlib.error as exc:
        if encoding == "deflate":
            try:
                return _inflate(body, -zlib.MAX_WBITS, max_bytes)
            except zlib.error:
                pass
        raise BadRequestError(f"body is not valid {encoding} data: {exc}") from None


def _inflate(body: bytes, wbits: int, max_bytes: int) -> bytes:
    """Inflate every member (gzip allows several back to back) within ``max_bytes`` in all."""
    parts: list[bytes] = []
    size = 0
    rest = body
    while True:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(rest, max_bytes - size + 1)
        size += len(out)
        if size > max_bytes or inflater.unconsumed_tail:
            raise BadRequestError(f"decompressed body exceeds {max_bytes} bytes", 413)
        if not inflater.eof:
            raise BadRequestError("compressed body is truncated")
        parts.append(out)
        rest = inflater.unused_data
        if not rest:
            return b"".join(parts)


def decode_export_request(body: bytes, content_type: str | None) -> ExportTraceServiceRequest:
    """Parse an (already decompressed) OTLP trace export body.

    Raises:
        BadRequestError: 415 for another media type, 400 for a body that does not parse.
    """
    kind = media_type(content_type)
    if kind == PROTOBUF:
        try:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            return request
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise BadRequestError(f"body is not a valid OTLP protobuf message: {exc}") from None
    if kind == JSON:
        return _decode_json(body)
    raise BadRequestError(
        f"unsupported Content-Type {kind or '(none)'!r}: use {PROTOBUF} or {JSON}", 415
    )


def _decode_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadRequestError("OTLP JSON body must be an object with 'resourceSpans'")
    _check_depth(document)
    try:
        for resource_spans in _list(document, "resourceSpans", "resource_spans"):
            for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
                for span in _list(scope_spans, "spans"):
                    _hex_ids_to_base64(span)
                    for link in _list(span, "links"):
                        _hex_ids_to_base64(link)
        request = ExportTraceServiceRequest()
        # Receivers must ignore fields they do not know (newer SDKs add some).
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
        return request
    except json_format.ParseError as exc:
        raise BadRequestError(f"body is not a valid OTLP JSON message: {exc}") from None
    except (TypeError, AttributeError) as exc:
        raise BadRequestError(f"body is not a valid OTLP JSON message: {exc}") from None


def _check_depth(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadRequestError(f"JSON nesting deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _list(parent: Any, *keys: str) -> list[Any]:
    if not isinstance(parent, dict):
        raise BadRequestError("OTLP JSON: expected an object")
    for key in keys:
        value = parent.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise BadRequestError(f"OTLP JSON: {key!r} must be an array")
        return value
    return []


_ID_FIELDS = (("traceId", "trace_id"), ("spanId", "span_id"), ("parentSpanId", "parent_span_id"))


def _hex_ids_to_base64(obj: dict[str, Any]) -> None:
    """OTLP JSON carries ids as hex; protobuf's JSON mapping expects base64 for bytes."""
    for keys in _ID_FIELDS:
        for key in keys:
            value = obj.get(key)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise BadRequestError(f"OTLP JSON: {key} must be a hex string")
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise BadRequestError(f"OTLP JSON: {key} {value[:40]!r} is not hex") from None


def encode_export_response(rejected: int, message: str, content_type: str | None) -> bytes:
    """The success body, with ``partial_success`` only when something was rejected."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if media_type(content_type) == JSON:
        if not rejected:
            return b"{}"
        return orjson.dumps(
            {"partialSuccess": {"rejectedSpans": rejected, "errorMessage": message}}
        )
    encoded: bytes = response.SerializeToString()
    return encoded


def id_hex(value: bytes) -> str:
    """Lower-case hex of an id; ``binascii.hexlify`` is the fastest spelling."""
    return binascii.hexlify(value).decode()
