"""``POST /v1/traces``: the OTLP/HTTP trace receiver.

Parse, submit, map the outcome to a status. The response is sent only after the spans are
durable (in the store, or fsynced to the write-ahead log that is replayed on start), so an
acknowledged span is never lost; rejected spans are reported through
``partial_success`` and the rest of the batch is kept.
"""

from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter, Request, Response
from google.rpc.status_pb2 import Status

from spyglass.auth.middleware import principal_of
from spyglass.collector.otlp import (
    JSON,
    PROTOBUF,
    decode_export_request,
    decompress,
    encode_export_response,
    media_type,
)
from spyglass.collector.pipeline import PipelineClosedError, QueueFullError
from spyglass.collector.state import ServicesDep
from spyglass.errors import BadRequestError

PROJECT_HEADER = "x-spyglass-project"
RETRY_AFTER_SECONDS = 2

router = APIRouter()


def otlp_error(status: int, message: str, content_type: str | None) -> Response:
    """An OTLP error response: a google.rpc.Status in the request's encoding."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status in (429, 503) else None
    code = {400: 3, 413: 8, 415: 3, 429: 8, 503: 14}.get(status, 2)
    if media_type(content_type) == PROTOBUF:
        body = Status(code=code, message=message).SerializeToString()
        return Response(body, status, headers=headers, media_type=PROTOBUF)
    return Response(
        orjson.dumps({"code": code, "message": message}), status, headers=headers, media_type=JSON
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) anything over ``limit`` before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequestError("Content-Length is not a number") from None
        if size > limit:
            raise BadRequestError(f"body of {size} bytes exceeds the limit of {limit}", 413)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BadRequestError(f"body exceeds the limit of {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/v1/traces",
    summary="OTLP/HTTP trace export (protobuf or JSON, gzip/deflate)",
    response_class=Response,
    responses={
        200: {"description": "Stored (with partial_success when some spans were rejected)"},
        400: {"description": "Malformed body"},
        413: {"description": "Body too large"},
        415: {"description": "Unsupported Content-Type or Content-Encoding"},
        503: {"description": "Write queue full or store unavailable; retry after Retry-After"},
    },
)
async def export_traces(request: Request, services: ServicesDep) -> Response:
    content_type = request.headers.get("content-type")
    try:
        if media_type(content_type) not in (PROTOBUF, JSON):
            raise BadRequestError(
                f"unsupported Content-Type {media_type(content_type) or '(none)'!r}: "
                f"use {PROTOBUF} or {JSON}",
                415,
            )
        limit = services.settings.max_body_bytes
        body = await read_body(request, limit)
        if services.ingest.stats.full:
            raise QueueFullError(
                f"write queue is full ({services.ingest.stats.queued_spans} spans)"
            )
        body = decompress(body, request.headers.get("content-encoding"), limit)
        export = decode_export_request(body, content_type)
        principal = principal_of(request.state)
        # A key scoped to one project writes there whatever the header or resource says.
        project = principal.project if principal and principal.project else None
        raw = body if media_type(content_type) == PROTOBUF else None
        accepted = services.ingest.accept(
            export, raw, project or request.headers.get(PROJECT_HEADER)
        )
    except BadRequestError as exc:
        services.metrics.otlp_response(exc.status)
        return otlp_error(exc.status, exc.message, content_type)
    except (QueueFullError, PipelineClosedError) as exc:
        services.metrics.otlp_response(503)
        return otlp_error(503, str(exc), content_type)
    try:
        await asyncio.wrap_future(accepted.done)
    except (QueueFullError, PipelineClosedError) as exc:
        services.metrics.otlp_response(503)
        return otlp_error(503, str(exc), content_type)
    except Exception:
        services.metrics.otlp_response(503)
        return otlp_error(503, "the store did not accept the spans; retry later", content_type)
    services.metrics.otlp_response(200, accepted.count, accepted.rejected)
    body = encode_export_response(accepted.rejected, accepted.error_message, content_type)
    return Response(body, 200, media_type=media_type(content_type))
