"""The gate in front of every route: authenticate, authorize by role, confine to a project.

A pure ASGI middleware, so it covers everything the app serves (OTLP, REST, MLflow API,
artifacts, UI, metrics) without each route opting in. Callers scoped to one project may use
only the routes whose data is chosen by a ``project`` query parameter or by the OTLP receiver;
there the parameter is forced to their project. Every other route refuses them (deny by default),
so no route can hand a scoped key another project's data by forgetting a check. The MLflow API
is the one exception: there the project is the experiment of the same name, and each request's
experiment or run is checked against it (`spyglass.tracking.scope`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlencode

import orjson
from starlette.concurrency import run_in_threadpool

from spyglass.auth.model import Principal, Role, required_role
from spyglass.auth.passwords import KEY_PREFIX
from spyglass.auth.sessions import CSRF_COOKIE, SESSION_COOKIE, SessionSigner
from spyglass.auth.throttle import LoginThrottle, Throttled
from spyglass.store.auth_store import AuthStore
from spyglass.tracking.scope import (
    SEARCH_EXPERIMENTS,
    ProjectScope,
    filter_search_response,
    is_tracking_path,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/login", "/logout", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)
# Routes a project-scoped caller may use: each selects its data by the `project` parameter.
SCOPED_PATHS = frozenset({"/", "/api/auth/whoami", "/api/projects", "/api/stats", "/dashboard"})
SCOPED_PREFIXES = ("/v1/traces", "/api/traces", "/api/sessions", "/traces", "/sessions")
MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/", "/api/3.0/mlflow")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_SCOPED_BODY_BYTES = 16 << 20  # MLflow API bodies a confined caller may send (JSON only)


@dataclass
class Gate:
    """What the middleware consults; built in the app's lifespan once the store is open."""

    accounts: AuthStore
    sessions: SessionSigner
    throttle: LoginThrottle = field(default_factory=LoginThrottle)


@dataclass(frozen=True)
class Caller:
    principal: Principal
    by_cookie: bool


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:
        return {}
    return {k: m.value for k, m in jar.items()}


def _identify(gate: Gate, headers: dict[str, str], address: str) -> Caller | None:
    """The caller named by a key, Basic credentials or a session cookie (in that order).

    Raises:
        Throttled: too many wrong passwords for this user from ``address`` lately.
    """
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        p = gate.accounts.key_principal(value)
        return Caller(p, False) if p else None
    if headers.get("x-api-key"):
        p = gate.accounts.key_principal(headers["x-api-key"].strip())
        return Caller(p, False) if p else None
    if scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if password.startswith(KEY_PREFIX):  # `mlflow` and curl can only send keys this way
            p = gate.accounts.key_principal(password)
        else:
            gate.throttle.check(user, address)
            p = gate.accounts.login(user, password)
            gate.throttle.record(user, address, p is not None)
        return Caller(p, False) if p else None
    token = _cookies(headers).get(SESSION_COOKIE)
    if token:
        username = gate.sessions.username(token)
        p = gate.accounts.user(username) if username else None
        return Caller(p, True) if p else None
    return None


def _scoped_query(scope: Scope, project: str) -> bytes | None:
    """The query string with ``project`` forced; None when it asks for another project."""
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    asked = {v for k, v in pairs if k == "project"}
    if asked - {project}:
        return None
    pairs = [(k, v) for k, v in pairs if k != "project"] + [("project", project)]
    return urlencode(pairs).encode("latin-1")


