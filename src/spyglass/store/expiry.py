"""Delete traces past their project's retention: whole partitions where possible, else masks.

Why a sweep and not a table TTL. ClickHouse's TTL can carry ``WHERE project = ...`` clauses, but
every retention change would then be an ``ALTER TABLE ... MODIFY TTL`` (recomputing TTL over
every part, or leaving old parts unaware of the rule), rows only go at some later merge, and
``ttl_only_drop_parts = 1`` on spans and traces (kept for the server-wide ``--retention-days``)
disables partial-part row deletion altogether. Instead, each sweep:

1. counts, per monthly partition (``toYYYYMM(start_time)``), the rows past their project's cutoff
   (one indexed query per table, the cutoffs passed as arrays);
2. drops whole partitions in which every row is past its cutoff (``ALTER TABLE ... DROP
   PARTITION ID``: a metadata operation that unlinks the parts, ~20 ms on chDB). The current
   month is never dropped whole, since spans still arrive in it;
3. removes the remaining expired rows with one lightweight ``DELETE FROM ... WHERE`` per table.
   Measured on chDB 26.9 with 600k spans over three months (200k to delete): lightweight DELETE
   ~0.4-1.3 s, writing only a ``_row_exists`` mask for the parts it touches (rows are physically
   gone at their next merge); ``ALTER TABLE ... DELETE`` ~1.8 s, rewriting every column of those
   parts; one lightweight DELETE per partition ~1.0-1.6 s *each* (a fixed wait per statement), so
   it is one statement per table, and none when nothing expired.

Summaries go first: a trace summary's ``start_time`` is the earliest of its spans, so every
summary whose spans are all expired is itself expired, and a sweep interrupted between the two
tables leaves spans without a summary (hidden from lists, deleted next time), never a summary
without spans. Age is counted per span from its start, so a trace straddling the cutoff loses its
older spans (and summary) now and the rest when they expire.

On a cluster the statements run against the replica the server is connected to, without ``ON
CLUSTER``: replication carries drops and deletes to the other replicas of the shard. Sweeps from
several server replicas may overlap; each step is idempotent.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

log = logging.getLogger("spyglass.retention")

# Summaries before spans (see the module docstring).
TABLES = ("traces", "spans")
_NS_PER_DAY = 86_400 * 10**9
_PARTITION_ID = re.compile(r"^[0-9A-Za-z_-]+$")  # DROP PARTITION ID takes a literal, not a bind


@dataclass(frozen=True)
class Cutoffs:
    """Rows that started before their project's cutoff (ns since the epoch) are expired.

    Attributes:
        projects: cutoff per project with its own retention.
        fallback: cutoff for every other project (the server-wide retention), or None.
    """

    projects: Mapping[str, int]
    fallback: int | None

    @property
    def empty(self) -> bool:
        return not self.projects and self.fallback is None

    @property
    def latest(self) -> int:
        return max([*self.projects.values(), *([self.fallback] if self.fallback else [])])


def cutoffs(now: datetime, project_days: Mapping[str, int], default_days: int | None) -> Cutoffs:
    """Each project's cutoff: its own retention, never longer than the server-wide one."""
    now_ns = int(now.timestamp() * 1_000_000) * 1000

    def cut(days: int) -> int:
        return now_ns - days * _NS_PER_DAY

    projects = {
        p: cut(min(d, default_days) if default_days else d) for p, d in project_days.items()
    }
    return Cutoffs(projects, cut(default_days) if default_days else None)


@dataclass
class TableSweep:
    """What one sweep did to one table."""

    table: str
    dropped_partitions: list[str] = field(default_factory=list)
    dropped_rows: int = 0
    deleted_rows: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "dropped_partitions": self.dropped_partitions,
            "dropped_rows": self.dropped_rows,
            "deleted_rows": self.deleted_rows,
        }


