"""The web UI: server-rendered pages (Jinja2 + htmx) on the collector app, no build step.

`mount_ui(app)` adds the pages and the packaged static files (``/static``); every page reads
through the store the app already opened.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "mount_ui"]

STATIC_DIR = Path(__file__).parent / "static"


def mount_ui(app: FastAPI) -> None:
    """Add the UI's routes and ``/static`` to ``app``."""
    from spyglass.ui import eval_pages, pages, registry_pages, run_pages, trace_pages

    app.include_router(pages.router)
    app.include_router(trace_pages.router)
    app.include_router(run_pages.router)
    app.include_router(registry_pages.router)
    app.include_router(eval_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
