"""ClickHouse DDL for Spyglass and the versioned migrations that create it.

The same statements serve the embedded store (chDB) and a server or cluster; only the engine
clause and ``ON CLUSTER`` differ, so they are templated from `SchemaOptions`.

Design (see DESIGN.md): span rows are immutable; narrow per-trace summary rows are written by
a materialized view, so trace lists never scan the wide span rows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from spyglass.errors import ConfigError
from spyglass.store.auth_store import auth_statements
from spyglass.store.retention import retention_statements
from spyglass.store.tracking_schema import logged_model_statements, tracking_statements

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Root span text kept on the summary row: enough for a list preview, small enough to scan fast.
SUMMARY_TEXT_CHARS = 1000


@dataclass(frozen=True)
class SchemaOptions:
    """What varies between deployments.

    Attributes:
        database: database holding every Spyglass table.
        cluster: a ClickHouse cluster name; when set, tables use Replicated engines and every
            DDL statement runs ``ON CLUSTER``.
        retention_days: drop spans and summaries older than this many days (whole parts only;
            the retention sweep, `spyglass.store.expiry`, also enforces it row by row).
    """

    database: str = "spyglass"
    cluster: str | None = None
    retention_days: int | None = None

    def __post_init__(self) -> None:
        if not _IDENTIFIER.match(self.database):
            raise ConfigError(f"database name {self.database!r} must match {_IDENTIFIER.pattern}")
        if self.cluster is not None and not _IDENTIFIER.match(self.cluster):
            raise ConfigError(f"cluster name {self.cluster!r} must match {_IDENTIFIER.pattern}")
        if self.retention_days is not None and self.retention_days < 1:
            raise ConfigError("retention_days must be at least 1")

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {self.cluster}" if self.cluster else ""

    def engine(self, family: str, table: str, args: str = "") -> str:
        """The engine clause: ``MergeTree`` locally, ``ReplicatedMergeTree(...)`` on a cluster."""
        if not self.cluster:
            return f"{family}({args})"
        path = f"'/clickhouse/tables/{{shard}}/{self.database}/{table}', '{{replica}}'"
        return f"Replicated{family}({path}{', ' + args if args else ''})"

    def ttl(self, column: str) -> str:
        if self.retention_days is None:
            return ""
        return f"TTL toDateTime({column}) + INTERVAL {self.retention_days} DAY DELETE"


def _spans(o: SchemaOptions) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {o.database}.spans{o.on_cluster} (
    project LowCardinality(String),
    trace_id String,
    span_id String,
    parent_span_id String,
    trace_state String,
    name String,
    kind LowCardinality(String),
    span_type LowCardinality(String),
    start_time DateTime64(9, 'UTC'),
    end_time DateTime64(9, 'UTC'),
    duration_ns UInt64,
    status_code LowCardinality(String),
    status_message String,
    service_name LowCardinality(String),
    scope_name LowCardinality(String),
    scope_version LowCardinality(String),
    model LowCardinality(String),
    provider LowCardinality(String),
    operation LowCardinality(String),
    input String CODEC(ZSTD(3)),
    output String CODEC(ZSTD(3)),
    session_id String,
    user_id String,
    usage Map(LowCardinality(String), UInt64),
    cost Map(LowCardinality(String), Float64),
    total_tokens UInt64,
    total_cost Float64,
    attributes Map(String, String) CODEC(ZSTD(1)),
    resource_attributes Map(LowCardinality(String), String),
    events Array(Tuple(time DateTime64(9, 'UTC'), name String, attributes Map(String, String))),
    links Array(Tuple(trace_id String, span_id String, attributes Map(String, String))),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_session session_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_start start_time TYPE minmax GRANULARITY 1
)
ENGINE = {o.engine("ReplacingMergeTree", "spans", "ingested_at")}
PARTITION BY toYYYYMM(start_time)
ORDER BY (project, trace_id, span_id)
{o.ttl("start_time")}
SETTINGS ttl_only_drop_parts = 1
"""


