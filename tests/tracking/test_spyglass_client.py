"""Spyglass's own client and fluent API over the same endpoints; what runs record by themselves."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import spyglass.client as sg
from spyglass.client import TrackingClient, TrackingError
from tests.conftest import ServerProcess


@pytest.fixture
def own(server: ServerProcess) -> Iterator[TrackingClient]:
    sg.set_tracking_uri(server.url)
    client = TrackingClient(server.url, user="tester")
    yield client
    while sg.active_run():
        sg.end_run()
    client.close()


def test_the_fluent_api_records_a_run_with_its_environment(
    own: TrackingClient, project: str, tmp_path: Path
) -> None:
    note = tmp_path / "report.md"
    note.write_text("# results\n")
    with sg.start_run(experiment=project, run_name="fluent", tags={"team": "x"}) as run:
        sg.log_param("depth", 3)
        sg.log_params({"lr": 0.1, "model": "rf"})
        for step in range(3):
            sg.log_metric("loss", 1.0 - step / 10, step=step)
        sg.log_metrics({"acc": 0.9})
        sg.set_tag("stage", "train")
        sg.log_artifact(note, "reports")
    got = own.get_run(run.run_id)
    assert got["info"]["status"] == "FINISHED" and got["info"]["run_name"] == "fluent"
    params = {p["key"]: p["value"] for p in got["data"]["params"]}
    assert params == {"depth": "3", "lr": "0.1", "model": "rf"}
    metrics = {m["key"]: m["value"] for m in got["data"]["metrics"]}
    assert metrics == {"loss": 0.8, "acc": 0.9}
    tags = {t["key"]: t["value"] for t in got["data"]["tags"]}
    assert tags["team"] == "x" and tags["stage"] == "train"
    assert tags["spyglass.python.version"].endswith(".".join(map(str, sys.version_info[:3])))
    assert tags["mlflow.source.type"] == "LOCAL" and tags["mlflow.source.name"]
    assert len(tags["spyglass.packages.sha256"]) == 64
    requirements = own.download_artifact(run.run_id, "environment/requirements.txt").decode()
    assert "httpx==" in requirements
    assert own.download_artifact(run.run_id, "reports/report.md") == b"# results\n"


def test_a_run_records_the_git_commit_and_dirty_state(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    script = repo / "train.py"
    script.write_text("print('train')\n")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.email=t@e", "-c", "user.name=t", *args],
            cwd=repo, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip

    git("init", "-q")
    git("add", "train.py")
    git("commit", "-q", "-m", "first")
    commit = git("rev-parse", "HEAD")
    from spyglass.client import _repro

    clean, _ = _repro.capture(repo)
    script.write_text("print('changed')\n")
    dirty, _ = _repro.capture(repo)
    assert clean["mlflow.source.git.commit"] == commit == dirty["mlflow.source.git.commit"]
    assert (clean["spyglass.source.git.dirty"], dirty["spyglass.source.git.dirty"]) == (
        "false",
        "true",
    )


def test_the_client_searches_runs_and_pages(own: TrackingClient, project: str) -> None:
    experiment_id = own.get_or_create_experiment(project)
    assert own.get_or_create_experiment(project) == experiment_id
    for i in range(3):
        run_id = own.create_run(experiment_id, run_name=f"r{i}")["info"]["run_id"]
        own.log_batch(run_id, metrics=[{"key": "rmse", "value": i / 10}], params={"i": i})
    runs, token = own.search_runs([experiment_id], "metrics.rmse < 0.15", ["metrics.rmse ASC"])
    assert [r["info"]["run_name"] for r in runs] == ["r0", "r1"] and token is None
    page, token = own.search_runs([experiment_id], max_results=2)
    assert len(page) == 2 and token is not None
    rest, token = own.search_runs([experiment_id], max_results=2, page_token=token)
    assert len(rest) == 1 and token is None


def test_log_batch_splits_large_batches_and_keeps_history(
    own: TrackingClient, project: str
) -> None:
    run_id = own.create_run(own.get_or_create_experiment(project))["info"]["run_id"]
    own.log_batch(run_id, metrics=[{"key": "x", "value": float(i), "step": i} for i in range(2500)])
    history = own.get_metric_history(run_id, "x")
    assert [p["step"] for p in history] == list(range(2500))


def test_the_registry_resolves_versions_and_aliases_and_keeps_history(
    own: TrackingClient, project: str
) -> None:
    run_id = own.create_run(own.get_or_create_experiment(project))["info"]["run_id"]
    name = f"{project}-model"
    own.create_registered_model(name, description="d")
    v1 = own.create_model_version(name, f"runs:/{run_id}/model", run_id)
    v2 = own.create_model_version(name, f"runs:/{run_id}/model", run_id)
    own.set_alias(name, "champion", v1["version"])
    own.set_alias(name, "champion", v2["version"])
    own.transition_stage(name, v2["version"], "Staging")
    assert own.resolve_model(f"models:/{name}@champion")["version"] == "2"
    assert own.resolve_model(f"models:/{name}/1")["version"] == "1"
    assert own.model_download_uri(name, 1).endswith(f"/{run_id}/artifacts/model")
    history = own.registry_history(name)
    assert [(e["kind"], e["from_value"], e["to_value"]) for e in history] == [
        ("alias", "", "1"),
        ("alias", "1", "2"),
        ("stage", "None", "Staging"),
    ]
    assert {e["user_id"] for e in history} == {"tester"}


def test_errors_from_the_server_carry_mlflow_codes(own: TrackingClient, project: str) -> None:
    with pytest.raises(TrackingError) as missing:
        own.get_run("f" * 32)
    assert (missing.value.error_code, missing.value.status) == ("RESOURCE_DOES_NOT_EXIST", 404)
    own.create_experiment(project)
    with pytest.raises(TrackingError) as duplicate:
        own.create_experiment(project)
    assert duplicate.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(RuntimeError):
        sg.log_metric("x", 1.0)  # no active run


def test_importing_the_client_loads_no_server_side_package() -> None:
    code = (
        "import sys, spyglass.client\n"
        "bad = ('fastapi', 'uvicorn', 'clickhouse_connect', 'chdb', 'starlette', 'orjson', "
        "'mlflow')\n"
        "print(','.join(m for m in bad if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_spans_traced_during_a_fluent_run_are_the_runs_traces(
    server: ServerProcess, project: str
) -> None:
    import time

    import httpx

    import spyglass

    spyglass.configure(tracking_uri=server.url, project=project, spool_dir=False)
    sg.set_tracking_uri(server.url)
    try:
        with sg.start_run(experiment=project) as run:
            with spyglass.start_span("inside-the-run"):
                pass
        with spyglass.start_span("after-the-run"):
            pass
        assert spyglass.flush(10)
    finally:
        spyglass.shutdown()
    url = f"{server.url}/api/2.0/spyglass/runs/traces"
    names: list[str] = []
    for _ in range(50):  # the pipeline writes in batches
        names = [t["name"] for t in httpx.get(url, params={"run_id": run.run_id}).json()["traces"]]
        if names:
            break
        time.sleep(0.1)
    assert names == ["inside-the-run"]
