"""``/api/2.0/mlflow/logged-models/*`` and ``runs/outputs``: MLflow 3's logged models.

``mlflow.<flavor>.log_model`` creates a logged model, records it as the run's output, uploads its
files to the model's artifact location (through ``/api/2.0/mlflow-artifacts``) and finalizes it;
``mlflow.register_model("models:/m-...")`` then makes a registry version of it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from spyglass.tracking._http import Args, MlflowRoute, json_response, tracking_services
from spyglass.tracking.routes_artifacts import list_under, proxied_path

router = APIRouter(prefix="/api/2.0/mlflow", tags=["logged models"], route_class=MlflowRoute)
_MODEL = "/logged-models/{model_id}"


@router.post("/logged-models", summary="Create a logged model (PENDING)")
async def create_logged_model(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    model = await run_in_threadpool(
        t.models.create,
        args.text("experiment_id", required=True),
        args.text("name"),
        args.text("model_type"),
        args.text("source_run_id"),
        args.objects("params"),
        args.objects("tags"),
    )
    return json_response({"model": model})


@router.post("/logged-models/search", summary="Search logged models")
async def search_logged_models(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    models, token = await run_in_threadpool(
        t.models.search,
        [str(e) for e in args.items("experiment_ids")],
        args.text("filter"),
        args.objects("order_by"),
        args.integer("max_results"),
        args.text("page_token") or None,
        args.objects("datasets"),
    )
    body: dict[str, Any] = {"models": models}
    if token:
        body["next_page_token"] = token
    return json_response(body)


@router.get(_MODEL, summary="Get a logged model")
async def get_logged_model(model_id: str, request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    model = await run_in_threadpool(t.models.get, model_id, args.flag("allow_deleted"))
    return json_response({"model": model})


@router.patch(_MODEL, summary="Finalize a logged model (READY or FAILED)")
async def finalize_logged_model(model_id: str, request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    if args.data.get("status") is None:
        args.text("status", required=True)
    model = await run_in_threadpool(t.models.finalize, model_id, args.data["status"])
    return json_response({"model": model})


@router.delete(_MODEL, summary="Delete a logged model")
async def delete_logged_model(model_id: str, request: Request) -> Response:
    await Args.read(request)
    await run_in_threadpool(tracking_services(request).models.delete, model_id)
    return json_response({})


@router.patch(_MODEL + "/tags", summary="Set logged model tags")
async def set_logged_model_tags(model_id: str, request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(t.models.set_tags, model_id, args.objects("tags"))
    return json_response({})


@router.delete(_MODEL + "/tags/{tag_key:path}", summary="Delete a logged model tag")
async def delete_logged_model_tag(model_id: str, tag_key: str, request: Request) -> Response:
    await run_in_threadpool(tracking_services(request).models.delete_tag, model_id, tag_key)
    return json_response({})


@router.post(_MODEL + "/params", summary="Log logged model params")
async def log_logged_model_params(model_id: str, request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(t.models.log_params, model_id, args.objects("params"))
    return json_response({})


@router.get(_MODEL + "/artifacts/directories", summary="List a logged model's artifacts")
async def list_logged_model_artifacts(model_id: str, request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    model = await run_in_threadpool(t.models.row, model_id)
    uri = model["artifact_location"]
    path = args.text("artifact_directory_path")
    files = await list_under(t.artifacts, proxied_path(uri), path)
    return json_response({"root_uri": uri, "files": files})


@router.post("/runs/outputs", summary="Record the logged models a run produced")
async def log_outputs(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(
        t.runs.log_models, args.text("run_id", required=True), "output", args.objects("models")
    )
    return json_response({})