def _traces(o: SchemaOptions) -> str:
    # One row per trace per insert block (the view aggregates each block), ordered by time so
    # "newest traces" reads a small window instead of aggregating every trace. Queries merge a
    # trace's rows with GROUP BY; a trace's start is the minimum over its rows.
    return f"""
CREATE TABLE IF NOT EXISTS {o.database}.traces{o.on_cluster} (
    project LowCardinality(String),
    trace_id String,
    start_time DateTime64(9, 'UTC'),
    end_time DateTime64(9, 'UTC'),
    name String,
    service_name String,
    has_root UInt8,
    span_count UInt64,
    error_count UInt64,
    llm_count UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    total_tokens UInt64,
    total_cost Float64,
    models Array(String),
    session_id String,
    user_id String,
    input String,
    output String,
    INDEX idx_trace trace_id TYPE bloom_filter GRANULARITY 1,
    INDEX idx_session session_id TYPE bloom_filter GRANULARITY 1,
    INDEX idx_user user_id TYPE bloom_filter GRANULARITY 1,
    INDEX idx_models models TYPE bloom_filter GRANULARITY 1
)
ENGINE = {o.engine("MergeTree", "traces")}
PARTITION BY toYYYYMM(start_time)
ORDER BY (project, start_time, trace_id)
{o.ttl("start_time")}
SETTINGS ttl_only_drop_parts = 1
"""


def _traces_mv(o: SchemaOptions, raw_io: bool = True) -> str:
    n = SUMMARY_TEXT_CHARS
    # The text is cut after the max, not before: the same result (cutting to a prefix keeps
    # the byte order), without cutting every span's text on each insert (~0.7 µs/span).
    # Version 1 of the view predates the raw_io column (migration 5 recreates the view).
    raw_io_column = ",\n    maxIf(raw_io, parent_span_id = '') AS raw_io" if raw_io else ""
    return f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {o.database}.traces_mv{o.on_cluster}
TO {o.database}.traces AS
SELECT
    project,
    trace_id,
    min(start_time) AS start_time,
    max(end_time) AS end_time,
    maxIf(name, parent_span_id = '') AS name,
    maxIf(toString(service_name), parent_span_id = '') AS service_name,
    max(toUInt8(parent_span_id = '')) AS has_root,
    count() AS span_count,
    countIf(status_code = 'ERROR') AS error_count,
    countIf(span_type = 'LLM') AS llm_count,
    sum(usage['input']) AS input_tokens,
    sum(usage['output']) AS output_tokens,
    sum(total_tokens) AS total_tokens,
    sum(total_cost) AS total_cost,
    groupUniqArrayIf(toString(model), model != '') AS models,
    max(session_id) AS session_id,
    max(user_id) AS user_id,
    leftUTF8(maxIf(input, parent_span_id = ''), {n}) AS input,
    leftUTF8(maxIf(output, parent_span_id = ''), {n}) AS output{raw_io_column}
