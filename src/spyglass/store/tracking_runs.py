"""Runs: lifecycle, params, metrics with their full step history, tags and dataset inputs.

Logging is the hot path (``log_metric`` must answer in ~1 ms), so it touches no table: the run's
state comes from an in-process cache (loaded once per run), and the rows go to the
`TrackingWriter` spool. Reads (``get``, ``search``, history) flush the writer first.
Rows are MLflow-shaped dicts ready for the REST API's JSON.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from spyglass.store.tracking_experiments import ExperimentStore
from spyglass.store.tracking_schema import TABLE_COLUMNS
from spyglass.store.tracking_writer import TrackingWriter, new_version, now_ms
from spyglass.tracking.errors import MlflowError

RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
RUN_NAME_TAG = "mlflow.runName"
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
CACHED_RUNS = 4096

_RUN_COLUMNS = TABLE_COLUMNS["runs"]
RUN_SELECT = ", ".join(_RUN_COLUMNS[:-1])
_ADJECTIVES = ("bold", "calm", "clever", "eager", "gentle", "keen", "lucky", "merry", "quiet")
_NOUNS = ("otter", "heron", "lynx", "finch", "badger", "crane", "koala", "moth", "wren")


def _random_name() -> str:
    n = uuid.uuid4().int
    return f"{_ADJECTIVES[n % 9]}-{_NOUNS[(n >> 8) % 9]}-{(n >> 16) % 1000}"


def metric_value(value: float) -> float | str:
    """A double as proto JSON writes it: NaN and infinities become strings."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def run_info(row: dict[str, Any]) -> dict[str, Any]:
    """MLflow's ``RunInfo`` JSON from a runs row."""
    info = {
        "run_id": row["run_id"],
        "run_uuid": row["run_id"],
        "run_name": row["run_name"],
        "experiment_id": row["experiment_id"],
        "user_id": row["user_id"],
        "status": row["status"],
        "start_time": row["start_time"],
        "artifact_uri": row["artifact_uri"],
        "lifecycle_stage": row["lifecycle_stage"],
    }
    if row["end_time"]:
        info["end_time"] = row["end_time"]
    return info


