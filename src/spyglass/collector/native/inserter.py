"""`NativeInserter`: one INSERT ... SELECT per batch file of framed OTLP bodies."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from spyglass.collector.native.deep import rewrite_file
from spyglass.collector.native.proto_schema import write_schema
from spyglass.collector.native.sql_canonical import ANY, GUARD_ERROR, Present
from spyglass.collector.native.sql_cost import price_parameters
from spyglass.collector.native.sql_fast_json import FALLBACK_ERROR
from spyglass.collector.native.sql_json import DEEP_ERROR
from spyglass.collector.native.statement import (
    SURVEY_MAX_NAMES,
    Encoder,
    insert_sql,
    stored_spans_sql,
    survey_sql,
)
from spyglass.collector.pricing import PriceTable

__all__ = ["NativeInserter"]

_GLOB = re.compile(r"[*?{}]")
# A guess of the names serves this many INSERTs; the next file is then surveyed afresh, so
# names (or array values) an app stopped sending stop costing analysis and work.
GUESS_INSERTS = 32
# Spans starting more than this before a batch's newest one are looked for among stored spans
# apart, by their traces alone (`statement.stored_spans_sql`): a long agent run's root span
# then costs a lookup of its trace instead of a read of every part stored since it started.
RECENT_SPAN_NS = 10_000_000_000


@dataclass(frozen=True)
class _Batch:
    """One INSERT's file, its trace-id file and start bounds, and what it holds (found by
    `survey_sql`, or guessed from earlier files)."""

    path: Path
    ids: Path
    bounds: dict[str, int]
    present: Present
    repeats: bool
    old_ids: Path | None = None  # traces starting before ``bounds["core_start"]``


class NativeInserter:
    """Stores the spans of a batch file through ClickHouse's own Protobuf reader.

    Rows equal what the Python path (`rows.build_batch` + `TraceStore.insert_spans`) stores
    for the same spans, except that input/output derived from messages are kept as source
    text with ``raw_io = 1`` (see `sql_canonical`; `rebuild_io` gives the canonical text).

    Each INSERT is specialised to what its file holds (`sql_canonical.Present`). A survey
    query finds that (~2.5 µs/span, a second read of the file); its names then serve as the
    guess for the next files (up to `GUESS_INSERTS`), which are inserted without a survey: the
    INSERT itself fails on a name outside the guess (`sql_canonical.GUARD_ERROR`) or an array
    or kvlist value the guess said none had (`FALLBACK_ERROR`), and the file is then surveyed
    and inserted again, skipping spans stored before the failure.

    Embedded store (chDB) only: ClickHouse reads the file itself, so the path must be on the
    engine's machine, and must not hold glob characters (``*?{}``), which ``file()`` expands.

    Thread-safe, but a clickhouse-connect client runs one call at a time: to insert from two
    threads in parallel (chDB releases the GIL), give each thread its own inserter with its
    own client (``connect()`` again on the same chdb URL). Two concurrent inserts must not
    hold the same spans: the dedup only sees committed rows.
    """

    def __init__(
        self,
        client: Client,
        database: str,
        prices: PriceTable,
        schema_dir: str | Path,
        *,
        fast: bool = True,
    ) -> None:
        """``fast=False`` skips the common-case encoder (`sql_fast_json`); for tests."""
        self._client = client
        self._fast = fast
        self.fallbacks = 0  # files the fast encoder handed to the general one
        self._database = database
        self._format_schema = write_schema(schema_dir)
        self._schema_dir = Path(schema_dir).resolve()
        self._prices = price_parameters(prices)
        self._sql: dict[tuple[str, str, str, bool, Encoder, Present, bool], str] = {}
        self._lock = threading.Lock()
        # The names of recently surveyed files: later files are inserted with a statement
        # specialised to them, without a survey, and checked by the INSERT (`_learn`).
        self._guess: Present | None = None
        self._guess_uses = 0
        self.misses = 0  # files whose guess left a name out (surveyed and inserted again)

    def insert(self, path: Path, trace_ids: Collection[str], window: tuple[int, int]) -> int:
        """Insert every valid span of the framed bodies in ``path``; return the rows inserted.

        Args:
            path: a file of `PreparedBody.framed` bodies, one after the other.
            trace_ids: hex trace ids of the file's spans (the union of the bodies'
                `PreparedBody.trace_ids`). Spans of these traces already stored are not
                inserted again, nor are repeats within the file (the first one is kept), so
                replaying a file after a crash stores nothing twice.
            window: the earliest and latest span start (ns) in the file (the bodies'
                `PreparedBody.window`); stored spans are looked for only within it.

        Returns:
            Rows added to ``spans`` (exact unless another insert of the same traces runs
            at the same time).

        Raises:
            clickhouse_connect.driver.exceptions.DatabaseError: ClickHouse could not read a
                body (the caller isolates bad bodies). Rows of earlier blocks may be stored;
                a replay of the file completes it without duplicates.

        Example:
            >>> inserter.insert(Path("/data/spool/batch-000042.bin"), trace_ids, window)
            50000
        """
        before = self.store(path, trace_ids, window)
        return 0 if before is None else self._count(self._ids_file(), self._bounds(window)) - before

    def store(
        self,
        path: Path,
        trace_ids: Collection[str],
        window: tuple[int, int],
        repeats: bool = True,
        *,
        trace_starts: Mapping[str, int] | None = None,
    ) -> int | None:
        """`insert` without counting the rows added (one query less per file).

        ``repeats``: whether a span may be in the file twice (False only when that is known
        not to be so: `wal.Segment.repeats`). ``trace_starts``: the earliest start of each
        trace in the file (`PreparedBody.trace_starts`); stored spans starting more than
        `RECENT_SPAN_NS` before the newest are then looked for only in the traces that
        start there.

        Returns:
            How many spans of these traces were stored before (None when ``trace_ids`` is
            empty and nothing was done).
        """
        if not trace_ids:
            return None
        source = Path(path).resolve()
        if _GLOB.search(str(source)):
            raise ValueError(f"batch file path {source} holds a glob character (*?{{}})")
        ids = self._ids_file()
        ids.write_text("\n".join(trace_ids) + "\n", encoding="ascii")
        bounds = self._bounds(window)
        old_ids = None
        core_start = window[1] - RECENT_SPAN_NS
        old = [t for t, start in (trace_starts or {}).items() if start < core_start]
        if old:
            old_ids = self._ids_file("old")
            old_ids.write_text("\n".join(old) + "\n", encoding="ascii")
            bounds["core_start"] = core_start
        before = self._count(ids, bounds, old_ids)
        fresh = before == 0
        guess = self._guess
        if self._fast and guess is not None and self._guess_uses < GUESS_INSERTS:
            self._guess_uses += 1
            try:
                batch = _Batch(source, ids, bounds, guess, repeats, old_ids)
                self._run(batch, fresh=fresh, encoder="fast")
                return before
            except Exception as exc:
                message = str(exc)
                known = GUARD_ERROR in message or FALLBACK_ERROR in message
                if not known and "protobuf" not in message.lower():
                    raise
                # A name (or an array or kvlist value) the guess left out, or a body
                # ClickHouse cannot read: the surveyed path below, as for any file; spans of
                # blocks stored before the failure are skipped.
                self.misses += 1
                fresh = False
        present, file_repeats = self.survey(source)
        self._learn(present)
        batch = _Batch(source, ids, bounds, present, file_repeats, old_ids)
        if not self._fast:
            self._general(batch, fresh=fresh)
            return before
        try:
            self._run(batch, fresh=fresh, encoder="fast")
        except Exception as exc:
            message = str(exc)
            if FALLBACK_ERROR not in message and "protobuf" not in message.lower():
                raise
            # A kvlist, nested array, repeated key or very long value (or a body ClickHouse
            # cannot read): the general encoder. Rows of blocks stored before the failure
            # are skipped by the stored-span check.
            self.fallbacks += 1
            self._general(batch, fresh=False)
        return before

    def _learn(self, present: Present) -> None:
        """Guess the next files' names from this survey (and, for a while, earlier ones)."""
        guess = self._guess
        if guess is None or self._guess_uses >= GUESS_INSERTS:
            guess, self._guess_uses = Present(frozenset(), nested=False, guessed=True), 0
        if present.names is None or guess.names is None:
            self._guess = None  # too many names to check: survey every file
            return
        names = guess.names | present.names
        if len(names) >= SURVEY_MAX_NAMES:
            self._guess = None
            return
        self._guess = Present(names, nested=guess.nested or present.nested, guessed=True)

    def survey(self, source: Path) -> tuple[Present, bool]:
        """What the file holds and whether a span repeats (`survey_sql`); when ClickHouse
        cannot read the file, nothing is assumed (the INSERT then reports the error)."""
        settings = {"format_schema": self._format_schema, "input_format_protobuf_oneof_presence": 1}
        try:
            rows = self._client.query(survey_sql(str(source)), settings=settings).result_rows
        except ClickHouseError:  # the INSERT of the same file reports what is wrong
            return ANY, True
        names, repeats, nested = rows[0]
        if len(names) >= SURVEY_MAX_NAMES:
            return Present(nested=bool(nested)), bool(repeats)
        return Present(frozenset(names), bool(nested)), bool(repeats)

    def _ids_file(self, kind: str = "all") -> Path:
        # Trace-id files per thread, rewritten for each insert.
        return self._schema_dir / f"trace-ids-{kind}-{os.getpid()}-{threading.get_ident()}.tsv"

    @staticmethod
    def _bounds(window: tuple[int, int]) -> dict[str, int]:
        return {"first_start": window[0], "last_start": window[1]}

    def _general(self, batch: _Batch, *, fresh: bool) -> None:
        try:
            self._run(batch, fresh=fresh, encoder="general")
        except Exception as exc:
            message = str(exc)
            if DEEP_ERROR not in message and "protobuf" not in message.lower():
                raise
            # Rare: a value nested deeper than the SQL reads, or a wire encoding ClickHouse
            # rejects. Re-run on a copy re-serialized by upb with such values pre-encoded.
            source = batch.path
            copy = source.with_name(f"{source.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                rewrite_file(source, copy)
                self._run(replace(batch, path=copy), fresh=False, encoder="pre_encoded")
            finally:
                copy.unlink(missing_ok=True)

    def _statement(self, batch: _Batch, stored: bool, encoder: Encoder) -> str:
        old_ids = str(batch.old_ids) if batch.old_ids else ""
        key = (
            str(batch.path),
            str(batch.ids),
            old_ids,
            stored,
            encoder,
            batch.present,
            batch.repeats,
        )
        with self._lock:
            sql = self._sql.get(key)
            if sql is None:
                if len(self._sql) > 64:  # paths are usually a few rotating spool names
                    self._sql.clear()
                sql = insert_sql(
                    self._database, str(batch.path), self._format_schema,
                    trace_ids_path=str(batch.ids), old_trace_ids_path=old_ids, stored=stored,
                    repeats=batch.repeats, encoder=encoder, present=batch.present,
                )  # fmt: skip
                self._sql[key] = sql
            return sql

    def _run(self, batch: _Batch, *, fresh: bool, encoder: Encoder) -> None:
        # ``fresh``: no span of these traces is stored, so the lookup of stored spans (a scan
        # of trace ids) is left out; replays and late spans of known traces keep it.
        sql = self._statement(batch, not fresh, encoder)
        parameters = {**self._prices, **batch.bounds} if not fresh else self._prices
        self._client.command(sql, parameters=parameters)

    def _count(self, ids: Path, bounds: dict[str, int], old_ids: Path | None = None) -> int:
        stored = stored_spans_sql(self._database, "1", str(ids), str(old_ids or ""))
        rows = self._client.query(f"SELECT count() FROM ({stored})", parameters=bounds).result_rows
        return int(rows[0][0])
