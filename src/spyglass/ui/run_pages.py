"""Experiments and runs: the experiment list, an experiment's runs, one run, run comparison."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from spyglass.store import tracking_run_reads as reads
from spyglass.tracking.errors import MlflowError
from spyglass.ui.render import render
from spyglass.ui.run_state import TableState, page_token
from spyglass.ui.tracking_queries import (
    EVALUATION_TAG,
    TrackingDep,
    artifact_base,
    experiment_counts,
    experiment_keys,
    list_artifacts,
    metric_series,
    mlflow_quote,
)

router = APIRouter(include_in_schema=False)

EXPERIMENTS_PAGE = 50
MAX_COMPARED = 20
RunIds = Annotated[list[str], Query(alias="run", max_length=MAX_COMPARED * 4)]


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    """A run's JSON flattened for a table row."""
    info, data = run["info"], run["data"]
    start, end = info.get("start_time") or 0, info.get("end_time") or 0
    tags = {t["key"]: t["value"] for t in data.get("tags", [])}
    return {
        "id": info["run_id"],
        "name": info.get("run_name") or info["run_id"],
        "experiment_id": info["experiment_id"],
        "status": info.get("status", ""),
        "user": info.get("user_id", ""),
        "start": start,
        "end": end,
        "duration_ms": end - start if end and start and end >= start else None,
        "params": {p["key"]: p["value"] for p in data.get("params", [])},
        "metrics": {m["key"]: m["value"] for m in data.get("metrics", [])},
        "tags": tags,
        "is_evaluation": tags.get(EVALUATION_TAG) == "true",
        "lifecycle_stage": info.get("lifecycle_stage", "active"),
    }


def not_found(
    request: Request, what: str, message: str, active: str = "experiments"
) -> HTMLResponse:
    """The 404 page of the tracking views."""
    context = {"what": what, "message": message, "active": active}
    return render(request, "tracking_missing.html", context, status=404)


@router.get("/experiments", response_class=HTMLResponse)
async def experiments_page(request: Request, tracking: TrackingDep) -> Response:
    q = request.query_params
    text = (q.get("q") or "").strip()[:500]
    state = TableState.from_query(q)
    filter_string = f"name ILIKE {mlflow_quote('%' + text + '%')}" if text else ""

    def read() -> tuple[list[dict[str, Any]], str | None, dict[str, dict[str, Any]]]:
        found, next_token = tracking.experiments.search(
            "ACTIVE_ONLY",
            filter_string,
            ["last_update_time DESC"],
            EXPERIMENTS_PAGE,
            page_token(state.page, EXPERIMENTS_PAGE),
        )
        counts = experiment_counts(tracking.runs, [e["experiment_id"] for e in found])
        return found, next_token, counts

    found, next_token, counts = await run_in_threadpool(read)
    context = {
        "experiments": found,
        "counts": counts,
        "q": text,
        "page": state.page,
        "has_next": next_token is not None,
        "active": "experiments",
    }
    return render(request, "experiments.html", context)


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
async def experiment_page(experiment_id: str, request: Request, tracking: TrackingDep) -> Response:
    state = TableState.from_query(request.query_params)
    try:
        experiment = await run_in_threadpool(tracking.experiments.get, experiment_id)
    except MlflowError as exc:
        return not_found(request, "Experiment", exc.message)

    def read() -> tuple[list[dict[str, Any]], str | None, dict[str, Any]]:
        keys = experiment_keys(tracking.runs, [experiment_id])
        found, next_token = reads.search_runs(
            tracking.runs,
            [experiment_id],
            state.filter,
            "ACTIVE_ONLY",
            state.size,
            state.order_by(),
            state.token,
        )
        return found, next_token, keys

    error = None
    found: list[dict[str, Any]] = []
    next_token = None
    keys: dict[str, Any] = {"params": ([], False), "metrics": ([], False)}
    try:
        found, next_token, keys = await run_in_threadpool(read)
    except MlflowError as exc:
        error = exc.message
    path = f"/experiments/{experiment_id}"
    context = {
        "experiment": experiment,
        "project": experiment["name"],
        "state": state,
        "path": path,
        "runs": [run_row(r) for r in found],
        "param_keys": keys["params"][0],
        "metric_keys": keys["metrics"][0],
        "more_keys": keys["params"][1] or keys["metrics"][1],
        "has_next": next_token is not None,
        "error": error,
        "active": "experiments",
    }
    return render(request, "runs.html", context)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(run_id: str, request: Request, tracking: TrackingDep) -> Response:
    path = (request.query_params.get("path") or "")[:1000]

    def read() -> dict[str, Any]:
        run = reads.get_run(tracking.runs, run_id)
        experiment = tracking.experiments.get(run["info"]["experiment_id"])
        series = metric_series(tracking.runs, [run_id]).get(run_id, {})
        base = artifact_base(run["info"]["artifact_uri"])
        listing = list_artifacts(tracking.artifacts, base, path) if base else None
        versions, _ = tracking.versions.search(f"run_id = {mlflow_quote(run_id)}", 50, [], None)
        return {
            "run": run,
            "experiment": experiment,
            "series": series,
            "artifacts": listing,
            "artifact_uri": run["info"]["artifact_uri"],
            "versions": versions,
        }

    try:
        data = await run_in_threadpool(read)
    except MlflowError as exc:
        return not_found(request, "Run", exc.message)
    row = run_row(data["run"])
    charts = [
        {"key": key, "series": [{"label": row["name"], **s}]}
        for key, s in data["series"].items()
        if len(s["steps"]) > 1
    ]
    context = {
        **data,
        "r": row,
        "inputs": data["run"].get("inputs", {}).get("dataset_inputs", []),
        "charts": charts,
        "project": data["experiment"]["name"],
        "active": "experiments",
    }
    return render(request, "run.html", context)


