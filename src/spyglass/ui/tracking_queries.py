"""Reads the tracking pages need beyond the store's MLflow-shaped API.

Everything here is a read over the tracking tables through the store's client (the same
connection, the same ``FINAL`` rules), with user text only ever in server-side binds. The
``TrackingServices`` the app built in its lifespan is reached with `get_tracking`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request

from spyglass.store.tracking_runs import RunStore
from spyglass.tracking._http import TrackingServices
from spyglass.tracking.artifact_store import ArtifactStore

__all__ = [
    "EVALUATION_TAG",
    "MAX_ARTIFACT_ENTRIES",
    "MAX_POINTS",
    "ArtifactListing",
    "TrackingDep",
    "artifact_base",
    "artifact_path",
    "artifact_size",
    "download_url",
    "experiment_counts",
    "experiment_keys",
    "list_artifacts",
    "metric_series",
    "mlflow_quote",
]

EVALUATION_TAG = "spyglass.evaluation"
ARTIFACT_SCHEME = "mlflow-artifacts:"
DOWNLOAD_PREFIX = "/api/2.0/mlflow-artifacts/artifacts"
# Points per metric curve sent to the browser; longer histories are thinned evenly (first and
# last points kept), so a chart of a million steps costs what one of 2,000 does.
MAX_POINTS = 2_000
MAX_KEYS = 40
MAX_ARTIFACT_ENTRIES = 500


def get_tracking(request: Request) -> TrackingServices:
    """The tracking stores the app opened in its lifespan."""
    services: TrackingServices = request.app.state.tracking
    return services


TrackingDep = Annotated[TrackingServices, Depends(get_tracking)]


def mlflow_quote(text: str, quote_char: str = "'") -> str:
    """``text`` as a quoted MLflow search literal (or backticked key): quotes are doubled."""
    return quote_char + text.replace("\\", "\\\\").replace(quote_char, quote_char * 2) + quote_char


def experiment_counts(runs: RunStore, experiment_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Active runs, evaluations and the latest start time per experiment."""
    if not experiment_ids:
        return {}
    db = runs.db
    rows = runs.query(
        "SELECT r.experiment_id AS experiment_id, count() AS runs, max(r.start_time) AS last_run, "
        f"countIf(r.run_id IN (SELECT run_id FROM {db}.run_tags FINAL WHERE key = {{tag:String}} "
        "AND value = 'true' AND deleted = 0)) AS evaluations "
        f"FROM (SELECT experiment_id, run_id, start_time, lifecycle_stage FROM {db}.runs FINAL "
        "WHERE experiment_id IN {ids:Array(String)}) AS r WHERE r.lifecycle_stage = 'active' "
        "GROUP BY r.experiment_id",
        {"ids": experiment_ids, "tag": EVALUATION_TAG},
    )
    return {r["experiment_id"]: r for r in rows}


