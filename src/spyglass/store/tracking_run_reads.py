"""Reading runs back: whole runs by id, metric history, and MLflow's run search.

A run's metric value is its latest point: the highest step, then the latest timestamp, then the
largest value (MLflow's rule), computed with ``argMax`` over the history.
"""

from __future__ import annotations

import json
from typing import Any

from spyglass.store.tracking_experiments import view_stages
from spyglass.store.tracking_runs import RUN_SELECT, RunStore, metric_value, run_info
from spyglass.store.tracking_search import (
    Attribute,
    Keyed,
    SearchError,
    SearchSpec,
    compile_search,
    decode_page_token,
    encode_page_token,
    parse_order_by,
)
from spyglass.tracking.errors import MlflowError

MAX_RESULTS = 50_000
MAX_HISTORY_PAGE = 25_000
_LATEST = "(step, timestamp, value)"

RUN_ATTRIBUTES = {
    "run_id": Attribute("r.run_id", "string"),
    "run_name": Attribute("r.run_name", "string"),
    "status": Attribute("r.status", "string"),
    "user_id": Attribute("r.user_id", "string"),
    "artifact_uri": Attribute("r.artifact_uri", "string"),
    "lifecycle_stage": Attribute("r.lifecycle_stage", "string"),
    "start_time": Attribute("r.start_time", "number"),
    "end_time": Attribute("r.end_time", "number"),
    "created": Attribute("r.start_time", "number"),
    "Created": Attribute("r.start_time", "number"),
}


def run_search_spec(db: str) -> SearchSpec:
    """What a run filter may name, as trusted SQL over the outer row alias ``r``."""
    latest = (
        f"SELECT run_id, argMax(value, {_LATEST}) AS lv FROM {db}.run_metrics "
        "WHERE key = {key} GROUP BY run_id"
    )
    return SearchSpec(
        RUN_ATTRIBUTES,
        {
            "metric": Keyed(
                f"r.run_id IN (SELECT run_id FROM ({latest}) AS lm WHERE {{cond}})",
                "lv",
                "number",
            ),
            "param": Keyed(
                f"r.run_id IN (SELECT run_id FROM {db}.run_params FINAL "
                "WHERE key = {key} AND {cond})",
                "value",
                "string",
            ),
            "tag": Keyed(
                f"r.run_id IN (SELECT run_id FROM {db}.run_tags FINAL "
                "WHERE key = {key} AND deleted = 0 AND {cond})",
                "value",
                "string",
            ),
            "dataset": Keyed(
                f"r.run_id IN (SELECT run_id FROM {db}.run_inputs FINAL WHERE {{key}} != '' "
                "AND {cond})",
                "name",
                "string",
                columns={"name": "name", "digest": "digest", "context": "context"},
            ),
        },
    )


