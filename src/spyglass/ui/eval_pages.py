"""Evaluations: runs tagged ``spyglass.evaluation=true``, their result tables, and comparisons.

An evaluation's aggregate numbers are its run metrics; its per-row table and dataset rows are
artifacts (`eval_tables`). Tables are filtered, sorted and paged here, on the server.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import QueryParams

from spyglass.store import tracking_run_reads as reads
from spyglass.tracking.errors import MlflowError
from spyglass.ui import eval_tables as et
from spyglass.ui.render import render
from spyglass.ui.run_pages import not_found, run_row
from spyglass.ui.run_state import TableState
from spyglass.ui.tracking_queries import (
    EVALUATION_TAG,
    TrackingDep,
    artifact_base,
    artifact_path,
    artifact_size,
    download_url,
    experiment_keys,
)

router = APIRouter(include_in_schema=False)

TABLE_PATH = "eval/eval_results_table.json"
DATASET_PATH = "eval/dataset.jsonl"
ROW_PAGE_SIZES = (25, 50, 100, 200)
CELL_PREVIEW = 240
IS_EVALUATION = f"tags.`{EVALUATION_TAG}` = 'true'"
MAX_EXPERIMENTS = 50_000
# Scores where smaller is better (colored that way in comparisons).
_LOWER_IS_BETTER = re.compile(r"latency|loss|error|cost|time|duration|perplexity|_s$|_ms$", re.I)


def cell(value: Any) -> dict[str, Any]:
    """A table cell for the template: its kind, its text, and a short preview if long."""
    if value is None:
        return {"kind": "null", "text": ""}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"kind": "num", "value": value}
    if isinstance(value, str):
        text = value
    else:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    long = len(text) > CELL_PREVIEW
    return {"kind": "text", "text": text, "long": long, "preview": text[:CELL_PREVIEW]}


def _int(q: QueryParams, name: str, default: int, allowed: tuple[int, ...] = ()) -> int:
    try:
        value = int(q.get(name) or default)
    except ValueError:
        return default
    if allowed and value not in allowed:
        return default
    return min(max(value, 0), 10_000_000)


def _link(path: str, q: QueryParams, **changes: Any) -> str:
    pairs = dict(q.items())
    for k, v in changes.items():
        pairs[k] = str(v)
    pairs = {k: v for k, v in pairs.items() if v and not (k == "page" and v == "0")}
    return f"{path}?{urlencode(pairs)}" if pairs else path


def _all_experiments(tracking: Any) -> dict[str, dict[str, Any]]:
    found, _ = tracking.experiments.search("ACTIVE_ONLY", "", None, MAX_EXPERIMENTS, None)
    return {e["experiment_id"]: e for e in found}


@router.get("/evaluations", response_class=HTMLResponse)
async def evaluations_page(request: Request, tracking: TrackingDep) -> Response:
    q = request.query_params
    state = TableState.from_query(q)
    experiment_id = (q.get("experiment") or "").strip()[:100]

    def read() -> dict[str, Any]:
        experiments = _all_experiments(tracking)
        ids = [experiment_id] if experiment_id else list(experiments)
        user = state.filter
        filter_string = f"{IS_EVALUATION} AND ({user})" if user else IS_EVALUATION
        keys = experiment_keys(tracking.runs, ids, evaluations_only=True)
        found, next_token = reads.search_runs(
            tracking.runs, ids, filter_string, "ACTIVE_ONLY", state.size, state.order_by(),
            state.token,
        )  # fmt: skip
        return {"experiments": experiments, "runs": found, "next": next_token, "keys": keys}

    error = None
    data: dict[str, Any] = {"experiments": {}, "runs": [], "next": None, "keys": None}
    try:
        data = await run_in_threadpool(read)
    except MlflowError as exc:
        error = exc.message
    experiment = data["experiments"].get(experiment_id) if experiment_id else None
    extra = {"experiment": experiment_id} if experiment_id else {}
    keys = data["keys"] or {"metrics": ([], False)}
    context = {
        "state": state,
        "path": "/evaluations",
        "extra": extra,
        "experiment": experiment,
        "experiment_id": experiment_id,
        "experiments": data["experiments"],
        "runs": [run_row(r) for r in data["runs"]],
        "metric_keys": keys["metrics"][0],
        "has_next": data["next"] is not None,
        "error": error,
        "project": experiment["name"] if experiment else None,
        "active": "evaluations",
    }
    return render(request, "evaluations.html", context)


def _evaluation(tracking: Any, run_id: str) -> dict[str, Any]:
    """The run, its experiment and where its artifacts live. Raises `MlflowError` (404)."""
    run = reads.get_run(tracking.runs, run_id)
    row = run_row(run)
    if not row["is_evaluation"]:
        raise MlflowError.not_found(f"Run {run_id} is not an evaluation")
    experiment = tracking.experiments.get(row["experiment_id"])
    base = artifact_base(run["info"]["artifact_uri"])
    return {"run": run, "r": row, "experiment": experiment, "base": base}


def _artifact(base: str | None, path: str) -> str | None:
    return artifact_path(base, path) if base else None


def _table(tracking: Any, base: str | None) -> et.EvalTable:
    path = _artifact(base, TABLE_PATH)
    if path is None:
        raise et.TableError("this evaluation's artifacts are not stored by this server")
    return et.load_table(tracking.artifacts, path)


def _trace_id(table: et.EvalTable, row: list[Any]) -> str | None:
    return et.trace_link_id(row[table.trace_index]) if table.trace_index is not None else None


@router.get("/evaluations/compare", response_class=HTMLResponse)
async def compare_evaluations(request: Request, tracking: TrackingDep) -> Response:
    q = request.query_params
    a_id, b_id = (q.get("a") or "").strip()[:200], (q.get("b") or "").strip()[:200]
    size = _int(q, "size", 50, ROW_PAGE_SIZES)
    page = _int(q, "page", 0)
    show = q.get("show") if q.get("show") in ("changed", "better", "worse") else "all"

    def read() -> dict[str, Any]:
        a, b = _evaluation(tracking, a_id), _evaluation(tracking, b_id)
        ta, tb = _table(tracking, a["base"]), _table(tracking, b["base"])
        return {"a": a, "b": b, "ta": ta, "tb": tb}

    try:
        data = await run_in_threadpool(read)
    except MlflowError as exc:
        return not_found(request, "Evaluation", exc.message, "evaluations")
    except et.TableError as exc:
        return not_found(request, "Evaluation table", str(exc), "evaluations")
    ta, tb = data["ta"], data["tb"]
    key = (q.get("key") or "").strip()[:500]
    comparison = et.compare_tables(ta, tb, key)
    scores = comparison.scores
    score = q.get("score") if q.get("score") in scores else (scores[0] if scores else "")
    lower_better = {s: bool(_LOWER_IS_BETTER.search(s)) for s in scores}
    cols = [(s, ta.columns.index(s), tb.columns.index(s)) for s in scores]
    rows = [
        (i, j, {s: et.delta(ta.rows[i][ca], tb.rows[j][cb]) for s, ca, cb in cols})
        for i, j in comparison.pairs
    ]
    summary = []
    for s in scores:
        ds: list[float] = [v for _, _, d in rows if (v := d[s]) is not None]
        sign = -1 if lower_better[s] else 1
        summary.append(
            {
                "score": s,
                "a": data["a"]["r"]["metrics"].get(s),
                "b": data["b"]["r"]["metrics"].get(s),
                "mean_delta": sum(ds) / len(ds) if ds else None,
                "better": sum(1 for d in ds if d * sign > 0),
                "worse": sum(1 for d in ds if d * sign < 0),
                "same": sum(1 for d in ds if d == 0),
            }
        )
    if score:
        sign = -1 if lower_better[score] else 1
        if show == "changed":
            rows = [r for r in rows if r[2][score]]
        elif show == "better":
            rows = [r for r in rows if (r[2][score] or 0) * sign > 0]
        elif show == "worse":
            rows = [r for r in rows if (r[2][score] or 0) * sign < 0]
        if q.get("sort") == "delta":
            rows.sort(key=lambda r: (r[2][score] is None, (r[2][score] or 0) * sign))
    total = len(rows)
    shown = rows[page * size : (page + 1) * size]
    label_col = next(
        (c for c in ta.columns if c not in scores and c != et.TRACE_COLUMN
         and c not in et.OUTPUT_COLUMNS and c in tb.columns),
        None,
    )  # fmt: skip
    output_col = next((c for c in et.OUTPUT_COLUMNS if c in ta.columns and c in tb.columns), None)

    def value(table: et.EvalTable, row: int, column: str | None) -> dict[str, Any]:
        col = table.column(column) if column else None
        return cell(table.rows[row][col]) if col is not None else cell(None)

    view = [
        {
            "a_row": i,
            "b_row": j,
            "label": value(ta, i, label_col),
            "out_a": value(ta, i, output_col),
            "out_b": value(tb, j, output_col),
            "trace_a": _trace_id(ta, ta.rows[i]),
            "trace_b": _trace_id(tb, tb.rows[j]),
            "scores": [
                (s, ta.rows[i][ta.column(s)], tb.rows[j][tb.column(s)], d[s]) for s in scores
            ],
        }
        for i, j, d in shown
    ]
    path = "/evaluations/compare"
    context = {
        "a": data["a"],
        "b": data["b"],
        "comparison": comparison,
        "summary": summary,
        "rows": view,
        "total": total,
        "score": score,
        "show": show,
        "key": key,
        "label_col": label_col,
        "output_col": output_col,
        "lower_better": lower_better,
        "common_columns": [c for c in ta.columns if c in tb.columns],
        "same_dataset": data["a"]["r"]["tags"].get("spyglass.dataset.digest")
        == data["b"]["r"]["tags"].get("spyglass.dataset.digest"),
        "q": q,
        "link": lambda **c: _link(path, q, **c),
        "page": page,
        "size": size,
        "has_next": (page + 1) * size < total,
        "project": data["a"]["experiment"]["name"],
        "active": "evaluations",
    }
    return render(request, "eval_compare.html", context)


@router.get("/evaluations/{run_id}", response_class=HTMLResponse)
async def evaluation_page(run_id: str, request: Request, tracking: TrackingDep) -> Response:
    q = request.query_params
    size = _int(q, "size", 50, ROW_PAGE_SIZES)
    page = _int(q, "page", 0)
    text, where = (q.get("q") or "")[:1000], (q.get("where") or "")[:2000]
    sort = (q.get("sort") or "")[:500]
    descending = q.get("order") == "desc"

    def read() -> dict[str, Any]:
        ev = _evaluation(tracking, run_id)
        table, table_error, filter_error, matched = None, None, None, []
        try:
            table = _table(tracking, ev["base"])
        except et.TableError as exc:
            table_error = str(exc)
        if table is not None:
            try:
                matched = et.filter_rows(
                    table, text=text, where=where, sort=sort, descending=descending
                )
            except et.TableError as exc:
                filter_error = str(exc)
        others, _ = reads.search_runs(
            tracking.runs, [ev["r"]["experiment_id"]], IS_EVALUATION, "ACTIVE_ONLY", 50,
            ["attributes.start_time DESC"], None,
        )  # fmt: skip
        dataset = _artifact(ev["base"], DATASET_PATH)
        return {
            **ev,
            "table": table,
            "table_error": table_error,
            "filter_error": filter_error,
            "matched": matched,
            "others": [run_row(o) for o in others if o["info"]["run_id"] != run_id],
            "has_dataset": dataset is not None
            and artifact_size(tracking.artifacts, dataset) is not None,
        }

    try:
        data = await run_in_threadpool(read)
    except MlflowError as exc:
        return not_found(request, "Evaluation", exc.message, "evaluations")
    table: et.EvalTable | None = data["table"]
    matched: list[int] = data["matched"]
    shown = matched[page * size : (page + 1) * size]
    rows = []
    if table is not None:
        rows = [
            {"index": i, "cells": [cell(v) for v in table.rows[i]],
             "trace_id": _trace_id(table, table.rows[i])}
            for i in shown
        ]  # fmt: skip
    path = f"/evaluations/{run_id}"
    base = data["base"]
    context = {
        **data,
        "rows": rows,
        "total": len(matched),
        "text": text,
        "where": where,
        "sort": sort,
        "descending": descending,
        "page": page,
        "size": size,
        "has_next": (page + 1) * size < len(matched),
        "link": lambda **c: _link(path, q, **c),
        "table_url": download_url(base, TABLE_PATH) if base and table is not None else None,
        "dataset_url": download_url(base, DATASET_PATH) if base and data["has_dataset"] else None,
        "project": data["experiment"]["name"],
        "active": "evaluations",
    }
    return render(request, "evaluation.html", context)


@router.get("/evaluations/{run_id}/dataset", response_class=HTMLResponse)
async def evaluation_dataset(run_id: str, request: Request, tracking: TrackingDep) -> Response:
    q = request.query_params
    size = _int(q, "size", 50, ROW_PAGE_SIZES)
    page = _int(q, "page", 0)

    def read() -> dict[str, Any]:
        ev = _evaluation(tracking, run_id)
        path = _artifact(ev["base"], DATASET_PATH)
        chunks = tracking.artifacts.read(path) if path is not None else None
        if chunks is None:
            return {**ev, "lines": [], "more": False, "missing": True}
        lines, more = et.read_jsonl_page(chunks, page * size, size)
        return {**ev, "lines": lines, "more": more, "missing": False}

    try:
        data = await run_in_threadpool(read)
    except MlflowError as exc:
        return not_found(request, "Evaluation", exc.message, "evaluations")
    columns: list[str] = []
    for line in data["lines"]:
        if isinstance(line, dict):
            columns += [str(k) for k in line if str(k) not in columns]
    rows = [
        [cell(line.get(c)) for c in columns] if isinstance(line, dict) else [cell(line)]
        for line in data["lines"]
    ]
    path = f"/evaluations/{run_id}/dataset"
    context = {
        **data,
        "columns": columns,
        "rows": rows,
        "first": page * size,
        "page": page,
        "has_next": data["more"],
        "link": lambda **c: _link(path, q, **c),
        "project": data["experiment"]["name"],
        "active": "evaluations",
    }
    return render(request, "eval_dataset.html", context)
