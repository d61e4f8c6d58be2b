"""The tracking store on chDB in-process: schema, search compilation, the write spool."""

from __future__ import annotations

from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from spyglass.store.schema import SchemaOptions, all_statements
from spyglass.store.tracking_experiments import ExperimentStore
from spyglass.store.tracking_run_reads import get_run, run_search_spec, search_runs
from spyglass.store.tracking_runs import RunStore
from spyglass.store.tracking_search import SearchError, compile_search, parse_order_by
from spyglass.store.tracking_writer import TrackingWriter
from spyglass.tracking.errors import MlflowError


@pytest.fixture
def stores(
    chdb_client: Client, schema: SchemaOptions, tmp_path: Path
) -> tuple[TrackingWriter, ExperimentStore, RunStore]:
    writer = TrackingWriter(chdb_client, schema.database, tmp_path / "spool")
    experiments = ExperimentStore(chdb_client, schema.database, writer)
    experiments.ensure_default()
    return writer, experiments, RunStore(chdb_client, schema.database, writer, experiments)


def test_cluster_ddl_uses_replicated_engines_and_on_cluster() -> None:
    statements = [s for s in all_statements(SchemaOptions(cluster="main")) if "runs" in s]
    assert statements and all(" ON CLUSTER main " in s for s in statements)
    assert any("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/spyglass/runs'" in s
               for s in statements)  # fmt: skip


def test_filters_compile_to_bound_sql_without_user_text() -> None:
    hostile = "x' OR 1=1 --"
    compiled = compile_search(
        f"params.`a b` = '{hostile.replace(chr(39), chr(39) * 2)}' and metrics.m > 1e3",
        run_search_spec("db"),
    )
    assert hostile not in compiled.sql and "a b" not in compiled.sql
    assert hostile in compiled.params.values() and "a b" in compiled.params.values()
    assert 1000.0 in compiled.params.values()


@pytest.mark.parametrize(
    "bad",
    ["metrics.x", "metrics.x = ", "(metrics.x > 1", "metrics.x > 1 and", "foo.x = 'a'",
     "params.x > 'a'", "metrics.x LIKE 'a'", "params.x IN ()", "params.x = 'a' metrics.y = 1",
     "params.x = 'unterminated", "attributes.secret = 'x'", "params.x = @"],
)  # fmt: skip
def test_malformed_filters_raise_search_errors(bad: str) -> None:
    with pytest.raises(SearchError):
        compile_search(bad, run_search_spec("db"))


def test_order_by_clauses_parse_with_backticks_and_directions() -> None:
    order = parse_order_by("metrics.`val loss` DESC")
    assert (order.kind, order.key, order.ascending) == ("metric", "val loss", False)
    assert parse_order_by("start_time").kind == "attribute"
    with pytest.raises(SearchError):
        parse_order_by("metrics.x sideways")


def test_a_changed_tag_is_only_found_by_its_latest_value(
    stores: tuple[TrackingWriter, ExperimentStore, RunStore],
) -> None:
    _, _, runs = stores
    run_id = runs.create("0")["info"]["run_id"]
    runs.log_batch(run_id, tags=[{"key": "team", "value": "a"}])
    runs.log_batch(run_id, tags=[{"key": "team", "value": "b"}])
    assert search_runs(runs, ["0"], "tags.team = 'a'")[0] == []
    assert [r["info"]["run_id"] for r in search_runs(runs, ["0"], "tags.team = 'b'")[0]] == [run_id]


def test_spooled_rows_are_replayed_once_by_the_next_writer(
    chdb_client: Client, schema: SchemaOptions, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    first = TrackingWriter(chdb_client, schema.database, spool)
    experiments = ExperimentStore(chdb_client, schema.database, first)
    experiments.ensure_default()
    first.flush()
    rows = [("run1", "m", step, 1000 + step, float(step)) for step in range(50)]
    first.append({"run_metrics": rows})  # spooled, not inserted: the process "dies" here
    second = TrackingWriter(chdb_client, schema.database, spool)
    assert second.replay() == 50
    assert second.replay() == 0
    count = chdb_client.query(
        f"SELECT count() FROM {schema.database}.run_metrics WHERE run_id = 'run1'"
    ).result_rows[0][0]
    assert count == 50


def test_a_torn_spool_record_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "wal-000000000001.bin"
    path.write_bytes(b"\x10\x00\x00\x00abc")
    assert TrackingWriter.read_segment(path) == {}


def test_deleted_runs_refuse_logging_and_missing_runs_are_not_found(
    stores: tuple[TrackingWriter, ExperimentStore, RunStore],
) -> None:
    _, _, runs = stores
    run_id = runs.create("0")["info"]["run_id"]
    runs.set_lifecycle(run_id, "deleted")
    with pytest.raises(MlflowError) as deleted:
        runs.log_batch(run_id, metrics=[{"key": "m", "value": 1.0}])
    assert deleted.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowError) as missing:
        get_run(runs, "nope")
    assert missing.value.status == 404
