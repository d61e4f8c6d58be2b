"""Per-project retention settings, kept in ClickHouse so every server replica sees the same ones.

A change is a new row in a small ReplacingMergeTree table (``days = 0`` clears a project's
setting); reads take each project's latest row. The sweep that enforces them is
`spyglass.store.expiry`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from spyglass.errors import BadRequestError

MAX_RETENTION_DAYS = 3650  # ten years; "keep forever" is no setting at all
MAX_PROJECT_CHARS = 200


def retention_statements(database: str, on_cluster: str, engine: Any) -> list[str]:
    """DDL for the settings table (``engine(family, table, args)`` from `SchemaOptions`)."""
    return [
        f"""
CREATE TABLE IF NOT EXISTS {database}.project_retention{on_cluster} (
    project String,
    days UInt32,
    updated_by String,
    updated_at DateTime64(6, 'UTC'),
    version UInt64
)
ENGINE = {engine("ReplacingMergeTree", "project_retention", "version")}
ORDER BY project
"""
    ]


@dataclass(frozen=True)
class ProjectRetention:
    """One project's setting: its traces older than ``days`` are deleted."""

    project: str
    days: int
    updated_by: str
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "days": self.days,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at.isoformat().replace("+00:00", "Z"),
        }


def check_days(days: int, ceiling: int | None = None) -> int:
    """Validate a retention in days against the limits and the server-wide ``ceiling``.

    Raises:
        BadRequestError: naming the accepted range.
    """
    if isinstance(days, bool) or not isinstance(days, int):
        raise BadRequestError("days must be a whole number")
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise BadRequestError(f"days must be between 1 and {MAX_RETENTION_DAYS}, not {days}")
    if ceiling is not None and days > ceiling:
        raise BadRequestError(
            f"days {days} exceeds the server's --retention-days {ceiling}, which already "
            "deletes every project's traces after that; use at most that"
        )
    return days


def check_project(project: str) -> str:
    if not project or len(project) > MAX_PROJECT_CHARS or any(ord(c) < 32 for c in project):
        raise BadRequestError(f"project must be 1-{MAX_PROJECT_CHARS} printable characters")
    return project


class RetentionSettings:
    """Read and change per-project retention."""

    def __init__(self, client: Client, database: str) -> None:
        self.client, self.db = client, database

    def all(self) -> dict[str, ProjectRetention]:
        """Every project with a retention set, by name."""
        rows = self.client.query(
            "SELECT project, argMax(days, version) AS d, argMax(updated_by, version), "
            f"argMax(updated_at, version) FROM {self.db}.project_retention GROUP BY project "
            "HAVING d > 0 ORDER BY project"
        ).result_rows
        return {
            str(p): ProjectRetention(str(p), int(d), str(by), at.replace(tzinfo=UTC))
            for p, d, by, at in rows
        }

    def get(self, project: str) -> ProjectRetention | None:
        return self.all().get(project)

    def set(self, project: str, days: int, by: str) -> ProjectRetention:
        """Set (or change) ``project``'s retention; the next sweep applies it."""
        check_project(project)
        now = datetime.now(UTC)
        self._write(project, days, by, now)
        return ProjectRetention(project, days, by, now)

    def clear(self, project: str, by: str) -> bool:
        """Remove ``project``'s setting (the server-wide one applies again); False if none."""
        if self.get(project) is None:
            return False
        self._write(project, 0, by, datetime.now(UTC))
        return True

    def _write(self, project: str, days: int, by: str, at: datetime) -> None:
        self.client.insert(
            f"{self.db}.project_retention",
            [[project, days, by, at, time.time_ns()]],
            column_names=["project", "days", "updated_by", "updated_at", "version"],
        )
