"""A typed HTTP client for Spyglass's tracking and registry API (MLflow's REST shapes).

It depends on httpx and the standard library only, so it is safe inside a user's program.
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from spyglass.client._registry import RegistryMixin, TrackingError

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
BATCH_METRICS = 1000
BATCH_PARAMS_TAGS = 100


def _kv(items: Mapping[str, Any] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": str(v)} for k, v in (items or {}).items()]


class TrackingClient(RegistryMixin):
    """Experiments, runs, artifacts and the model registry over one HTTP connection pool.

    Args:
        url: the Spyglass server, e.g. ``http://127.0.0.1:6006``.
        timeout: seconds per request.
        user: recorded as the author of runs and registry changes (default: the OS user).
        api_key: for a server with authentication (else ``SPYGLASS_API_KEY``, else
            ``MLFLOW_TRACKING_TOKEN``), sent as a bearer token.

    Example:
        >>> client = TrackingClient("http://127.0.0.1:6006")  # doctest: +SKIP
        >>> run = client.create_run(client.get_or_create_experiment("demo"))  # doctest: +SKIP
    """

    def __init__(
        self, url: str, timeout: float = 30.0, user: str | None = None, api_key: str | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.user = user or getpass.getuser()
        headers = {"x-spyglass-user": self.user}
        api_key = api_key or os.environ.get("SPYGLASS_API_KEY")
        api_key = api_key or os.environ.get("MLFLOW_TRACKING_TOKEN")
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, endpoint: str, body: Mapping[str, Any] | None = None) -> Any:
        """One call (``endpoint`` under ``/api/2.0/mlflow`` unless it starts with ``/api/``).

        Returns the decoded JSON. Raises `TrackingError` on an error answer.
        """
        path = endpoint if endpoint.startswith("/api/") else API + endpoint
        if method == "GET":
            response = self.http.get(path, params=dict(body or {}))
        else:
            response = self.http.request(method, path, json=dict(body or {}))
        return self._decode(response)

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        try:
            data = response.json()
        except ValueError:
            data = {"message": response.text}
        if response.status_code >= 400:
            code = data.get("error_code", "INTERNAL_ERROR") if isinstance(data, dict) else ""
            message = data.get("message", response.text) if isinstance(data, dict) else ""
            raise TrackingError(str(code), str(message), response.status_code)
        return data

    # -- experiments -------------------------------------------------------------------------

    def create_experiment(self, name: str, tags: Mapping[str, Any] | None = None) -> str:
        return str(self.call("POST", "/experiments/create", {"name": name, "tags": _kv(tags)})[
            "experiment_id"
        ])  # fmt: skip

    def get_experiment(self, experiment_id: str) -> dict[str, Any]:
        exp: dict[str, Any] = self.call(
            "GET", "/experiments/get", {"experiment_id": experiment_id}
        )["experiment"]
        return exp

    def get_experiment_by_name(self, name: str) -> dict[str, Any] | None:
        try:
            exp: dict[str, Any] = self.call(
                "GET", "/experiments/get-by-name", {"experiment_name": name}
            )["experiment"]
        except TrackingError as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return exp

    def get_or_create_experiment(self, name: str) -> str:
        """The id of the experiment (= project) named ``name``, created if missing."""
        exp = self.get_experiment_by_name(name)
        return str(exp["experiment_id"]) if exp else self.create_experiment(name)

    def search_experiments(self, filter_string: str = "", max_results: int = 1000) -> list[Any]:
        body = {"filter": filter_string, "max_results": max_results}
        return list(self.call("POST", "/experiments/search", body).get("experiments", []))

    # -- runs --------------------------------------------------------------------------------

    def create_run(
        self, experiment_id: str, run_name: str = "", tags: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        body = {
            "experiment_id": experiment_id,
            "run_name": run_name,
            "user_id": self.user,
            "start_time": int(time.time() * 1000),
            "tags": _kv({"mlflow.user": self.user, **(tags or {})}),
        }
        run: dict[str, Any] = self.call("POST", "/runs/create", body)["run"]
        return run

    def get_run(self, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.call("GET", "/runs/get", {"run_id": run_id})["run"]
        return run

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        body = {"run_id": run_id, "status": status, "end_time": int(time.time() * 1000)}
        self.call("POST", "/runs/update", body)

    def delete_run(self, run_id: str) -> None:
        self.call("POST", "/runs/delete", {"run_id": run_id})

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: int | None = None
    ) -> None:
        ts = timestamp if timestamp is not None else int(time.time() * 1000)
        body = {"run_id": run_id, "key": key, "value": value, "timestamp": ts, "step": step}
        self.call("POST", "/runs/log-metric", body)

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.call(
            "POST", "/runs/log-parameter", {"run_id": run_id, "key": key, "value": str(value)}
        )

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.call("POST", "/runs/set-tag", {"run_id": run_id, "key": key, "value": str(value)})

    def delete_tag(self, run_id: str, key: str) -> None:
        self.call("POST", "/runs/delete-tag", {"run_id": run_id, "key": key})

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Mapping[str, Any]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Log many values; split into requests of at most 1000 metrics / 100 params or tags.

        Each metric is ``{"key", "value", "step"?, "timestamp"?}``.
        """
        now = int(time.time() * 1000)
        points = [
            {"key": m["key"], "value": m["value"], "step": m.get("step", 0),
             "timestamp": m.get("timestamp", now)}
            for m in metrics
        ]  # fmt: skip
        param_list, tag_list = _kv(params), _kv(tags)
        while points or param_list or tag_list:
            body = {
                "run_id": run_id,
                "metrics": points[:BATCH_METRICS],
                "params": param_list[:BATCH_PARAMS_TAGS],
                "tags": tag_list[:BATCH_PARAMS_TAGS],
            }
            points, param_list = points[BATCH_METRICS:], param_list[BATCH_PARAMS_TAGS:]
            tag_list = tag_list[BATCH_PARAMS_TAGS:]
            self.call("POST", "/runs/log-batch", body)

    def log_input(
        self,
        run_id: str,
        name: str,
        digest: str,
        source: str = "",
        context: str = "",
        *,
        source_type: str = "local",
        schema: str = "",
        profile: str = "",
    ) -> None:
        """Record a dataset the run used (``runs/log-inputs``); schema/profile are JSON text."""
        dataset = {"name": name, "digest": digest, "source_type": source_type, "source": source}
        if schema:
            dataset["schema"] = schema
        if profile:
            dataset["profile"] = profile
        tags = [{"key": "mlflow.data.context", "value": context}] if context else []
        body = {"run_id": run_id, "datasets": [{"dataset": dataset, "tags": tags}]}
        self.call("POST", "/runs/log-inputs", body)

    def search_runs(
        self,
        experiment_ids: Iterable[str],
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        body: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "filter": filter_string,
            "order_by": list(order_by),
            "max_results": max_results,
        }
        if page_token:
            body["page_token"] = page_token
        data = self.call("POST", "/runs/search", body)
        return list(data.get("runs", [])), data.get("next_page_token")

    def get_metric_history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        data = self.call("GET", "/metrics/get-history", {"run_id": run_id, "metric_key": key})
        return list(data.get("metrics", []))

    # -- artifacts ---------------------------------------------------------------------------

    def _artifact_base(self, run_id: str) -> str:
        uri = str(self.get_run(run_id)["info"]["artifact_uri"])
        if not uri.startswith("mlflow-artifacts:"):
            raise TrackingError("INVALID_PARAMETER_VALUE", f"unsupported artifact URI {uri}", 400)
        return uri[len("mlflow-artifacts:") :].strip("/")

    def log_artifact(self, run_id: str, local_path: str | Path, artifact_path: str = "") -> str:
        """Upload one file; return its path inside the run's artifacts."""
        path = Path(local_path)
        rel = f"{artifact_path.strip('/')}/{path.name}" if artifact_path else path.name
        with path.open("rb") as f:
            response = self.http.put(f"{ARTIFACTS}/{self._artifact_base(run_id)}/{rel}", content=f)
        self._decode(response)
        return rel

    def put_artifact(self, run_id: str, path: str, content: bytes) -> None:
        """Store ``content`` at ``path`` inside the run's artifacts."""
        url = f"{ARTIFACTS}/{self._artifact_base(run_id)}/{path.strip('/')}"
        self._decode(self.http.put(url, content=content))

    def list_artifacts(self, run_id: str, path: str = "") -> list[dict[str, Any]]:
        data = self.call("GET", "/artifacts/list", {"run_id": run_id, "path": path})
        return list(data.get("files", []))

    def download_artifact(self, run_id: str, path: str) -> bytes:
        response = self.http.get(f"{ARTIFACTS}/{self._artifact_base(run_id)}/{path}")
        if response.status_code >= 400:
            self._decode(response)
        return response.content
