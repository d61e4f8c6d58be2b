"""``/api/2.0/mlflow/experiments/*``, ``runs/*`` and ``metrics/*``: MLflow's tracking REST API.

Plus one Spyglass extension, ``GET /api/2.0/spyglass/runs/traces?run_id=...``: the traces whose
spans carry ``mlflow.sourceRun`` = the run's id, in the run's experiment (project).

Request and response shapes follow MLflow's ``service.proto`` as its JSON mapping: POST bodies
are JSON objects, GET fields come in the query string, empty responses are ``{}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from spyglass.store import tracking_run_reads as reads
from spyglass.tracking._http import Args, MlflowRoute, json_response, tracking_services

router = APIRouter(prefix="/api/2.0/mlflow", tags=["tracking"], route_class=MlflowRoute)
spyglass_router = APIRouter(prefix="/api/2.0/spyglass", tags=["tracking"], route_class=MlflowRoute)
_EMPTY = b"{}"


def _ok() -> Response:
    return Response(_EMPTY, media_type="application/json")


# -- experiments ------------------------------------------------------------------------------


@router.post("/experiments/create", summary="Create an experiment")
async def create_experiment(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    experiment_id = await run_in_threadpool(
        t.experiments.create,
        args.text("name", required=True),
        args.text("artifact_location"),
        args.objects("tags"),
    )
    return json_response({"experiment_id": experiment_id})


@router.get("/experiments/get", summary="Get an experiment by id")
async def get_experiment(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    exp = await run_in_threadpool(t.experiments.get, args.text("experiment_id", required=True))
    return json_response({"experiment": exp})


@router.get("/experiments/get-by-name", summary="Get an experiment by name")
async def get_experiment_by_name(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    name = args.text("experiment_name", required=True)
    return json_response({"experiment": await run_in_threadpool(t.experiments.get_by_name, name)})


@router.api_route("/experiments/search", methods=["GET", "POST"], summary="Search experiments")
async def search_experiments(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    experiments, token = await run_in_threadpool(
        t.experiments.search,
        args.text("view_type") or None,
        args.text("filter"),
        [str(o) for o in args.items("order_by")],
        args.count("max_results", 1000),
        args.text("page_token") or None,
    )
    body: dict[str, Any] = {"experiments": experiments}
    if token:
        body["next_page_token"] = token
    return json_response(body)


@router.post("/experiments/update", summary="Rename an experiment")
async def update_experiment(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    experiment_id = args.text("experiment_id", required=True)
    await run_in_threadpool(t.experiments.rename, experiment_id, args.text("new_name"))
    return _ok()


@router.post("/experiments/delete", summary="Delete an experiment")
async def delete_experiment(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    experiment_id = args.text("experiment_id", required=True)
    await run_in_threadpool(t.experiments.set_lifecycle, experiment_id, "deleted")
    return _ok()


@router.post("/experiments/restore", summary="Restore a deleted experiment")
async def restore_experiment(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    experiment_id = args.text("experiment_id", required=True)
    await run_in_threadpool(t.experiments.set_lifecycle, experiment_id, "active")
    return _ok()


@router.post("/experiments/set-experiment-tag", summary="Set an experiment tag")
async def set_experiment_tag(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(
        t.experiments.set_tag,
        args.text("experiment_id", required=True),
        args.text("key", required=True),
        args.text("value"),
    )
    return _ok()


@router.post("/experiments/delete-experiment-tag", summary="Delete an experiment tag")
async def delete_experiment_tag(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    experiment_id, key = args.text("experiment_id", required=True), args.text("key", required=True)
    await run_in_threadpool(t.experiments.set_tag, experiment_id, key, "", True)
    return _ok()


# -- runs -------------------------------------------------------------------------------------


@router.post("/runs/create", summary="Start a run")
async def create_run(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    run = await run_in_threadpool(
        t.runs.create,
        args.text("experiment_id", default="0"),
        args.text("user_id"),
        args.text("run_name"),
        args.integer("start_time"),
        args.objects("tags"),
    )
    return json_response({"run": run})


@router.get("/runs/get", summary="Get a run with its data")
async def get_run(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    return json_response({"run": await run_in_threadpool(reads.get_run, t.runs, args.run_id())})


@router.post("/runs/update", summary="Change a run's status, end time or name")
async def update_run(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    info = await run_in_threadpool(
        t.runs.update,
        args.run_id(),
        args.text("status") or None,
        args.integer("end_time"),
        args.text("run_name") or None,
    )
    return json_response({"run_info": info})


@router.post("/runs/delete", summary="Delete a run")
async def delete_run(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(t.runs.set_lifecycle, args.run_id(), "deleted")
    return _ok()


@router.post("/runs/restore", summary="Restore a deleted run")
async def restore_run(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(t.runs.set_lifecycle, args.run_id(), "active")
    return _ok()


@router.post("/runs/log-metric", summary="Log one metric point")
async def log_metric(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    run_id = args.run_id()
    metric = {k: args.data.get(k) for k in ("key", "value", "timestamp", "step")}
    if metric["value"] is None:
        args.text("value", required=True)
    if t.runs.cached(run_id):  # no I/O but the spool append: stay on the event loop
        t.runs.log_batch(run_id, metrics=[metric])
    else:
        await run_in_threadpool(t.runs.log_batch, run_id, [metric])
    return _ok()


@router.post("/runs/log-parameter", summary="Log one param")
async def log_param(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    param = {"key": args.text("key", required=True), "value": args.data.get("value", "")}
    await run_in_threadpool(t.runs.log_batch, args.run_id(), (), [param])
    return _ok()


@router.post("/runs/set-tag", summary="Set a run tag")
async def set_tag(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    tag = {"key": args.text("key", required=True), "value": args.data.get("value", "")}
    await run_in_threadpool(t.runs.log_batch, args.run_id(), (), (), [tag])
    return _ok()


@router.post("/runs/delete-tag", summary="Delete a run tag")
async def delete_tag(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(t.runs.delete_tag, args.run_id(), args.text("key", required=True))
    return _ok()


@router.post("/runs/log-batch", summary="Log metrics, params and tags in one request")
async def log_batch(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    await run_in_threadpool(
        t.runs.log_batch,
        args.text("run_id", required=True),
        args.objects("metrics"),
        args.objects("params"),
        args.objects("tags"),
    )
    return _ok()


@router.post("/runs/log-inputs", summary="Record dataset inputs of a run")
async def log_inputs(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    run_id, models = args.text("run_id", required=True), args.objects("models")
    await run_in_threadpool(t.runs.log_inputs, run_id, args.objects("datasets"))
    if models:
        await run_in_threadpool(t.runs.log_models, run_id, "input", models)
    return _ok()


@router.post("/runs/search", summary="Search runs with MLflow's filter syntax")
async def search_runs(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    runs, token = await run_in_threadpool(
        reads.search_runs,
        t.runs,
        [str(e) for e in args.items("experiment_ids")],
        args.text("filter"),
        args.text("run_view_type") or None,
        args.count("max_results", 1000),
        [str(o) for o in args.items("order_by")],
        args.text("page_token") or None,
    )
    body: dict[str, Any] = {"runs": runs}
    if token:
        body["next_page_token"] = token
    return json_response(body)


@router.get("/metrics/get-history", summary="Every point of one metric")
async def get_metric_history(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    points, token = await run_in_threadpool(
        reads.metric_history,
        t.runs,
        args.run_id(),
        args.text("metric_key", required=True),
        args.integer("max_results"),
        args.text("page_token") or None,
    )
    body: dict[str, Any] = {"metrics": points}
    if token:
        body["next_page_token"] = token
    return json_response(body)


@router.get("/metrics/get-history-bulk-interval", summary="Sampled history across runs")
async def get_metric_history_bulk_interval(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    points = await run_in_threadpool(
        reads.metric_history_bulk_interval,
        t.runs,
        [str(r) for r in args.items("run_ids")],
        args.text("metric_key", required=True),
        args.integer("max_results"),
        args.integer("start_step"),
        args.integer("end_step"),
    )
    return json_response({"metrics": points})


@spyglass_router.get("/runs/traces", summary="Traces recorded in a run")
async def list_run_traces(request: Request) -> Response:
    args, t = await Args.read(request), tracking_services(request)
    traces = await run_in_threadpool(
        reads.run_traces, t.runs, args.run_id(), args.count("max_results", 100)
    )
    return json_response({"traces": traces})
