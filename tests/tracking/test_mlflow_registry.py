"""The real `mlflow` client against a running Spyglass server: the model registry."""

from __future__ import annotations

import warnings
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.conftest import ServerProcess


@pytest.fixture
def run_with_model(client: MlflowClient, experiment_id: str, tmp_path: Path) -> str:
    """A run whose artifacts hold a ``model/`` directory."""
    run_id: str = client.create_run(experiment_id).info.run_id
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}\n")
    client.log_artifacts(run_id, str(tmp_path / "model"), artifact_path="model")
    return run_id


def test_a_registered_model_gets_versions_from_run_artifacts(
    client: MlflowClient, model_name: str, run_with_model: str, tmp_path: Path
) -> None:
    client.create_registered_model(model_name, tags={"owner": "ml"}, description="churn")
    v1 = client.create_model_version(model_name, f"runs:/{run_with_model}/model", run_with_model)
    v2 = client.create_model_version(model_name, f"runs:/{run_with_model}/model", run_with_model)
    assert (v1.version, v2.version) == ("1", "2")
    assert v1.status == "READY" and v1.current_stage == "None" and v1.run_id == run_with_model
    model = client.get_registered_model(model_name)
    assert model.description == "churn" and model.tags == {"owner": "ml"}
    uri = client.get_model_version_download_uri(model_name, "1")
    assert uri.startswith("mlflow-artifacts:/") and uri.endswith(
        f"{run_with_model}/artifacts/model"
    )
    out = mlflow.artifacts.download_artifacts(
        f"models:/{model_name}/1", dst_path=str(tmp_path / "o")
    )
    assert Path(out, "MLmodel").read_text() == "flavors: {}\n"


def test_aliases_resolve_and_a_version_can_carry_several(
    client: MlflowClient, model_name: str, run_with_model: str, tmp_path: Path
) -> None:
    client.create_registered_model(model_name)
    for _ in range(2):
        client.create_model_version(model_name, f"runs:/{run_with_model}/model", run_with_model)
    client.set_registered_model_alias(model_name, "champion", "1")
    client.set_registered_model_alias(model_name, "stable", "1")
    assert client.get_model_version_by_alias(model_name, "champion").version == "1"
    assert sorted(client.get_model_version(model_name, "1").aliases) == ["champion", "stable"]
    client.set_registered_model_alias(model_name, "champion", "2")
    assert client.get_model_version_by_alias(model_name, "champion").version == "2"
    aliases = dict(client.get_registered_model(model_name).aliases)
    assert aliases == {"champion": "2", "stable": "1"}
    out = mlflow.artifacts.download_artifacts(
        f"models:/{model_name}@champion", dst_path=str(tmp_path / "o")
    )
    assert Path(out, "MLmodel").exists()
    client.delete_registered_model_alias(model_name, "champion")
    with pytest.raises(MlflowException) as err:
        client.get_model_version_by_alias(model_name, "champion")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_stage_transitions_archive_others_and_are_audited(
    client: MlflowClient, server: ServerProcess, model_name: str, run_with_model: str
) -> None:
    client.create_registered_model(model_name)
    for _ in range(2):
        client.create_model_version(model_name, f"runs:/{run_with_model}/model", run_with_model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage(model_name, "1", "Production")
        client.transition_model_version_stage(model_name, "2", "production", True)
        latest = client.get_latest_versions(model_name, ["Production"])
    assert [v.version for v in latest] == ["2"]
    assert client.get_model_version(model_name, "1").current_stage == "Archived"
    client.set_registered_model_alias(model_name, "champion", "2")
    events = httpx.get(
        f"{server.url}/api/2.0/spyglass/registered-models/history", params={"name": model_name}
    ).json()["events"]
    moves = [(e["kind"], e["version"], e["alias"], e["from_value"], e["to_value"]) for e in events]
    assert moves == [
        ("stage", "1", "", "None", "Production"),
        ("stage", "2", "", "None", "Production"),
        ("stage", "1", "", "Production", "Archived"),
        ("alias", "2", "champion", "", "2"),
    ] or sorted(moves) == sorted([
        ("stage", "1", "", "None", "Production"),
        ("stage", "2", "", "None", "Production"),
        ("stage", "1", "", "Production", "Archived"),
        ("alias", "2", "champion", "", "2"),
    ])  # fmt: skip
    assert all(e["user_id"] and e["time"] > 0 for e in events)


def test_models_can_be_searched_renamed_tagged_and_deleted(
    client: MlflowClient, model_name: str, run_with_model: str
) -> None:
    client.create_registered_model(model_name)
    client.set_registered_model_tag(model_name, "task", "churn")
    client.create_model_version(model_name, f"runs:/{run_with_model}/model", run_with_model)
    found = client.search_registered_models(filter_string=f"name LIKE '{model_name[:12]}%'")
    assert [m.name for m in found] == [model_name]
    assert [m.name for m in client.search_registered_models("tags.task = 'churn'")] == [model_name]
    versions = client.search_model_versions(f"name = '{model_name}'")
    assert [v.version for v in versions] == ["1"]
    client.update_registered_model(model_name, description="new words")
    client.rename_registered_model(model_name, f"{model_name}-v2")
    renamed = client.get_registered_model(f"{model_name}-v2")
    assert renamed.description == "new words" and renamed.tags == {"task": "churn"}
    assert client.get_model_version(f"{model_name}-v2", "1").run_id == run_with_model
    with pytest.raises(MlflowException) as gone:
        client.get_registered_model(model_name)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.delete_registered_model(f"{model_name}-v2")
    assert client.search_registered_models(f"name = '{model_name}-v2'") == []


def test_registry_errors_match_mlflow_codes(
    client: MlflowClient, model_name: str, run_with_model: str
) -> None:
    client.create_registered_model(model_name)
    with pytest.raises(MlflowException) as duplicate:
        client.create_registered_model(model_name)
    assert duplicate.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as missing:
        client.get_model_version(model_name, "7")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.create_model_version(model_name, f"runs:/{run_with_model}/model", run_with_model)
    with pytest.raises(MlflowException) as bad_stage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            client.transition_model_version_stage(model_name, "1", "Shipped")
    assert bad_stage.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as bad_alias:
        client.set_registered_model_alias(model_name, "latest", "1")
    assert bad_alias.value.error_code == "INVALID_PARAMETER_VALUE"
    client.delete_model_version(model_name, "1")
    with pytest.raises(MlflowException):
        client.get_model_version(model_name, "1")
