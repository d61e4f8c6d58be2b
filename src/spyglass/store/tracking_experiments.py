"""Experiments (the same entity as trace projects: an experiment's name is a project name).

Rows are MLflow-shaped dicts, ready to serialize as the REST API's JSON. Every write goes through
the `TrackingWriter`; every read flushes it first, so this process reads its own writes.

A project that so far only has traces becomes an experiment the first time experiments are
searched or it is looked up by name: its id is derived from the name (`project_experiment_id`),
so every server replica materializes the same row and ReplacingMergeTree keeps one.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from typing import Any

from clickhouse_connect.driver.client import Client

from spyglass.store.tracking_search import (
    Attribute,
    Keyed,
    SearchError,
    SearchSpec,
    compile_search,
    decode_page_token,
    encode_page_token,
    parse_order_by,
)
from spyglass.store.tracking_writer import TrackingWriter, new_version, now_ms
from spyglass.tracking.errors import MlflowError

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "default"  # the trace store's default project
MAX_NAME_LENGTH = 500
MAX_RESULTS = 50_000
PROJECT_SYNC_INTERVAL_S = 2.0  # how stale the list of trace-only projects may get
VIEW_STAGES = {
    "ACTIVE_ONLY": ("active",),
    "DELETED_ONLY": ("deleted",),
    "ALL": ("active", "deleted"),
}

_COLUMNS = (
    "experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time"
)
_SEARCH_SPEC = SearchSpec(
    attributes={
        "name": Attribute("e.name", "string"),
        "experiment_id": Attribute("e.experiment_id", "string"),
        "creation_time": Attribute("e.creation_time", "number"),
        "last_update_time": Attribute("e.last_update_time", "number"),
    },
    keyed={},
)
_ORDER_COLUMNS = {
    "name": "e.name",
    "experiment_id": "e.experiment_id",
    "creation_time": "e.creation_time",
    "last_update_time": "e.last_update_time",
}


def project_experiment_id(project: str) -> str:
    """The experiment id of a trace project that had no experiment: 62 bits of its name's hash."""
    return str(int.from_bytes(hashlib.sha256(project.encode()).digest()[:8], "big") >> 2)


def view_stages(view_type: str | None) -> tuple[str, ...]:
    """Lifecycle stages selected by MLflow's ``ViewType`` name (default ACTIVE_ONLY)."""
    stages = VIEW_STAGES.get(view_type or "ACTIVE_ONLY")
    if stages is None:
        raise MlflowError.invalid(f"invalid view type {view_type!r}; use {', '.join(VIEW_STAGES)}")
    return stages


