"""Batched, durable writes for tracking data: a write-ahead spool in front of ClickHouse.

An insert into ClickHouse costs ~10 ms whatever its size, so one insert per ``log_metric`` call
would cap a client at ~100 calls a second. Instead `TrackingWriter.append` writes the rows to an
append-only spool file (durable once the call returns: it survives a crash of the server process,
as an acknowledged ClickHouse insert does) and keeps them in memory; a background thread inserts
everything pending as one insert per table every ``interval`` seconds, then drops the spool
segments that the insert covered. Readers call `TrackingWriter.flush` first, so a process always
reads its own writes. On start, `TrackingWriter.replay` inserts whatever a previous process left
in the spool; every tracking table is keyed so a replayed row collapses onto the first copy.

Spool format: records of ``<u32 length><pickle of {table: [row, ...]}>``; a torn last record
(a crash mid-write) is ignored. The spool is this server's own file, never user input.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from spyglass.store.tracking_schema import TABLE_COLUMNS

log = logging.getLogger("spyglass.tracking.writer")

Rows = dict[str, list[tuple[Any, ...]]]
_HEADER = struct.Struct("<I")
_version_lock = threading.Lock()
_last_version = 0


def new_version() -> int:
    """A row version for last-write-wins: nanoseconds since the epoch, strictly increasing here."""
    global _last_version
    with _version_lock:
        _last_version = max(time.time_ns(), _last_version + 1)
        return _last_version


def now_ms() -> int:
    """Milliseconds since the epoch, MLflow's unit for every time."""
    return time.time_ns() // 1_000_000


class TrackingWriter:
    """Spool-then-batch writer over one clickhouse-connect client.

    Args:
        client: the store's client (shared; clickhouse-connect clients are thread-safe here).
        database: database of the tracking tables.
        spool_dir: directory for spool segments; one writer owns it.
        interval: seconds between background flushes.
    """

    def __init__(
        self, client: Client, database: str, spool_dir: Path, interval: float = 0.1
    ) -> None:
        self.client, self.database, self.interval = client, database, interval
        self.spool_dir = spool_dir
        spool_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # guards pending rows and the open segment
        self._flush_lock = threading.Lock()  # one insert round at a time
        self._pending: Rows = {}
        self._pending_segments: list[Path] = []
        self._seq = max((self._segment_seq(p) for p in self._segments()), default=0)
        self._segment, self._fd = self._open_segment()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- spool files -----------------------------------------------------------------------

    def _segments(self) -> list[Path]:
        return sorted(self.spool_dir.glob("wal-*.bin"), key=self._segment_seq)

    @staticmethod
    def _segment_seq(path: Path) -> int:
        return int(path.stem.split("-", 1)[1])

    def _open_segment(self) -> tuple[Path, int]:
        self._seq += 1
        path = self.spool_dir / f"wal-{self._seq:012d}.bin"
        return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    @staticmethod
    def read_segment(path: Path) -> Rows:
        """The rows in one spool segment, ignoring a torn last record."""
        data, rows, i = path.read_bytes(), Rows(), 0
        while i + _HEADER.size <= len(data):
            (size,) = _HEADER.unpack_from(data, i)
            if i + _HEADER.size + size > len(data):
                break
            record: Rows = pickle.loads(data[i + _HEADER.size : i + _HEADER.size + size])
            for table, table_rows in record.items():
                rows.setdefault(table, []).extend(table_rows)
            i += _HEADER.size + size
        return rows

    # -- writing ---------------------------------------------------------------------------

    def append(self, rows: Mapping[str, Sequence[tuple[Any, ...]]]) -> None:
        """Make rows durable (spooled) and schedule their insert. Rows follow `TABLE_COLUMNS`."""
        record = {table: list(r) for table, r in rows.items() if r}
        if not record:
            return
        for table, table_rows in record.items():
            width = len(TABLE_COLUMNS[table])
            if any(len(row) != width for row in table_rows):
                raise ValueError(f"rows for {table} must have {width} values")
        payload = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            os.write(self._fd, _HEADER.pack(len(payload)) + payload)
            for table, table_rows in record.items():
                self._pending.setdefault(table, []).extend(table_rows)

    def flush(self) -> None:
        """Insert everything appended before this call; return once it is readable."""
        with self._flush_lock:
            with self._lock:
                if not self._pending:
                    return
                rows, self._pending = self._pending, {}
                os.close(self._fd)
                segments = [*self._pending_segments, self._segment]
                self._pending_segments = []
                self._segment, self._fd = self._open_segment()
            try:
                self._insert(rows)
            except Exception:
                with self._lock:  # keep them for the next round (and in the spool)
                    for table, table_rows in rows.items():
                        self._pending.setdefault(table, [])[:0] = table_rows
                    self._pending_segments[:0] = segments
                raise
            for segment in segments:
                segment.unlink(missing_ok=True)

    def _insert(self, rows: Rows) -> None:
        for table, table_rows in rows.items():
            self.client.insert(
                f"{self.database}.{table}", table_rows, column_names=list(TABLE_COLUMNS[table])
            )

    def replay(self) -> int:
        """Insert rows a previous process spooled but may not have inserted; return the count."""
        with self._flush_lock:
            old = [p for p in self._segments() if p != self._segment]
            count = 0
            for path in old:
                rows = self.read_segment(path)
                self._insert(rows)
                count += sum(len(r) for r in rows.values())
                path.unlink()
            return count

    # -- background flushing ---------------------------------------------------------------

    def start(self) -> None:
        """Start the background flusher (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tracking-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the rows stay spooled and pending; try again next round
                log.exception("tracking insert failed; will retry")

    def close(self) -> None:
        """Stop the flusher and insert what is pending (rows stay spooled if that fails)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        try:
            self.flush()
        finally:
            with self._lock:
                os.close(self._fd)
                if self._segment.stat().st_size == 0:
                    self._segment.unlink(missing_ok=True)
