"""``/api/2.0/mlflow-artifacts/artifacts/...``: artifacts proxied through the server.

Runs' artifact URIs are ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts`` and logged
models' are ``mlflow-artifacts:/<experiment_id>/models/<model_id>/artifacts``; MLflow clients turn
them into these routes on the tracking server. Files live in the server's `ArtifactStore` (a local
directory by default, or an S3-compatible bucket); every path is checked to stay inside it.
"""

from __future__ import annotations

import tempfile
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from fastapi.responses import StreamingResponse

from spyglass.tracking._http import Args, MlflowRoute, json_response, tracking_services
from spyglass.tracking.artifact_store import ArtifactStore, check_path
from spyglass.tracking.errors import MlflowError

router = APIRouter(tags=["artifacts"], route_class=MlflowRoute)
PREFIX = "/api/2.0/mlflow-artifacts/artifacts"
SCHEME = "mlflow-artifacts:"
SPOOL_BYTES = 8 << 20  # uploads larger than this go to a temporary file before the store


def proxied_path(uri: str) -> str:
    """The store path of an ``mlflow-artifacts:`` URI. Raises `MlflowError` for other URIs."""
    if not uri.startswith(SCHEME):
        raise MlflowError.invalid(f"artifacts of {uri} are not served by this server")
    return uri[len(SCHEME) :].lstrip("/")


async def list_under(
    store: ArtifactStore, base: str, path: str, relative: bool = True
) -> list[dict[str, Any]]:
    """Entries under ``base/path``; their paths relative to ``base`` (as MLflow lists them)."""
    sub = check_path(path)
    files = await run_in_threadpool(store.list_dir, f"{base}/{sub}".rstrip("/"))
    if relative and sub:
        for f in files:
            f["path"] = f"{sub}/{f['path']}"
    return files


@router.get(PREFIX, summary="List artifacts under a path")
async def list_artifacts(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    files = await run_in_threadpool(t.artifacts.list_dir, args.text("path"))
    return json_response({"files": files})


@router.get(PREFIX + "/{path:path}", summary="Download an artifact")
async def download_artifact(path: str, request: Request) -> Response:
    chunks = await run_in_threadpool(tracking_services(request).artifacts.read, path)
    if chunks is None:
        raise MlflowError.not_found(f"Artifact '{path}' does not exist")
    return StreamingResponse(iterate_in_threadpool(chunks), media_type="application/octet-stream")


@router.put(PREFIX + "/{path:path}", summary="Upload an artifact")
async def upload_artifact(path: str, request: Request) -> Response:
    store = tracking_services(request).artifacts
    if not check_path(path):
        raise MlflowError.invalid("Artifact path is empty")
    with tempfile.SpooledTemporaryFile(SPOOL_BYTES) as body:
        async for chunk in request.stream():
            if len(chunk) > 65536:
                await run_in_threadpool(body.write, chunk)
            else:
                body.write(chunk)
        body.seek(0)
        await run_in_threadpool(store.write, path, body)
    return json_response({})


@router.delete(PREFIX + "/{path:path}", summary="Delete an artifact or a directory of them")
async def delete_artifact(path: str, request: Request) -> Response:
    await run_in_threadpool(tracking_services(request).artifacts.delete, path)
    return json_response({})


@router.get("/api/2.0/mlflow/artifacts/list", summary="List a run's artifacts")
async def list_run_artifacts(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    run = await run_in_threadpool(t.runs.state, args.run_id())
    uri = run["artifact_uri"]
    files = await list_under(t.artifacts, proxied_path(uri), args.text("path"))
    return json_response({"root_uri": uri, "files": files})
