"""The model registry: registered models, versions, tags, aliases, stages and their audit trail.

A model has a stable internal id, so renaming rewrites one row. Versions are numbered per model
and never reused. Every stage transition and alias change appends a ``registry_history`` event
(who, when, from, to). Rows come back as MLflow-shaped JSON dicts.
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any

from clickhouse_connect.driver.client import Client

from spyglass.store.tracking_models import model_id_of
from spyglass.store.tracking_runs import RunStore
from spyglass.store.tracking_schema import TABLE_COLUMNS
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

STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}
MAX_RESULTS = 200_000
_ALIAS = re.compile(r"^[\w\-]{1,255}$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
_MODEL_COLS = TABLE_COLUMNS["registered_models"][:-1]
_VERSION_COLS = TABLE_COLUMNS["model_versions"][:-1]


def _row(table: str, values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(values[c] for c in TABLE_COLUMNS[table][:-1]) + (new_version(),)


def _version_number(version: Any) -> int:
    text = str(version)
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise MlflowError.invalid(f"Parameter 'version' must be an integer, got '{version}'.")
    return int(text)


class RegistryStore:
    """Registered models and their versions over the tracking writer."""

    def __init__(
        self, client: Client, database: str, writer: TrackingWriter, runs: RunStore
    ) -> None:
        self.client, self.db, self.writer, self.runs = client, database, writer, runs
        self._lock = threading.Lock()

    def _query(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.writer.flush()
        return list(self.client.query(sql, parameters=params).named_results())

    def _models(self, where: str, params: dict[str, Any], tail: str = "") -> list[dict[str, Any]]:
        cols = ", ".join(_MODEL_COLS)
        sql = (
            f"SELECT {cols} FROM (SELECT {cols} FROM {self.db}.registered_models FINAL) AS m "
            f"WHERE m.deleted = 0 AND {where} {tail}"
        )
        return self._query(sql, params)

    def model(self, name: str) -> dict[str, Any]:
        """The live model row named ``name``. Raises `MlflowError` (404)."""
        if not name:
            raise MlflowError.invalid("Registered model name cannot be empty.")
        rows = self._models("m.name = {name:String}", {"name": name})
        if not rows:
            raise MlflowError.not_found(f"Registered Model with name={name} not found")
        return rows[0]

    def _versions(
        self, model_ids: list[str], where: str = "1", params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        cols = ", ".join(_VERSION_COLS)
        return self._query(
            f"SELECT {cols} FROM (SELECT {cols} FROM {self.db}.model_versions FINAL "
            "WHERE model_id IN {ids:Array(String)}) AS v WHERE v.deleted = 0 AND "
            f"{where} ORDER BY v.model_id, v.version",
            {"ids": model_ids, **(params or {})},
        )

    def _version(self, name: str, version: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        model, number = self.model(name), _version_number(version)
        rows = self._versions([model["model_id"]], "v.version = {n:UInt64}", {"n": number})
        if not rows:
            raise MlflowError.not_found(f"Model Version (name={name}, version={version}) not found")
        return model, rows[0]

    def _keyed(self, table: str, model_ids: list[str], value: str) -> list[dict[str, Any]]:
        return self._query(
            f"SELECT * FROM (SELECT * FROM {self.db}.{table} FINAL "
            "WHERE model_id IN {ids:Array(String)}) AS t WHERE t.deleted = 0 "
            f"ORDER BY {value}",
            {"ids": model_ids},
        )

    # -- JSON ------------------------------------------------------------------------------

    def _version_json(
        self, models: list[dict[str, Any]], versions: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        names = {m["model_id"]: m["name"] for m in models}
        ids = list(names)
        tags: dict[tuple[str, int], list[dict[str, str]]] = {}
        for t in self._keyed("model_version_tags", ids, "key"):
            tags.setdefault((t["model_id"], t["version"]), []).append(
                {"key": t["key"], "value": t["value"]}
            )
        aliases: dict[tuple[str, int], list[str]] = {}
        for a in self._keyed("model_aliases", ids, "alias"):
            aliases.setdefault((a["model_id"], a["version"]), []).append(a["alias"])
        out: list[dict[str, Any]] = []
        for v in versions:
            key = (v["model_id"], v["version"])
            logged_model_id = model_id_of(v["source"])
            out.append(
                {
                    "name": names[v["model_id"]],
                    "version": str(v["version"]),
                    "creation_timestamp": v["creation_time"],
                    "last_updated_timestamp": v["last_updated_time"],
                    "user_id": v["user_id"],
                    "current_stage": v["stage"],
                    "description": v["description"],
                    "source": v["source"],
                    "run_id": v["run_id"],
                    "run_link": v["run_link"],
                    "status": v["status"],
                    "tags": tags.get(key, []),
                    "aliases": aliases.get(key, []),
                    **({"model_id": logged_model_id} if logged_model_id else {}),
                }
            )
        return out

    def _model_json(self, models: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [m["model_id"] for m in models]
        if not ids:
            return []
        versions = self._version_json(models, self._versions(ids))
        latest: dict[str, dict[str, dict[str, Any]]] = {}
        for v in versions:  # ascending, so the last one per stage wins
            latest.setdefault(v["name"], {})[v["current_stage"]] = v
        tags: dict[str, list[dict[str, str]]] = {}
        for t in self._keyed("registered_model_tags", ids, "key"):
            tags.setdefault(t["model_id"], []).append({"key": t["key"], "value": t["value"]})
        aliases: dict[str, list[dict[str, str]]] = {}
        for a in self._keyed("model_aliases", ids, "alias"):
            aliases.setdefault(a["model_id"], []).append(
                {"alias": a["alias"], "version": str(a["version"])}
            )
        return [
            {
                "name": m["name"],
                "creation_timestamp": m["creation_time"],
                "last_updated_timestamp": m["last_updated_time"],
                "user_id": m["user_id"],
                "description": m["description"],
                "latest_versions": list(latest.get(m["name"], {}).values()),
                "tags": tags.get(m["model_id"], []),
                "aliases": aliases.get(m["model_id"], []),
            }
            for m in models
        ]

    # -- registered models -----------------------------------------------------------------

    def create_model(
        self, name: str, tags: list[dict[str, str]], description: str, user: str
    ) -> dict[str, Any]:
        """Register a model name. Raises `MlflowError` if the name is taken."""
        if not name:
            raise MlflowError.invalid("Registered model name cannot be empty.")
        with self._lock:
            if self._models("m.name = {name:String}", {"name": name}):
                raise MlflowError.already_exists(f"Registered Model (name={name}) already exists.")
            now = now_ms()
            model = {
                "model_id": uuid.uuid4().hex,
                "name": name,
                "description": description,
                "user_id": user,
                "creation_time": now,
                "last_updated_time": now,
                "deleted": 0,
            }
            self.writer.append(
                {
                    "registered_models": [_row("registered_models", model)],
                    "registered_model_tags": [
                        (model["model_id"], t["key"], t.get("value", ""), 0, new_version())
                        for t in tags
                    ],
                }
            )
        return self._model_json([model])[0]

    def get_model(self, name: str) -> dict[str, Any]:
        return self._model_json([self.model(name)])[0]

    def _touch(self, model: dict[str, Any], **changes: Any) -> dict[str, Any]:
        model = {**model, **changes, "last_updated_time": now_ms()}
        self.writer.append({"registered_models": [_row("registered_models", model)]})
        return model

    def rename_model(self, name: str, new_name: str) -> dict[str, Any]:
        if not new_name:
            raise MlflowError.invalid("Registered model name cannot be empty.")
        with self._lock:
            model = self.model(name)
            if self._models("m.name = {name:String}", {"name": new_name}):
                raise MlflowError.already_exists(
                    f"Registered Model (name={new_name}) already exists."
                )
            return self._model_json([self._touch(model, name=new_name)])[0]

    def update_model(self, name: str, description: str) -> dict[str, Any]:
        return self._model_json([self._touch(self.model(name), description=description)])[0]

    def delete_model(self, name: str) -> None:
        self._touch(self.model(name), deleted=1)

    def set_model_tag(self, name: str, key: str, value: str, deleted: bool = False) -> None:
        model = self.model(name)
        if not key or len(key) > 250:
            raise MlflowError.invalid("tag key must be 1 to 250 characters")
        row = (model["model_id"], key, value, int(deleted), new_version())
        self.writer.append({"registered_model_tags": [row]})

    def search_models(
        self, filter_string: str, max_results: int, order_by: list[str], page_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of registered models (filters on ``name`` and ``tags.*``)."""
        spec = SearchSpec(
            {"name": Attribute("m.name", "string")},
            {
                "tag": Keyed(
                    f"m.model_id IN (SELECT model_id FROM {self.db}.registered_model_tags FINAL "
                    "WHERE key = {key} AND deleted = 0 AND {cond})",
                    "value",
                    "string",
                    missing_is_unequal=True,
                )
            },
        )
        columns = {
            "name": "m.name",
            "timestamp": "m.last_updated_time",
            "last_updated_timestamp": "m.last_updated_time",
            "creation_timestamp": "m.creation_time",
        }
        where, tail, offset = self._search_sql(
            filter_string, spec, max_results, order_by, page_token, columns, "m.name ASC"
        )
        rows = self._models(where.sql, where.params, tail)
        more = len(rows) > max_results
        return self._model_json(rows[:max_results]), (
            encode_page_token(offset + max_results) if more else None
        )

    @staticmethod
    def _search_sql(
        filter_string: str,
        spec: SearchSpec,
        max_results: int,
        order_by: list[str],
        page_token: str | None,
        columns: dict[str, str],
        default: str,
    ) -> tuple[Any, str, int]:
        if not 0 < max_results <= MAX_RESULTS:
            raise MlflowError.invalid(f"max_results must be between 1 and {MAX_RESULTS}")
        try:
            where = compile_search(filter_string, spec)
            offset = decode_page_token(page_token)
            clauses = []
            for o in (parse_order_by(text) for text in order_by):
                column = columns.get(o.key) if o.kind == "attribute" else None
                if column is None:
                    raise SearchError(f"invalid order_by key {o.key!r}")
                clauses.append(f"{column} {'ASC' if o.ascending else 'DESC'}")
        except SearchError as exc:
            raise MlflowError.invalid(str(exc)) from None
        tail = f"ORDER BY {', '.join([*clauses, default])} LIMIT {max_results + 1} OFFSET {offset}"
        return where, tail, offset
