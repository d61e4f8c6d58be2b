"""The Spyglass server: one FastAPI app for OTLP ingest and the query API."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError

from spyglass import __version__
from spyglass.auth import routes as auth_routes
from spyglass.auth.middleware import AuthMiddleware, Gate, Scope
from spyglass.auth.model import Role
from spyglass.auth.sessions import SessionSigner
from spyglass.collector.demo import demo_request
from spyglass.collector.demo_tracking import seed_tracking
from spyglass.collector.ingest import Ingest, NativeIngest, PythonIngest
from spyglass.collector.metrics import ServerMetrics
from spyglass.collector.pipeline import DEFAULT_MAX_QUEUED_SPANS, Pipeline
from spyglass.collector.pricing import PriceTable
from spyglass.collector.redaction import Redactor
from spyglass.collector.retention import RetentionWorker
from spyglass.collector.routes import otlp_http, query
from spyglass.collector.routes import retention as retention_routes
from spyglass.collector.rows import SPAN_COLUMNS, SpanBatch
from spyglass.collector.settings import ServerSettings
from spyglass.collector.spool_import import ingest_submitter, run_spool_import
from spyglass.collector.state import Services
from spyglass.collector.wal import DEFAULT_MAX_PENDING_SPANS
from spyglass.errors import BadRequestError, ConfigError
from spyglass.store.auth_store import AuthStore
from spyglass.store.connection import StoreURL, connect, parse_store_url
from spyglass.store.schema import SchemaOptions, migrate
from spyglass.store.traces import TraceStore
from spyglass.tracking import server as tracking_server
from spyglass.ui import mount_ui

log = logging.getLogger("spyglass.server")


def check_settings(
    settings: ServerSettings,
) -> tuple[StoreURL, SchemaOptions, PriceTable, Redactor | None]:
    """Everything that can be wrong with the settings, found before the server starts.

    Raises:
        ConfigError: with a message naming the bad setting.
    """
    url = parse_store_url(settings.resolved_store_url, settings.database)
    options = SchemaOptions(url.database, settings.cluster, settings.retention_days)
    try:
        prices = PriceTable.load(settings.price_file)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"price file: {exc}") from None
    redactor = Redactor.load(settings.redact_file, settings.redact_defaults)
    if settings.ingest == "native" and not url.embedded:
        raise ConfigError("--ingest native needs the embedded store (ClickHouse reads local files)")
    if settings.ingest == "native" and redactor is not None:
        raise ConfigError("--ingest native cannot apply redaction rules; use --ingest python")
    return url, options, prices, redactor


def ingest_mode(settings: ServerSettings, url: StoreURL, redactor: Redactor | None) -> str:
    """``native`` or ``python``: ``auto`` is native on the embedded store without redaction."""
    if settings.ingest != "auto":
        return settings.ingest
    return "native" if url.embedded and redactor is None else "python"


def open_services(settings: ServerSettings) -> Services:
    """Connect the store, apply migrations, build the pipeline (not started yet)."""
    url, options, prices, redactor = check_settings(settings)
    client = connect(url)
    migrate(client, options)
    store = TraceStore(client, options)

    metrics = ServerMetrics()
    ingest: Ingest
    if ingest_mode(settings, url, redactor) == "native":
        ingest = NativeIngest(
            store,
            lambda: connect(url),
            prices,
            Path(url.target) / "spyglass-wal",
            Path(url.target) / "spyglass-native-schema",
            max_pending_spans=settings.max_queued_spans or DEFAULT_MAX_PENDING_SPANS,
            seal_spans=settings.max_batch_spans,
            on_insert=metrics.insert_seconds.observe,
            on_stored=metrics.store_lag.observe,
        )
    else:

        def write(batch: SpanBatch) -> None:
            store.insert_spans(SPAN_COLUMNS, batch.columns)

        pipeline = Pipeline(
            write,
            on_insert=metrics.insert_seconds.observe,
            on_stored=metrics.store_lag.observe,
            max_queued_spans=settings.max_queued_spans or DEFAULT_MAX_QUEUED_SPANS,
            max_batch_spans=settings.max_batch_spans,
        )
        ingest = PythonIngest(pipeline, prices, redactor)
    return Services(settings, store, ingest, prices, metrics, redactor)


def open_gate(services: Services, settings: ServerSettings) -> Gate:
    """Accounts over the store, with the admin from the settings (re)created on every start."""
    accounts = AuthStore(services.store.client, services.store.db)
    assert settings.basic_auth_username and settings.basic_auth_password  # auth_enabled
    accounts.set_user(settings.basic_auth_username, settings.basic_auth_password, Role.ADMIN, None)
    return Gate(accounts, SessionSigner(settings.session_secret))


def _self_url(settings: ServerSettings) -> str:
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def _seed_demo_tracking(url: str) -> None:
    try:
        seed_tracking(url)
    except Exception:  # the demo is a convenience: never take the server down for it
        log.warning("could not load the demo experiments", exc_info=True)


def _no_self_tracing() -> dict[str, Any]:
    # FastAPI >= 0.16x traces its own requests whenever a global tracer provider is set; the
    # collector must never record its own ingest traffic.
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def create_app(settings: ServerSettings | None = None, *, load_demo: bool = False) -> FastAPI:
    """Build the app; the store is opened in the lifespan (so import and tests stay cheap).

    Args:
        settings: server settings; defaults to the embedded store under ``~/.spyglass``.
        load_demo: store sample traces (`spyglass.collector.demo`) once the store is open.
    """
    settings = settings or ServerSettings()
    check_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = open_services(settings)
        services.ingest.start()
        app.state.services = services
        if settings.auth_enabled:
            app.state.gate = open_gate(services, settings)
        retention = RetentionWorker(
            services.store.client, services.store.db, settings.retention_days,
            services.metrics.retention,
        )  # fmt: skip
        retention.start()
        app.state.retention = retention
        if load_demo:
            accepted = services.ingest.accept(demo_request(), None, None)
            await asyncio.wrap_future(accepted.done)
            log.info("loaded %d demo spans", accepted.count)
            if not settings.auth_enabled:  # seeded through our own API, which is then open
                threading.Thread(
                    target=_seed_demo_tracking, args=(_self_url(settings),), daemon=True
                ).start()
        # Traces a tracer spooled while no server ran (same default home, ~/.spyglass).
        spool_task = asyncio.create_task(
            run_spool_import(
                settings.data_dir.expanduser() / "spool",
                ingest_submitter(services.ingest),
            )
        )
        log.info("spyglass %s serving store %s", __version__, settings.resolved_store_url)
        try:
            yield
        finally:
            spool_task.cancel()
            retention.shutdown()
            services.ingest.shutdown()
            services.store.client.close()
            log.info("spyglass stopped: %s", services.ingest.stats)

    app = FastAPI(
        title="Spyglass",
        version=__version__,
        summary="GenAI observability: OTLP ingest and trace queries over ClickHouse",
        lifespan=lifespan,
        **_no_self_tracing(),
    )
    if settings.auth_enabled:

        def gate_of(scope: Scope) -> Gate | None:
            gate: Gate | None = getattr(scope["app"].state, "gate", None)
            return gate

        app.add_middleware(AuthMiddleware, gate_of=gate_of)
    app.include_router(auth_routes.router)
    app.include_router(otlp_http.router)
    app.include_router(query.router)
    app.include_router(retention_routes.router)
    app.include_router(tracking_server.router)
    mount_ui(app)  # web UI: /, /traces, /sessions, /dashboard, /static

    @app.exception_handler(BadRequestError)
    async def bad_request(_: Request, exc: BadRequestError) -> Response:
        return Response(
            orjson.dumps({"error": exc.message}), exc.status, media_type="application/json"
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        ]
        return Response(
            orjson.dumps({"error": "; ".join(problems)}), 400, media_type="application/json"
        )

    @app.get("/healthz", tags=["ops"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="The store answers and the write queue has room")
    async def readyz(request: Request) -> Response:
        services: Services = request.app.state.services
        stats = services.ingest.stats
        body = {
            "status": "ok",
            "queued_spans": stats.queued_spans,
            "written_spans": stats.written_spans,
        }
        return Response(orjson.dumps(body), 200, media_type="application/json")

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics (text exposition format)")
    async def metrics(request: Request) -> Response:
        services: Services = request.app.state.services
        text = services.metrics.render(services.ingest.stats)
        return Response(text, 200, media_type="text/plain; version=0.0.4")

    return app
