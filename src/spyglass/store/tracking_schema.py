"""ClickHouse tables for experiment tracking and the model registry (migrations 2 and 3).

Immutable facts (metric points, params, dataset inputs, registry audit events) are rows keyed so
that a replayed write collapses onto the first. Mutable things (experiments, runs, tags,
registered models, versions, aliases) are small ``ReplacingMergeTree(ver)`` tables: every change
writes the whole row with a larger ``ver`` and readers take the last one with ``FINAL``.
Times are milliseconds since the epoch, as in MLflow.

Migration 3 adds MLflow 3's logged models (a model with its own id, artifacts, params, tags and
metrics, produced by a run) and the runs' model inputs and outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # schema.py imports this module for its migration list
    from spyglass.store.schema import SchemaOptions

# Column order of every table the tracking writer inserts into (rows are tuples in this order).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "experiments": (
        "experiment_id", "name", "artifact_location", "lifecycle_stage", "creation_time",
        "last_update_time", "ver",
    ),
    "experiment_tags": ("experiment_id", "key", "value", "deleted", "ver"),
    "runs": (
        "experiment_id", "run_id", "run_name", "user_id", "status", "start_time", "end_time",
        "artifact_uri", "lifecycle_stage", "deleted_time", "ver",
    ),
    "run_params": ("run_id", "key", "value"),
    "run_metrics": ("run_id", "key", "step", "timestamp", "value"),
    "run_tags": ("run_id", "key", "value", "deleted", "ver"),
    "run_inputs": (
        "run_id", "name", "digest", "source_type", "source", "schema", "profile", "context",
        "tags", "ver",
    ),
    "registered_models": (
        "model_id", "name", "description", "user_id", "creation_time", "last_updated_time",
        "deleted", "ver",
    ),
    "model_versions": (
        "model_id", "version", "source", "storage_location", "run_id", "run_link",
        "description", "user_id", "stage", "status", "creation_time", "last_updated_time",
        "deleted", "ver",
    ),
    "registered_model_tags": ("model_id", "key", "value", "deleted", "ver"),
    "model_version_tags": ("model_id", "version", "key", "value", "deleted", "ver"),
    "model_aliases": ("model_id", "alias", "version", "deleted", "ver"),
    "registry_history": (
        "model_id", "event_id", "name", "version", "kind", "alias", "from_value", "to_value",
        "user_id", "time",
    ),
    # migration 3
    "logged_models": (
        "experiment_id", "model_id", "name", "artifact_location", "model_type", "source_run_id",
        "status", "status_message", "lifecycle_stage", "creation_time", "last_updated_time",
        "ver",
    ),
    "logged_model_params": ("model_id", "key", "value"),
    "logged_model_tags": ("model_id", "key", "value", "deleted", "ver"),
    "logged_model_metrics": (
        "model_id", "run_id", "key", "step", "timestamp", "value", "dataset_name",
        "dataset_digest",
    ),
    "run_models": ("run_id", "direction", "model_id", "step", "ver"),
}  # fmt: skip


def _table(o: SchemaOptions, name: str, columns: str, order_by: str, ver: bool = True) -> str:
    engine = o.engine("ReplacingMergeTree", name, "ver" if ver else "")
    return (
        f"CREATE TABLE IF NOT EXISTS {o.database}.{name}{o.on_cluster} ({columns})\n"
        f"ENGINE = {engine}\nORDER BY ({order_by})"
    )


def tracking_statements(o: SchemaOptions) -> list[str]:
    """DDL for every tracking and registry table, idempotent, templated for cluster mode."""
    return [
        _table(o, "experiments", """
            experiment_id String, name String, artifact_location String,
            lifecycle_stage LowCardinality(String), creation_time Int64, last_update_time Int64,
            ver UInt64""", "experiment_id"),
        _table(o, "experiment_tags", """
            experiment_id String, key String, value String, deleted UInt8, ver UInt64""",
            "experiment_id, key"),
        _table(o, "runs", """
            experiment_id String, run_id String, run_name String, user_id String,
            status LowCardinality(String), start_time Int64, end_time Int64, artifact_uri String,
            lifecycle_stage LowCardinality(String), deleted_time Int64, ver UInt64,
            INDEX idx_run run_id TYPE bloom_filter GRANULARITY 1""", "experiment_id, run_id"),
        _table(o, "run_params", "run_id String, key String, value String", "run_id, key",
               ver=False),
        _table(o, "run_metrics", """
            run_id String, key String, step Int64, timestamp Int64, value Float64""",
            "run_id, key, step, timestamp, value", ver=False),
        _table(o, "run_tags", "run_id String, key String, value String, deleted UInt8, ver UInt64",
               "run_id, key"),
        _table(o, "run_inputs", """
            run_id String, name String, digest String, source_type String, source String,
            schema String, profile String, context String, tags Map(String, String),
            ver UInt64""", "run_id, name, digest, context"),
        _table(o, "registered_models", """
            model_id String, name String, description String, user_id String,
            creation_time Int64, last_updated_time Int64, deleted UInt8, ver UInt64""",
            "model_id"),
        _table(o, "model_versions", """
            model_id String, version UInt64, source String, storage_location String,
            run_id String, run_link String, description String, user_id String,
            stage LowCardinality(String), status LowCardinality(String), creation_time Int64,
            last_updated_time Int64, deleted UInt8, ver UInt64""", "model_id, version"),
        _table(o, "registered_model_tags", """
            model_id String, key String, value String, deleted UInt8, ver UInt64""",
            "model_id, key"),
        _table(o, "model_version_tags", """
            model_id String, version UInt64, key String, value String, deleted UInt8,
            ver UInt64""", "model_id, version, key"),
        _table(o, "model_aliases", """
            model_id String, alias String, version UInt64, deleted UInt8, ver UInt64""",
            "model_id, alias"),
        _table(o, "registry_history", """
            model_id String, event_id String, name String, version UInt64,
            kind LowCardinality(String), alias String, from_value String, to_value String,
            user_id String, time Int64""", "model_id, time, event_id", ver=False),
    ]  # fmt: skip


def logged_model_statements(o: SchemaOptions) -> list[str]:
    """DDL for MLflow 3 logged models and the runs' model inputs/outputs (migration 3)."""
    return [
        _table(o, "logged_models", """
            experiment_id String, model_id String, name String, artifact_location String,
            model_type String, source_run_id String, status LowCardinality(String),
            status_message String, lifecycle_stage LowCardinality(String), creation_time Int64,
            last_updated_time Int64, ver UInt64,
            INDEX idx_model model_id TYPE bloom_filter GRANULARITY 1""",
            "experiment_id, model_id"),
        _table(o, "logged_model_params", "model_id String, key String, value String",
               "model_id, key", ver=False),
        _table(o, "logged_model_tags", """
            model_id String, key String, value String, deleted UInt8, ver UInt64""",
            "model_id, key"),
        _table(o, "logged_model_metrics", """
            model_id String, run_id String, key String, step Int64, timestamp Int64,
            value Float64, dataset_name String, dataset_digest String""",
            "model_id, key, run_id, step, timestamp, value, dataset_name, dataset_digest",
            ver=False),
        _table(o, "run_models", """
            run_id String, direction LowCardinality(String), model_id String, step Int64,
            ver UInt64""", "run_id, direction, model_id"),
    ]  # fmt: skip
