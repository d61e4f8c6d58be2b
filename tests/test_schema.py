from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from spyglass.errors import ConfigError
from spyglass.store import schema
from spyglass.store.connection import parse_store_url
from spyglass.store.schema import (
    MIGRATIONS,
    Migration,
    SchemaOptions,
    all_statements,
    bootstrap_statements,
    migrate,
)


def test_migrations_apply_once_and_are_recorded(chdb_client: Client) -> None:
    options = SchemaOptions(database="t_migrate_once")
    assert migrate(chdb_client, options) == [m.version for m in MIGRATIONS]
    assert migrate(chdb_client, options) == []
    tables = {r[0] for r in chdb_client.query("SHOW TABLES FROM t_migrate_once").result_rows}
    assert {"spans", "traces", "traces_mv", "schema_migrations"} <= tables


def test_a_store_missing_later_migrations_is_upgraded(chdb_client: Client) -> None:
    options = SchemaOptions(database="t_migrate_upgrade")
    migrate(chdb_client, options)
    chdb_client.command("DROP TABLE t_migrate_upgrade.traces_mv")
    chdb_client.command(
        "ALTER TABLE t_migrate_upgrade.schema_migrations DELETE WHERE version = 1",
        settings={"mutations_sync": 2},
    )
    assert migrate(chdb_client, options) == [1]
    tables = {r[0] for r in chdb_client.query("SHOW TABLES FROM t_migrate_upgrade").result_rows}
    assert "traces_mv" in tables


def test_local_ddl_uses_plain_engines_and_no_cluster_clause() -> None:
    ddl = "\n".join(all_statements(SchemaOptions(database="sg")))
    assert "ON CLUSTER" not in ddl
    assert "Replicated" not in ddl
    assert "ENGINE = ReplacingMergeTree(ingested_at)" in ddl
    assert "ENGINE = MergeTree()" in ddl
    assert "TTL" not in ddl


def test_cluster_ddl_uses_replicated_engines_on_every_statement() -> None:
    statements = all_statements(SchemaOptions(database="sg", cluster="prod", retention_days=30))
    for statement in statements:
        assert " ON CLUSTER prod" in statement
    ddl = "\n".join(statements)
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/sg/spans', '{replica}', "
        "ingested_at)" in ddl
    )
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/sg/traces', '{replica}')" in ddl
    assert " MergeTree(" not in ddl
    assert ddl.count("TTL toDateTime(start_time) + INTERVAL 30 DAY DELETE") == 2


def test_retention_ttl_is_accepted_by_clickhouse(chdb_client: Client) -> None:
    migrate(chdb_client, SchemaOptions(database="t_ttl", retention_days=7))
    create = chdb_client.command("SHOW CREATE TABLE t_ttl.spans")
    assert "TTL toDateTime(start_time) + toIntervalDay(7)" in str(create)


@pytest.mark.parametrize(
    "kwargs",
    [{"database": "bad-name"}, {"database": "x; DROP"}, {"cluster": "a b"}, {"retention_days": 0}],
)
def test_unsafe_schema_options_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SchemaOptions(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "kind", "target", "database"),
    [
        ("chdb:///var/lib/sg", "chdb", "/var/lib/sg", "spyglass"),
        ("/var/lib/sg", "chdb", "/var/lib/sg", "spyglass"),
        ("http://ch.internal:8123", "http", "http://ch.internal:8123", "spyglass"),
        ("https://u:p%40ss@ch:8443/obs", "http", "https://ch:8443", "obs"),
    ],
)
def test_store_urls_are_parsed(url: str, kind: str, target: str, database: str) -> None:
    parsed = parse_store_url(url)
    assert (parsed.kind, parsed.target, parsed.database) == (kind, target, database)


def test_credentials_in_store_url_are_decoded() -> None:
    parsed = parse_store_url("https://u:p%40ss@ch:8443/obs")
    assert (parsed.username, parsed.password) == ("u", "p@ss")


def test_unknown_store_url_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unsupported store URL scheme"):
        parse_store_url("postgres://db")


