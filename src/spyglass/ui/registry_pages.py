"""The model registry: registered models, one model's versions and history, one version.

Model names may hold any character, ``/`` included, so links percent-encode the whole name
(``pathq``) and the route takes the rest of the path, split off a trailing ``/versions/<n>``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from spyglass.tracking.errors import MlflowError
from spyglass.ui.render import render
from spyglass.ui.run_pages import not_found
from spyglass.ui.run_state import page_token
from spyglass.ui.tracking_queries import TrackingDep, mlflow_quote

router = APIRouter(include_in_schema=False)

MODELS_PAGE = 50
VERSIONS_PAGE = 50
HISTORY_SHOWN = 200
_VERSION_PATH = re.compile(r"^(?P<name>.+)/versions/(?P<version>[0-9]{1,18})$", re.DOTALL)


def _page(request: Request) -> int:
    try:
        return min(max(int(request.query_params.get("page") or 0), 0), 100_000)
    except ValueError:
        return 0


@router.get("/models", response_class=HTMLResponse)
async def models_page(request: Request, tracking: TrackingDep) -> Response:
    text = (request.query_params.get("q") or "").strip()[:500]
    page = _page(request)
    filter_string = f"name ILIKE {mlflow_quote('%' + text + '%')}" if text else ""
    models, next_token = await run_in_threadpool(
        tracking.registry.search_models,
        filter_string,
        MODELS_PAGE,
        ["name ASC"],
        page_token(page, MODELS_PAGE),
    )
    context = {
        "models": models,
        "q": text,
        "page": page,
        "has_next": next_token is not None,
        "active": "models",
    }
    return render(request, "models.html", context)


def _model_data(tracking: Any, name: str, page: int) -> dict[str, Any]:
    model = tracking.registry.get_model(name)
    versions, next_token = tracking.versions.search(
        f"name = {mlflow_quote(name)}",
        VERSIONS_PAGE,
        ["version_number DESC"],
        page_token(page, VERSIONS_PAGE),
    )
    history = tracking.versions.history(name)
    return {
        "model": model,
        "versions": versions,
        "has_next": next_token is not None,
        "history": list(reversed(history))[:HISTORY_SHOWN],
        "history_total": len(history),
    }


def _version_data(tracking: Any, name: str, version: str) -> dict[str, Any]:
    found = tracking.versions.get(name, version)
    history = [h for h in tracking.versions.history(name) if h["version"] == found["version"]]
    run = None
    if found.get("run_id"):
        try:
            state = tracking.runs.state(found["run_id"])
            run = {"id": state["run_id"], "name": state["run_name"]}
        except MlflowError:
            run = None
    return {"v": found, "history": list(reversed(history))[:HISTORY_SHOWN], "run": run}


@router.get("/models/{path:path}", response_class=HTMLResponse)
async def model_page(path: str, request: Request, tracking: TrackingDep) -> Response:
    match = _VERSION_PATH.match(path)
    try:
        if match:
            name, version = match["name"], match["version"]
            data = await run_in_threadpool(_version_data, tracking, name, version)
            context = {**data, "name": name, "active": "models"}
            return render(request, "model_version.html", context)
        page = _page(request)
        data = await run_in_threadpool(_model_data, tracking, path, page)
    except MlflowError as exc:
        return not_found(request, "Model", exc.message, "models")
    context = {**data, "name": path, "page": page, "active": "models"}
    return render(request, "model.html", context)
