"""Model registry calls of the Spyglass client (MLflow's registry REST shapes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TrackingError(Exception):
    """An error answered by the server, with MLflow's ``error_code`` and the HTTP status."""

    def __init__(self, error_code: str, message: str, status: int) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code, self.message, self.status = error_code, message, status


class RegistryMixin:
    """Registered models, versions, aliases, stages; `TrackingClient` provides ``call``."""

    def call(self, method: str, endpoint: str, body: Mapping[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def create_registered_model(
        self, name: str, description: str = "", tags: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "description": description,
            "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()],
        }
        model: dict[str, Any] = self.call("POST", "/registered-models/create", body)[
            "registered_model"
        ]
        return model

    def get_registered_model(self, name: str) -> dict[str, Any]:
        model: dict[str, Any] = self.call("GET", "/registered-models/get", {"name": name})[
            "registered_model"
        ]
        return model

    def create_model_version(
        self, name: str, source: str, run_id: str = "", description: str = ""
    ) -> dict[str, Any]:
        """A new version from ``source`` (e.g. ``runs:/<run_id>/model``)."""
        body = {"name": name, "source": source, "run_id": run_id, "description": description}
        version: dict[str, Any] = self.call("POST", "/model-versions/create", body)["model_version"]
        return version

    def get_model_version(self, name: str, version: str | int) -> dict[str, Any]:
        body = {"name": name, "version": str(version)}
        found: dict[str, Any] = self.call("GET", "/model-versions/get", body)["model_version"]
        return found

    def set_alias(self, name: str, alias: str, version: str | int) -> None:
        body = {"name": name, "alias": alias, "version": str(version)}
        self.call("POST", "/registered-models/alias", body)

    def delete_alias(self, name: str, alias: str) -> None:
        self.call("DELETE", "/registered-models/alias", {"name": name, "alias": alias})

    def transition_stage(
        self, name: str, version: str | int, stage: str, archive_existing: bool = False
    ) -> dict[str, Any]:
        """Move a version to None/Staging/Production/Archived (recorded in the history)."""
        body = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": archive_existing,
        }
        found: dict[str, Any] = self.call("POST", "/model-versions/transition-stage", body)[
            "model_version"
        ]
        return found

    def resolve_model(self, uri: str) -> dict[str, Any]:
        """The version named by ``models:/name/version`` or ``models:/name@alias``."""
        if not uri.startswith("models:/"):
            raise ValueError(f"not a models:/ URI: {uri!r}")
        ref = uri[len("models:/") :]
        if "@" in ref:
            name, alias = ref.rsplit("@", 1)
            body = {"name": name, "alias": alias}
            found: dict[str, Any] = self.call("GET", "/registered-models/alias", body)[
                "model_version"
            ]
            return found
        name, _, version = ref.rpartition("/")
        if not name or not version:
            raise ValueError(
                f"expected models:/<name>/<version> or models:/<name>@<alias>: {uri!r}"
            )
        return self.get_model_version(name, version)

    def model_download_uri(self, name: str, version: str | int) -> str:
        body = {"name": name, "version": str(version)}
        return str(self.call("GET", "/model-versions/get-download-uri", body)["artifact_uri"])

    def registry_history(self, name: str) -> list[dict[str, Any]]:
        """Every stage transition and alias change of a model (who, when, from, to)."""
        url = "/api/2.0/spyglass/registered-models/history"
        return list(self.call("GET", url, {"name": name}).get("events", []))
