"""Malformed requests get MLflow-style 400s; acknowledged writes survive a killed server."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess

API = "/api/2.0/mlflow"


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("POST", "/experiments/create", b"{not json", "INVALID_PARAMETER_VALUE"),
        ("POST", "/experiments/create", b"[1, 2]", "INVALID_PARAMETER_VALUE"),
        ("POST", "/experiments/create", b"{}", "INVALID_PARAMETER_VALUE"),
        ("POST", "/experiments/create", b'{"name": 5}', "INVALID_PARAMETER_VALUE"),
        ("POST", "/runs/log-metric", b'{"run_id": "x", "key": "k"}', "INVALID_PARAMETER_VALUE"),
        ("POST", "/runs/log-batch", b'{"run_id": "x", "metrics": 3}', "INVALID_PARAMETER_VALUE"),
        ("POST", "/runs/search", b'{"max_results": 0}', "INVALID_PARAMETER_VALUE"),
        ("POST", "/runs/search", b'{"page_token": "!!"}', "INVALID_PARAMETER_VALUE"),
        ("GET", "/runs/get?run_id=" + "a" * 32, b"", "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "/experiments/get", b"", "INVALID_PARAMETER_VALUE"),
        ("GET", "/no/such/endpoint", b"", "ENDPOINT_NOT_FOUND"),
    ],
)
def test_malformed_requests_get_mlflow_error_json(
    server: ServerProcess, method: str, path: str, body: bytes, code: str
) -> None:
    response = httpx.request(
        method, server.url + API + path, content=body or None,
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert response.status_code == (404 if code in ("RESOURCE_DOES_NOT_EXIST",
                                                    "ENDPOINT_NOT_FOUND") else 400)  # fmt: skip
    payload = response.json()
    assert payload["error_code"] == code and payload["message"]


def test_a_bad_metric_in_a_batch_rejects_the_whole_batch(server: ServerProcess) -> None:
    c = httpx.Client(base_url=server.url + API)
    run_id = c.post("/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    metrics = [{"key": "ok", "value": 1.0, "timestamp": 1, "step": 0},
               {"key": "bad", "value": "high", "timestamp": 1, "step": 0}]  # fmt: skip
    response = c.post("/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    assert response.status_code == 400 and "bad" in response.json()["message"]
    run = c.get("/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["data"].get("metrics", []) == []


def test_artifact_paths_cannot_escape_the_artifact_root(server: ServerProcess) -> None:
    base = server.url + "/api/2.0/mlflow-artifacts/artifacts"
    for path in ["../../etc/passwd", "a/../../b", "/abs"]:
        response = httpx.put(f"{base}/{path}", content=b"x")
        assert response.status_code in (400, 404), path
    listed = httpx.get(base, params={"path": "../.."})
    assert listed.status_code == 400 and listed.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_acknowledged_metrics_survive_a_killed_server(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path)
    proc.start()
    try:
        c = httpx.Client(base_url=proc.url + API)
        run = c.post("/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]
        for step in range(200):
            body = {"run_id": run["run_id"], "key": "loss", "value": step / 10,
                    "timestamp": 1000 + step, "step": step}  # fmt: skip
            assert c.post("/runs/log-metric", json=body).status_code == 200
        proc.stop(signal.SIGKILL)
        proc.start()
        c = httpx.Client(base_url=proc.url + API)
        history = c.get(
            "/metrics/get-history", params={"run_id": run["run_id"], "metric_key": "loss"}
        ).json()["metrics"]
        assert [m["step"] for m in history] == list(range(200))
        # A second restart replays nothing twice.
        proc.stop()
        proc.start()
        again = httpx.get(
            proc.url + API + "/metrics/get-history",
            params={"run_id": run["run_id"], "metric_key": "loss"},
        ).json()["metrics"]
        assert len(again) == 200
    finally:
        proc.stop()