class AuthMiddleware:
    """Refuses unauthenticated, unauthorized and cross-project requests before any route runs."""

    def __init__(self, app: ASGIApp, gate_of: Callable[[Scope], Gate | None]) -> None:
        self.app = app
        self.gate_of = gate_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gate = self.gate_of(scope)
        path: str = scope["path"]
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        if gate is None:  # installed means auth is on: closed until the accounts are open
            await _deny(send, path, 503, "authentication is starting; retry shortly")
            return
        method: str = scope["method"]
        headers = _headers(scope)
        address = (scope.get("client") or ("", 0))[0]
        try:
            caller = await run_in_threadpool(_identify, gate, headers, address)
        except Throttled as exc:
            await _deny(send, path, 429, str(exc), retry_after=exc.seconds)
            return
        if caller is None:
            await self._unauthenticated(scope, send, method, path, headers)
            return
        principal = caller.principal
        needed = required_role(method, path)
        if not principal.can(needed):
            await _deny(send, path, 403, f"{principal.name} lacks the {needed.name.lower()} role")
            return
        if caller.by_cookie and method in UNSAFE_METHODS:
            csrf = _cookies(headers).get(CSRF_COOKIE)
            if not csrf or headers.get("x-csrf-token") != csrf:
                await _deny(send, path, 403, "missing or wrong CSRF token")
                return
        if principal.project is not None and is_tracking_path(path):
            scope.setdefault("state", {})["principal"] = principal
            await self._scoped_tracking(scope, receive, send, principal.project)
            return
        if principal.project is not None:
            if not (path in SCOPED_PATHS or path.startswith(SCOPED_PREFIXES)):
                await _deny(send, path, 403, f"a key for project {principal.project!r} "
                            "cannot use this route")  # fmt: skip
                return
            query = _scoped_query(scope, principal.project)
            if query is None:
                await _deny(send, path, 403, f"{principal.name} may only use project "
                            f"{principal.project!r}")  # fmt: skip
                return
            scope = {**scope, "query_string": query}
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _scoped_tracking(
        self, scope: Scope, receive: Receive, send: Send, project: str
    ) -> None:
        """The MLflow API for a caller confined to ``project`` (`spyglass.tracking.scope`)."""
        path, method = scope["path"], scope["method"]
        tracking = getattr(scope["app"].state, "tracking", None)
        if tracking is None:
            await _deny(send, path, 503, "the tracking store is not open yet")
            return
        body = b""
        if method in ("POST", "PATCH", "DELETE"):
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_SCOPED_BODY_BYTES:
                    await _deny(send, path, 413, "request body too large")
                    return
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        checker = ProjectScope(tracking, project)
        refusal = await run_in_threadpool(checker.refusal, method, path, query, body)
        if refusal:
            await _deny(send, path, 403, refusal)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        if not path.endswith(SEARCH_EXPERIMENTS):
            await self.app(
                scope, replay if method in ("POST", "PATCH", "DELETE") else receive, send
            )
            return
        start: Message = {}
        parts: list[bytes] = []

        async def cut(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            parts.append(message.get("body", b""))
            if message.get("more_body"):
                return
            out = b"".join(parts)
            if start.get("status") == 200:
                out = filter_search_response(out, project)
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            await send(
                {**start, "headers": [*headers, (b"content-length", str(len(out)).encode())]}
            )
            await send({"type": "http.response.body", "body": out})

        await self.app(scope, replay, cut)

    async def _unauthenticated(
        self, scope: Scope, send: Send, method: str, path: str, headers: dict[str, str]
    ) -> None:
        browser = method == "GET" and "text/html" in headers.get("accept", "")
        if browser and not path.startswith(("/api/", "/v1/")):
            target = path + ("?" + scope["query_string"].decode() if scope.get("query_string")
                             else "")  # fmt: skip
            location = "/login?next=" + quote(target, safe="")
            await _send(send, 303, b"", [(b"location", location.encode("latin-1"))])
            return
        await _deny(send, path, 401, "authentication required: an API key (Authorization: "
                    "Bearer ...) or Basic credentials")  # fmt: skip


async def _deny(
    send: Send, path: str, status: int, message: str, retry_after: float | None = None
) -> None:
    if path.startswith(MLFLOW_PREFIXES):
        code = "UNAUTHENTICATED" if status == 401 else "PERMISSION_DENIED"
        body = orjson.dumps({"error_code": code, "message": message})
    else:
        body = orjson.dumps({"error": message})
    extra = [(b"www-authenticate", b'Basic realm="Spyglass"')] if status == 401 else []
    if retry_after is not None:
        extra.append((b"retry-after", str(max(1, round(retry_after))).encode()))
    await _send(send, status, body, [(b"content-type", b"application/json"), *extra])


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def principal_of(state: Any) -> Principal | None:
    """The request's principal (None when auth is off)."""
    p = getattr(state, "principal", None)
    return p if isinstance(p, Principal) else None


__all__ = ["AuthMiddleware", "Gate", "Role", "principal_of"]
