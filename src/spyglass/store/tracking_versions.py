"""Model versions: create from a run's artifacts, stages, aliases, tags and the audit history."""

from __future__ import annotations

import uuid
from typing import Any

from spyglass.store.tracking_models import LoggedModelStore, model_id_of
from spyglass.store.tracking_registry import (
    _ALIAS,
    _VERSION_ALIAS,
    STAGES,
    RegistryStore,
    _row,
)
from spyglass.store.tracking_search import Attribute, Keyed, SearchSpec, encode_page_token
from spyglass.store.tracking_writer import new_version, now_ms
from spyglass.tracking.errors import MlflowError


def canonical_stage(stage: str) -> str:
    """``None``/``Staging``/``Production``/``Archived`` from any casing; else an error."""
    name = STAGES.get((stage or "").lower())
    if name is None:
        raise MlflowError.invalid(
            f"Invalid Model Version stage: {stage}. Value must be one of "
            f"{', '.join(STAGES.values())}."
        )
    return name


class VersionStore:
    """Versions of registered models; every stage and alias change is audited."""

    def __init__(self, models: RegistryStore, logged: LoggedModelStore | None = None) -> None:
        self.models, self.logged = models, logged
        self.writer, self.db = models.writer, models.db

    @staticmethod
    def _event(
        model: dict[str, Any],
        version: int,
        kind: str,
        old: str,
        new: str,
        user: str,
        alias: str = "",
    ) -> tuple[Any, ...]:
        """An audit row: a stage change (old/new stage) or an alias move (old/new version)."""
        return (
            model["model_id"],
            uuid.uuid4().hex,
            model["name"],
            version,
            kind,
            alias,
            old,
            new,
            user,
            now_ms(),
        )

    def _save(self, version: dict[str, Any], **changes: Any) -> dict[str, Any]:
        version = {**version, **changes, "last_updated_time": now_ms()}
        self.writer.append({"model_versions": [_row("model_versions", version)]})
        return version

    def json(self, model: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
        return self.models._version_json([model], [version])[0]

    def create(
        self,
        name: str,
        source: str,
        run_id: str,
        tags: list[dict[str, str]],
        run_link: str,
        description: str,
        user: str,
    ) -> dict[str, Any]:
        """A new READY version; ``runs:/<run_id>/<path>`` sources resolve to the run's artifacts."""
        if not source:
            raise MlflowError.invalid("Missing value for required parameter 'source'.")
        location = source
        if source.startswith("runs:/"):
            run_ref, _, path = source[len("runs:/") :].partition("/")
            run = self.models.runs.state(run_ref)
            location = f"{run['artifact_uri'].rstrip('/')}/{path}".rstrip("/")
            run_id = run_id or run_ref
        elif (logged_id := model_id_of(source)) is not None and self.logged is not None:
            logged = self.logged.row(logged_id)
            location = logged["artifact_location"]
            run_id = run_id or logged["source_run_id"]
        elif run_id:
            self.models.runs.state(run_id)
        with self.models._lock:
            model = self.models.model(name)
            top = self.models._query(
                f"SELECT max(version) AS top FROM {self.db}.model_versions "
                "WHERE model_id = {id:String}",
                {"id": model["model_id"]},
            )
            now = now_ms()
            version = {
                "model_id": model["model_id"],
                "version": int(top[0]["top"] or 0) + 1,
                "source": source,
                "storage_location": location,
                "run_id": run_id,
                "run_link": run_link,
                "description": description,
                "user_id": user,
                "stage": "None",
                "status": "READY",
                "creation_time": now,
                "last_updated_time": now,
                "deleted": 0,
            }
            self.writer.append(
                {
                    "model_versions": [_row("model_versions", version)],
                    "model_version_tags": [
                        (
                            model["model_id"],
                            version["version"],
                            t["key"],
                            t.get("value", ""),
                            0,
                            new_version(),
                        )
                        for t in tags
                    ],
                }
            )
            self.models._touch(model)
        return self.json(model, version)

    def get(self, name: str, version: Any) -> dict[str, Any]:
        return self.json(*self.models._version(name, version))

    def update(self, name: str, version: Any, description: str) -> dict[str, Any]:
        model, row = self.models._version(name, version)
        return self.json(model, self._save(row, description=description))

    def delete(self, name: str, version: Any, user: str) -> None:
        model, row = self.models._version(name, version)
        events, alias_rows = [], []
        for a in self.models._keyed("model_aliases", [model["model_id"]], "alias"):
            if a["version"] == row["version"]:
                alias_rows.append((model["model_id"], a["alias"], a["version"], 1, new_version()))
                events.append(
                    self._event(
                        model, a["version"], "alias", str(a["version"]), "", user, a["alias"]
                    )
                )
        self._save(row, deleted=1)
        self.writer.append({"model_aliases": alias_rows, "registry_history": events})

    def download_uri(self, name: str, version: Any) -> str:
        return str(self.models._version(name, version)[1]["storage_location"])

    def transition(
        self, name: str, version: Any, stage: str, archive_existing: bool, user: str
    ) -> dict[str, Any]:
        """Move a version to a stage (optionally archiving the others in it); audited."""
        target = canonical_stage(stage)
        model, row = self.models._version(name, version)
        events = [self._event(model, row["version"], "stage", row["stage"], target, user)]
        if archive_existing and target in ("Staging", "Production"):
            for other in self.models._versions([model["model_id"]]):
                if other["version"] != row["version"] and other["stage"] == target:
                    self._save(other, stage="Archived")
                    events.append(
                        self._event(model, other["version"], "stage", target, "Archived", user)
                    )
        saved = self._save(row, stage=target)
        self.writer.append({"registry_history": events})
        return self.json(model, saved)

    def latest(self, name: str, stages: list[str]) -> list[dict[str, Any]]:
        model = self.models.model(name)
        wanted = {canonical_stage(s) for s in stages} if stages else set(STAGES.values())
        latest: dict[str, dict[str, Any]] = {}
        for v in self.models._versions([model["model_id"]]):
            if v["stage"] in wanted:
                latest[v["stage"]] = v
        return self.models._version_json([model], list(latest.values()))

    def set_tag(self, name: str, version: Any, key: str, value: str, deleted: bool = False) -> None:
        model, row = self.models._version(name, version)
        if not key or len(key) > 250:
            raise MlflowError.invalid("tag key must be 1 to 250 characters")
        tag = (model["model_id"], row["version"], key, value, int(deleted), new_version())
        self.writer.append({"model_version_tags": [tag]})

    # -- aliases ---------------------------------------------------------------------------

    def _alias(self, model: dict[str, Any], alias: str) -> dict[str, Any] | None:
        for a in self.models._keyed("model_aliases", [model["model_id"]], "alias"):
            if a["alias"] == alias:
                return a
        return None

    def set_alias(self, name: str, alias: str, version: Any, user: str) -> None:
        """Point an alias at a version (a version may carry several); audited."""
        if (
            not _ALIAS.match(alias or "")
            or alias.lower() == "latest"
            or _VERSION_ALIAS.match(alias)
        ):
            raise MlflowError.invalid(
                f"Invalid alias name: '{alias}'. Aliases may contain only letters, digits, "
                "'_' and '-', and may not be 'latest' or look like a version ('v1')."
            )
        model, row = self.models._version(name, version)
        old = self._alias(model, alias)
        previous = str(old["version"]) if old else ""
        self.writer.append(
            {
                "model_aliases": [(model["model_id"], alias, row["version"], 0, new_version())],
                "registry_history": [
                    self._event(
                        model, row["version"], "alias", previous, str(row["version"]), user, alias
                    )
                ],
            }
        )

    def delete_alias(self, name: str, alias: str, user: str) -> None:
        model = self.models.model(name)
        old = self._alias(model, alias)
        if old is None:
            raise MlflowError.not_found(f"Registered model alias {alias} not found.")
        self.writer.append(
            {
                "model_aliases": [(model["model_id"], alias, old["version"], 1, new_version())],
                "registry_history": [
                    self._event(
                        model, old["version"], "alias", str(old["version"]), "", user, alias
                    )
                ],
            }
        )

    def by_alias(self, name: str, alias: str) -> dict[str, Any]:
        model = self.models.model(name)
        found = self._alias(model, alias)
        if found is None:
            raise MlflowError.not_found(f"Registered model alias {alias} not found.")
        return self.get(name, found["version"])

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every stage and alias change of a model, oldest first."""
        model = self.models.model(name)
        rows = self.models._query(
            "SELECT DISTINCT event_id, name, version, kind, alias, from_value, to_value, user_id, "
            "time "
            f"FROM {self.db}.registry_history WHERE model_id = {{id:String}} "
            "ORDER BY time, event_id",
            {"id": model["model_id"]},
        )
        return [{**r, "version": str(r["version"])} for r in rows]

    def search(
        self, filter_string: str, max_results: int, order_by: list[str], page_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of versions (filters on ``name``, ``run_id``, ``source_path``, ``tags.*``)."""
        db = self.db
        spec = SearchSpec(
            {
                "name": Attribute("m.name", "string"),
                "run_id": Attribute("v.run_id", "string"),
                "source_path": Attribute("v.source", "string"),
                "version_number": Attribute("toFloat64(v.version)", "number"),
                "current_stage": Attribute("v.stage", "string"),
            },
            {
                "tag": Keyed(
                    "(v.model_id, v.version) IN (SELECT model_id, version FROM "
                    f"{db}.model_version_tags FINAL "
                    "WHERE key = {key} AND deleted = 0 AND {cond})",
                    "value",
                    "string",
                    missing_is_unequal=True,
                )
            },
        )
        columns = {
            "name": "m.name",
            "version_number": "v.version",
            "creation_timestamp": "v.creation_time",
            "last_updated_timestamp": "v.last_updated_time",
        }
        where, tail, offset = self.models._search_sql(
            filter_string,
            spec,
            max_results,
            order_by,
            page_token,
            columns,
            "m.name ASC, v.version DESC",
        )
        models = {m["model_id"]: m for m in self.models._models("1", {})}
        rows = self.models._query(
            f"SELECT v.*, m.name AS model_name FROM (SELECT * FROM {db}.model_versions FINAL) AS v "
            f"INNER JOIN (SELECT model_id, name FROM {db}.registered_models FINAL "
            f"WHERE model_id IN {{live:Array(String)}}) AS m ON m.model_id = v.model_id "
            f"WHERE v.deleted = 0 AND {where.sql} {tail}",
            {**where.params, "live": list(models)},
        )
        more = len(rows) > max_results
        rows = rows[:max_results]
        page = self.models._version_json([models[r["model_id"]] for r in rows] or [], rows)
        return page, encode_page_token(offset + max_results) if more else None