@dataclass
class SweepReport:
    started_at: datetime
    seconds: float = 0.0
    tables: list[TableSweep] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat().replace("+00:00", "Z"),
            "seconds": round(self.seconds, 3),
            "tables": [t.to_json() for t in self.tables],
        }


def _expired_condition(c: Cutoffs) -> tuple[str, dict[str, Any]]:
    # The first comparison is constant, so ClickHouse prunes partitions and granules with it;
    # the second applies each row's own cutoff.
    names = sorted(c.projects)
    params: dict[str, Any] = {
        "latest": c.latest,
        "names": names,
        "cuts": [c.projects[n] for n in names],
        "fallback": c.fallback or 0,
    }
    sql = (
        "start_time < fromUnixTimestamp64Nano({latest:Int64}, 'UTC') AND start_time < "
        "fromUnixTimestamp64Nano(transform(toString(project), {names:Array(String)}, "
        "{cuts:Array(Int64)}, {fallback:Int64}), 'UTC')"
    )
    if c.fallback is None:
        sql += " AND project IN {names:Array(String)}"
    return sql, params


def _counts(client: Client, sql: str, params: dict[str, Any]) -> dict[str, int]:
    return {str(p): int(n) for p, n in client.query(sql, parameters=params).result_rows}


def _drop_partition(client: Client, table: str, partition: str) -> bool:
    settings: dict[str, Any] = {}
    if "max_partition_size_to_drop" in client.server_settings:  # else the server's 50 GB limit
        settings["max_partition_size_to_drop"] = 0
    try:
        client.command(f"ALTER TABLE {table} DROP PARTITION ID '{partition}'", settings=settings)
    except DatabaseError:  # e.g. over max_partition_size_to_drop: the DELETE covers it instead
        log.warning("could not drop partition %s of %s", partition, table, exc_info=True)
        return False
    return True


def _sweep_table(client: Client, table: str, c: Cutoffs, current_month: str) -> TableSweep:
    out = TableSweep(table.rsplit(".", 1)[-1])
    condition, params = _expired_condition(c)
    expired = _counts(
        client,
        f"SELECT _partition_id, count() FROM {table} WHERE {condition} GROUP BY _partition_id",
        params,
    )
    if not expired:
        return out
    totals = _counts(
        client,
        f"SELECT _partition_id, count() FROM {table} "
        "WHERE _partition_id IN {ids:Array(String)} GROUP BY _partition_id",
        {"ids": sorted(expired)},
    )
    for partition, count in sorted(expired.items()):
        whole = totals.get(partition, 0) == count
        if partition == current_month or not whole or not _PARTITION_ID.match(partition):
            continue
        if _drop_partition(client, table, partition):
            out.dropped_partitions.append(partition)
            out.dropped_rows += count
            del expired[partition]
    if expired:
        # Wait for this replica, so callers see the result (older servers: mutations_sync).
        sync = "lightweight_deletes_sync"
        if sync not in client.server_settings:
            sync = "mutations_sync"
        client.command(
            f"DELETE FROM {table} WHERE {condition}", parameters=params, settings={sync: 1}
        )
        out.deleted_rows = sum(expired.values())
    return out


def sweep(
    client: Client,
    database: str,
    project_days: Mapping[str, int],
    default_days: int | None,
    now: datetime | None = None,
) -> SweepReport:
    """Delete spans and trace summaries past their project's retention.

    Args:
        client: the store's client; the caller must not run two sweeps at once.
        database: the Spyglass database.
        project_days: retention in days per project that has its own.
        default_days: the server-wide retention, or None (other projects keep everything).
        now: the reference time (default: the current time).

    Returns:
        What was dropped and deleted, per table.
    """
    now = now or datetime.now(UTC)
    report = SweepReport(now)
    started = time.perf_counter()
    c = cutoffs(now, project_days, default_days)
    if not c.empty:
        month = now.astimezone(UTC).strftime("%Y%m")
        report.tables = [_sweep_table(client, f"{database}.{t}", c, month) for t in TABLES]
    report.seconds = time.perf_counter() - started
    return report