class ExperimentStore:
    """Create, read, search and change experiments."""

    def __init__(self, client: Client, database: str, writer: TrackingWriter) -> None:
        self.client, self.db, self.writer = client, database, writer
        self._lock = threading.Lock()  # name uniqueness within this process
        self._synced_at = -PROJECT_SYNC_INTERVAL_S

    def _query(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.writer.flush()
        return list(self.client.query(sql, parameters=params).named_results())

    def _write(self, exp: dict[str, Any]) -> None:
        row = (
            exp["experiment_id"],
            exp["name"],
            exp["artifact_location"],
            exp["lifecycle_stage"],
            exp["creation_time"],
            exp["last_update_time"],
            new_version(),
        )
        self.writer.append({"experiments": [row]})

    def ensure_default(self) -> None:
        """Create experiment ``0`` (the one MLflow clients use when none is set) if missing."""
        if not self._rows("experiment_id = {id:String}", {"id": DEFAULT_EXPERIMENT_ID}):
            now = now_ms()
            self._write(
                {
                    "experiment_id": DEFAULT_EXPERIMENT_ID,
                    "name": DEFAULT_EXPERIMENT_NAME,
                    "artifact_location": "mlflow-artifacts:/0",
                    "lifecycle_stage": "active",
                    "creation_time": now,
                    "last_update_time": now,
                }
            )

    def sync_trace_projects(self, force: bool = False) -> int:
        """Make an experiment of every trace project that has none; return how many were made.

        Runs at most every `PROJECT_SYNC_INTERVAL_S` seconds unless forced.
        """
        now = time.monotonic()
        if not force and now - self._synced_at < PROJECT_SYNC_INTERVAL_S:
            return 0
        self._synced_at = now
        missing = self._query(
            f"SELECT project, toInt64(toUnixTimestamp64Milli(min(start_time))) AS first "
            f"FROM {self.db}.traces WHERE project NOT IN "
            f"(SELECT name FROM {self.db}.experiments FINAL) GROUP BY project",
            {},
        )
        with self._lock:
            for row in missing:
                name = row["project"]
                if not name or len(name) > MAX_NAME_LENGTH:
                    continue
                experiment_id = project_experiment_id(name)
                if self._rows(
                    "experiment_id = {id:String} OR name = {name:String}",
                    {"id": experiment_id, "name": name},
                ):
                    continue  # created meanwhile, or (unlikely) an id collision: leave it
                self._write(
                    {
                        "experiment_id": experiment_id,
                        "name": name,
                        "artifact_location": f"mlflow-artifacts:/{experiment_id}",
                        "lifecycle_stage": "active",
                        "creation_time": row["first"],
                        "last_update_time": row["first"],
                    }
                )
        return len(missing)

    def _rows(self, where: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        sql = f"SELECT {_COLUMNS} FROM {self.db}.experiments FINAL WHERE {where}"
        return self._query(sql, params)

    def _with_tags(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not rows:
            return rows
        tags: dict[str, list[dict[str, str]]] = {}
        for t in self._query(
            f"SELECT experiment_id, key, value FROM {self.db}.experiment_tags FINAL "
            "WHERE experiment_id IN {ids:Array(String)} AND deleted = 0 ORDER BY key",
            {"ids": [r["experiment_id"] for r in rows]},
        ):
            tags.setdefault(t["experiment_id"], []).append({"key": t["key"], "value": t["value"]})
        for r in rows:
            r["tags"] = tags.get(r["experiment_id"], [])
        return rows

    # -- reads -----------------------------------------------------------------------------

    def get(self, experiment_id: str) -> dict[str, Any]:
        """The experiment with its tags. Raises `MlflowError` (404) if there is none."""
        rows = self._rows("experiment_id = {id:String}", {"id": experiment_id})
        if not rows and self.sync_trace_projects():
            rows = self._rows("experiment_id = {id:String}", {"id": experiment_id})
        if not rows:
            raise MlflowError.not_found(f"No Experiment with id={experiment_id} exists")
        return self._with_tags(rows)[0]

    def get_by_name(self, name: str) -> dict[str, Any]:
        """The experiment named ``name`` (deleted ones included, as in MLflow)."""
        rows = self._rows("name = {name:String}", {"name": name})
        if not rows and self.sync_trace_projects(force=True):
            rows = self._rows("name = {name:String}", {"name": name})
        if not rows:
            raise MlflowError.not_found(f"Could not find experiment with name '{name}'")
        return self._with_tags(rows)[0]

    def search(
        self,
        view_type: str | None = None,
        filter_string: str = "",
        order_by: list[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of experiments and the next page's token (None on the last page)."""
        if not 0 < max_results <= MAX_RESULTS:
            raise MlflowError.invalid(f"max_results must be between 1 and {MAX_RESULTS}")
        self.sync_trace_projects()
        spec = SearchSpec(
            _SEARCH_SPEC.attributes,
            {
                "tag": Keyed(
                    f"e.experiment_id IN (SELECT experiment_id FROM {self.db}.experiment_tags "
                    "FINAL WHERE key = {key} AND deleted = 0 AND {cond})",
                    "value",
                    "string",
                )
            },
        )
        try:
            compiled = compile_search(filter_string, spec)
            offset = decode_page_token(page_token)
            orders = [parse_order_by(o) for o in order_by or []]
        except SearchError as exc:
            raise MlflowError.invalid(str(exc)) from None
        clauses = []
        for o in orders:
            column = _ORDER_COLUMNS.get(o.key) if o.kind == "attribute" else None
            if column is None:
                raise MlflowError.invalid(f"invalid order_by key {o.key!r} for experiments")
            clauses.append(f"{column} {'ASC' if o.ascending else 'DESC'}")
        clauses += ["e.creation_time DESC", "e.experiment_id ASC"]
        sql = (
            f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS} FROM {self.db}.experiments FINAL) AS e "
            f"WHERE e.lifecycle_stage IN {{stages:Array(String)}} AND {compiled.sql} "
            f"ORDER BY {', '.join(clauses)} LIMIT {{limit:UInt64}} OFFSET {{offset:UInt64}}"
        )
        params = {
            **compiled.params,
            "stages": list(view_stages(view_type)),
            "limit": max_results + 1,
            "offset": offset,
        }
        rows = self._query(sql, params)
        more = len(rows) > max_results
        page = self._with_tags(rows[:max_results])
        return page, encode_page_token(offset + max_results) if more else None

    # -- writes ----------------------------------------------------------------------------

    def create(
        self, name: str, artifact_location: str = "", tags: list[dict[str, str]] | None = None
    ) -> str:
        """Create an experiment; return its id. Raises `MlflowError` if the name is taken."""
        if not name or not name.strip():
            raise MlflowError.invalid("Invalid experiment name: ''")
        if len(name) > MAX_NAME_LENGTH:
            raise MlflowError.invalid(f"experiment name exceeds {MAX_NAME_LENGTH} characters")
        with self._lock:
            existing = self._rows("name = {name:String}", {"name": name})
            if existing:
                state = existing[0]["lifecycle_stage"]
                suffix = " in deleted state" if state == "deleted" else ""
                raise MlflowError.already_exists(f"Experiment '{name}' already exists{suffix}.")
            experiment_id = str(uuid.uuid4().int >> 66)  # 62-bit integers, as MLflow's ids
            now = now_ms()
            self._write(
                {
                    "experiment_id": experiment_id,
                    "name": name,
                    "artifact_location": artifact_location or f"mlflow-artifacts:/{experiment_id}",
                    "lifecycle_stage": "active",
                    "creation_time": now,
                    "last_update_time": now,
                }
            )
        for tag in tags or []:
            self.set_tag(experiment_id, tag["key"], tag["value"])
        return experiment_id

    def _change(self, experiment_id: str, **changes: Any) -> dict[str, Any]:
        exp = self.get(experiment_id)
        exp.update(changes, last_update_time=now_ms())
        self._write(exp)
        return exp

    def rename(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment. Raises `MlflowError` if the name is taken."""
        if not new_name:
            raise MlflowError.invalid("new_name must be a non-empty string")
        with self._lock:
            if self.get(experiment_id)["lifecycle_stage"] != "active":
                raise MlflowError.invalid("Cannot rename a non-active experiment.")
            if self._rows("name = {name:String}", {"name": new_name}):
                raise MlflowError.already_exists(f"Experiment '{new_name}' already exists.")
            self._change(experiment_id, name=new_name)

    def set_lifecycle(self, experiment_id: str, stage: str) -> None:
        """Mark an experiment ``deleted`` or ``active`` again."""
        exp = self.get(experiment_id)
        if experiment_id == DEFAULT_EXPERIMENT_ID and stage == "deleted":
            raise MlflowError.invalid("Cannot delete the default experiment '0'.")
        if exp["lifecycle_stage"] == stage:
            verb = "deleted" if stage == "deleted" else "active"
            raise MlflowError.invalid(f"Experiment {experiment_id} is already {verb}.")
        self._change(experiment_id, lifecycle_stage=stage)

    def set_tag(self, experiment_id: str, key: str, value: str, deleted: bool = False) -> None:
        """Set (or delete) an experiment tag."""
        if not key or len(key) > 250:
            raise MlflowError.invalid("tag key must be 1 to 250 characters")
        if self.get(experiment_id)["lifecycle_stage"] != "active":
            raise MlflowError.invalid(
                f"The experiment {experiment_id} must be in the 'active' state."
            )
        row = (experiment_id, key, value, int(deleted), new_version())
        self.writer.append({"experiment_tags": [row]})
