"""MLflow 3 logged models: a model with its own id, artifacts, params, tags and metrics.

``mlflow.<flavor>.log_model`` creates one (PENDING), uploads its files to the model's artifact
location (``<experiment artifact location>/models/<model_id>/artifacts``, proxied through this
server like run artifacts), then finalizes it (READY or FAILED). Registering ``models:/<id>``
points a registry version at that location. Rows come back as MLflow's ``LoggedModel`` JSON.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from typing import Any

from spyglass.store.tracking_experiments import ExperimentStore
from spyglass.store.tracking_runs import (
    MAX_KEY_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    RunStore,
    metric_value,
)
from spyglass.store.tracking_schema import TABLE_COLUMNS
from spyglass.store.tracking_search import (
    Attribute,
    Keyed,
    SearchError,
    SearchSpec,
    compile_search,
    decode_page_token,
    encode_page_token,
)
from spyglass.store.tracking_writer import TrackingWriter, new_version, now_ms
from spyglass.tracking.errors import MlflowError

MAX_RESULTS = 10_000
DEFAULT_MAX_RESULTS = 100
MAX_PARAMS_PER_REQUEST = 100
# MLflow's LoggedModelStatus: proto enum names and numbers, and the names its entity uses.
STATUS_BY_PROTO = {
    "LOGGED_MODEL_STATUS_UNSPECIFIED": "UNSPECIFIED",
    "LOGGED_MODEL_PENDING": "PENDING",
    "LOGGED_MODEL_READY": "READY",
    "LOGGED_MODEL_UPLOAD_FAILED": "FAILED",
}
PROTO_BY_STATUS = {v: k for k, v in STATUS_BY_PROTO.items()}
STATUS_BY_NUMBER = dict(enumerate(STATUS_BY_PROTO.values()))

_COLS = TABLE_COLUMNS["logged_models"][:-1]
_SELECT = ", ".join(_COLS)
_OUTER = ", ".join(f"m.{c} AS {c}" for c in _COLS)
_ATTRIBUTES = {
    "name": Attribute("m.name", "string"),
    "model_id": Attribute("m.model_id", "string"),
    "model_type": Attribute("m.model_type", "string"),
    "status": Attribute("m.status", "string"),
    "source_run_id": Attribute("m.source_run_id", "string"),
    "creation_timestamp": Attribute("m.creation_time", "number"),
    "creation_time": Attribute("m.creation_time", "number"),
    "last_updated_timestamp": Attribute("m.last_updated_time", "number"),
}
_LATEST = "(step, timestamp, value)"


def parse_status(value: Any) -> str:
    """``READY`` etc. from a proto enum name, its number, or the entity's name."""
    if isinstance(value, int) and not isinstance(value, bool) and value in STATUS_BY_NUMBER:
        return STATUS_BY_NUMBER[value]
    if isinstance(value, str):
        if value.isdigit() and int(value) in STATUS_BY_NUMBER:
            return STATUS_BY_NUMBER[int(value)]
        if value in STATUS_BY_PROTO:
            return STATUS_BY_PROTO[value]
        if value.upper() in PROTO_BY_STATUS:
            return value.upper()
    raise MlflowError.invalid(
        f"Invalid value {value!r} for parameter 'status': use one of {', '.join(STATUS_BY_PROTO)}"
    )


def model_id_of(uri: str) -> str | None:
    """The logged model id in ``models:/m-<hex>`` (and nothing else), else None."""
    if not uri.startswith("models:/m-"):
        return None
    model_id = uri[len("models:/") :].rstrip("/")
    return model_id if "/" not in model_id and "@" not in model_id else None


def _pairs(what: str, items: Sequence[Any], value_limit: int) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        if not isinstance(item, dict):
            raise MlflowError.invalid(f"each {what} must be an object with a key and a value")
        key, value = item.get("key"), item.get("value", "")
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
            raise MlflowError.invalid(
                f"{what} key must be a string of 1 to {MAX_KEY_LENGTH} characters, got {key!r}"
            )
        if not isinstance(value, str) or len(value) > value_limit:
            raise MlflowError.invalid(
                f"{what} '{key}' value must be a string of at most {value_limit} characters"
            )
        pairs.append((key, value))
    return pairs