def experiment_keys(
    runs: RunStore, experiment_ids: list[str], evaluations_only: bool = False
) -> dict[str, tuple[list[str], bool]]:
    """The param and metric keys logged in experiments: ``{"params": (keys, more), ...}``.

    At most `MAX_KEYS` of each (sorted); ``more`` says whether there were others.
    """
    db = runs.db
    only = (
        f" AND run_id IN (SELECT run_id FROM {db}.run_tags FINAL WHERE key = {{tag:String}} "
        "AND value = 'true' AND deleted = 0)"
        if evaluations_only
        else ""
    )
    run_ids = (
        f"SELECT run_id FROM (SELECT run_id, lifecycle_stage FROM {db}.runs FINAL "
        "WHERE experiment_id IN {ids:Array(String)}) AS r WHERE r.lifecycle_stage = 'active'"
    )
    out: dict[str, tuple[list[str], bool]] = {}
    for kind, table in (("params", "run_params"), ("metrics", "run_metrics")):
        rows = runs.query(
            f"SELECT DISTINCT key FROM {db}.{table} WHERE run_id IN ({run_ids}){only} "
            "ORDER BY key LIMIT {limit:UInt64}",
            {"ids": experiment_ids, "limit": MAX_KEYS + 1, "tag": EVALUATION_TAG},
        )
        keys = [r["key"] for r in rows]
        out[kind] = (keys[:MAX_KEYS], len(keys) > MAX_KEYS)
    return out


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def metric_series(
    runs: RunStore, run_ids: list[str], keys: list[str] | None = None, max_points: int = MAX_POINTS
) -> dict[str, dict[str, dict[str, Any]]]:
    """Metric histories by run and key: ``{"steps", "values", "times", "total"}`` lists.

    Each curve is ordered by step then timestamp and thinned to about ``max_points`` points
    in ClickHouse (every n-th point, the last one always kept); ``total`` counts them all.
    Non-finite values become ``None`` (a gap in the chart).
    """
    if not run_ids:
        return {}
    key_filter = " AND key IN {keys:Array(String)}" if keys is not None else ""
    rows = runs.query(
        "SELECT run_id, key, arraySort(groupArray((n, step, value, timestamp))) AS points, "
        "any(c) AS total FROM ("
        "SELECT run_id, key, step, timestamp, value, n, c FROM ("
        "SELECT run_id, key, step, timestamp, value, "
        "row_number() OVER (PARTITION BY run_id, key ORDER BY step, timestamp, value) AS n, "
        "count() OVER (PARTITION BY run_id, key) AS c "
        f"FROM (SELECT DISTINCT run_id, key, step, timestamp, value FROM {runs.db}.run_metrics "
        f"WHERE run_id IN {{ids:Array(String)}}{key_filter})) "
        "WHERE c <= {cap:UInt64} OR (n - 1) % intDiv(c + {cap:UInt64} - 1, {cap:UInt64}) = 0 "
        "OR n = c) GROUP BY run_id, key ORDER BY run_id, key",
        {"ids": run_ids, "keys": keys or [], "cap": max_points},
    )
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        points = r["points"]
        out.setdefault(r["run_id"], {})[r["key"]] = {
            "steps": [p[1] for p in points],
            "values": [_number(p[2]) for p in points],
            "times": [p[3] for p in points],
            "total": r["total"],
        }
    return out


# -- artifacts ---------------------------------------------------------------------------


def artifact_base(artifact_uri: str) -> str | None:
    """The run's folder under the artifact root, or None when this server does not hold it."""
    if not artifact_uri.startswith(ARTIFACT_SCHEME):
        return None
    return artifact_uri[len(ARTIFACT_SCHEME) :].strip("/")


def _clean(path: str) -> PurePosixPath | None:
    pure = PurePosixPath(path.strip("/"))
    if "\\" in path or "\x00" in path or pure.is_absolute() or ".." in pure.parts:
        return None
    return pure


def artifact_path(base: str, path: str) -> str | None:
    """The store path of a run's file or folder ``path``, if it stays inside the run's folder."""
    pure = _clean(f"{base}/{path}")
    return "/".join(pure.parts) if pure is not None else None


def artifact_size(store: ArtifactStore, path: str) -> int | None:
    """The size of the file at ``path``, None when there is no such file."""
    folder, _, name = path.rpartition("/")
    for entry in store.list_dir(folder):
        if entry["path"] == name and not entry["is_dir"]:
            return int(entry.get("file_size") or 0)
    return None


def download_url(base: str, path: str) -> str:
    """The artifact download route for one of a run's files."""
    return f"{DOWNLOAD_PREFIX}/{quote(base)}/{quote(path.strip('/'))}"


@dataclass(frozen=True)
class ArtifactListing:
    """One folder of a run's artifacts."""

    path: str
    entries: list[dict[str, Any]]  # {"name", "path", "is_dir", "size", "url"}
    truncated: bool
    exists: bool


def list_artifacts(store: ArtifactStore, base: str, path: str) -> ArtifactListing:
    """Entries directly under ``path`` (folders first, then files by name), capped."""
    pure = _clean(path)
    clean = "/".join(pure.parts) if pure is not None else ""
    folder = artifact_path(base, clean) if pure is not None else None
    listed = store.list_dir(folder) if folder is not None else []
    if not listed:  # a missing folder and an empty one look alike in object stores
        return ArtifactListing(clean, [], False, not clean)
    entries: list[dict[str, Any]] = []
    for info in listed:
        name = str(info["path"])
        rel = f"{clean}/{name}" if clean else name
        is_dir = bool(info["is_dir"])
        entries.append(
            {
                "name": name,
                "path": rel,
                "is_dir": is_dir,
                "size": None if is_dir else info.get("file_size"),
                "url": None if is_dir else download_url(base, rel),
            }
        )
    entries.sort(key=lambda e: (not e["is_dir"], e["name"]))
    truncated = len(entries) > MAX_ARTIFACT_ENTRIES
    return ArtifactListing(clean, entries[:MAX_ARTIFACT_ENTRIES], truncated, True)
