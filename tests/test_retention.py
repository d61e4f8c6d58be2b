"""Retention on real chDB: settings, and the sweep over spans and trace summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
from clickhouse_connect.driver.client import Client

from spyglass.auth.model import Role, required_role
from spyglass.collector.metrics import ServerMetrics
from spyglass.collector.retention import RetentionWorker
from spyglass.errors import BadRequestError
from spyglass.store.expiry import cutoffs, sweep
from spyglass.store.retention import MAX_RETENTION_DAYS, RetentionSettings, check_days
from spyglass.store.schema import SchemaOptions, migrate
from spyglass.store.traces import TraceStore
from tests.factory import BASE_NS, TraceSpec, store_traces

NOW = datetime.now(UTC)


def days_ago(days: float) -> TraceSpec:
    """A trace with two child spans, started ``days`` before now."""
    start_ns = int((NOW - timedelta(days=days)).timestamp() * 1e9)
    return TraceSpec(start_ms=(start_ns - BASE_NS) / 1e6, children=[{}, {}])


def month_of(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y%m")


def counts(store: TraceStore, table: str) -> dict[str, int]:
    rows = store.client.query(
        f"SELECT project, count() FROM {store.db}.{table} GROUP BY project"
    ).result_rows
    return {str(p): int(n) for p, n in rows}


def trace_ids(store: TraceStore, table: str, project: str) -> set[str]:
    rows = store.client.query(
        f"SELECT DISTINCT trace_id FROM {store.db}.{table} WHERE project = {{p:String}}",
        parameters={"p": project},
    ).result_rows
    return {str(r[0]) for r in rows}


def orphan_summaries(store: TraceStore) -> int:
    """Summary rows whose trace has no span left."""
    rows = store.client.query(
        f"SELECT count() FROM {store.db}.traces WHERE (project, trace_id) NOT IN "
        f"(SELECT project, trace_id FROM {store.db}.spans)"
    ).result_rows
    return int(rows[0][0])


@pytest.fixture
def seeded(store: TraceStore) -> dict[str, dict[float, str]]:
    """Projects a, b, c with traces 10, 45, 100 and 400 days old (a and c share the month of
    100 days ago alone; b also writes 45 days ago, so that month is shared)."""
    ages = {"a": [10, 45, 100], "b": [10, 45, 400], "c": [45, 100]}
    out: dict[str, dict[float, str]] = {}
    for project, project_ages in ages.items():
        specs = {age: days_ago(age) for age in project_ages}
        store_traces(store, list(specs.values()), project)
        out[project] = {age: spec.trace_id.hex() for age, spec in specs.items()}
    return out


def test_a_projects_old_traces_go_while_other_projects_keep_theirs(
    store: TraceStore, seeded: dict[str, dict[float, str]]
) -> None:
    report = sweep(store.client, store.db, {"a": 30, "c": 90}, None, NOW)
    assert trace_ids(store, "spans", "a") == {seeded["a"][10]}
    assert trace_ids(store, "spans", "b") == set(seeded["b"].values())  # no retention: all kept
    assert trace_ids(store, "spans", "c") == {seeded["c"][45]}
    for project in "abc":  # the summaries follow their spans
        assert trace_ids(store, "traces", project) == trace_ids(store, "spans", project)
    assert orphan_summaries(store) == 0
    # The month of 100 days ago held only expired rows (a's and c's): dropped whole. The month
    # of 45 days ago also holds b's trace: a's rows there went by a lightweight DELETE.
    by_table = {t.table: t for t in report.tables}
    assert [t.table for t in report.tables] == ["traces", "spans"]  # summaries first
    assert by_table["spans"].dropped_partitions == [month_of(100)]
    assert by_table["spans"].dropped_rows == 2 * 3  # a's and c's traces of 3 spans
    assert by_table["spans"].deleted_rows == 3  # a's trace of 45 days ago
    assert by_table["traces"].dropped_partitions == [month_of(100)]
    assert by_table["traces"].deleted_rows == 1


@pytest.mark.usefixtures("seeded")
def test_a_second_sweep_finds_nothing(store: TraceStore) -> None:
    sweep(store.client, store.db, {"a": 30}, None, NOW)
    again = sweep(store.client, store.db, {"a": 30}, None, NOW)
    assert all(
        not t.dropped_partitions and t.deleted_rows == 0 and t.dropped_rows == 0
        for t in again.tables
    )


def test_changing_retention_takes_effect_on_the_next_sweep(
    store: TraceStore, seeded: dict[str, dict[float, str]]
) -> None:
    sweep(store.client, store.db, {"a": 60}, None, NOW)
    assert trace_ids(store, "spans", "a") == {seeded["a"][10], seeded["a"][45]}
    sweep(store.client, store.db, {"a": 30}, None, NOW)
    assert trace_ids(store, "spans", "a") == {seeded["a"][10]}
    assert trace_ids(store, "traces", "a") == {seeded["a"][10]}


def test_server_wide_retention_covers_projects_without_their_own_and_caps_the_rest(
    store: TraceStore, seeded: dict[str, dict[float, str]]
) -> None:
    # b has no setting: the server-wide 60 days apply. a asks for 90, capped at 60.
    sweep(store.client, store.db, {"a": 90, "c": 30}, 60, NOW)
    assert trace_ids(store, "spans", "a") == {seeded["a"][10], seeded["a"][45]}
    assert trace_ids(store, "spans", "b") == {seeded["b"][10], seeded["b"][45]}
    assert trace_ids(store, "spans", "c") == set()
    assert counts(store, "traces") == {"a": 2, "b": 2}
    assert orphan_summaries(store) == 0


def test_server_wide_retention_alone_applies_to_every_project(
    store: TraceStore, seeded: dict[str, dict[float, str]]
) -> None:
    sweep(store.client, store.db, {}, 60, NOW)
    assert trace_ids(store, "spans", "b") == {seeded["b"][10], seeded["b"][45]}
    assert counts(store, "traces") == {"a": 2, "b": 2, "c": 1}
    assert orphan_summaries(store) == 0


def test_the_current_month_is_never_dropped_whole(store: TraceStore) -> None:
    spec = days_ago(0.5)
    store_traces(store, [spec], "a")
    report = sweep(store.client, store.db, {"a": 1}, None, NOW + timedelta(days=2))
    spans = next(t for t in report.tables if t.table == "spans")
    if (NOW + timedelta(days=2)).strftime("%Y%m") == NOW.strftime("%Y%m"):
        assert spans.dropped_partitions == [] and spans.deleted_rows == 3
    assert counts(store, "spans") == {} and counts(store, "traces") == {}


@pytest.mark.usefixtures("seeded")
def test_nothing_configured_touches_nothing(store: TraceStore) -> None:
    report = sweep(store.client, store.db, {}, None, NOW)
    assert report.tables == []
    assert sum(counts(store, "spans").values()) == 3 * 8


def test_cutoffs_cap_project_days_at_the_server_wide_retention() -> None:
    c = cutoffs(NOW, {"a": 90, "b": 7}, 30)
    day = 86_400 * 10**9
    assert c.fallback is not None and c.projects["b"] - c.fallback == 23 * day
    assert c.projects["a"] == c.fallback
    assert cutoffs(NOW, {}, None).empty


def test_settings_are_set_changed_and_cleared(chdb_client: Client, schema: SchemaOptions) -> None:
    settings = RetentionSettings(chdb_client, schema.database)
    assert settings.all() == {}
    settings.set("a", 30, "admin")
    settings.set("b/with slash", 7, "admin")
    settings.set("a", 14, "ana")
    got = settings.all()
    assert {p: r.days for p, r in got.items()} == {"a": 14, "b/with slash": 7}
    assert got["a"].updated_by == "ana"
    assert settings.clear("a", "admin") is True
    assert settings.clear("a", "admin") is False
    assert settings.get("a") is None and settings.get("b/with slash") is not None


@pytest.mark.parametrize(
    ("days", "ceiling", "message"),
    [
        (0, None, "between 1 and"),
        (-5, None, "between 1 and"),
        (MAX_RETENTION_DAYS + 1, None, "between 1 and"),
        (10**12, None, "between 1 and"),
        (True, None, "whole number"),
        (45, 30, "exceeds the server's --retention-days 30"),
    ],
)
def test_bad_retention_days_are_refused(days: int, ceiling: int | None, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        check_days(days, ceiling)


def test_the_worker_sweeps_with_stored_settings_and_counts_for_metrics(
    store: TraceStore, seeded: dict[str, dict[float, str]]
) -> None:
    metrics = ServerMetrics()
    worker = RetentionWorker(store.client, store.db, None, metrics.retention)
    worker.settings.set("a", 30, "admin")
    worker.settings.set("c", 30, "admin")
    report = worker.run()
    assert worker.last is report
    assert trace_ids(store, "spans", "a") == {seeded["a"][10]}
    assert trace_ids(store, "spans", "c") == set()
    text = "\n".join(metrics.retention.lines())
    assert "spyglass_retention_runs_total 1" in text
    assert 'spyglass_retention_rows_removed_total{table="spans",how="partition"} 6' in text
    assert 'spyglass_retention_rows_removed_total{table="spans",how="delete"} 6' in text
    assert 'spyglass_retention_partitions_dropped_total{table="traces"} 1' in text


def test_a_store_at_version_5_gains_the_retention_table(chdb_client: Client) -> None:
    options = SchemaOptions(database="t_retention_upgrade")
    migrate(chdb_client, options)
    chdb_client.command("DROP TABLE t_retention_upgrade.project_retention")
    chdb_client.command(
        "ALTER TABLE t_retention_upgrade.schema_migrations DELETE WHERE version = 6",
        settings={"mutations_sync": 2},
    )
    assert migrate(chdb_client, options) == [6]
    RetentionSettings(chdb_client, "t_retention_upgrade").set("a", 3, "admin")


def test_the_embedded_store_keeps_no_system_log_tables(chdb_client: Client) -> None:
    # A ClickHouse server needs deploy/clickhouse/system-logs.xml to cap its *_log tables;
    # chDB's built-in configuration defines none, so there is nothing to cap (checked here so a
    # chDB upgrade that turns them on is noticed).
    rows = chdb_client.query(
        "SELECT name FROM system.tables WHERE database = 'system' AND name LIKE '%\\_log' "
        "AND engine LIKE '%MergeTree%'"
    ).result_rows
    assert rows == []


def test_the_shipped_clickhouse_config_caps_every_default_system_log() -> None:
    # The *_log tables ClickHouse 25.x/26.x's default config.xml writes to disk.
    default_logs = {
        "query_log", "query_thread_log", "query_views_log", "part_log", "trace_log",
        "metric_log", "latency_log", "error_log", "query_metric_log", "asynchronous_metric_log",
        "asynchronous_insert_log", "text_log", "processors_profile_log", "backup_log",
        "s3queue_log", "blob_storage_log", "opentelemetry_span_log",
    }  # fmt: skip
    root = ElementTree.parse(Path(__file__).parents[1] / "deploy/clickhouse/system-logs.xml")
    capped = {
        e.tag
        for e in root.getroot()
        if e.get("remove") == "1" or "DAY DELETE" in (e.findtext("ttl") or "")
    }
    assert default_logs <= capped


def test_retention_routes_need_the_admin_role() -> None:
    for method in ("GET", "PUT", "DELETE", "POST"):
        assert required_role(method, "/api/retention") is Role.ADMIN
        assert required_role(method, "/api/retention/projects/a") is Role.ADMIN
    assert required_role("GET", "/api/retentions") is Role.READ
