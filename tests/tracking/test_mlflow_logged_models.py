"""The real `mlflow` 3 client against a running Spyglass server: logged models, chart history,
trace projects as experiments, and hostile requests to the new endpoints."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import mlflow
import mlflow.pyfunc
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus, Metric
from mlflow.exceptions import MlflowException

from tests.conftest import ServerProcess

API = "/api/2.0/mlflow"


class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]  # mlflow is untyped here
    # mlflow calls predict with this signature
    def predict(self, context: Any, model_input: list[float], params: Any = None) -> list[float]:  # noqa: ARG002
        return [2 * x for x in model_input]


def test_pyfunc_log_model_register_and_load_by_version_and_alias(
    client: MlflowClient, server: ServerProcess, experiment_id: str, model_name: str
) -> None:
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("alpha", "0.5")
        info = mlflow.pyfunc.log_model(name="doubler", python_model=Doubler())
    assert info.model_uri == f"models:/{info.model_id}"
    logged = client.get_logged_model(info.model_id)
    assert logged.status == LoggedModelStatus.READY and logged.name == "doubler"
    assert logged.source_run_id == run.info.run_id and logged.params == {"alpha": "0.5"}
    assert logged.artifact_location.endswith(f"/models/{info.model_id}/artifacts")
    outputs = client.get_run(run.info.run_id).outputs
    assert [o.model_id for o in outputs.model_outputs] == [info.model_id]

    version = mlflow.register_model(info.model_uri, model_name)
    assert version.version == "1" and version.run_id == run.info.run_id
    assert version.source == info.model_uri  # the client drops model_id; the JSON has it
    got = httpx.get(f"{server.url}{API}/model-versions/get", params={"name": model_name,
                                                                     "version": "1"})  # fmt: skip
    assert got.json()["model_version"]["model_id"] == info.model_id
    client.set_registered_model_alias(model_name, "champion", "1")
    for uri in (f"models:/{model_name}/1", f"models:/{model_name}@champion", info.model_uri):
        assert mlflow.pyfunc.load_model(uri).predict([1.0, 2.5]) == [2.0, 5.0]
    # The runs:/ URI of a logged model resolves to the logged model too.
    v2 = mlflow.register_model(f"runs:/{run.info.run_id}/doubler", model_name)
    assert v2.version == "2" and v2.source == info.model_uri


def test_logged_models_search_tags_params_metrics_and_delete(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    a = client.create_logged_model(experiment_id, name="a", source_run_id=run_id,
                                   tags={"team": "x"}, model_type="agent")  # fmt: skip
    b = client.create_logged_model(experiment_id, name="b", params={"lr": "0.1"})
    assert a.status == LoggedModelStatus.PENDING and a.tags == {"team": "x"}
    client.finalize_logged_model(a.model_id, LoggedModelStatus.READY)
    client.set_logged_model_tags(b.model_id, {"team": "y", "stage": "dev"})
    client.delete_logged_model_tag(b.model_id, "stage")
    client.log_batch(run_id, metrics=[
        Metric("acc", 0.9, 1, 0, model_id=a.model_id, dataset_name="eval", dataset_digest="d1"),
        Metric("acc", 0.7, 2, 0, model_id=b.model_id),
    ])  # fmt: skip

    def names(**kwargs: Any) -> list[str]:
        return [m.name for m in client.search_logged_models([experiment_id], **kwargs)]

    assert names() == ["b", "a"]  # newest first
    assert names(filter_string="tags.team = 'y'") == ["b"]
    assert names(filter_string="params.lr = '0.1' OR name = 'a'") == ["b", "a"]
    assert names(filter_string="metrics.acc > 0.8") == ["a"]
    assert names(filter_string="status = 'READY' and model_type = 'agent'") == ["a"]
    assert names(order_by=[{"field_name": "metrics.acc", "ascending": True}]) == ["b", "a"]
    assert names(order_by=[{"field_name": "name", "ascending": True}]) == ["a", "b"]
    assert names(filter_string="metrics.acc > 0", datasets=[{"dataset_name": "eval"}]) == ["a"]
    got = client.get_logged_model(a.model_id)
    assert got.metrics is not None and [(m.key, m.value, m.dataset_digest) for m in got.metrics] \
        == [("acc", 0.9, "d1")]  # fmt: skip
    assert client.get_logged_model(b.model_id).tags == {"team": "y"}
    page = client.search_logged_models([experiment_id], max_results=1)
    assert len(page) == 1 and page.token
    assert [m.name for m in client.search_logged_models(
        [experiment_id], max_results=1, page_token=page.token)] == ["a"]  # fmt: skip

    client.delete_logged_model(b.model_id)
    assert names() == ["a"]
    with pytest.raises(MlflowException) as err:
        client.get_logged_model(b.model_id)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client._tracking_client.store.get_logged_model(b.model_id, allow_deleted=True).name \
        == "b"  # fmt: skip


def test_logged_model_artifacts_are_listed(
    client: MlflowClient,  # noqa: ARG001  # points the fluent API at the server
    server: ServerProcess,
    experiment_id: str,
) -> None:
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.pyfunc.log_model(name="m", python_model=Doubler())
    url = f"{server.url}{API}/logged-models/{info.model_id}/artifacts/directories"
    body = httpx.get(url).json()
    assert body["root_uri"].endswith(f"{info.model_id}/artifacts")
    mlmodel = [f for f in body["files"] if f["path"] == "MLmodel"]
    assert len(mlmodel) == 1 and not mlmodel[0]["is_dir"] and mlmodel[0]["file_size"] > 0
    assert httpx.get(url, params={"artifact_directory_path": "../.."}).status_code == 400


def test_metric_history_bulk_interval_samples_steps_across_runs(
    client: MlflowClient, server: ServerProcess, experiment_id: str
) -> None:
    runs = [client.create_run(experiment_id).info.run_id for _ in range(2)]
    for n, run_id in enumerate(runs):
        client.log_batch(run_id, metrics=[Metric("loss", 1 / (s + 1), 0, s)
                                          for s in range(0, 100 + 50 * n)])  # fmt: skip
    url = f"{server.url}{API}/metrics/get-history-bulk-interval"
    body = httpx.get(url, params={"run_ids": runs, "metric_key": "loss", "max_results": 10})
    points = body.json()["metrics"]
    steps = {r: [p["step"] for p in points if p["run_id"] == r] for r in runs}
    assert steps[runs[0]][0] == 0 and steps[runs[0]][-1] == 99  # each run's ends are kept
    assert steps[runs[1]][-1] == 149 and len(steps[runs[1]]) <= 13
    assert set(points[0]) == {"key", "value", "timestamp", "step", "run_id"}
    window = httpx.get(url, params={"run_ids": runs[0], "metric_key": "loss",
                                    "start_step": 10, "end_step": 12}).json()  # fmt: skip
    assert [p["step"] for p in window["metrics"]] == [10, 11, 12]


def post_span(server: ServerProcess, project: str, trace_id: str, **attributes: str) -> None:
    span = {
        "traceId": trace_id, "spanId": "eee19b7ec3c1b174", "name": "chat", "kind": 1,
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }  # fmt: skip
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    response = httpx.post(f"{server.url}/v1/traces", content=json.dumps(body),
                          headers={"content-type": "application/json",
                                   "x-spyglass-project": project})  # fmt: skip
    assert response.status_code == 200


def test_a_runs_traces_are_listed_by_their_source_run_attribute(
    client: MlflowClient, server: ServerProcess, project: str, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    other = client.create_run(experiment_id).info.run_id
    mine = "5b8efff798038103d269b633813fc600"
    post_span(server, project, mine, **{"mlflow.sourceRun": run_id})
    post_span(server, project, "5b8efff798038103d269b633813fc601", **{"mlflow.sourceRun": other})
    post_span(server, "elsewhere", "5b8efff798038103d269b633813fc602",
              **{"mlflow.sourceRun": run_id})  # fmt: skip
    url = f"{server.url}/api/2.0/spyglass/runs/traces"
    traces: list[dict[str, Any]] = []
    for _ in range(50):  # the pipeline writes in batches
        traces = httpx.get(url, params={"run_id": run_id}).json()["traces"]
        if traces:
            break
        time.sleep(0.1)
    assert traces == [
        {"trace_id": mine, "name": "chat", "start_time_ms": 1_700_000_000_000,
         "end_time_ms": 1_700_000_001_000, "span_count": 1, "status": "OK"}
    ]  # fmt: skip
    assert httpx.get(url, params={"run_id": "nope"}).status_code == 404
    assert httpx.get(url, params={"run_id": run_id, "max_results": 0}).status_code == 400
    assert httpx.get(url).status_code == 400


def test_a_trace_only_project_is_an_experiment(
    client: MlflowClient, server: ServerProcess, project: str
) -> None:
    post_span(server, project, "5b8efff798038103d269b633813fc60c")
    found: list[str] = []
    for _ in range(50):  # the pipeline writes in batches
        found = [e.name for e in client.search_experiments(filter_string=f"name = '{project}'")]
        if found:
            break
        time.sleep(0.1)
    assert found == [project]
    experiment = client.get_experiment_by_name(project)
    assert experiment is not None and experiment.creation_time == 1_700_000_000_000
    assert client.get_experiment(experiment.experiment_id).name == project
    run = client.create_run(experiment.experiment_id)  # usable like any experiment
    assert run.info.experiment_id == experiment.experiment_id


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/logged-models", b"{}", 400),
        ("POST", "/logged-models", b'{"experiment_id": "nope"}', 404),
        ("POST", "/logged-models", b'{"experiment_id": "0", "name": "a/b"}', 400),
        ("POST", "/logged-models", b'{"experiment_id": "0", "tags": [{"key": 1}]}', 400),
        ("POST", "/logged-models", b'{"experiment_id": "0", "params": "x"}', 400),
        ("POST", "/logged-models", b'{"experiment_id": "0", "source_run_id": "nope"}', 404),
        ("POST", "/logged-models/search", b"{}", 400),
        ("POST", "/logged-models/search", b'{"experiment_ids": ["0"], "filter": "x = "}', 400),
        ("POST", "/logged-models/search",
         b'{"experiment_ids": ["0"], "filter": "name = \'\' OR 1=1 --"}', 400),
        ("POST", "/logged-models/search", b'{"experiment_ids": ["0"], "max_results": -1}', 400),
        ("POST", "/logged-models/search",
         b'{"experiment_ids": ["0"], "order_by": [{"field_name": "secret"}]}', 400),
        ("POST", "/logged-models/search", b'{"experiment_ids": ["0"], "order_by": [3]}', 400),
        ("POST", "/logged-models/search", b'{"experiment_ids": ["0"], "page_token": "!"}', 400),
        ("GET", "/logged-models/m-missing", b"", 404),
        ("PATCH", "/logged-models/m-missing", b'{"status": "LOGGED_MODEL_READY"}', 404),
        ("PATCH", "/logged-models/m-missing", b"{}", 400),
        ("DELETE", "/logged-models/m-missing", b"", 404),
        ("PATCH", "/logged-models/m-missing/tags", b'{"tags": []}', 404),
        ("DELETE", "/logged-models/m-missing/tags/k", b"", 404),
        ("POST", "/logged-models/m-missing/params", b'{"params": []}', 404),
        ("GET", "/logged-models/m-missing/artifacts/directories", b"", 404),
        ("POST", "/runs/outputs", b'{"run_id": "nope", "models": []}', 404),
        ("POST", "/runs/outputs", b'{"models": []}', 400),
        ("GET", "/metrics/get-history-bulk-interval?metric_key=m", b"", 400),
        ("GET", "/metrics/get-history-bulk-interval?run_ids=a", b"", 400),
        ("GET", "/metrics/get-history-bulk-interval?run_ids=a&metric_key=m&max_results=0",
         b"", 400),
        ("GET", "/metrics/get-history-bulk-interval?run_ids=a&metric_key=m&start_step=1",
         b"", 400),
        ("GET", "/metrics/get-history-bulk-interval?run_ids=a&metric_key=m&start_step=5"
         "&end_step=1", b"", 400),
        ("GET", "/metrics/get-history-bulk-interval?run_ids=a&metric_key=m&start_step=x"
         "&end_step=1", b"", 400),
    ],
)  # fmt: skip
def test_malformed_logged_model_and_history_requests_get_mlflow_errors(
    server: ServerProcess, method: str, path: str, body: bytes, status: int
) -> None:
    response = httpx.request(method, server.url + API + path, content=body or None,
                             headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == status, response.text
    assert response.json()["error_code"] in (
        "INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")  # fmt: skip


def test_finalize_accepts_enum_names_and_numbers(client: MlflowClient, server: ServerProcess,
                                                 experiment_id: str) -> None:  # fmt: skip
    model = client.create_logged_model(experiment_id)
    url = f"{server.url}{API}/logged-models/{model.model_id}"
    assert httpx.patch(url, json={"status": 3}).json()["model"]["info"]["status"] == \
        "LOGGED_MODEL_UPLOAD_FAILED"  # fmt: skip
    assert httpx.patch(url, json={"status": "bogus"}).status_code == 400
    assert httpx.patch(url, json={"status": "LOGGED_MODEL_READY"}).status_code == 200
    assert client.get_logged_model(model.model_id).status == LoggedModelStatus.READY