def _render(
    row: dict[str, Any],
    tags: list[dict[str, str]],
    params: list[dict[str, str]],
    metrics: list[dict[str, Any]],
) -> dict[str, Any]:
    """MLflow's ``LoggedModel`` JSON from a row and its tags, params and latest metrics."""
    info: dict[str, Any] = {
        "model_id": row["model_id"],
        "experiment_id": row["experiment_id"],
        "name": row["name"],
        "creation_timestamp_ms": row["creation_time"],
        "last_updated_timestamp_ms": row["last_updated_time"],
        "artifact_uri": row["artifact_location"],
        "status": PROTO_BY_STATUS.get(row["status"], row["status"]),
        "tags": tags,
    }
    for key in ("model_type", "source_run_id", "status_message"):
        if row[key]:
            info[key] = row[key]
    return {"info": info, "data": {"params": params, "metrics": metrics}}


class LoggedModelStore:
    """Create, finalize, tag, search and delete logged models."""

    def __init__(self, writer: TrackingWriter, experiments: ExperimentStore, runs: RunStore):
        self.writer, self.experiments, self.runs = writer, experiments, runs
        self.db = runs.db
        self._lock = threading.Lock()

    def _query(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.runs.query(sql, params)

    def _write(self, row: dict[str, Any]) -> None:
        values = tuple(row[c] for c in _COLS) + (new_version(),)
        self.writer.append({"logged_models": [values]})

    # -- reads -----------------------------------------------------------------------------

    def row(self, model_id: str, allow_deleted: bool = False) -> dict[str, Any]:
        """The model's row. Raises `MlflowError` (404) for an unknown or deleted model."""
        if not isinstance(model_id, str) or not model_id:
            raise MlflowError.invalid("model_id must be a non-empty string")
        rows = self._query(
            f"SELECT {_SELECT} FROM {self.db}.logged_models FINAL WHERE model_id = {{id:String}}",
            {"id": model_id},
        )
        if not rows or (rows[0]["lifecycle_stage"] != "active" and not allow_deleted):
            raise MlflowError.not_found(f"Logged model with ID '{model_id}' not found.")
        return rows[0]

    def get(self, model_id: str, allow_deleted: bool = False) -> dict[str, Any]:
        """MLflow's ``LoggedModel`` JSON."""
        return self._json([self.row(model_id, allow_deleted)])[0]

    def _json(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not rows:
            return []
        ids = {"ids": [r["model_id"] for r in rows]}
        tags: dict[str, list[dict[str, str]]] = {}
        params: dict[str, list[dict[str, str]]] = {}
        metrics: dict[str, list[dict[str, Any]]] = {}
        for t in self._query(
            f"SELECT model_id, key, value FROM {self.db}.logged_model_tags FINAL "
            "WHERE model_id IN {ids:Array(String)} AND deleted = 0 ORDER BY key",
            ids,
        ):
            tags.setdefault(t.pop("model_id"), []).append(t)
        for p in self._query(
            f"SELECT model_id, key, value FROM {self.db}.logged_model_params FINAL "
            "WHERE model_id IN {ids:Array(String)} ORDER BY key",
            ids,
        ):
            params.setdefault(p.pop("model_id"), []).append(p)
        for m in self._query(
            f"SELECT model_id, key, run_id, dataset_name, dataset_digest, "
            f"argMax(value, {_LATEST}) AS v, argMax(timestamp, {_LATEST}) AS ts, "
            f"max(step) AS st FROM {self.db}.logged_model_metrics "
            "WHERE model_id IN {ids:Array(String)} "
            "GROUP BY model_id, key, run_id, dataset_name, dataset_digest ORDER BY key",
            ids,
        ):
            point: dict[str, Any] = {
                "key": m["key"],
                "value": metric_value(m["v"]),
                "timestamp": m["ts"],
                "step": m["st"],
                "model_id": m["model_id"],
                "run_id": m["run_id"],
            }
            if m["dataset_name"]:
                point["dataset_name"] = m["dataset_name"]
                point["dataset_digest"] = m["dataset_digest"]
            metrics.setdefault(m["model_id"], []).append(point)
        return [
            _render(
                r,
                tags.get(r["model_id"], []),
                params.get(r["model_id"], []),
                metrics.get(r["model_id"], []),
            )
            for r in rows
        ]

    def search(
        self,
        experiment_ids: list[str],
        filter_string: str = "",
        order_by: list[dict[str, Any]] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        datasets: list[dict[str, Any]] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of active logged models in the experiments, and the next page's token."""
        if not experiment_ids:
            raise MlflowError.invalid("experiment_ids must name at least one experiment")
        limit = max_results or DEFAULT_MAX_RESULTS
        if not 0 < limit <= MAX_RESULTS:
            raise MlflowError.invalid(f"max_results must be between 1 and {MAX_RESULTS}")
        metric_scope, scope_params = self._dataset_scope(datasets or [], "ds")
        spec = SearchSpec(
            _ATTRIBUTES,
            {
                "metric": Keyed(
                    f"m.model_id IN (SELECT model_id FROM (SELECT model_id, "
                    f"argMax(value, {_LATEST}) AS lv FROM {self.db}.logged_model_metrics "
                    f"WHERE key = {{key}} AND {metric_scope} GROUP BY model_id, run_id) AS lm "
                    "WHERE {cond})",
                    "lv",
                    "number",
                ),
                "param": Keyed(
                    f"m.model_id IN (SELECT model_id FROM {self.db}.logged_model_params FINAL "
                    "WHERE key = {key} AND {cond})",
                    "value",
                    "string",
                ),
                "tag": Keyed(
                    f"m.model_id IN (SELECT model_id FROM {self.db}.logged_model_tags FINAL "
                    "WHERE key = {key} AND deleted = 0 AND {cond})",
                    "value",
                    "string",
                ),
            },
        )
        try:
            compiled = compile_search(filter_string, spec)
            offset = decode_page_token(page_token)
        except SearchError as exc:
            raise MlflowError.invalid(str(exc)) from None
        params: dict[str, Any] = {
            **compiled.params,
            **scope_params,
            "exps": [str(e) for e in experiment_ids],
            "limit": limit + 1,
            "offset": offset,
        }
        joins, clauses = self._order(order_by or [], params)
        sql = (
            f"SELECT {_OUTER} FROM (SELECT {_SELECT} FROM {self.db}.logged_models FINAL "
            "WHERE experiment_id IN {exps:Array(String)}) AS m "
            f"{' '.join(joins)} WHERE m.lifecycle_stage = 'active' AND {compiled.sql} "
            f"ORDER BY {', '.join(clauses)} LIMIT {{limit:UInt64}} OFFSET {{offset:UInt64}}"
        )
        rows = self._query(sql, params)
        more = len(rows) > limit
        page = self._json(rows[:limit])
        return page, encode_page_token(offset + limit) if more else None

    @staticmethod
    def _dataset_scope(datasets: list[dict[str, Any]], prefix: str) -> tuple[str, dict[str, Any]]:
        """SQL limiting metrics to the named datasets (any of them), with its binds."""
        if not datasets:
            return "1", {}
        conds, params = [], {}
        for n, d in enumerate(datasets):
            if not isinstance(d, dict) or not isinstance(d.get("dataset_name"), str):
                raise MlflowError.invalid("each dataset needs a dataset_name string")
            params[f"{prefix}n{n}"] = d["dataset_name"]
            cond = f"dataset_name = {{{prefix}n{n}:String}}"
            digest = d.get("dataset_digest")
            if digest:
                if not isinstance(digest, str):
                    raise MlflowError.invalid("dataset_digest must be a string")
                params[f"{prefix}d{n}"] = digest
                cond += f" AND dataset_digest = {{{prefix}d{n}:String}}"
            conds.append(f"({cond})")
        return "(" + " OR ".join(conds) + ")", params

    def _order(
        self, order_by: list[dict[str, Any]], params: dict[str, Any]
    ) -> tuple[list[str], list[str]]:
        joins, clauses = [], []
        for n, o in enumerate(order_by):
            field = o.get("field_name") if isinstance(o, dict) else None
            if not isinstance(field, str) or not field:
                raise MlflowError.invalid("each order_by needs a field_name string")
            direction = "DESC" if o.get("ascending") in (False, "false") else "ASC"
            if field.startswith(("metrics.", "metric.")):
                key = field.split(".", 1)[1]
                scope, scope_params = self._dataset_scope(
                    [o] if o.get("dataset_name") else [], f"o{n}"
                )
                params.update(scope_params)
                params[f"ok{n}"] = key
                joins.append(
                    f"LEFT JOIN (SELECT model_id, max(lv) AS v, 1 AS h FROM (SELECT model_id, "
                    f"argMax(value, {_LATEST}) AS lv FROM {self.db}.logged_model_metrics "
                    f"WHERE key = {{ok{n}:String}} AND {scope} GROUP BY model_id, run_id) "
                    f"GROUP BY model_id) AS o{n} ON o{n}.model_id = m.model_id"
                )
                clauses += [f"o{n}.h = 0", f"o{n}.v {direction}"]
                continue
            attr = _ATTRIBUTES.get(field.removeprefix("attributes."))
            if attr is None:
                raise MlflowError.invalid(f"Invalid order_by field {field!r} for logged models")
            clauses.append(f"{attr.sql} {direction}")
        return joins, [*clauses, "m.creation_time DESC", "m.model_id ASC"]

    # -- writes ----------------------------------------------------------------------------

    def create(
        self,
        experiment_id: str,
        name: str = "",
        model_type: str = "",
        source_run_id: str = "",
        params: Sequence[Any] = (),
        tags: Sequence[Any] = (),
    ) -> dict[str, Any]:
        """A new PENDING logged model in an active experiment; its ``LoggedModel`` JSON."""
        exp = self.experiments.get(experiment_id)
        if exp["lifecycle_stage"] != "active":
            raise MlflowError.invalid(
                f"The experiment {experiment_id} must be in the 'active' state."
            )
        if name and ("/" in name or ":" in name or len(name) > MAX_KEY_LENGTH):
            raise MlflowError.invalid(
                f"Invalid model name {name!r}: it must not contain '/' or ':' and be at most "
                f"{MAX_KEY_LENGTH} characters"
            )
        if len(params) > MAX_PARAMS_PER_REQUEST:
            raise MlflowError.invalid(f"at most {MAX_PARAMS_PER_REQUEST} params per request")
        param_pairs = _pairs("Param", params, MAX_PARAM_VALUE_LENGTH)
        tag_pairs = _pairs("Tag", tags, MAX_TAG_VALUE_LENGTH)
        if source_run_id:
            self.runs.state(source_run_id)
        model_id = f"m-{uuid.uuid4().hex}"
        now = now_ms()
        row = {
            "experiment_id": exp["experiment_id"],
            "model_id": model_id,
            "name": name or f"model-{uuid.uuid4().hex[:8]}",
            "artifact_location": (
                f"{exp['artifact_location'].rstrip('/')}/models/{model_id}/artifacts"
            ),
            "model_type": model_type,
            "source_run_id": source_run_id,
            "status": "PENDING",
            "status_message": "",
            "lifecycle_stage": "active",
            "creation_time": now,
            "last_updated_time": now,
        }
        ver, params_map, tags_map = new_version(), dict(param_pairs), dict(tag_pairs)
        self.writer.append(
            {
                "logged_models": [tuple(row[c] for c in _COLS) + (ver,)],
                "logged_model_params": [(model_id, k, v) for k, v in params_map.items()],
                "logged_model_tags": [(model_id, k, v, 0, ver) for k, v in tags_map.items()],
            }
        )
        return _render(  # a new model: its JSON needs no read
            row,
            [{"key": k, "value": v} for k, v in sorted(tags_map.items())],
            [{"key": k, "value": v} for k, v in sorted(params_map.items())],
            [],
        )

    def finalize(self, model_id: str, status: Any) -> dict[str, Any]:
        """Set the model's status (READY or FAILED, usually); its new JSON."""
        state = parse_status(status)
        with self._lock:
            row = {**self.row(model_id), "status": state, "last_updated_time": now_ms()}
            self._write(row)
        return self._json([row])[0]

    def log_params(self, model_id: str, params: Sequence[Any]) -> None:
        """Add params; a key keeps its first value, as for runs."""
        self.row(model_id)
        if len(params) > MAX_PARAMS_PER_REQUEST:
            raise MlflowError.invalid(f"at most {MAX_PARAMS_PER_REQUEST} params per request")
        pairs = dict(_pairs("Param", params, MAX_PARAM_VALUE_LENGTH))
        self.writer.append({"logged_model_params": [(model_id, k, v) for k, v in pairs.items()]})

    def set_tags(self, model_id: str, tags: Sequence[Any]) -> None:
        self.row(model_id)
        ver = new_version()
        pairs = _pairs("Tag", tags, MAX_TAG_VALUE_LENGTH)
        self.writer.append({"logged_model_tags": [(model_id, k, v, 0, ver) for k, v in pairs]})

    def delete_tag(self, model_id: str, key: str) -> None:
        """Delete a tag. Raises `MlflowError` (404) if the model has no such tag."""
        self.row(model_id)
        if not self._query(
            f"SELECT 1 FROM {self.db}.logged_model_tags FINAL WHERE model_id = {{id:String}} "
            "AND key = {key:String} AND deleted = 0",
            {"id": model_id, "key": key},
        ):
            raise MlflowError.not_found(f"No tag with key {key!r} found for model {model_id!r}.")
        self.writer.append({"logged_model_tags": [(model_id, key, "", 1, new_version())]})

    def delete(self, model_id: str) -> None:
        """Mark the model deleted (its files stay until the artifacts are garbage-collected)."""
        with self._lock:
            row = {**self.row(model_id), "lifecycle_stage": "deleted"}
            row["last_updated_time"] = now_ms()
            self._write(row)
