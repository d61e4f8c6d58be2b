"""The list pages: traces, sessions, one session, and the dashboard."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from spyglass.auth.middleware import principal_of
from spyglass.collector.state import ServicesDep
from spyglass.errors import BadRequestError
from spyglass.store import analytics
from spyglass.store.traces import TraceQuery, TraceStore
from spyglass.ui.listing import RANGES, ListState, range_start_ns
from spyglass.ui.messages import parse_messages
from spyglass.ui.render import render

router = APIRouter(include_in_schema=False)

# Dashboard bucket per time range: about 50-170 points a chart.
BUCKETS = {"1h": 60, "24h": 1800, "7d": 3 * 3600, "30d": 12 * 3600, "all": 7 * 86400}
ALL_TIME_DAYS = 5 * 365


def is_fragment(request: Request) -> bool:
    """An htmx request for part of a page (not a boosted full navigation)."""
    return request.headers.get("HX-Request") == "true" and "HX-Boosted" not in request.headers


async def projects_and_current(
    store: TraceStore, request: Request
) -> tuple[list[dict[str, Any]], str]:
    """Known projects, and the one asked for (else ``default``, else the first with data)."""
    projects: list[dict[str, Any]] = await run_in_threadpool(store.projects)
    principal = principal_of(request.state)
    if principal is not None and principal.project is not None:  # never show other projects
        projects = [p for p in projects if p["name"] == principal.project]
    asked = request.query_params.get("project")
    if asked:
        return projects, asked[:200]
    names = [p["name"] for p in projects]
    return projects, "default" if "default" in names or not names else names[0]


def _range(value: str | None, default: str) -> str:
    return value if value is not None and value in RANGES else default


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    target = "/traces" + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(target, status_code=307)


@router.get("/traces", response_class=HTMLResponse)
async def traces_page(request: Request, services: ServicesDep) -> Response:
    store = services.store
    fragment = is_fragment(request)
    projects: list[dict[str, Any]] = []
    if fragment and request.query_params.get("project"):
        project = request.query_params["project"][:200]
    else:
        projects, project = await projects_and_current(store, request)
    state = ListState.from_query(request.query_params, project)
    error = None
    page: dict[str, Any] = {"traces": [], "next_cursor": None}
    try:
        page = await run_in_threadpool(store.list_traces, state.to_query())
    except BadRequestError as exc:
        error = exc.message
    context = {
        "state": state,
        "projects": projects,
        "project": state.project,
        "ranges": list(RANGES),
        "traces": page["traces"],
        "next_cursor": page["next_cursor"],
        "error": error,
        "active": "traces",
    }
    template = "_trace_results.html" if fragment else "traces.html"
    return render(request, template, context, status=200)


def _bubble_text(text: str, role: str) -> str:
    """A message's text: the last message of ``role`` when the text is a chat, else the text."""
    messages = parse_messages(text) if text[:1] in ("[", "{") else None
    if messages:
        for message in reversed(messages):
            if message.role == role:
                return "\n".join(p.text for p in message.parts if p.kind == "text")
    return text


@router.get("/sessions", response_class=HTMLResponse)
async def sessions_page(request: Request, services: ServicesDep) -> Response:
    projects, project = await projects_and_current(services.store, request)
    q = request.query_params
    range_name = _range(q.get("range"), "7d")
    user = (q.get("user") or "").strip()[:500]
    cursor = q.get("cursor") or None
    error = None
    page: dict[str, Any] = {"sessions": [], "next_cursor": None}
    try:
        page = await run_in_threadpool(
            lambda: analytics.list_sessions(
                services.store,
                project,
                start_ns=range_start_ns(range_name),
                user_id=user or None,
                cursor=cursor,
            )
        )
    except BadRequestError as exc:
        error = exc.message
    context = {
        "projects": projects,
        "project": project,
        "ranges": list(RANGES),
        "range": range_name,
        "user": user,
        "cursor": cursor,
        "sessions": page["sessions"],
        "next_cursor": page["next_cursor"],
        "error": error,
        "active": "sessions",
    }
    return render(request, "sessions.html", context)


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(session_id: str, request: Request, services: ServicesDep) -> Response:
    projects, project = await projects_and_current(services.store, request)
    cursor = request.query_params.get("cursor") or None
    query = TraceQuery(
        project=project, session_id=session_id, descending=False, limit=100, cursor=cursor
    )
    error = None
    page: dict[str, Any] = {"traces": [], "next_cursor": None}
    try:
        page = await run_in_threadpool(services.store.list_traces, query)
    except BadRequestError as exc:
        error = exc.message
    turns = [
        {
            "trace": t,
            "user_text": _bubble_text(t["input"], "user"),
            "assistant_text": _bubble_text(t["output"], "assistant"),
        }
        for t in page["traces"]
    ]
    context = {
        "projects": projects,
        "project": project,
        "session_id": session_id,
        "turns": turns,
        "cursor": cursor,
        "next_cursor": page["next_cursor"],
        "error": error,
        "active": "sessions",
        "picker_path": "/sessions",
    }
    status = 404 if not turns and not cursor and not error else 200
    return render(request, "session.html", context, status=status)


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(request: Request, services: ServicesDep) -> Response:
    projects, project = await projects_and_current(services.store, request)
    q = request.query_params
    range_name = _range(q.get("range"), "24h")
    now = time.time_ns()
    bucket = BUCKETS[range_name]
    end_ns = now - now % (bucket * 1_000_000_000) + bucket * 1_000_000_000
    start_ns = range_start_ns(range_name, now) or now - ALL_TIME_DAYS * 86400 * 10**9
    error = None
    stats: dict[str, Any] = {"bucket_seconds": bucket, "buckets": [], "by_model": []}
    try:
        stats = await run_in_threadpool(
            lambda: analytics.trace_stats(
                services.store,
                project,
                start_ns=start_ns - start_ns % (bucket * 1_000_000_000),
                end_ns=end_ns,
                bucket_seconds=bucket,
            )
        )
    except BadRequestError as exc:
        error = exc.message
    buckets = stats["buckets"]
    traces = sum(b["traces"] for b in buckets)
    errors = sum(b["errors"] for b in buckets)
    totals = {
        "traces": traces,
        "errors": errors,
        "error_rate": errors / traces if traces else 0.0,
        "tokens": sum(b["tokens"] for b in buckets),
        "cost": sum(b["cost"] for b in buckets),
        "p95_max": max((b["latency_ms"]["p95"] for b in buckets), default=0.0),
    }
    context = {
        "projects": projects,
        "project": project,
        "ranges": list(RANGES),
        "range": range_name,
        "stats": stats,
        "totals": totals,
        "error": error,
        "active": "dashboard",
    }
    return render(request, "dashboard.html", context)
