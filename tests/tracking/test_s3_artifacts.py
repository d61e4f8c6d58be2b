"""Artifacts in an S3-compatible bucket (moto's S3 server, in this process): the real `mlflow`
client logs, lists and downloads run artifacts and logged models through a Spyglass server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow
import mlflow.pyfunc
import pytest
from mlflow import MlflowClient

from spyglass.tracking.artifact_store import open_artifact_store
from spyglass.tracking.errors import MlflowError
from tests.conftest import ServerProcess, free_port

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

BUCKET = "spyglass-artifacts"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]  # mlflow is untyped here
    # mlflow calls predict with this signature
    def predict(self, context: Any, model_input: list[str], params: Any = None) -> list[str]:  # noqa: ARG002
        return [s.upper() for s in model_input]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    moto = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3_client(endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    moto.stop()


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, **{
        "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
        "region_name": "us-east-1"})  # fmt: skip


@pytest.fixture(scope="module")
def s3_server(
    tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str
) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("s3server"))
    env = {**os.environ, **AWS_ENV, "AWS_ENDPOINT_URL_S3": s3_endpoint, "PYTHONUNBUFFERED": "1"}
    with open(proc.data_dir / "server.log", "ab") as log:
        proc.process = subprocess.Popen(
            [sys.executable, "-m", "spyglass.cli", "server", "--port", str(proc.port),
             "--data-dir", str(proc.data_dir), "--log-level", "warning",
             "--artifacts-uri", f"s3://{BUCKET}/team/mlflow"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        if proc.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start:\n{proc.log()}")
        try:
            if httpx.get(f"{proc.url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield proc
    proc.stop()


@pytest.fixture
def s3_mlflow(s3_server: ServerProcess) -> Iterator[MlflowClient]:
    mlflow.set_tracking_uri(s3_server.url)
    mlflow.set_registry_uri(s3_server.url)
    yield MlflowClient(s3_server.url, s3_server.url)
    while mlflow.active_run():
        mlflow.end_run()


def keys(endpoint: str, prefix: str) -> list[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_run_artifacts_round_trip_through_the_bucket(
    s3_mlflow: MlflowClient, s3_endpoint: str, project: str, tmp_path: Path
) -> None:
    experiment_id = s3_mlflow.create_experiment(project)
    run_id = s3_mlflow.create_run(experiment_id).info.run_id
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.txt").write_text("alpha")
    (tmp_path / "in" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    s3_mlflow.log_artifacts(run_id, str(tmp_path / "in"), artifact_path="data")
    prefix = f"team/mlflow/{experiment_id}/{run_id}/artifacts/data/"
    assert keys(s3_endpoint, prefix) == [prefix + "a.txt", prefix + "sub/b.bin"]
    listed = s3_mlflow.list_artifacts(run_id, "data")
    assert [(f.path, f.is_dir, f.file_size) for f in listed] == [
        ("data/a.txt", False, 5), ("data/sub", True, None)]  # fmt: skip
    out = Path(s3_mlflow.download_artifacts(run_id, "data", str(tmp_path / "out")))
    assert (out / "a.txt").read_text() == "alpha"
    assert (out / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 4096
    url = f"{s3_mlflow.tracking_uri}/api/2.0/mlflow-artifacts/artifacts"
    assert httpx.delete(f"{url}/{experiment_id}/{run_id}/artifacts/data").status_code == 200
    assert keys(s3_endpoint, prefix) == []


def test_a_logged_model_in_the_bucket_registers_and_loads(
    s3_mlflow: MlflowClient, s3_endpoint: str, project: str, model_name: str
) -> None:
    experiment_id = s3_mlflow.create_experiment(project)
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.pyfunc.log_model(name="echo", python_model=Echo())
    prefix = f"team/mlflow/{experiment_id}/models/{info.model_id}/artifacts/"
    assert prefix + "MLmodel" in keys(s3_endpoint, prefix)
    mlflow.register_model(info.model_uri, model_name)
    assert mlflow.pyfunc.load_model(f"models:/{model_name}/1").predict(["a"]) == ["A"]


def test_bad_paths_and_missing_keys_get_mlflow_errors(s3_server: ServerProcess) -> None:
    base = f"{s3_server.url}/api/2.0/mlflow-artifacts/artifacts"
    assert httpx.get(f"{base}/nope/missing.txt").status_code == 404
    assert httpx.put(f"{base}/a/%2E%2E/%2E%2E/x", content=b"x").status_code == 400
    assert httpx.get(base, params={"path": "../x"}).json()["error_code"] == \
        "INVALID_PARAMETER_VALUE"  # fmt: skip


def test_artifact_uris_are_checked(tmp_path: Path) -> None:
    assert open_artifact_store("", tmp_path / "a").list_dir("") == []
    assert open_artifact_store(f"file://{tmp_path}/b", tmp_path).list_dir("") == []
    for bad in ("s3://", "gs://bucket/x", "ftp://host/x"):
        with pytest.raises(ValueError):
            open_artifact_store(bad, tmp_path)


def test_local_paths_the_filesystem_refuses_are_400s(tmp_path: Path) -> None:
    store = open_artifact_store("", tmp_path)
    store.write("a/file", io.BytesIO(b"x"))
    for call in (lambda: store.write("a/file/below", io.BytesIO(b"y")),
                 lambda: store.read("x" * 300), lambda: store.list_dir("x" * 300),
                 lambda: store.delete("y" * 300)):  # fmt: skip
        with pytest.raises(MlflowError) as err:
            call()
        assert err.value.status == 400
    assert store.read("a/file/below") is None and store.read("a/missing") is None


def test_the_ui_lists_and_reads_artifacts_from_the_bucket(
    s3_mlflow: MlflowClient, s3_endpoint: str, project: str, tmp_path: Path
) -> None:
    experiment_id = s3_mlflow.create_experiment(project)
    run = s3_mlflow.create_run(experiment_id, tags={"spyglass.evaluation": "true"})
    run_id = run.info.run_id
    table = {"columns": ["input", "rougeL"], "data": [["q-from-s3", 0.25], ["q2", 0.75]]}
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "eval_results_table.json").write_text(json.dumps(table))
    (tmp_path / "eval" / "dataset.jsonl").write_text('{"input": "row-from-s3"}\n')
    s3_mlflow.log_artifacts(run_id, str(tmp_path / "eval"), artifact_path="eval")
    assert keys(s3_endpoint, f"team/mlflow/{experiment_id}/{run_id}/artifacts/eval/")

    ui = s3_mlflow.tracking_uri
    page = httpx.get(f"{ui}/runs/{run_id}", params={"path": "eval"})
    assert page.status_code == 200 and "eval_results_table.json" in page.text
    evaluation = httpx.get(f"{ui}/evaluations/{run_id}")
    assert evaluation.status_code == 200 and "q-from-s3" in evaluation.text
    dataset = httpx.get(f"{ui}/evaluations/{run_id}/dataset")
    assert dataset.status_code == 200 and "row-from-s3" in dataset.text
