"""MLflow's REST API on the Spyglass server: the router the app mounts.

``router`` carries its own lifespan (FastAPI runs it inside the app's, after the store is open):
it builds `TrackingServices` over the app's ClickHouse client, replays the write spool, and on
shutdown flushes pending writes before the app closes the client.

Errors travel in MLflow's shape (`MlflowError`): routes use `MlflowRoute`, which turns them into
``{"error_code": ..., "message": ...}`` with MLflow's HTTP status.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.concurrency import run_in_threadpool

from spyglass.errors import ConfigError
from spyglass.store.tracking_experiments import ExperimentStore
from spyglass.store.tracking_models import LoggedModelStore
from spyglass.store.tracking_registry import RegistryStore
from spyglass.store.tracking_runs import RunStore
from spyglass.store.tracking_versions import VersionStore
from spyglass.store.tracking_writer import TrackingWriter
from spyglass.tracking import routes_artifacts, routes_models, routes_registry, routes_runs
from spyglass.tracking._http import TrackingServices, json_response
from spyglass.tracking.artifact_store import open_artifact_store

log = logging.getLogger("spyglass.tracking")


def open_tracking(
    client: Any, database: str, data_dir: Path, artifacts_uri: str = ""
) -> TrackingServices:
    """Build the stores, replay what a previous process spooled, start the background writer.

    Args:
        client: the app's clickhouse-connect client (typed loosely: a third-party object).
        database: the Spyglass database (already migrated).
        data_dir: the server's data directory; the spool and the artifacts live under it.
        artifacts_uri: where artifacts go instead of ``<data_dir>/artifacts``: a path,
            ``file://`` or ``s3://bucket/prefix`` URI.

    Raises:
        ConfigError: for an artifacts URI that cannot be used.
    """
    artifact_root = data_dir / "artifacts"
    try:
        artifacts = open_artifact_store(artifacts_uri, artifact_root)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    artifact_root.mkdir(parents=True, exist_ok=True)
    writer = TrackingWriter(client, database, data_dir / "tracking-spool")
    replayed = writer.replay()
    if replayed:
        log.info("replayed %d spooled tracking rows", replayed)
    experiments = ExperimentStore(client, database, writer)
    experiments.ensure_default()
    runs = RunStore(client, database, writer, experiments)
    registry = RegistryStore(client, database, writer, runs)
    models = LoggedModelStore(writer, experiments, runs)
    writer.start()
    return TrackingServices(
        writer,
        experiments,
        runs,
        registry,
        VersionStore(registry, models),
        artifact_root,
        models,
        artifacts,
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    services = app.state.services  # the app's lifespan opened the store
    settings = services.settings
    tracking = await run_in_threadpool(
        open_tracking,
        services.store.client,
        services.store.db,
        Path(settings.data_dir).expanduser().resolve(),
        settings.artifacts_uri,  # --artifacts-uri
    )
    app.state.tracking = tracking
    try:
        yield
    finally:
        await run_in_threadpool(tracking.writer.close)


router = APIRouter(lifespan=_lifespan)
router.include_router(routes_runs.router)
router.include_router(routes_runs.spyglass_router)
router.include_router(routes_models.router)
router.include_router(routes_registry.router)
router.include_router(routes_registry.history_router)
router.include_router(routes_artifacts.router)


@router.api_route(
    "/api/2.0/mlflow/{rest:path}",
    methods=["GET", "POST", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unknown_endpoint(rest: str) -> Response:
    """Endpoints Spyglass does not implement answer as MLflow's server does."""
    body = {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No API endpoint /mlflow/{rest}"}
    return json_response(body, 404)
