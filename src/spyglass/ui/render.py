"""Jinja2 set-up for the UI: autoescaped templates from the package, and display filters."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from spyglass import __version__

__all__ = ["json_script", "render"]

# Characters that could end a <script> element or confuse an HTML parser inside JSON text.
_SCRIPT_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def json_script(value: Any) -> Markup:
    """JSON safe to place inside ``<script type="application/json">`` (no ``</script>``)."""
    if isinstance(value, bytes):
        text = value.decode()
    else:
        text = orjson.dumps(value).decode()
    return Markup(text.translate(_SCRIPT_ESCAPES))


def format_ms(value: float | None) -> str:
    """Durations the way people read them: 850 ms, 2.41 s, 3m 05s."""
    if value is None:
        return ""
    if value < 1:
        return f"{value:.2f} ms"
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.2f} s"
    minutes, seconds = divmod(value / 1000, 60)
    return f"{minutes:.0f}m {seconds:02.0f}s"


def format_cost(value: float | None) -> str:
    if not value:
        return "–"
    if value < 0.01:
        return f"${value:.6f}".rstrip("0")
    return f"${value:,.4f}"


def format_count(value: float | None) -> str:
    if not value:
        return "–"
    return f"{value:,.0f}"


def format_percent(value: float | None) -> str:
    return f"{(value or 0) * 100:.1f}%"


def short_time(iso: str | None) -> str:
    """``2026-01-02T03:04:05.678901Z`` → ``2026-01-02 03:04:05`` (UTC; the page localizes it)."""
    if not iso:
        return ""
    return iso[:19].replace("T", " ")


def truncate(text: str | None, length: int = 120) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= length else text[: length - 1] + "…"


def epoch_ms_time(value: int | None) -> str:
    """Epoch milliseconds as ``2026-01-02 03:04:05`` (UTC); empty for 0 or None."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromtimestamp(value / 1000, tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def format_number(value: Any) -> str:
    """A metric or score for a table cell: 6 significant digits, integers as they are."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("∞" if value > 0 else "-∞")
    return f"{value:.6g}"


def format_bytes(value: int | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


def path_quote(value: Any) -> str:
    """One URL path segment: every reserved character (``/`` too) percent-encoded."""
    return quote(str(value), safe="")


_env = Environment(
    loader=PackageLoader("spyglass.ui", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    ms=format_ms,
    cost=format_cost,
    count=format_count,
    percent=format_percent,
    short_time=short_time,
    truncate_text=truncate,
    json_script=json_script,
    ms_time=epoch_ms_time,
    num=format_number,
    size=format_bytes,
    pathq=path_quote,
)
_env.globals["version"] = __version__


def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """Render a template (autoescaped) into an HTML response."""
    html = _env.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status)
