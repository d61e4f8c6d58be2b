"""``spyglass retention``: read and change per-project retention on a running server.

The server owns the store (an embedded store is locked to its process), so the commands go
through its admin API (`spyglass.collector.routes.retention`) with an admin API key.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

UrlOpt = Annotated[str, typer.Option(help="A running Spyglass server")]
KeyOpt = Annotated[
    str | None,
    typer.Option(envvar="SPYGLASS_API_KEY", help="An admin API key (servers with auth on)"),
]


def _call(method: str, url: str, path: str, key: str | None, body: Any = None) -> Any:
    import httpx

    headers = {"authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.request(
            method, f"{url.rstrip('/')}{path}", json=body, headers=headers, timeout=600
        )
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from None
    if response.status_code >= 400:
        try:
            payload = response.json()
            message = payload.get("error") or payload.get("detail") or response.text
        except ValueError:
            message = response.text
        typer.echo(f"error: server answered {response.status_code}: {message}", err=True)
        raise typer.Exit(1)
    return response.json()


def _project_path(project: str) -> str:
    return f"/api/retention/projects/{quote(project, safe='')}"


def retention_app() -> typer.Typer:
    """The ``spyglass retention`` command group."""
    app = typer.Typer(help="Per-project retention of traces (admin).", no_args_is_help=True)

    @app.command("list")
    def list_(url: UrlOpt = "http://127.0.0.1:6006", api_key: KeyOpt = None) -> None:
        """Show the server-wide retention and every project's own."""
        body = _call("GET", url, "/api/retention", api_key)
        default = body["default_days"]
        typer.echo(f"server-wide: {f'{default} days' if default else 'keep everything'}")
        for p in body["projects"]:
            typer.echo(f"{p['project']}: {p['days']} days (set by {p['updated_by'] or '-'})")

    @app.command("set")
    def set_(
        project: Annotated[str, typer.Argument(help="Project (= experiment) name")],
        days: Annotated[int, typer.Argument(help="Keep this project's traces this many days")],
        url: UrlOpt = "http://127.0.0.1:6006",
        api_key: KeyOpt = None,
    ) -> None:
        """Set or change a project's retention; the next sweep applies it."""
        body = _call("PUT", url, _project_path(project), api_key, {"days": days})
        typer.echo(f"{body['project']}: {body['days']} days")

    @app.command("clear")
    def clear(
        project: Annotated[str, typer.Argument(help="Project (= experiment) name")],
        url: UrlOpt = "http://127.0.0.1:6006",
        api_key: KeyOpt = None,
    ) -> None:
        """Remove a project's own retention (the server-wide one applies again)."""
        _call("DELETE", url, _project_path(project), api_key)
        typer.echo(f"{project}: no retention of its own")

    @app.command("run")
    def run(url: UrlOpt = "http://127.0.0.1:6006", api_key: KeyOpt = None) -> None:
        """Delete expired traces now instead of at the next hourly sweep."""
        body = _call("POST", url, "/api/retention/run", api_key)
        for t in body["tables"]:
            typer.echo(
                f"{t['table']}: {len(t['dropped_partitions'])} partitions dropped "
                f"({t['dropped_rows']} rows), {t['deleted_rows']} rows deleted"
            )
        typer.echo(f"done in {body['seconds']} s")

    return app
