"""Login page, logout, and the account API (API keys, users) for admins."""

from __future__ import annotations

import html
from typing import Annotated, Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Body, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from spyglass.auth.middleware import Gate, principal_of
from spyglass.auth.model import Role
from spyglass.auth.sessions import CSRF_COOKIE, SESSION_COOKIE, SESSION_SECONDS, new_csrf_token
from spyglass.auth.throttle import Throttled

router = APIRouter()
MAX_FORM_BYTES = 8192

_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · Spyglass</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:15px system-ui,sans-serif;display:grid;place-items:center;min-height:90vh}}
form{{display:grid;gap:.6rem;width:18rem}}input,button{{font:inherit;padding:.4rem}}
.error{{color:#b00020}}</style></head>
<body><form method="post" action="/login">
<h1>Spyglass</h1>{error}
<input type="hidden" name="csrf_token" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label>User name <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"
required></label>
<button type="submit">Sign in</button></form></body></html>"""


def _gate(request: Request) -> Gate:
    gate: Gate | None = getattr(request.app.state, "gate", None)
    if gate is None:
        raise HTTPException(404, "authentication is not enabled on this server")
    return gate


def _safe_next(target: str) -> str:
    """Only same-site paths: never redirect a login to another host."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _login_page(csrf: str, target: str, error: str = "", status: int = 200) -> HTMLResponse:
    message = f'<p class="error">{html.escape(error)}</p>' if error else ""
    page = _LOGIN_PAGE.format(error=message, csrf=html.escape(csrf), next=html.escape(target))
    response = HTMLResponse(page, status)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, samesite="strict")
    return response


@router.get("/login", include_in_schema=False)
async def login_form(request: Request, next: str = "/") -> HTMLResponse:
    _gate(request)
    csrf = request.cookies.get(CSRF_COOKIE) or new_csrf_token()
    return _login_page(csrf, _safe_next(next))


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    gate = _gate(request)
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise HTTPException(413, "login form too large")
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    target = _safe_next(form.get("next", "/"))
    csrf = request.cookies.get(CSRF_COOKIE)
    if not csrf or form.get("csrf_token") != csrf:
        return _login_page(csrf or new_csrf_token(), target, "The form expired; try again.", 403)
    username, address = form.get("username", ""), request.client.host if request.client else ""
    try:
        gate.throttle.check(username, address)
    except Throttled as exc:
        return _login_page(csrf, target, str(exc).capitalize() + ".", 429)
    principal = await run_in_threadpool(gate.accounts.login, username, form.get("password", ""))
    gate.throttle.record(username, address, principal is not None)
    if principal is None:
        return _login_page(csrf, target, "Wrong user name or password.", 401)
    response = RedirectResponse(target, 303)
    response.set_cookie(
        SESSION_COOKIE,
        gate.sessions.issue(principal.name),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", include_in_schema=False)
async def logout() -> Response:
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


@router.get("/api/auth/whoami", tags=["auth"], summary="The authenticated caller")
async def whoami(request: Request) -> Response:
    p = principal_of(request.state)
    if p is None:
        return _json({"authenticated": False, "auth_enabled": False})
    return _json({"authenticated": True, "name": p.name, "role": p.role.name.lower(),
                  "project": p.project})  # fmt: skip


def _project(value: Any) -> str | None:
    if value is None or value == "*":
        return None
    if not isinstance(value, str):
        raise HTTPException(400, "project must be a string ('*' or omitted for every project)")
    return value


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise HTTPException(400, f"{key} must be a string")
    return value


@router.post("/api/auth/keys", tags=["auth"], summary="Create an API key (admin)", status_code=201)
async def create_key(request: Request, body: Annotated[dict[str, Any], Body()]) -> Response:
    gate = _gate(request)
    creator = principal_of(request.state)
    role = Role.parse(_text(body, "role", "write"))
    key = await run_in_threadpool(
        gate.accounts.create_key,
        _text(body, "name", "unnamed"),
        role,
        _project(body.get("project")),
        creator.name if creator else "",
    )
    return _json(key, 201)


@router.get("/api/auth/keys", tags=["auth"], summary="API keys, without their secrets (admin)")
async def list_keys(request: Request) -> Response:
    return _json({"keys": await run_in_threadpool(_gate(request).accounts.list_keys)})


@router.delete("/api/auth/keys/{key_id}", tags=["auth"], summary="Revoke an API key (admin)")
async def revoke_key(request: Request, key_id: str) -> Response:
    if not await run_in_threadpool(_gate(request).accounts.revoke_key, key_id):
        raise HTTPException(404, f"no active key {key_id!r}")
    return _json({"revoked": key_id})


@router.post("/api/auth/users", tags=["auth"], summary="Create or update a user (admin)")
async def set_user(request: Request, body: Annotated[dict[str, Any], Body()]) -> Response:
    gate = _gate(request)
    role = Role.parse(_text(body, "role", "read"))
    username = _text(body, "username")
    await run_in_threadpool(
        gate.accounts.set_user,
        username,
        _text(body, "password"),
        role,
        _project(body.get("project")),
    )
    return _json({"username": username.strip(), "role": role.name.lower()})
