"""Seed experiments, runs, evaluations and registered models through the MLflow REST API.

Evaluations follow the evaluator's contract: a run tagged ``spyglass.evaluation=true`` with
``spyglass.dataset.name``/``.digest`` and ``spyglass.model`` tags, aggregate metrics, the
per-row table as ``eval/eval_results_table.json`` (pandas split orientation) and the dataset
rows as ``eval/dataset.jsonl``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


class Seeder:
    """A thin REST client for seeding a running server."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)

    def call(self, method: str, endpoint: str, body: Mapping[str, Any] | None = None) -> Any:
        if method == "GET":
            response = self.http.get(API + endpoint, params=dict(body or {}))
        else:
            response = self.http.request(method, API + endpoint, json=dict(body or {}))
        assert response.status_code == 200, response.text
        return response.json()

    def experiment(self, name: str) -> str:
        return str(self.call("POST", "/experiments/create", {"name": name})["experiment_id"])

    def run(
        self,
        experiment_id: str,
        name: str,
        *,
        params: Mapping[str, str] | None = None,
        metrics: Mapping[str, float | Sequence[float]] | None = None,
        tags: Mapping[str, str] | None = None,
        status: str = "FINISHED",
        start_ms: int = 1_767_225_600_000,
        duration_ms: int = 61_000,
    ) -> str:
        """Create a finished run; a metric given as a list is logged as steps 0..n-1."""
        run = self.call(
            "POST",
            "/runs/create",
            {"experiment_id": experiment_id, "run_name": name, "start_time": start_ms},
        )
        run_id = str(run["run"]["info"]["run_id"])
        points = []
        for key, value in (metrics or {}).items():
            values = [value] if isinstance(value, (int, float)) else list(value)
            points += [
                {"key": key, "value": v, "step": i, "timestamp": start_ms + i}
                for i, v in enumerate(values)
            ]
        for chunk in range(0, max(len(points), 1), 1000):
            self.call(
                "POST",
                "/runs/log-batch",
                {
                    "run_id": run_id,
                    "metrics": points[chunk : chunk + 1000],
                    "params": [{"key": k, "value": v} for k, v in (params or {}).items()]
                    if chunk == 0
                    else [],
                    "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]
                    if chunk == 0
                    else [],
                },
            )
        self.call(
            "POST",
            "/runs/update",
            {"run_id": run_id, "status": status, "end_time": start_ms + duration_ms},
        )
        return run_id

    def artifact(self, run_id: str, path: str, content: bytes) -> None:
        run = self.call("GET", "/runs/get", {"run_id": run_id})
        base = run["run"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:").strip("/")
        response = self.http.put(f"{ARTIFACTS}/{base}/{path}", content=content)
        assert response.status_code == 200, response.text

    def inputs(self, run_id: str, name: str, digest: str) -> None:
        dataset = {"name": name, "digest": digest, "source_type": "local", "source": "data.jsonl"}
        tags = [{"key": "mlflow.data.context", "value": "eval"}]
        self.call(
            "POST",
            "/runs/log-inputs",
            {"run_id": run_id, "datasets": [{"dataset": dataset, "tags": tags}]},
        )

    def evaluation(
        self,
        experiment_id: str,
        name: str,
        *,
        columns: list[str],
        rows: list[list[Any]],
        metrics: Mapping[str, float],
        dataset: tuple[str, str] = ("qa", "sha256:abc123"),
        model: str = "gpt-4o-mini",
        dataset_rows: list[dict[str, Any]] | None = None,
    ) -> str:
        tags = {
            "spyglass.evaluation": "true",
            "spyglass.dataset.name": dataset[0],
            "spyglass.dataset.digest": dataset[1],
            "spyglass.model": model,
        }
        run_id = self.run(experiment_id, name, metrics=metrics, tags=tags)
        table = json.dumps({"columns": columns, "data": rows}).encode()
        self.artifact(run_id, "eval/eval_results_table.json", table)
        lines = (
            dataset_rows
            if dataset_rows is not None
            else [dict(zip(columns, r, strict=False)) for r in rows]
        )
        self.artifact(
            run_id, "eval/dataset.jsonl", "".join(json.dumps(x) + "\n" for x in lines).encode()
        )
        return run_id

    def model(self, name: str, tags: Mapping[str, str] | None = None) -> None:
        body = {"name": name, "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}
        self.call("POST", "/registered-models/create", body)

    def version(self, name: str, run_id: str, tags: Mapping[str, str] | None = None) -> str:
        body = {
            "name": name,
            "source": f"runs:/{run_id}/model",
            "run_id": run_id,
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
        }
        return str(self.call("POST", "/model-versions/create", body)["model_version"]["version"])

    def alias(self, name: str, alias: str, version: str) -> None:
        self.call(
            "POST", "/registered-models/alias", {"name": name, "alias": alias, "version": version}
        )

    def stage(self, name: str, version: str, stage: str) -> None:
        body = {"name": name, "version": version, "stage": stage, "archive_existing_versions": True}
        self.call("POST", "/model-versions/transition-stage", body)