def get_runs(store: RunStore, run_ids: list[str]) -> list[dict[str, Any]]:
    """Whole ``Run`` JSON (info, latest metrics, params, tags, inputs) for ids, in order."""
    if not run_ids:
        return []
    db, ids = store.db, {"ids": run_ids}
    rows = store.query(
        f"SELECT {RUN_SELECT} FROM {db}.runs FINAL WHERE run_id IN {{ids:Array(String)}}", ids
    )
    data: dict[str, dict[str, list[dict[str, Any]]]] = {
        r["run_id"]: {"metrics": [], "params": [], "tags": []} for r in rows
    }
    inputs: dict[str, list[dict[str, Any]]] = {r["run_id"]: [] for r in rows}
    for m in store.query(
        f"SELECT run_id, key, argMax(value, {_LATEST}) AS v, "
        f"argMax(timestamp, {_LATEST}) AS ts, max(step) AS st FROM {db}.run_metrics "
        "WHERE run_id IN {ids:Array(String)} GROUP BY run_id, key ORDER BY key",
        ids,
    ):
        data[m["run_id"]]["metrics"].append(
            {"key": m["key"], "value": metric_value(m["v"]), "timestamp": m["ts"], "step": m["st"]}
        )
    for kind, table, extra in (
        ("params", "run_params", ""),
        ("tags", "run_tags", " AND deleted = 0"),
    ):
        for p in store.query(
            f"SELECT run_id, key, value FROM {db}.{table} FINAL "
            f"WHERE run_id IN {{ids:Array(String)}}{extra} ORDER BY key",
            ids,
        ):
            data[p.pop("run_id")][kind].append(p)
    for d in store.query(
        f"SELECT run_id, name, digest, source_type, source, schema, profile, tags "
        f"FROM {db}.run_inputs FINAL WHERE run_id IN {{ids:Array(String)}} ORDER BY ver",
        ids,
    ):
        tags = [{"key": k, "value": v} for k, v in sorted(d.pop("tags").items())]
        inputs[d.pop("run_id")].append({"tags": tags, "dataset": d})
    models: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for m in store.query(
        f"SELECT run_id, direction, model_id, step FROM {db}.run_models FINAL "
        "WHERE run_id IN {ids:Array(String)} ORDER BY ver",
        ids,
    ):
        entry = {"model_id": m["model_id"]}
        if m["direction"] == "output":
            entry["step"] = m["step"]
        models.setdefault((m["run_id"], m["direction"]), []).append(entry)
    by_id = {}
    for r in rows:
        run_id = r["run_id"]
        run_inputs: dict[str, Any] = {}
        if inputs[run_id]:
            run_inputs["dataset_inputs"] = inputs[run_id]
        if (run_id, "input") in models:
            run_inputs["model_inputs"] = models[run_id, "input"]
        run: dict[str, Any] = {"info": run_info(r), "data": data[run_id], "inputs": run_inputs}
        if (run_id, "output") in models:
            run["outputs"] = {"model_outputs": models[run_id, "output"]}
        by_id[run_id] = run
    return [by_id[i] for i in run_ids if i in by_id]


def get_run(store: RunStore, run_id: str) -> dict[str, Any]:
    """One run's JSON. Raises `MlflowError` (404) if there is no such run."""
    store.state(run_id)
    runs = get_runs(store, [run_id])
    if not runs:
        raise MlflowError.not_found(f"Run with id={run_id} not found")
    return runs[0]


