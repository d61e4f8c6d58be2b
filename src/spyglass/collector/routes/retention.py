"""Retention API (admin): per-project retention in days, and a sweep on demand.

The auth gate gives every ``/api/retention`` route the admin role and closes it to keys and
users confined to one project (`spyglass.auth.model.required_role`).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from spyglass.auth.middleware import principal_of
from spyglass.collector.retention import RetentionWorker
from spyglass.store.retention import (
    MAX_PROJECT_CHARS,
    MAX_RETENTION_DAYS,
    check_days,
    check_project,
)

router = APIRouter(prefix="/api/retention", tags=["retention"])

ProjectName = Annotated[
    str,
    Path(min_length=1, max_length=MAX_PROJECT_CHARS, description="Project (= experiment) name"),
]


class RetentionChange(BaseModel):
    """A project's new retention."""

    model_config = ConfigDict(extra="forbid")

    days: int = Field(
        strict=True,
        ge=1,
        le=MAX_RETENTION_DAYS,
        description="Delete this project's traces once they are older than this many days",
    )


def _worker(request: Request) -> RetentionWorker:
    worker: RetentionWorker | None = getattr(request.app.state, "retention", None)
    if worker is None:
        raise HTTPException(503, "the store is not open yet")
    return worker


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _caller(request: Request) -> str:
    p = principal_of(request.state)
    return p.name if p else ""


@router.get("", summary="Server-wide and per-project retention, and the last sweep (admin)")
async def list_retention(request: Request) -> Response:
    worker = _worker(request)
    projects = await run_in_threadpool(worker.settings.all)
    return _json(
        {
            "default_days": worker.default_days,
            "max_days": MAX_RETENTION_DAYS,
            "projects": [r.to_json() for r in projects.values()],
            "last_sweep": worker.last.to_json() if worker.last else None,
        }
    )


@router.get("/projects/{project:path}", summary="One project's retention (admin)")
async def get_retention(request: Request, project: ProjectName) -> Response:
    worker = _worker(request)
    setting = await run_in_threadpool(worker.settings.get, check_project(project))
    if setting is None:
        raise HTTPException(404, f"project {project!r} has no retention of its own")
    return _json(setting.to_json())


@router.put("/projects/{project:path}", summary="Set or change a project's retention (admin)")
async def set_retention(
    request: Request, project: ProjectName, change: RetentionChange
) -> Response:
    worker = _worker(request)
    days = check_days(change.days, worker.default_days)
    setting = await run_in_threadpool(
        worker.settings.set, check_project(project), days, _caller(request)
    )
    return _json(setting.to_json())


@router.delete("/projects/{project:path}", summary="Clear a project's retention (admin)")
async def clear_retention(request: Request, project: ProjectName) -> Response:
    worker = _worker(request)
    if not await run_in_threadpool(worker.settings.clear, check_project(project), _caller(request)):
        raise HTTPException(404, f"project {project!r} has no retention of its own")
    return _json({"project": project, "days": None})


@router.post("/run", summary="Delete expired traces now and report what went (admin)")
async def run_retention(request: Request) -> Response:
    report = await run_in_threadpool(_worker(request).run)
    return _json(report.to_json())
