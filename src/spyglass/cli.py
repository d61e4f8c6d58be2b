"""The ``spyglass`` command. The only place errors become exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

try:
    import typer
except ImportError:  # the light base install has no CLI dependencies
    typer = None  # type: ignore[assignment]


def _app() -> typer.Typer:
    app = typer.Typer(
        name="spyglass",
        help="Spyglass: GenAI observability and evaluation.",
        no_args_is_help=True,
        add_completion=False,
    )

    @app.command()
    def server(
        host: Annotated[
            str, typer.Option(envvar="SPYGLASS_HOST", help="Address to bind")
        ] = "127.0.0.1",
        port: Annotated[
            int, typer.Option(envvar="SPYGLASS_PORT", help="Port for OTLP, API and UI")
        ] = 6006,
        store_url: Annotated[
            str,
            typer.Option(
                envvar="SPYGLASS_STORE_URL",
                help="chdb:///abs/path (embedded) or http(s)://user:pass@host:8123; "
                "default: the embedded store under --data-dir",
            ),
        ] = "",
        data_dir: Annotated[
            Path, typer.Option(envvar="SPYGLASS_DATA_DIR", help="Home of the embedded store")
        ] = Path("~/.spyglass"),
        database: Annotated[str, typer.Option(envvar="SPYGLASS_DATABASE")] = "spyglass",
        cluster: Annotated[
            str | None, typer.Option(envvar="SPYGLASS_CLUSTER", help="ClickHouse cluster name")
        ] = None,
        retention_days: Annotated[
            int | None, typer.Option(envvar="SPYGLASS_RETENTION_DAYS", min=1)
        ] = None,
        price_file: Annotated[
            Path | None,
            typer.Option(
                envvar="SPYGLASS_PRICE_FILE", help="JSON prices merged over the shipped table"
            ),
        ] = None,
        demo: Annotated[bool, typer.Option("--demo", help="Load sample traces at start")] = False,
        log_level: Annotated[str, typer.Option(envvar="SPYGLASS_LOG_LEVEL")] = "info",
        log_format: Annotated[
            str,
            typer.Option(envvar="SPYGLASS_LOG_FORMAT", help="text, or json (one object per line)"),
        ] = "text",
        basic_auth_username: Annotated[
            str | None,
            typer.Option(
                envvar="SPYGLASS_BASIC_AUTH_USERNAME",
                help="Admin user; turns authentication on for every route",
            ),
        ] = None,
        basic_auth_password: Annotated[
            str | None,
            typer.Option(envvar="SPYGLASS_BASIC_AUTH_PASSWORD", help="Admin password (8+ chars)"),
        ] = None,
        session_secret: Annotated[
            str | None,
            typer.Option(
                envvar="SPYGLASS_SESSION_SECRET",
                help="Signs browser sessions; share it between replicas",
            ),
        ] = None,
        insecure_no_auth: Annotated[
            bool,
            typer.Option(
                "--insecure-no-auth",
                help="Allow a non-loopback --host without authentication",
            ),
        ] = False,
        artifacts_uri: Annotated[
            str,
            typer.Option(
                envvar="SPYGLASS_ARTIFACTS_URI",
                help="Artifact storage: a path or s3://bucket/prefix; default <data-dir>/artifacts",
            ),
        ] = "",
        redact_file: Annotated[
            Path | None,
            typer.Option(
                envvar="SPYGLASS_REDACT_FILE",
                help="JSON redaction rules applied to spans before storage",
            ),
        ] = None,
        redact_defaults: Annotated[
            bool,
            typer.Option(
                "--redact-defaults",
                envvar="SPYGLASS_REDACT_DEFAULTS",
                help="Redact emails, API keys, tokens and card numbers before storage",
            ),
        ] = False,
        ingest: Annotated[
            str,
            typer.Option(
                envvar="SPYGLASS_INGEST",
                help="native (ClickHouse parses OTLP; embedded store, no redaction), python, "
                "or auto (native where it applies)",
            ),
        ] = "auto",
    ) -> None:
        """Run the server: OTLP ingest at /v1/traces and the query API at /api."""
        import uvicorn

        from spyglass.collector.app import create_app
        from spyglass.collector.settings import ServerSettings
        from spyglass.errors import ConfigError
        from spyglass.logs import LOG_FORMATS, log_config

        if log_format not in LOG_FORMATS:
            typer.echo(f"error: --log-format must be one of {', '.join(LOG_FORMATS)}", err=True)
            raise typer.Exit(2)
        try:
            settings = ServerSettings(
                store_url=store_url,
                data_dir=data_dir,
                database=database,
                cluster=cluster,
                retention_days=retention_days,
                price_file=price_file,
                host=host,
                port=port,
                basic_auth_username=basic_auth_username,
                basic_auth_password=basic_auth_password,
                session_secret=session_secret,
                allow_public_without_auth=insecure_no_auth,
                redact_file=redact_file,
                artifacts_uri=artifacts_uri,
                redact_defaults=redact_defaults,
                ingest=ingest,
            )
            app = create_app(settings, load_demo=demo)
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if log_format == "text":  # JSON logs stay machine-readable: the app logs its start
            typer.echo(f"Spyglass on http://{host}:{port}  (store: {settings.resolved_store_url})")
            typer.echo(f"  OTLP/HTTP endpoint: http://{host}:{port}/v1/traces   API docs: /docs")
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            log_config=log_config(log_level, log_format),
            access_log=False,
        )

    @app.command()
    def demo(
        url: Annotated[
            str, typer.Option(help="A running Spyglass server")
        ] = "http://127.0.0.1:6006",
        project: Annotated[str, typer.Option(help="Project to load into")] = "default",
        traces: Annotated[int, typer.Option(min=1, max=100_000)] = 60,
    ) -> None:
        """Send realistic sample GenAI traces to a running server over OTLP."""
        import httpx

        from spyglass.collector.demo import demo_request

        body = demo_request(traces=traces).SerializeToString()
        try:
            response = httpx.post(
                f"{url.rstrip('/')}/v1/traces",
                content=body,
                headers={
                    "content-type": "application/x-protobuf",
                    "x-spyglass-project": project,
                },
                timeout=60,
            )
        except httpx.HTTPError as exc:
            typer.echo(f"error: cannot reach {url}: {exc}", err=True)
            raise typer.Exit(1) from None
        if response.status_code != 200:
            typer.echo(f"error: server answered {response.status_code}: {response.text}", err=True)
            raise typer.Exit(1)
        typer.echo(f"sent {traces} sample traces to {url} (project {project!r})")

    from spyglass.evaluator.cli import eval_app  # Typer only; the evaluator loads per command

    app.add_typer(eval_app(), name="eval")
    from spyglass.collector.retention_cli import retention_app  # Typer and httpx only

    app.add_typer(retention_app(), name="retention")
    return app


def main() -> None:
    if typer is None:
        print(
            "The spyglass command needs the server extra: pip install 'spyglass[server]'",
            file=sys.stderr,
        )
        sys.exit(2)
    _app()()


if __name__ == "__main__":
    main()