def metric_history(
    store: RunStore, run_id: str, key: str, max_results: int | None, page_token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Every point of one metric, by step then timestamp; paged."""
    store.state(run_id)
    limit = max_results or MAX_HISTORY_PAGE
    if not 0 < limit <= MAX_HISTORY_PAGE:
        raise MlflowError.invalid(f"max_results must be between 1 and {MAX_HISTORY_PAGE}")
    try:
        offset = decode_page_token(page_token)
    except SearchError as exc:
        raise MlflowError.invalid(str(exc)) from None
    rows = store.query(
        f"SELECT DISTINCT key, value, timestamp, step FROM {store.db}.run_metrics "
        "WHERE run_id = {id:String} AND key = {key:String} ORDER BY step, timestamp, value "
        "LIMIT {limit:UInt64} OFFSET {offset:UInt64}",
        {"id": run_id, "key": key, "limit": limit + 1, "offset": offset},
    )
    more = len(rows) > limit
    points = [{**r, "value": metric_value(r["value"])} for r in rows[:limit]]
    return points, encode_page_token(offset + limit) if more else None


def search_runs(
    store: RunStore,
    experiment_ids: list[str],
    filter_string: str = "",
    run_view_type: str | None = None,
    max_results: int = 1000,
    order_by: list[str] | None = None,
    page_token: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of runs matching an MLflow filter, and the next page's token (None at the end)."""
    if not 0 < max_results <= MAX_RESULTS:
        raise MlflowError.invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            f"at most {MAX_RESULTS}"
        )
    db = store.db
    try:
        compiled = compile_search(filter_string, run_search_spec(db))
        offset = decode_page_token(page_token)
        orders = [parse_order_by(o) for o in order_by or []]
    except SearchError as exc:
        raise MlflowError.invalid(str(exc)) from None
    params: dict[str, Any] = {
        **compiled.params,
        "exps": [str(e) for e in experiment_ids],
        "stages": list(view_stages(run_view_type)),
        "limit": max_results + 1,
        "offset": offset,
    }
    joins, clauses = [], []
    for n, o in enumerate(orders):
        direction = "ASC" if o.ascending else "DESC"
        if o.kind == "attribute":
            attr = RUN_ATTRIBUTES.get(o.key)
            if attr is None:
                raise MlflowError.invalid(f"Invalid order_by attribute key {o.key!r}")
            clauses.append(f"{attr.sql} {direction}")
            continue
        params[f"ok{n}"] = o.key
        key = f"{{ok{n}:String}}"
        if o.kind == "metric":
            source = (
                f"SELECT run_id, argMax(value, {_LATEST}) AS v, 1 AS h FROM {db}.run_metrics "
                f"WHERE key = {key} GROUP BY run_id"
            )
        elif o.kind in ("param", "tag"):
            table = "run_params" if o.kind == "param" else "run_tags"
            live = " AND deleted = 0" if o.kind == "tag" else ""
            source = (
                f"SELECT run_id, value AS v, 1 AS h FROM {db}.{table} FINAL WHERE key = {key}{live}"
            )
        else:
            raise MlflowError.invalid(f"Invalid order_by entity {o.kind!r}")
        joins.append(f"LEFT JOIN ({source}) AS o{n} ON o{n}.run_id = r.run_id")
        clauses += [f"o{n}.h = 0", f"o{n}.v {direction}"]  # runs without the key go last
    clauses += ["r.start_time DESC", "r.run_id ASC"]
    sql = (
        f"SELECT r.run_id AS run_id FROM (SELECT run_id, run_name, user_id, status, start_time, "
        f"end_time, artifact_uri, lifecycle_stage FROM {db}.runs FINAL "
        "WHERE experiment_id IN {exps:Array(String)}) AS r "
        f"{' '.join(joins)} WHERE r.lifecycle_stage IN {{stages:Array(String)}} "
        f"AND {compiled.sql} ORDER BY {', '.join(clauses)} "
        "LIMIT {limit:UInt64} OFFSET {offset:UInt64}"
    )
    ids = [r["run_id"] for r in store.query(sql, params)]
    more = len(ids) > max_results
    runs = get_runs(store, ids[:max_results])
    return runs, encode_page_token(offset + max_results) if more else None


MAX_BULK_RUNS = 100
MAX_BULK_RESULTS_PER_RUN = 2500


def _evenly_spaced(total: int, count: int) -> list[int]:
    """At most ``count`` evenly spaced indices into ``total`` items, first and last included."""
    if total <= count:
        return list(range(total))
    if count == 1:
        return [total - 1]
    step = (total - 1) / (count - 1)
    return sorted({round(i * step) for i in range(count)})


