"""``/api/2.0/mlflow/registered-models/*`` and ``model-versions/*``: MLflow's registry REST API.

Plus one Spyglass extension, ``GET /api/2.0/spyglass/registered-models/history?name=...``: the
audit trail of every stage transition and alias change (who, when, from, to).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from spyglass.tracking._http import (
    Args,
    MlflowRoute,
    json_response,
    request_user,
    tracking_services,
)

router = APIRouter(prefix="/api/2.0/mlflow", tags=["registry"], route_class=MlflowRoute)
history_router = APIRouter(prefix="/api/2.0/spyglass", tags=["registry"], route_class=MlflowRoute)


def _page(key: str, items: list[dict[str, Any]], token: str | None) -> Response:
    body: dict[str, Any] = {key: items}
    if token:
        body["next_page_token"] = token
    return json_response(body)


# -- registered models ------------------------------------------------------------------------


@router.post("/registered-models/create", summary="Register a model name")
async def create_registered_model(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    model = await run_in_threadpool(
        t.registry.create_model,
        args.text("name", required=True),
        args.objects("tags"),
        args.text("description"),
        request_user(request),
    )
    return json_response({"registered_model": model})


@router.get("/registered-models/get", summary="Get a registered model")
async def get_registered_model(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    model = await run_in_threadpool(t.registry.get_model, args.text("name", required=True))
    return json_response({"registered_model": model})


@router.post("/registered-models/rename", summary="Rename a registered model")
async def rename_registered_model(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    model = await run_in_threadpool(
        t.registry.rename_model, args.text("name", required=True), args.text("new_name")
    )
    return json_response({"registered_model": model})


@router.patch("/registered-models/update", summary="Change a model's description")
async def update_registered_model(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    model = await run_in_threadpool(
        t.registry.update_model, args.text("name", required=True), args.text("description")
    )
    return json_response({"registered_model": model})


@router.delete("/registered-models/delete", summary="Delete a registered model")
async def delete_registered_model(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(t.registry.delete_model, args.text("name", required=True))
    return json_response({})


@router.get("/registered-models/search", summary="Search registered models")
async def search_registered_models(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    models, token = await run_in_threadpool(
        t.registry.search_models,
        args.text("filter"),
        args.count("max_results", 100),
        [str(o) for o in args.items("order_by")],
        args.text("page_token") or None,
    )
    return _page("registered_models", models, token)


@router.api_route(
    "/registered-models/get-latest-versions", methods=["GET", "POST"], summary="Latest per stage"
)
async def get_latest_versions(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    versions = await run_in_threadpool(
        t.versions.latest, args.text("name", required=True), [str(s) for s in args.items("stages")]
    )
    return json_response({"model_versions": versions})


@router.post("/registered-models/set-tag", summary="Set a registered model tag")
async def set_registered_model_tag(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(
        t.registry.set_model_tag,
        args.text("name", required=True),
        args.text("key", required=True),
        args.text("value"),
    )
    return json_response({})


@router.delete("/registered-models/delete-tag", summary="Delete a registered model tag")
async def delete_registered_model_tag(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    name, key = args.text("name", required=True), args.text("key", required=True)
    await run_in_threadpool(t.registry.set_model_tag, name, key, "", True)
    return json_response({})


@router.post("/registered-models/alias", summary="Point an alias at a version")
async def set_alias(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(
        t.versions.set_alias,
        args.text("name", required=True),
        args.text("alias", required=True),
        args.text("version", required=True),
        request_user(request),
    )
    return json_response({})


@router.delete("/registered-models/alias", summary="Remove an alias")
async def delete_alias(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(
        t.versions.delete_alias,
        args.text("name", required=True),
        args.text("alias", required=True),
        request_user(request),
    )
    return json_response({})


@router.get("/registered-models/alias", summary="The version an alias points at")
async def get_model_version_by_alias(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    version = await run_in_threadpool(
        t.versions.by_alias, args.text("name", required=True), args.text("alias", required=True)
    )
    return json_response({"model_version": version})


# -- model versions ---------------------------------------------------------------------------


@router.post("/model-versions/create", summary="Create a model version")
async def create_model_version(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    version = await run_in_threadpool(
        t.versions.create,
        args.text("name", required=True),
        args.text("source", required=True),
        args.text("run_id"),
        args.objects("tags"),
        args.text("run_link"),
        args.text("description"),
        request_user(request),
    )
    return json_response({"model_version": version})


@router.get("/model-versions/get", summary="Get a model version")
async def get_model_version(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    version = await run_in_threadpool(
        t.versions.get, args.text("name", required=True), args.text("version", required=True)
    )
    return json_response({"model_version": version})


@router.patch("/model-versions/update", summary="Change a version's description")
async def update_model_version(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    version = await run_in_threadpool(
        t.versions.update,
        args.text("name", required=True),
        args.text("version", required=True),
        args.text("description"),
    )
    return json_response({"model_version": version})


@router.delete("/model-versions/delete", summary="Delete a model version")
async def delete_model_version(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(
        t.versions.delete,
        args.text("name", required=True),
        args.text("version", required=True),
        request_user(request),
    )
    return json_response({})


@router.post("/model-versions/transition-stage", summary="Move a version to a stage")
async def transition_stage(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    version = await run_in_threadpool(
        t.versions.transition,
        args.text("name", required=True),
        args.text("version", required=True),
        args.text("stage", required=True),
        args.flag("archive_existing_versions"),
        request_user(request),
    )
    return json_response({"model_version": version})


@router.get("/model-versions/search", summary="Search model versions")
async def search_model_versions(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    versions, token = await run_in_threadpool(
        t.versions.search,
        args.text("filter"),
        args.count("max_results", 10_000),
        [str(o) for o in args.items("order_by")],
        args.text("page_token") or None,
    )
    return _page("model_versions", versions, token)


@router.get("/model-versions/get-download-uri", summary="Where a version's files are")
async def get_download_uri(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    uri = await run_in_threadpool(
        t.versions.download_uri,
        args.text("name", required=True),
        args.text("version", required=True),
    )
    return json_response({"artifact_uri": uri})


@router.post("/model-versions/set-tag", summary="Set a model version tag")
async def set_model_version_tag(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(
        t.versions.set_tag,
        args.text("name", required=True),
        args.text("version", required=True),
        args.text("key", required=True),
        args.text("value"),
    )
    return json_response({})


@router.delete("/model-versions/delete-tag", summary="Delete a model version tag")
async def delete_model_version_tag(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(
        t.versions.set_tag,
        args.text("name", required=True),
        args.text("version", required=True),
        args.text("key", required=True),
        "",
        True,
    )
    return json_response({})


@history_router.get("/registered-models/history", summary="Audit trail of stages and aliases")
async def registry_history(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    events = await run_in_threadpool(t.versions.history, args.text("name", required=True))
    return json_response({"events": events})