def test_a_store_from_before_raw_io_keeps_its_spans_and_gains_the_column(
    chdb_client: Client,
) -> None:
    options = SchemaOptions(database="t_migrate_raw_io")
    for statement in bootstrap_statements(options):
        chdb_client.command(statement)
    for migration in MIGRATIONS[:4]:
        for statement in migration.statements(options):
            chdb_client.command(statement)
        chdb_client.insert(
            "t_migrate_raw_io.schema_migrations",
            [[migration.version, migration.name]],
            column_names=["version", "name"],
        )
    chdb_client.command(
        "INSERT INTO t_migrate_raw_io.spans (project, trace_id, span_id, start_time, input) "
        "VALUES ('p', 't1', 's1', now64(9), 'before')"
    )
    assert migrate(chdb_client, options) == [m.version for m in MIGRATIONS[4:]]
    chdb_client.command(
        "INSERT INTO t_migrate_raw_io.spans (project, trace_id, span_id, start_time, raw_io) "
        "VALUES ('p', 't2', 's2', now64(9), 1)"
    )
    spans = chdb_client.query(
        "SELECT trace_id, input, raw_io FROM t_migrate_raw_io.spans ORDER BY trace_id"
    ).result_rows
    assert spans == [("t1", "before", 0), ("t2", "", 1)]
    traces = chdb_client.query(
        "SELECT trace_id, raw_io FROM t_migrate_raw_io.traces ORDER BY trace_id"
    ).result_rows
    assert traces == [("t1", 0), ("t2", 1)]


def test_the_trace_summary_view_is_recreated_and_cuts_text_after_the_max(
    chdb_client: Client,
) -> None:
    """Migration 7 replaces a version-6 view; the summary text is the root span's, cut."""
    options = SchemaOptions(database="t_migrate_view")
    migrate(chdb_client, options)
    chdb_client.command(
        "ALTER TABLE t_migrate_view.schema_migrations DELETE WHERE version = 7",
        settings={"mutations_sync": 2},
    )
    assert migrate(chdb_client, options) == [7]
    view = str(chdb_client.command("SHOW CREATE TABLE t_migrate_view.traces_mv"))
    assert "leftUTF8(maxIf(input, " in view
    long_text = "é" * 1500
    chdb_client.insert(
        "t_migrate_view.spans",
        [
            ["p", "t1", "s1", "", "2026-01-01 00:00:00", "2026-01-01 00:00:01", long_text, "z"],
            ["p", "t1", "s2", "s1", "2026-01-01 00:00:00", "2026-01-01 00:00:01", "zzz", "zzz"],
        ],
        column_names=[
            "project", "trace_id", "span_id", "parent_span_id", "start_time", "end_time",
            "input", "output",
        ],
    )  # fmt: skip
    rows = chdb_client.query("SELECT input, output FROM t_migrate_view.traces").result_rows
    assert rows == [("é" * 1000, "z")]


def test_spans_merge_in_wider_steps(chdb_client: Client) -> None:
    options = SchemaOptions(database="t_migrate_merges")
    migrate(chdb_client, options)
    ddl = str(chdb_client.command("SHOW CREATE TABLE t_migrate_merges.spans"))
    assert "merge_selector_base = 20" in ddl


def test_a_migration_needing_an_unknown_merge_tree_setting_is_recorded_without_running(
    chdb_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older ClickHouse server without the setting still starts (the step is skipped)."""
    options = SchemaOptions(database="t_migrate_unknown_setting")
    migrate(chdb_client, options)
    failing = Migration(99, "needs a future setting", lambda _: ["SELECT throwIf(1)"], "no_such")
    monkeypatch.setattr(schema, "MIGRATIONS", (*MIGRATIONS, failing))
    assert migrate(chdb_client, options) == [99]
    assert migrate(chdb_client, options) == []


def test_the_embedded_store_merges_at_the_inserts_nice_value(chdb_client: Client) -> None:
    rows = chdb_client.query(
        "SELECT value FROM system.server_settings WHERE name = 'os_threads_nice_value_merge_mutate'"
    ).result_rows
    assert rows == [("10",)]
