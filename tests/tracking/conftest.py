"""Fixtures for tracking tests: the real `mlflow` client pointed at a running Spyglass server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

# The mlflow client must never phone home from a test.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"

mlflow = pytest.importorskip("mlflow")

from mlflow import MlflowClient  # noqa: E402

from tests.conftest import ServerProcess  # noqa: E402


@pytest.fixture
def client(server: ServerProcess) -> Iterator[MlflowClient]:
    """An MlflowClient for the module's server (tracking and registry URI)."""
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    yield MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture
def experiment_id(client: MlflowClient, project: str) -> str:
    """A fresh experiment named after the test's project."""
    return str(client.create_experiment(project))


@pytest.fixture
def model_name() -> str:
    return f"model-{uuid.uuid4().hex[:10]}"