def _check_key(what: str, key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise MlflowError.invalid(f"{what} key must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise MlflowError.invalid(
            f"{what} key '{key[:40]}...' had length {len(key)}, which exceeded length limit "
            f"of {MAX_KEY_LENGTH}"
        )
    if ".." in key.split("/") or key.startswith("/"):
        raise MlflowError.invalid(f"Invalid {what.lower()} key {key!r}: not a relative path")
    return key


def _model_ref(metric: dict[str, Any]) -> str:
    model_id = metric.get("model_id")
    if not isinstance(model_id, str):
        raise MlflowError.invalid(f"Metric model_id must be a string, got {model_id!r}")
    return model_id


def _dataset_ref(metric: dict[str, Any]) -> tuple[str, str]:
    name, digest = metric.get("dataset_name") or "", metric.get("dataset_digest") or ""
    if not isinstance(name, str) or not isinstance(digest, str):
        raise MlflowError.invalid("Metric dataset_name and dataset_digest must be strings")
    return name, digest


def _check_value(what: str, key: str, value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise MlflowError.invalid(f"{what} '{key}' value must be a string, got {value!r}")
    if len(value) > limit:
        raise MlflowError.invalid(
            f"{what} '{key}' had length {len(value)}, which exceeded length limit of {limit}"
        )
    return value


class RunStore:
    """Create, log to, read and search runs."""

    def __init__(
        self, client: Client, database: str, writer: TrackingWriter, experiments: ExperimentStore
    ) -> None:
        self.client, self.db, self.writer, self.experiments = client, database, writer, experiments
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._params: dict[str, dict[str, str]] = {}

    def query(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Named rows of a query, after making this process's pending writes readable."""
        self.writer.flush()
        return list(self.client.query(sql, parameters=params).named_results())

    # -- run state -------------------------------------------------------------------------

    def _cache(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._runs[row["run_id"]] = row
            self._runs.move_to_end(row["run_id"])
            while len(self._runs) > CACHED_RUNS:
                old, _ = self._runs.popitem(last=False)
                self._params.pop(old, None)

    def state(self, run_id: str) -> dict[str, Any]:
        """The run's row (cached). Raises `MlflowError` (404) for an unknown run."""
        if not isinstance(run_id, str) or not run_id:
            raise MlflowError.invalid("run_id must be a non-empty string")
        with self._lock:
            row = self._runs.get(run_id)
        if row is not None:
            return row
        rows = self.query(
            f"SELECT {RUN_SELECT} FROM {self.db}.runs FINAL WHERE run_id = {{id:String}}",
            {"id": run_id},
        )
        if not rows:
            raise MlflowError.not_found(f"Run with id={run_id} not found")
        self._cache(rows[0])
        return rows[0]

    def active(self, run_id: str) -> dict[str, Any]:
        row = self.state(run_id)
        if row["lifecycle_stage"] != "active":
            raise MlflowError.invalid(
                f"The run {run_id} must be in the 'active' state. "
                f"Current state is {row['lifecycle_stage']}."
            )
        return row

    def cached(self, run_id: str) -> bool:
        """Whether logging to this run needs no read (its state and params are cached)."""
        with self._lock:
            return run_id in self._runs

    def _write_run(self, row: dict[str, Any], tags: Sequence[tuple[Any, ...]] = ()) -> None:
        self.writer.append(
            {
                "runs": [tuple(row[c] for c in _RUN_COLUMNS[:-1]) + (new_version(),)],
                "run_tags": list(tags),
            }
        )
        self._cache(row)

    # -- lifecycle -------------------------------------------------------------------------

    def create(
        self,
        experiment_id: str,
        user_id: str = "",
        run_name: str = "",
        start_time: int | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Create a RUNNING run in an active experiment; return its ``Run`` JSON."""
        exp = self.experiments.get(experiment_id or "0")
        if exp["lifecycle_stage"] != "active":
            raise MlflowError.invalid(
                f"The experiment {exp['experiment_id']} must be in the 'active' state. "
                "Current state is deleted."
            )
        tag_map = {t["key"]: t["value"] for t in tags or []}
        for key, value in tag_map.items():
            _check_value("Tag", _check_key("Tag", key), value, MAX_TAG_VALUE_LENGTH)
        name = run_name or tag_map.get(RUN_NAME_TAG) or _random_name()
        if run_name and tag_map.get(RUN_NAME_TAG, run_name) != run_name:
            raise MlflowError.invalid(
                f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{run_name}', mlflow.runName="
                f"'{tag_map[RUN_NAME_TAG]}')."
            )
        tag_map[RUN_NAME_TAG] = name
        run_id = uuid.uuid4().hex
        row = {
            "experiment_id": exp["experiment_id"],
            "run_id": run_id,
            "run_name": name,
            "user_id": user_id or tag_map.get("mlflow.user", ""),
            "status": "RUNNING",
            "start_time": start_time or now_ms(),
            "end_time": 0,
            "artifact_uri": f"{exp['artifact_location'].rstrip('/')}/{run_id}/artifacts",
            "lifecycle_stage": "active",
            "deleted_time": 0,
        }
        ver = new_version()
        self._write_run(row, [(run_id, k, v, 0, ver) for k, v in tag_map.items()])
        self._params[run_id] = {}
        tag_list = [{"key": k, "value": v} for k, v in sorted(tag_map.items())]
        return {"info": run_info(row), "data": {"tags": tag_list}, "inputs": {}}

    def update(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> dict[str, Any]:
        """Change status, end time or name; return the new ``RunInfo`` JSON."""
        row = dict(self.active(run_id))
        if status:
            if status not in RUN_STATUSES:
                raise MlflowError.invalid(f"Invalid run status {status!r}")
            row["status"] = status
        if end_time:
            row["end_time"] = end_time
        tags = []
        if run_name:
            row["run_name"] = run_name
            tags.append((run_id, RUN_NAME_TAG, run_name, 0, new_version()))
        self._write_run(row, tags)
        return run_info(row)

    def set_lifecycle(self, run_id: str, stage: str) -> None:
        """Mark a run ``deleted`` or ``active`` again."""
        row = dict(self.state(run_id))
        row["lifecycle_stage"] = stage
        row["deleted_time"] = now_ms() if stage == "deleted" else 0
        self._write_run(row)

    # -- logging ---------------------------------------------------------------------------

    def _known_params(self, run_id: str) -> dict[str, str]:
        with self._lock:
            known = self._params.get(run_id)
        if known is None:
            rows = self.query(
                f"SELECT key, value FROM {self.db}.run_params FINAL WHERE run_id = {{id:String}}",
                {"id": run_id},
            )
            known = {r["key"]: r["value"] for r in rows}
            with self._lock:
                self._params[run_id] = known
        return known

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[dict[str, Any]] = (),
        params: Sequence[dict[str, Any]] = (),
        tags: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Validate then spool metrics, params and tags as one write (all or nothing)."""
        if len(metrics) > MAX_METRICS_PER_BATCH:
            raise MlflowError.invalid(
                f"A batch logging request can contain at most {MAX_METRICS_PER_BATCH} metrics. "
                f"Got {len(metrics)} metrics."
            )
        for what, items in (("params", params), ("tags", tags)):
            if len(items) > MAX_PARAMS_TAGS_PER_BATCH:
                raise MlflowError.invalid(
                    f"A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} "
                    f"{what}. Got {len(items)} {what}."
                )
        if len(metrics) + len(params) + len(tags) > MAX_ENTITIES_PER_BATCH:
            raise MlflowError.invalid(
                f"A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} "
                "total metrics, params and tags."
            )
        row = self.active(run_id)
        metric_rows = [self._metric_row(run_id, m) for m in metrics]
        new_params = self._check_params(run_id, params)
        ver = new_version()
        tag_rows = []
        run_update = None
        for t in tags:
            key = _check_key("Tag", t.get("key"))
            value = _check_value("Tag", key, t.get("value", ""), MAX_TAG_VALUE_LENGTH)
            tag_rows.append((run_id, key, value, 0, ver))
            if key == RUN_NAME_TAG:
                run_update = {**row, "run_name": value}
        rows: dict[str, list[tuple[Any, ...]]] = {
            "run_metrics": metric_rows,
            "logged_model_metrics": [
                (_model_ref(m), *r, *_dataset_ref(m))
                for m, r in zip(metrics, metric_rows, strict=True)
                if m.get("model_id")
            ],
            "run_params": [(run_id, k, v) for k, v in new_params.items()],
            "run_tags": tag_rows,
        }
        if run_update is not None:
            rows["runs"] = [tuple(run_update[c] for c in _RUN_COLUMNS[:-1]) + (new_version(),)]
            self._cache(run_update)
        self.writer.append(rows)
        if new_params:
            self._known_params(run_id).update(new_params)

    @staticmethod
    def _metric_row(run_id: str, m: dict[str, Any]) -> tuple[Any, ...]:
        key = _check_key("Metric", m.get("key"))
        value = m.get("value")
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
            value = float(value.replace("Infinity", "inf"))
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise MlflowError.invalid(
                f"Got invalid value {value!r} for metric '{key}' (timestamp="
                f"{m.get('timestamp')}). Please specify value as a valid double (64-bit "
                "floating point)"
            )
        timestamp, step = m.get("timestamp", now_ms()), m.get("step", 0) or 0
        for name, number in (("timestamp", timestamp), ("step", step)):
            if isinstance(number, str) and number.lstrip("-").isdigit():
                number = int(number)
            if not isinstance(number, int) or isinstance(number, bool):
                raise MlflowError.invalid(f"Metric '{key}' {name} must be an integer")
            if name == "timestamp":
                timestamp = number
            else:
                step = number
        return (run_id, key, step, timestamp, float(value))

    def _check_params(self, run_id: str, params: Sequence[dict[str, Any]]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for p in params:
            key = _check_key("Param", p.get("key"))
            value = _check_value("Param", key, p.get("value", ""), MAX_PARAM_VALUE_LENGTH)
            if seen.get(key, value) != value:
                raise MlflowError.invalid(
                    f"Duplicate parameter keys have been submitted: '{key}' with different values."
                )
            seen[key] = value
        if not seen:
            return {}
        known = self._known_params(run_id)
        for key, value in seen.items():
            if known.get(key, value) != value:
                raise MlflowError.invalid(
                    f"Changing param values is not allowed. Param with key='{key}' was already "
                    f"logged with value='{known[key]}' for run ID='{run_id}'. Attempted logging "
                    f"new value '{value}'."
                )
        return {k: v for k, v in seen.items() if k not in known}

    def delete_tag(self, run_id: str, key: str) -> None:
        """Delete a run tag. Raises `MlflowError` (404) if the run has no such tag."""
        self.active(run_id)
        rows = self.query(
            f"SELECT value FROM {self.db}.run_tags FINAL "
            "WHERE run_id = {id:String} AND key = {key:String} AND deleted = 0",
            {"id": run_id, "key": key},
        )
        if not rows:
            raise MlflowError.not_found(f"No tag with name: {key} in run with id {run_id}")
        self.writer.append({"run_tags": [(run_id, key, "", 1, new_version())]})

    def log_models(self, run_id: str, direction: str, models: list[dict[str, Any]]) -> None:
        """Record logged models a run used (``input``) or produced (``output``, with a step)."""
        self.active(run_id)
        rows = []
        for m in models:
            model_id, step = m.get("model_id"), m.get("step", 0) or 0
            if not isinstance(model_id, str) or not model_id:
                raise MlflowError.invalid(f"each model {direction} needs a model_id string")
            if isinstance(step, str) and step.lstrip("-").isdigit():
                step = int(step)
            if not isinstance(step, int) or isinstance(step, bool):
                raise MlflowError.invalid(f"model {direction} step must be an integer")
            rows.append((run_id, direction, model_id, step, new_version()))
        self.writer.append({"run_models": rows})

    def log_inputs(self, run_id: str, datasets: list[dict[str, Any]]) -> None:
        """Record dataset inputs (name, digest, source, schema, profile, context tag)."""
        self.active(run_id)
        rows = []
        for item in datasets:
            ds = item.get("dataset") or {}
            if not isinstance(ds, dict) or not ds.get("name") or not ds.get("digest"):
                raise MlflowError.invalid("each dataset input needs a dataset name and digest")
            tags = {str(t.get("key")): str(t.get("value", "")) for t in item.get("tags") or []}
            fields = [
                str(ds.get(f, ""))
                for f in ("name", "digest", "source_type", "source", "schema", "profile")
            ]
            context = tags.get("mlflow.data.context", "")
            rows.append((run_id, *fields, context, tags, new_version()))
        self.writer.append({"run_inputs": rows})
