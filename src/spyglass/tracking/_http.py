"""What the tracking routes share: their services, MLflow-shaped errors, request fields."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from spyglass.store.tracking_experiments import ExperimentStore
from spyglass.store.tracking_models import LoggedModelStore
from spyglass.store.tracking_registry import RegistryStore
from spyglass.store.tracking_runs import RunStore
from spyglass.store.tracking_versions import VersionStore
from spyglass.store.tracking_writer import TrackingWriter
from spyglass.tracking.artifact_store import ArtifactStore
from spyglass.tracking.errors import MlflowError

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


@dataclass
class TrackingServices:
    """The tracking stores over one writer, and where artifacts live.

    ``artifacts`` is the store every artifact route uses (local or S3); ``artifact_root`` is the
    local default directory (``<data_dir>/artifacts``), where ``artifacts`` points unless the
    server was given another artifacts URI.
    """

    writer: TrackingWriter
    experiments: ExperimentStore
    runs: RunStore
    registry: RegistryStore
    versions: VersionStore
    artifact_root: Path
    models: LoggedModelStore
    artifacts: ArtifactStore


def tracking_services(request: Request) -> TrackingServices:
    services: TrackingServices = request.app.state.tracking
    return services


class MlflowRoute(APIRoute):
    """An APIRoute whose `MlflowError`s become MLflow's error JSON."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except MlflowError as exc:
                return json_response(exc.body(), exc.status)

        return handle


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status, media_type="application/json")


class Args:
    """A request's fields: the JSON body of a POST/PATCH/DELETE, else the query string."""

    def __init__(self, data: dict[str, Any], lists: dict[str, list[str]] | None = None) -> None:
        self.data, self.lists = data, lists or {}

    @classmethod
    async def read(cls, request: Request) -> Args:
        if request.method == "GET" or not (body := await request.body()):
            query = request.query_params
            return cls(dict(query.items()), {k: query.getlist(k) for k in query})
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MlflowError.invalid(f"Malformed request body: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise MlflowError.invalid("Malformed request body: expected a JSON object")
        return cls(data)

    def text(self, name: str, *, required: bool = False, default: str = "") -> str:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise MlflowError.invalid(
                    f"Missing value for required parameter '{name}'. See the API docs for more "
                    "information about request parameters."
                )
            return default
        if not isinstance(value, str):
            raise MlflowError.invalid(
                f"Invalid value {value!r} for parameter '{name}' supplied: expected a string"
            )
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise MlflowError.invalid(
            f"Invalid value {value!r} for parameter '{name}' supplied: expected an integer"
        )

    def count(self, name: str, default: int) -> int:
        """A non-optional integer field (``max_results`` and the like)."""
        value = self.integer(name, default)
        return default if value is None else value

    def flag(self, name: str) -> bool:
        value = self.data.get(name)
        if isinstance(value, str):
            return value.lower() == "true"
        return bool(value)

    def items(self, name: str) -> list[Any]:
        if name in self.lists:
            return self.lists[name]
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise MlflowError.invalid(f"Invalid value for parameter '{name}': expected a list")
        return value

    def objects(self, name: str) -> list[dict[str, Any]]:
        values = self.items(name)
        if not all(isinstance(v, dict) for v in values):
            raise MlflowError.invalid(f"Invalid value for parameter '{name}': expected objects")
        return values

    def run_id(self) -> str:
        return self.text("run_id") or self.text("run_uuid", required=True)


def request_user(request: Request) -> str:
    """Who made a request: basic-auth user name, else ``x-spyglass-user``, else ``unknown``."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            return base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            pass
    return request.headers.get("x-spyglass-user", "") or "unknown"