def metric_history_bulk_interval(
    store: RunStore,
    run_ids: list[str],
    key: str,
    max_results: int | None,
    start_step: int | None,
    end_step: int | None,
) -> list[dict[str, Any]]:
    """One metric's history across runs, sampled to about ``max_results`` steps per run.

    MLflow's rule (``get-history-bulk-interval``, which its UI charts use): sample the distinct
    steps inside ``[start_step, end_step]`` evenly, always keeping each run's first and last step.
    """
    if not run_ids or not all(isinstance(r, str) and r for r in run_ids):
        raise MlflowError.invalid("GetMetricHistoryBulkInterval request must specify run_ids.")
    if len(run_ids) > MAX_BULK_RUNS:
        raise MlflowError.invalid(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_BULK_RUNS} "
            f"run_ids. Received {len(run_ids)} run_ids."
        )
    limit = MAX_BULK_RESULTS_PER_RUN if max_results is None else max_results
    if not 1 <= limit <= MAX_BULK_RESULTS_PER_RUN:
        raise MlflowError.invalid(f"max_results must be between 1 and {MAX_BULK_RESULTS_PER_RUN}.")
    if (start_step is None) != (end_step is None):
        raise MlflowError.invalid(
            "If either start step or end step are specified, both must be specified."
        )
    if start_step is not None and end_step is not None and start_step > end_step:
        raise MlflowError.invalid(
            "end_step must be greater than start_step. "
            f"Found start_step={start_step} and end_step={end_step}."
        )
    ids = list(dict.fromkeys(run_ids))
    params: dict[str, Any] = {"ids": ids, "key": key}
    per_run = store.query(
        f"SELECT run_id, groupUniqArray(step) AS steps FROM {store.db}.run_metrics "
        "WHERE run_id IN {ids:Array(String)} AND key = {key:String} GROUP BY run_id",
        params,
    )
    all_steps = sorted({s for r in per_run for s in r["steps"]})
    lo = 0 if start_step is None else start_step
    hi = (all_steps[-1] if all_steps else 0) if end_step is None else end_step
    edges = {s for r in per_run for s in (min(r["steps"]), max(r["steps"])) if lo <= s <= hi}
    in_range = [s for s in all_steps if lo <= s <= hi]
    if len(in_range) <= limit:
        sampled = set(in_range)
    else:
        interval = len(in_range) / limit
        sampled = {in_range[int(i * interval)] for i in range(limit)} | {in_range[-1]}
    steps = sorted(sampled | edges)
    if not steps:
        return []
    params["steps"] = steps
    rows = store.query(
        f"SELECT DISTINCT run_id, key, value, timestamp, step FROM {store.db}.run_metrics "
        "WHERE run_id IN {ids:Array(String)} AND key = {key:String} "
        "AND step IN {steps:Array(Int64)} ORDER BY run_id, step, timestamp, value",
        params,
    )
    by_run: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_run.setdefault(r["run_id"], []).append(r)
    cap = max(limit, len(steps))
    out: list[dict[str, Any]] = []
    for run_id in ids:
        points = by_run.get(run_id, [])
        for i in _evenly_spaced(len(points), cap):
            p = points[i]
            out.append({**p, "value": metric_value(p["value"])})
    return out


SOURCE_RUN_KEY = "mlflow.sourceRun"  # MLflow's trace metadata key for the run a trace ran in
MAX_RUN_TRACES = 1000


def run_traces(store: RunStore, run_id: str, max_results: int = 100) -> list[dict[str, Any]]:
    """Traces recorded while the run was active, newest first.

    A trace belongs to a run when one of its spans (or their resource) carries the string
    attribute ``mlflow.sourceRun`` with the run's id; it is looked up in the project named like
    the run's experiment.
    """
    if not 0 < max_results <= MAX_RUN_TRACES:
        raise MlflowError.invalid(f"max_results must be between 1 and {MAX_RUN_TRACES}")
    run = store.state(run_id)
    project = store.experiments.get(run["experiment_id"])["name"]
    # Attribute values are stored as JSON text; MLflow's exporters JSON-encode once more.
    forms = [json.dumps(run_id), json.dumps(json.dumps(run_id))]
    rows = store.query(
        "SELECT trace_id, anyIf(name, parent_span_id = '') AS name, "
        "toInt64(toUnixTimestamp64Milli(min(start_time))) AS start_time_ms, "
        "toInt64(toUnixTimestamp64Milli(max(end_time))) AS end_time_ms, "
        "uniqExact(span_id) AS span_count, uniqExactIf(span_id, status_code = 'ERROR') AS errors "
        f"FROM {store.db}.spans WHERE project = {{project:String}} AND trace_id IN ("
        f"SELECT DISTINCT trace_id FROM {store.db}.spans WHERE project = {{project:String}} "
        "AND (attributes[{key:String}] IN {run:Array(String)} "
        "OR resource_attributes[{key:String}] IN {run:Array(String)})) "
        "GROUP BY trace_id ORDER BY start_time_ms DESC, trace_id LIMIT {limit:UInt64}",
        {"project": project, "key": SOURCE_RUN_KEY, "run": forms, "limit": max_results},
    )
    return [
        {
            "trace_id": r["trace_id"],
            "name": r["name"],
            "start_time_ms": r["start_time_ms"],
            "end_time_ms": r["end_time_ms"],
            "span_count": r["span_count"],
            "status": "ERROR" if r["errors"] else "OK",
        }
        for r in rows
    ]
