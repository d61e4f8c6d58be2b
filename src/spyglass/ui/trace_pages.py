"""One trace: the page (tree + waterfall island), its outline pages, and the span panel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from spyglass.collector.state import ServicesDep
from spyglass.store import outline
from spyglass.store.traces import TraceStore
from spyglass.ui.render import render
from spyglass.ui.span_view import span_view

router = APIRouter(include_in_schema=False)

# Rows embedded in the page: enough to fill any screen at once, small enough to render fast.
FIRST_PAGE_ROWS = 2_000
# Rows per request after that (about 100 bytes each).
NEXT_PAGE_ROWS = 50_000

TraceId = Annotated[str, Path(pattern="^[0-9a-fA-F]{32}$")]
SpanId = Annotated[str, Path(pattern="^[0-9a-fA-F]{16}$")]
Project = Annotated[str, Query(max_length=200)]


def _trace_page_data(
    store: TraceStore, project: str, trace_id: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    # The summary alone: `get_trace` would also build a page of full span JSON, which for a
    # huge trace costs ClickHouse ~0.5 s even for one span (the JSON is built before LIMIT).
    summary = store.trace_summary(project, trace_id)
    t0 = outline.trace_start_ns(store, project, trace_id)
    if summary is None or t0 is None:
        return None
    first = outline.span_outline(store, project, trace_id, t0_ns=t0, limit=FIRST_PAGE_ROWS)
    data = {
        "trace_id": trace_id,
        "project": project,
        "t0": str(t0),
        "total": summary["spans"],
        "duration_ms": summary["duration_ms"],
        "next_cursor": first.next_cursor,
        "page_rows": NEXT_PAGE_ROWS,
        "columns": list(outline.OUTLINE_COLUMNS),
    }
    return summary, {"meta": data, "rows": first.rows_json}


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
async def trace_page(
    trace_id: TraceId, request: Request, services: ServicesDep, project: Project = "default"
) -> Response:
    trace_id = trace_id.lower()
    found = await run_in_threadpool(_trace_page_data, services.store, project, trace_id)
    context: dict[str, Any] = {"project": project, "trace_id": trace_id, "active": "traces"}
    if found is None:
        return render(request, "not_found.html", context, status=404)
    summary, data = found
    context |= {"trace": summary, "meta": data["meta"], "rows_json": data["rows"]}
    return render(request, "trace.html", context)


@router.get("/traces/{trace_id}/outline")
async def trace_outline(
    trace_id: TraceId,
    services: ServicesDep,
    project: Project = "default",
    t0: Annotated[int | None, Query(ge=0)] = None,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    limit: Annotated[int, Query(ge=1, le=outline.MAX_OUTLINE_PAGE)] = NEXT_PAGE_ROWS,
) -> Response:
    """Outline rows (see `outline.OUTLINE_COLUMNS`) of one trace, one page."""
    store = services.store
    trace_id = trace_id.lower()

    def read() -> bytes | None:
        start = t0 if t0 is not None else outline.trace_start_ns(store, project, trace_id)
        if start is None:
            return None
        page = outline.span_outline(
            store, project, trace_id, t0_ns=start, limit=limit, cursor=cursor
        )
        return page.to_json()

    body = await run_in_threadpool(read)
    if body is None:
        return Response(b'{"error":"trace not found"}', 404, media_type="application/json")
    return Response(body, media_type="application/json")


@router.get("/traces/{trace_id}/spans/{span_id}", response_class=HTMLResponse)
async def span_panel(
    trace_id: TraceId,
    span_id: SpanId,
    request: Request,
    services: ServicesDep,
    project: Project = "default",
) -> Response:
    """The span panel (an HTML fragment the trace page loads when a span is opened)."""
    span = await run_in_threadpool(
        outline.get_span, services.store, project, trace_id.lower(), span_id.lower()
    )
    if span is None:
        context = {"span_id": span_id}
        return render(request, "_span_missing.html", context, status=404)
    view = span_view(span)
    return render(request, "_span_panel.html", {"view": view, "s": span, "project": project})