def _side_by_side(rows: list[dict[str, Any]], field: str) -> list[tuple[str, list[Any], bool]]:
    keys = sorted({k for r in rows for k in r[field]})
    out = []
    for key in keys:
        values = [r[field].get(key) for r in rows]
        out.append((key, values, len({repr(v) for v in values}) > 1))
    return out


@router.get("/compare", response_class=HTMLResponse)
async def compare_page(
    request: Request,
    tracking: TrackingDep,
    run_ids: RunIds = [],  # noqa: B006
) -> Response:
    ids = list(dict.fromkeys(r.strip() for r in run_ids if r.strip()))[:MAX_COMPARED]
    only_diff = request.query_params.get("diff") == "1"

    def read() -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, Any]]]]:
        found = reads.get_runs(tracking.runs, ids)
        return found, metric_series(tracking.runs, [r["info"]["run_id"] for r in found])

    found, series = await run_in_threadpool(read)
    rows = [run_row(r) for r in found]
    missing = [i for i in ids if i not in {r["id"] for r in rows}]
    params = _side_by_side(rows, "params")
    metrics = _side_by_side(rows, "metrics")
    tags = _side_by_side(
        [{**r, "tags": {k: v for k, v in r["tags"].items() if k != "mlflow.runName"}}
         for r in rows],
        "tags",
    )  # fmt: skip
    chart_keys = sorted({k for s in series.values() for k, v in s.items() if len(v["steps"]) > 1})
    charts = [
        {
            "key": key,
            "series": [
                {"label": r["name"], **series[r["id"]][key]}
                for r in rows
                if key in series.get(r["id"], {})
            ],
        }
        for key in chart_keys
    ]
    experiment = None
    if rows:
        try:
            experiment = await run_in_threadpool(tracking.experiments.get, rows[0]["experiment_id"])
        except MlflowError:
            experiment = None
    context = {
        "rows": rows,
        "missing": missing,
        "params": params,
        "metrics": metrics,
        "tags": tags,
        "charts": charts,
        "only_diff": only_diff,
        "compare_query": urlencode([("run", r["id"]) for r in rows]),
        "experiment": experiment,
        "project": experiment["name"] if experiment else None,
        "active": "experiments",
    }
    return render(request, "compare.html", context, status=200 if len(rows) >= 2 else 400)