FROM {o.database}.spans
GROUP BY project, trace_id
"""


def _raw_io(o: SchemaOptions) -> list[str]:
    # Spans stored by the native ingest path keep the source text of message attributes in
    # input/output (raw_io = 1); readers derive the canonical messages from the attributes.
    return [
        f"ALTER TABLE {o.database}.spans{o.on_cluster} "
        "ADD COLUMN IF NOT EXISTS raw_io UInt8 DEFAULT 0 AFTER output",
        f"ALTER TABLE {o.database}.traces{o.on_cluster} "
        "ADD COLUMN IF NOT EXISTS raw_io UInt8 DEFAULT 0 AFTER output",
        *_recreate_traces_mv(o),
    ]


def _recreate_traces_mv(o: SchemaOptions) -> list[str]:
    return [f"DROP VIEW IF EXISTS {o.database}.traces_mv{o.on_cluster}", _traces_mv(o)]


# Spans merge in steps of many similar parts instead of ClickHouse's default ~5, so each row is
# rewritten fewer times. Migration 8 set 10: over 40 inserts of 30k spans, 0.78 merges per row
# instead of 2.05 and less than half the merge CPU. Migration 9 sets 20: over 100 inserts of 30k
# spans, 4.4 µs of merge CPU per span instead of 7.3, with at most 22 active parts instead of 20.
SPANS_MERGE_SELECTOR_BASE = 20


def _spans_merge_selector(base: int) -> Callable[[SchemaOptions], list[str]]:
    def statements(o: SchemaOptions) -> list[str]:
        return [
            f"ALTER TABLE {o.database}.spans{o.on_cluster} "
            f"MODIFY SETTING merge_selector_base = {base}"
        ]

    return statements


def _migrations_table(o: SchemaOptions) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {o.database}.schema_migrations{o.on_cluster} (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {o.engine("ReplacingMergeTree", "schema_migrations")}
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    """One schema step: idempotent statements, applied once and recorded by version."""

    version: int
    name: str
    statements: Callable[[SchemaOptions], list[str]]
    # A MergeTree setting the statements set: on a server that does not know it (older than
    # the setting), the migration is recorded without running them.
    merge_tree_setting: str = ""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "spans and trace summaries",
        lambda o: [_spans(o), _traces(o), _traces_mv(o, raw_io=False)],
    ),
    Migration(2, "experiment tracking and model registry", tracking_statements),
    Migration(3, "logged models and run model inputs/outputs", logged_model_statements),
    Migration(
        4, "users and API keys", lambda o: auth_statements(o.database, o.on_cluster, o.engine)
    ),
    Migration(5, "raw input/output of natively ingested spans", _raw_io),
    Migration(
        6,
        "per-project retention settings",
        lambda o: retention_statements(o.database, o.on_cluster, o.engine),
    ),
    Migration(7, "trace summary text cut after the max", _recreate_traces_mv),
    Migration(8, "spans merged in wider steps", _spans_merge_selector(10), "merge_selector_base"),
    Migration(
        9,
        "spans merged in still wider steps",
        _spans_merge_selector(SPANS_MERGE_SELECTOR_BASE),
        "merge_selector_base",
    ),
)


def bootstrap_statements(o: SchemaOptions) -> list[str]:
    """Statements that must exist before migrations can be recorded."""
    return [f"CREATE DATABASE IF NOT EXISTS {o.database}{o.on_cluster}", _migrations_table(o)]


def all_statements(o: SchemaOptions) -> list[str]:
    """Every DDL statement, in order: for review and for the generated-DDL tests."""
    return bootstrap_statements(o) + [s for m in MIGRATIONS for s in m.statements(o)]


def migrate(client: Client, options: SchemaOptions) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied now.

    Safe to run on every start and concurrently with readers: statements are idempotent.
    """
    for statement in bootstrap_statements(options):
        client.command(statement)
    done = {
        row[0]
        for row in client.query(
            f"SELECT version FROM {options.database}.schema_migrations"
        ).result_rows
    }
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        if _knows_setting(client, migration.merge_tree_setting):
            for statement in migration.statements(options):
                client.command(statement)
        else:
            log.warning(
                "migration %d (%s) skipped: this ClickHouse has no MergeTree setting %s",
                migration.version, migration.name, migration.merge_tree_setting,
            )  # fmt: skip
        client.insert(
            f"{options.database}.schema_migrations",
            [[migration.version, migration.name]],
            column_names=["version", "name"],
        )
        applied.append(migration.version)
    return applied


def _knows_setting(client: Client, name: str) -> bool:
    if not name:
        return True
    rows = client.query(
        "SELECT count() FROM system.merge_tree_settings WHERE name = {name:String}",
        parameters={"name": name},
    ).result_rows
    return bool(rows[0][0])
