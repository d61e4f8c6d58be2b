"""What a caller confined to one project may do through the MLflow API.

A project is an experiment (same name). Such a caller may read and write that experiment, its
runs, their metrics and artifacts, and nothing else: every request names its experiment or run,
and the named one must belong to the project. The model registry and logged models have no
project, so they stay closed to confined callers. Experiment searches are answered, then cut to
the caller's experiment (`filter_search_response`).
"""

from __future__ import annotations

from typing import Any

import orjson

from spyglass.tracking._http import TrackingServices
from spyglass.tracking.errors import MlflowError

API_PREFIXES = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/")
ARTIFACTS_PREFIX = "/api/2.0/mlflow-artifacts/artifacts"
SEARCH_EXPERIMENTS = "experiments/search"

_BY_RUN_QUERY = frozenset({"runs/get", "metrics/get-history", "artifacts/list"})
_BY_RUN_BODY = frozenset({
    "runs/update", "runs/delete", "runs/restore", "runs/log-metric", "runs/log-parameter",
    "runs/set-tag", "runs/delete-tag", "runs/log-batch", "runs/log-inputs", "runs/outputs",
})  # fmt: skip
_BY_EXPERIMENT_BODY = frozenset({
    "runs/create", "experiments/update", "experiments/delete", "experiments/restore",
    "experiments/set-experiment-tag", "experiments/delete-experiment-tag",
})  # fmt: skip


def is_tracking_path(path: str) -> bool:
    return path.startswith((*API_PREFIXES, ARTIFACTS_PREFIX))


def _endpoint(path: str) -> str:
    for prefix in API_PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix) :].strip("/")
    return ""


def _text(source: dict[str, Any], key: str) -> str:
    value = source.get(key)
    return value if isinstance(value, str) else ""


class ProjectScope:
    """Checks one confined caller's tracking requests against its project's experiment."""

    def __init__(self, tracking: TrackingServices, project: str) -> None:
        self.tracking, self.project = tracking, project
        self._experiment_id: str | None = None

    @property
    def experiment_id(self) -> str | None:
        if self._experiment_id is None:
            try:
                exp = self.tracking.experiments.get_by_name(self.project)
            except MlflowError:
                return None
            self._experiment_id = str(exp["experiment_id"])
        return self._experiment_id

    def _own_experiment(self, experiment_id: str) -> bool:
        return bool(experiment_id) and experiment_id == self.experiment_id

    def _own_run(self, run_id: str) -> bool:
        try:
            row = self.tracking.runs.state(run_id)
        except MlflowError:
            return False
        return self._own_experiment(str(row["experiment_id"]))

    def refusal(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> str:
        """Why the request may not go through, or "" when it may."""
        if path.startswith(ARTIFACTS_PREFIX):
            rest = path[len(ARTIFACTS_PREFIX) :].strip("/") or (query.get("path") or [""])[0]
            return "" if self._own_experiment(rest.strip("/").split("/")[0]) else self._deny()
        endpoint = _endpoint(path)
        args: dict[str, Any] = {k: v[0] for k, v in query.items() if v}
        if body and method in ("POST", "PATCH", "DELETE"):
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                return ""  # the route itself answers malformed JSON with its own 400
            if isinstance(parsed, dict):
                args.update(parsed)
        if endpoint == SEARCH_EXPERIMENTS:
            return ""
        if endpoint == "experiments/get":
            ok = self._own_experiment(_text(args, "experiment_id"))
        elif endpoint == "experiments/get-by-name":
            ok = _text(args, "experiment_name") == self.project
        elif endpoint == "experiments/create":
            ok = _text(args, "name") == self.project
        elif endpoint in _BY_EXPERIMENT_BODY:
            ok = self._own_experiment(_text(args, "experiment_id"))
        elif endpoint in _BY_RUN_QUERY or endpoint in _BY_RUN_BODY:
            ok = self._own_run(_text(args, "run_id") or _text(args, "run_uuid"))
        elif endpoint == "runs/search":
            ids = args.get("experiment_ids")
            ok = isinstance(ids, list) and bool(ids) and all(self._own_experiment(i) for i in ids)
        elif endpoint == "metrics/get-history-bulk-interval":
            runs = query.get("run_ids", [])
            ok = bool(runs) and all(self._own_run(r) for r in runs)
        else:
            return f"project-scoped credentials cannot use /{endpoint}"
        return "" if ok else self._deny()

    def _deny(self) -> str:
        return f"only the experiment {self.project!r} is open to these credentials"


def filter_search_response(body: bytes, project: str) -> bytes:
    """An experiments search answer cut to the caller's experiment."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if isinstance(data, dict) and isinstance(data.get("experiments"), list):
        data["experiments"] = [e for e in data["experiments"] if e.get("name") == project]
        data.pop("next_page_token", None)
    return orjson.dumps(data)
