"""The real `mlflow` client against a running Spyglass server: tracking flows."""

from __future__ import annotations

import math
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException


def test_experiments_can_be_created_fetched_by_id_and_name_and_searched(
    client: MlflowClient, project: str
) -> None:
    experiment_id = client.create_experiment(project, tags={"team": "search"})
    by_id = client.get_experiment(experiment_id)
    by_name = client.get_experiment_by_name(project)
    assert by_id.name == project and by_name is not None
    assert by_name.experiment_id == experiment_id
    assert by_id.tags == {"team": "search"}
    assert by_id.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    found = client.search_experiments(filter_string=f"name = '{project}'")
    assert [e.experiment_id for e in found] == [experiment_id]
    tagged = client.search_experiments(filter_string="tags.team = 'search'")
    assert experiment_id in [e.experiment_id for e in tagged]


def test_experiments_can_be_renamed_deleted_and_restored(
    client: MlflowClient, experiment_id: str, project: str
) -> None:
    client.rename_experiment(experiment_id, f"{project}-renamed")
    assert client.get_experiment(experiment_id).name == f"{project}-renamed"
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    active = client.search_experiments(filter_string=f"name = '{project}-renamed'")
    deleted = client.search_experiments(
        view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{project}-renamed'"
    )
    assert active == [] and [e.experiment_id for e in deleted] == [experiment_id]
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_missing_and_duplicate_experiments_get_mlflow_error_codes(
    client: MlflowClient, project: str
) -> None:
    client.create_experiment(project)
    with pytest.raises(MlflowException) as missing:
        client.get_experiment("123456789")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_experiment_by_name(f"{project}-nope") is None
    with pytest.raises(MlflowException) as duplicate:
        client.create_experiment(project)
    assert duplicate.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_a_fluent_run_records_params_metrics_tags_and_ends_finished(
    client: MlflowClient, project: str
) -> None:
    mlflow.set_experiment(project)
    with mlflow.start_run(run_name="rf-depth-3") as run:
        mlflow.log_param("model", "rf")
        mlflow.log_params({"depth": 3, "lr": 0.1})
        for step in range(5):
            mlflow.log_metric("rmse", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "f1": float("nan")})
        mlflow.set_tag("team", "x")
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.end_time is not None
    assert got.info.run_name == "rf-depth-3"
    assert got.data.params == {"model": "rf", "depth": "3", "lr": "0.1"}
    assert got.data.metrics["rmse"] == 0.2 and got.data.metrics["acc"] == 0.9
    assert math.isnan(got.data.metrics["f1"])
    assert got.data.tags["team"] == "x" and got.data.tags["mlflow.runName"] == "rf-depth-3"
    history = client.get_metric_history(run.info.run_id, "rmse")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]


def test_log_batch_keeps_every_step_and_the_latest_value_wins(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric("loss", float(10 - i), now + i, i) for i in range(2500)]
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param("optimizer", "adam")],
        tags=[RunTag("stage", "train")],
    )
    run = client.get_run(run_id)
    assert run.data.metrics["loss"] == float(10 - 2499)
    assert run.data.params == {"optimizer": "adam"}
    assert run.data.tags["stage"] == "train"
    assert len(client.get_metric_history(run_id, "loss")) == 2500


def test_changing_a_param_value_is_refused_like_mlflow(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "depth", "3")
    client.log_param(run_id, "depth", "3")  # the same value again is fine
    with pytest.raises(MlflowException) as err:
        client.log_param(run_id, "depth", "4")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Changing param values is not allowed" in err.value.message


