"""The JSON read API over stored traces (``/api/...``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from spyglass.auth.middleware import principal_of
from spyglass.collector.state import ServicesDep
from spyglass.errors import BadRequestError
from spyglass.store import analytics
from spyglass.store.traces import DEFAULT_SPAN_PAGE, MAX_SPAN_PAGE, MAX_TRACE_PAGE, TraceQuery

router = APIRouter(prefix="/api", tags=["query"])

Project = Annotated[str, Query(max_length=200, description="Project (= experiment) name")]
Cursor = Annotated[
    str | None, Query(max_length=2000, description="next_cursor of the previous page")
]
TraceId = Annotated[str, Path(pattern="^[0-9a-fA-F]{32}$", description="32 hex digits")]
Time = Annotated[datetime | None, Query(description="ISO 8601; naive times are UTC")]


def _ns(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1_000_000) * 1000


def _json(payload: Any) -> Response:
    # orjson straight to bytes: a 10k-span trace serializes in milliseconds.
    return Response(orjson.dumps(payload), media_type="application/json")


def _attributes(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadRequestError(f"attribute filter {pair!r} must look like key=value")
        out[key] = value
    return out


@router.get("/projects", summary="Projects that have traces")
async def list_projects(request: Request, services: ServicesDep) -> Response:
    projects = await run_in_threadpool(services.store.projects)
    principal = principal_of(request.state)
    if principal is not None and principal.project is not None:
        projects = [p for p in projects if p["name"] == principal.project]
    return _json({"projects": projects})


@router.get("/traces", summary="List traces, newest first, with filters and a cursor")
async def list_traces(
    services: ServicesDep,
    project: Project = "default",
    start: Time = None,
    end: Time = None,
    name: Annotated[
        str | None, Query(max_length=500, description="Substring of the trace name")
    ] = None,
    status: Annotated[str | None, Query(pattern="^([oO][kK]|[eE][rR][rR][oO][rR])$")] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    session_id: Annotated[str | None, Query(max_length=500)] = None,
    user_id: Annotated[str | None, Query(max_length=500)] = None,
    min_latency_ms: Annotated[float | None, Query(ge=0)] = None,
    max_latency_ms: Annotated[float | None, Query(ge=0)] = None,
    attribute: Annotated[
        list[str], Query(max_length=2000, description="key=value on any span; repeatable")
    ] = [],  # noqa: B006 - FastAPI copies defaults per request
    text: Annotated[
        str | None, Query(max_length=500, description="Text in any span's input/output")
    ] = None,
    filter: Annotated[
        str | None,
        Query(max_length=4096, description='e.g. status = "ERROR" and latency_ms > 500'),
    ] = None,
    sort: Annotated[str, Query(pattern="^(start_time|latency|tokens|cost)$")] = "start_time",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_TRACE_PAGE)] = 50,
    cursor: Cursor = None,
) -> Response:
    if len(attribute) > 20:
        raise BadRequestError("at most 20 attribute filters")
    query = TraceQuery(
        project=project,
        start_ns=_ns(start),
        end_ns=_ns(end),
        name=name,
        status=status,
        model=model,
        session_id=session_id,
        user_id=user_id,
        min_latency_ms=min_latency_ms,
        max_latency_ms=max_latency_ms,
        attributes=_attributes(attribute),
        text=text,
        filter=filter,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        cursor=cursor,
    )
    return _json(await run_in_threadpool(services.store.list_traces, query))


@router.get("/traces/{trace_id}", summary="One trace: its summary and its spans (first page)")
async def get_trace(
    services: ServicesDep,
    trace_id: TraceId,
    project: Project = "default",
    limit: Annotated[int, Query(ge=1, le=MAX_SPAN_PAGE)] = DEFAULT_SPAN_PAGE,
) -> Response:
    trace = await run_in_threadpool(services.store.get_trace, project, trace_id, limit=limit)
    if trace is None:
        raise HTTPException(404, f"trace {trace_id} not found in project {project!r}")
    return _json(trace)


@router.get("/traces/{trace_id}/spans", summary="Spans of one trace, paged in start order")
async def get_spans(
    services: ServicesDep,
    trace_id: TraceId,
    project: Project = "default",
    limit: Annotated[int, Query(ge=1, le=MAX_SPAN_PAGE)] = DEFAULT_SPAN_PAGE,
    cursor: Cursor = None,
) -> Response:
    page = await run_in_threadpool(
        lambda: services.store.get_spans(project, trace_id.lower(), limit=limit, cursor=cursor)
    )
    return _json(page)


@router.get("/sessions", summary="Sessions (conversations), most recently active first")
async def list_sessions(
    services: ServicesDep,
    project: Project = "default",
    start: Time = None,
    end: Time = None,
    user_id: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TRACE_PAGE)] = 50,
    cursor: Cursor = None,
) -> Response:
    page = await run_in_threadpool(
        lambda: analytics.list_sessions(
            services.store,
            project,
            start_ns=_ns(start),
            end_ns=_ns(end),
            user_id=user_id,
            limit=limit,
            cursor=cursor,
        )
    )
    return _json(page)


@router.get("/sessions/{session_id}", summary="The traces of one session, oldest first")
async def get_session(
    services: ServicesDep,
    session_id: str,
    project: Project = "default",
    limit: Annotated[int, Query(ge=1, le=MAX_TRACE_PAGE)] = 100,
    cursor: Cursor = None,
) -> Response:
    query = TraceQuery(
        project=project, session_id=session_id, descending=False, limit=limit, cursor=cursor
    )
    return _json(await run_in_threadpool(services.store.list_traces, query))


@router.get(
    "/stats", summary="Traces over time: count, error rate, latency quantiles, tokens, cost"
)
async def stats(
    services: ServicesDep,
    project: Project = "default",
    start: Time = None,
    end: Time = None,
    bucket_seconds: Annotated[int, Query(ge=1, le=366 * 86400)] = 3600,
) -> Response:
    end_ns = _ns(end) or _ns(datetime.now(timezone.utc))
    assert end_ns is not None
    start_ns = _ns(start) or end_ns - int(timedelta(days=1).total_seconds() * 1e9)
    return _json(
        await run_in_threadpool(
            lambda: analytics.trace_stats(
                services.store,
                project,
                start_ns=start_ns,
                end_ns=end_ns,
                bucket_seconds=bucket_seconds,
            )
        )
    )
