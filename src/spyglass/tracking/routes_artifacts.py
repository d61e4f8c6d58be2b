"""``/api/2.0/mlflow-artifacts/artifacts/...``: artifacts proxied through the server.

Runs' artifact URIs are ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts``; MLflow clients
turn them into these routes on the tracking server. Files live under the server's artifact root
(``<data_dir>/artifacts``); every path is checked to stay inside it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from spyglass.tracking._http import Args, MlflowRoute, json_response, tracking_services
from spyglass.tracking.errors import MlflowError

router = APIRouter(tags=["artifacts"], route_class=MlflowRoute)
PREFIX = "/api/2.0/mlflow-artifacts/artifacts"
SCHEME = "mlflow-artifacts:"


def safe_path(root: Path, path: str) -> Path:
    """``root/path`` for a relative POSIX path that stays inside root; else an `MlflowError`."""
    pure = PurePosixPath(path)
    if "\\" in path or "\x00" in path or pure.is_absolute() or ".." in pure.parts:
        raise MlflowError.invalid(f"Invalid path: {path!r}")
    target = root.joinpath(*pure.parts) if pure.parts else root
    if not target.resolve().is_relative_to(root.resolve()):
        raise MlflowError.invalid(f"Invalid path: {path!r}")
    return target


def list_dir(root: Path, path: str) -> list[dict[str, Any]]:
    """Entries directly under ``path`` (names only), as MLflow's ``FileInfo`` JSON."""
    target = safe_path(root, path)
    if not target.is_dir():
        return []
    files = []
    for entry in sorted(target.iterdir(), key=lambda p: p.name):
        if entry.is_dir():
            files.append({"path": entry.name, "is_dir": True})
        else:
            files.append({"path": entry.name, "is_dir": False, "file_size": entry.stat().st_size})
    return files


@router.get(PREFIX, summary="List artifacts under a path")
async def list_artifacts(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    files = await run_in_threadpool(list_dir, t.artifact_root, args.text("path"))
    return json_response({"files": files})


@router.get(PREFIX + "/{path:path}", summary="Download an artifact")
async def download_artifact(path: str, request: Request) -> Response:
    target = safe_path(tracking_services(request).artifact_root, path)
    if not target.is_file():
        raise MlflowError.not_found(f"Artifact '{path}' does not exist")
    return FileResponse(target, media_type="application/octet-stream")


@router.put(PREFIX + "/{path:path}", summary="Upload an artifact")
async def upload_artifact(path: str, request: Request) -> Response:
    target = safe_path(tracking_services(request).artifact_root, path)
    if target.is_dir():
        raise MlflowError.invalid(f"Artifact path '{path}' is a directory")
    await run_in_threadpool(target.parent.mkdir, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return json_response({})


@router.delete(PREFIX + "/{path:path}", summary="Delete an artifact or a directory of them")
async def delete_artifact(path: str, request: Request) -> Response:
    target = safe_path(tracking_services(request).artifact_root, path)
    if target.is_dir():
        await run_in_threadpool(shutil.rmtree, target)
    elif target.exists():
        target.unlink()
    return json_response({})


@router.get("/api/2.0/mlflow/artifacts/list", summary="List a run's artifacts")
async def list_run_artifacts(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    run = await run_in_threadpool(t.runs.state, args.run_id())
    uri, path = run["artifact_uri"], args.text("path")
    if not uri.startswith(SCHEME):
        raise MlflowError.invalid(f"artifacts of {uri} are not served by this server")
    base = uri[len(SCHEME) :].lstrip("/")
    files = await run_in_threadpool(list_dir, t.artifact_root, f"{base}/{path}".rstrip("/"))
    for f in files:
        f["path"] = f"{path.rstrip('/')}/{f['path']}" if path else f["path"]
    return json_response({"root_uri": uri, "files": files})