def test_tags_can_be_deleted_and_runs_deleted_and_restored(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.set_tag(run_id, "a", "1")
    client.delete_tag(run_id, "a")
    assert "a" not in client.get_run(run_id).data.tags
    with pytest.raises(MlflowException) as err:
        client.delete_tag(run_id, "a")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([experiment_id]) == []
    assert len(client.search_runs([experiment_id], run_view_type=ViewType.ALL)) == 1
    client.restore_run(run_id)
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [run_id]


def test_logging_to_a_missing_or_deleted_run_fails_with_mlflow_codes(
    client: MlflowClient, experiment_id: str
) -> None:
    with pytest.raises(MlflowException) as missing:
        client.log_metric("0" * 32, "m", 1.0)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)
    with pytest.raises(MlflowException) as deleted:
        client.log_metric(run_id, "m", 1.0)
    assert deleted.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_runs_filters_on_metrics_params_tags_and_attributes(
    client: MlflowClient, experiment_id: str
) -> None:
    ids = {}
    for name, rmse, model, team in [("a", 0.5, "rf", "x"), ("b", 0.9, "rf", "x"),
                                    ("c", 0.3, "xgb", "y")]:  # fmt: skip
        run = client.create_run(experiment_id, run_name=name)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("rmse", rmse, 0, 0)],
            params=[Param("model", model)],
            tags=[RunTag("team", team)],
        )
        ids[name] = run.info.run_id
    client.set_terminated(ids["c"])

    def names(filter_string: str, **kwargs: object) -> list[str]:
        runs = client.search_runs([experiment_id], filter_string, **kwargs)  # type: ignore[arg-type]
        return [r.info.run_name for r in runs]

    assert names("metrics.rmse < 0.8 and params.model = 'rf' and tags.team = 'x'") == ["a"]
    assert sorted(names("params.model IN ('rf', 'xgb') and metrics.rmse >= 0.5")) == ["a", "b"]
    assert names("attributes.status = 'FINISHED'") == ["c"]
    assert sorted(names("tags.team LIKE 'x%' OR metrics.rmse < 0.4")) == ["a", "b", "c"]
    assert names("params.model ILIKE 'XG%'") == ["c"]
    assert names("attributes.run_name = 'b'") == ["b"]
    assert names("", order_by=["metrics.rmse ASC"]) == ["c", "a", "b"]
    assert names("", order_by=["metrics.rmse DESC"]) == ["b", "a", "c"]


def test_search_runs_pages_with_page_tokens(client: MlflowClient, experiment_id: str) -> None:
    made = {client.create_run(experiment_id).info.run_id for _ in range(5)}
    first = client.search_runs([experiment_id], max_results=2)
    assert len(first) == 2 and first.token
    second = client.search_runs([experiment_id], max_results=2, page_token=first.token)
    third = client.search_runs([experiment_id], max_results=2, page_token=second.token)
    assert len(third) == 1 and not third.token
    assert {r.info.run_id for r in [*first, *second, *third]} == made


def test_bad_filter_strings_get_invalid_parameter_value_errors(
    client: MlflowClient, experiment_id: str
) -> None:
    for bad in ["metrics.rmse <", "params.x = 1 and", "bogus.x = 'a'", "metrics.m = 'a'",
                "attributes.nope = 'x'", "params.a = 'unterminated"]:  # fmt: skip
        with pytest.raises(MlflowException) as err:
            client.search_runs([experiment_id], bad)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE", bad


def test_injection_attempts_in_filters_never_return_other_rows(
    client: MlflowClient, experiment_id: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "model", "rf")
    attempts = [
        "params.model = 'x' OR 1=1",
        "params.model = 'x'' OR ''1''=''1'",
        "params.model = 'x\\' OR 1=1 --'",
        "params.`model' OR 1=1 --` = 'rf'",
        "tags.`a`) OR (1=1` = 'x'",
        "params.model = 'x'; DROP TABLE runs",
    ]
    for attempt in attempts:
        try:
            runs = client.search_runs([experiment_id], attempt)
        except MlflowException as exc:
            assert exc.error_code == "INVALID_PARAMETER_VALUE", attempt
        else:
            assert runs == [], attempt
    assert len(client.search_runs([experiment_id])) == 1


def test_artifacts_can_be_logged_listed_and_downloaded(
    client: MlflowClient, project: str, tmp_path: Path
) -> None:
    mlflow.set_experiment(project)
    note = tmp_path / "notes.txt"
    note.write_text("hello artifacts")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "weights.bin").write_bytes(bytes(range(256)) * 100)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(note))
        mlflow.log_artifacts(str(tmp_path / "dir"), artifact_path="model")
    run_id = run.info.run_id
    top = {(f.path, f.is_dir) for f in client.list_artifacts(run_id)}
    assert top == {("notes.txt", False), ("model", True)}
    assert [f.path for f in client.list_artifacts(run_id, "model")] == ["model/weights.bin"]
    out = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "out"))
    assert Path(out, "notes.txt").read_text() == "hello artifacts"
    assert Path(out, "model", "weights.bin").read_bytes() == bytes(range(256)) * 100
