"""A write-ahead log of framed OTLP bodies: acknowledge once on disk, insert in big batches.

Receivers `submit` a framed body (a varint length, then the message); one appender thread
writes whatever is queued to the open segment file and fsyncs it once for the group, so an
acknowledged span survives ``kill -9``. Under load the futures resolve right after the fsync;
when fewer than ``sync_ack_spans`` spans are waiting they resolve only once the segment is
inserted, so at low load an acknowledgement also means "queryable" (read-your-writes for
scripts and tests) at no cost to throughput. A segment is sealed when it holds ``seal_spans``
spans, its first body is ``seal_seconds`` old and an inserter is free (so under load segments
grow and the per-INSERT cost is paid less often), or someone waits for it; inserter threads
hand sealed segments to ``insert`` (one INSERT per segment: the per-statement cost is paid per
50k spans instead of per request) and delete them once stored. Leftover segments are replayed
on start; ``insert`` must be idempotent (the store drops spans it already holds), so a segment
inserted just before a crash is not duplicated.

Bounded: when ``max_pending_spans`` are on disk but not yet inserted, `submit` refuses
(`QueueFullError`) and the receiver answers 503 with Retry-After.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from spyglass.collector.pipeline import PipelineClosedError, PipelineStats, QueueFullError

log = logging.getLogger(__name__)

DEFAULT_SEAL_SPANS = 50_000
# Under load a segment waits this long for more spans before a free inserter takes it: each
# INSERT's fixed cost (~0.2 s of CPU) is then shared by more spans. At 50k spans/s offered for 60 s,
# 0.6 s gave INSERTs of ~32k spans and 33.0 µs of server CPU per span (4 runs) against ~23k
# spans and 38.0 µs with 0.2 s, at the same lag. A light load seals at once (see `waiting`).
DEFAULT_SEAL_SECONDS = 0.6
# Under saturation the log stays about this full, so "queryable" trails "acknowledged" by about
# this many spans over the store rate: 1.7-2.1 s at 60-48k spans/s on two cores. A 75k bound
# cut the worst lag to ~1.8 s but made INSERTs smaller and ingest ~9% slower.
DEFAULT_MAX_PENDING_SPANS = 100_000
DEFAULT_INSERTERS = 2
DEFAULT_SYNC_ACK_SPANS = 5_000
OPEN_SUFFIX = ".open"
SEALED_SUFFIX = ".wal"
FAILED_DIR = "failed"
# A sealed segment that keeps failing is moved aside after this many attempts (kept on disk,
# logged), so one poisoned file cannot stop every later insert.
MAX_ATTEMPTS = 5
RETRY_SECONDS = 1.0


@dataclass
class Segment:
    """One sealed file of framed bodies and what the inserter needs to know about it."""

    path: Path
    spans: int = 0
    trace_ids: set[str] = field(default_factory=set)
    # Earliest and latest span start (ns) in the segment; (0, 0) when empty.
    window: tuple[int, int] = (0, 0)
    # Whether a span may be in the segment twice: a body repeats a span id, or two bodies
    # hold spans of one trace (a retried export, or a trace exported in parts).
    repeats: bool = False
    # The earliest span start (ns) of each trace, when the bodies said (`BodyInfo`).
    trace_starts: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    # Acknowledgements held until the insert (low load).
    waiting: list[Future[None]] = field(default_factory=list)
    # Per group written: when its spans were acknowledged (None: at the insert) and how many,
    # for the store lag (`on_stored`). Empty for segments replayed on start.
    acks: list[tuple[float | None, int]] = field(default_factory=list)


InsertFn = Callable[[Segment], None]
# Called once a segment is stored, per group: (seconds from acknowledgement, spans).
StoredFn = Callable[[float, int], None]


@dataclass(frozen=True)
class BodyInfo:
    """What the log keeps in memory about one framed body."""

    spans: int
    trace_ids: frozenset[str]
    window: tuple[int, int]
    repeats: bool = True  # a span id repeats within the body (unknown: True)
    trace_starts: Mapping[str, int] = field(default_factory=dict)  # earliest start per trace


# The `BodyInfo` of one framed body's message, for segments found on disk at start.
ScanFn = Callable[[bytes], BodyInfo]


def merge_windows(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """The start window covering both (``(0, 0)`` is empty)."""
    if a == (0, 0):
        return b
    if b == (0, 0):
        return a
    return min(a[0], b[0]), max(a[1], b[1])


def _add(segment: Segment, info: BodyInfo) -> None:
    segment.spans += info.spans
    if info.repeats or not segment.trace_ids.isdisjoint(info.trace_ids):
        segment.repeats = True
    segment.trace_ids |= info.trace_ids
    segment.window = merge_windows(segment.window, info.window)
    starts = segment.trace_starts
    for trace_id, start in info.trace_starts.items():
        known = starts.get(trace_id)
        if known is None or start < known:
            starts[trace_id] = start


def varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def frames(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each complete message in ``data``; stops at a torn tail."""
    pos, size = 0, len(data)
    while pos < size:
        length, shift, p = 0, 0, pos
        while True:
            if p >= size or shift > 63:
                return
            byte = data[p]
            p += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if p + length > size:
            return
        yield p, p + length
        pos = p + length


@dataclass
class _Pending:
    framed: bytes
    info: BodyInfo
    done: Future[None]


class WriteAheadLog:
    """Durable, batching front of a store writer. Thread-safe; `submit` never blocks."""

    def __init__(
        self,
        directory: Path,
        insert: InsertFn,
        scan: ScanFn,
        *,
        inserters: int = DEFAULT_INSERTERS,
        seal_spans: int = DEFAULT_SEAL_SPANS,
        seal_seconds: float = DEFAULT_SEAL_SECONDS,
        max_pending_spans: int = DEFAULT_MAX_PENDING_SPANS,
        sync_ack_spans: int = DEFAULT_SYNC_ACK_SPANS,
        on_insert: Callable[[float], None] | None = None,
        on_stored: StoredFn | None = None,
    ) -> None:
        self.directory = directory
        self._insert = insert
        self._scan = scan
        self._inserters = inserters
        self._seal_spans = seal_spans
        self._seal_seconds = seal_seconds
        self._max_pending = max_pending_spans
        self._sync_ack_spans = sync_ack_spans
        self._on_insert = on_insert
        self._on_stored = on_stored
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # inserters wait on it
        # The appender waits on its own condition (same lock), so idle inserters wake only it.
        self._wake_appender = threading.Condition(lock)
        self._incoming: deque[_Pending] = deque()
        self._sealed: deque[Segment] = deque()
        self._in_flight: list[Segment] = []
        self._idle_inserters = 0
        self._closed = False
        self._appender_done = False
        self._threads: list[threading.Thread] = []
        self._sequence = 0
        self.stats = PipelineStats()

    # -- receiving ---------------------------------------------------------------------------

    def submit(self, framed: bytes, info: BodyInfo) -> Future[None]:
        """Queue one framed body; the future resolves once it is fsynced to the log.

        Raises:
            QueueFullError: too many spans are waiting for the store; nothing was queued.
            PipelineClosedError: shutdown has begun.
        """
        done: Future[None] = Future()
        spans = info.spans
        if spans == 0:
            done.set_result(None)
            return done
        with self._cond:
            if self._closed:
                raise PipelineClosedError("the server is shutting down")
            queued = self.stats.queued_spans
            if queued and queued + spans > self._max_pending:
                self.stats.refused_spans += spans
                self.stats.full = True
                raise QueueFullError(f"write queue is full ({queued} spans)")
            self._incoming.append(_Pending(framed, info, done))
            self.stats.queued_spans += spans
            self._wake_appender.notify()
        return done

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Store the segments a previous process left behind, then start the threads.

        The replay runs before `start` returns, so a restarted server answers queries with
        everything it acknowledged before; a segment the store refuses is left to the retries.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.directory.iterdir()):
            if path.suffix in (OPEN_SUFFIX, SEALED_SUFFIX):
                self._recover(path)
        for segment in list(self._sealed):
            try:
                self._insert(segment)
            except Exception:
                log.exception("replaying %s failed; retrying in the background", segment.path)
                continue
            self._sealed.remove(segment)
            self._stored(segment, 0.0)
        self._threads = [threading.Thread(target=self._append_loop, name="spyglass-wal")]
        self._threads += [
            threading.Thread(target=self._insert_loop, name=f"spyglass-inserter-{i}")
            for i in range(self._inserters)
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop accepting, insert what is on disk (what is left is replayed on next start)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            self._wake_appender.notify()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _recover(self, path: Path) -> None:
        data = path.read_bytes()
        segment = Segment(path.with_suffix(SEALED_SUFFIX))
        end = 0
        for start, stop in frames(data):
            _add(segment, self._scan(data[start:stop]))
            end = stop
        if end < len(data):
            # A torn tail was never fsynced, so never acknowledged: drop it.
            log.warning("dropping %d unacknowledged bytes at the end of %s", len(data) - end, path)
            with path.open("r+b") as f:
                f.truncate(end)
        path.rename(segment.path)
        self._sequence = max(self._sequence, _sequence_of(path))
        if segment.spans == 0:
            segment.path.unlink()
            return
        log.info("replaying %d spans from %s", segment.spans, segment.path.name)
        self._sealed.append(segment)
        self.stats.queued_spans += segment.spans

    # -- the appender: group commit ----------------------------------------------------------

    def _append_loop(self) -> None:
        current: Segment | None = None
        handle: BinaryIO | None = None
        opened_at = 0.0
        while True:
            with self._cond:
                while not self._incoming and not self._closed:
                    if current is None:
                        self._wake_appender.wait()
                        continue
                    left = opened_at + self._seal_seconds - time.monotonic()
                    if left <= 0 and self._idle_inserters:
                        break
                    # Past its age, a segment waits for a free inserter (which notifies).
                    self._wake_appender.wait(left if left > 0 else None)
                group = list(self._incoming)
                self._incoming.clear()
                closing = self._closed
                idle = self._idle_inserters > 0
            if group:
                try:
                    if current is None:
                        current, handle = self._open_segment()
                        opened_at = time.monotonic()
                    assert handle is not None
                    self._write_group(handle, current, group)
                except OSError as exc:  # e.g. a full disk: refuse this group, keep running
                    log.exception("writing the write-ahead log failed")
                    self._refuse(group, exc)
                    if handle is not None:
                        closing_segment = current
                        handle.close()
                        current, handle = None, None
                        if closing_segment is not None and closing_segment.spans:
                            self._seal(closing_segment)
                        elif closing_segment is not None:
                            closing_segment.path.unlink(missing_ok=True)
                    continue
            if current is not None and (
                closing
                or current.waiting
                or current.spans >= self._seal_spans
                or (idle and time.monotonic() - opened_at >= self._seal_seconds)
            ):
                assert handle is not None
                handle.close()
                self._seal(current)
                current, handle = None, None
            if closing and not group:
                with self._cond:
                    self._appender_done = True
                    self._cond.notify_all()
                return

    def _open_segment(self) -> tuple[Segment, BinaryIO]:
        self._sequence += 1
        path = self.directory / f"{self._sequence:012d}{OPEN_SUFFIX}"
        handle = path.open("ab")
        # The new name must survive an OS crash too, not only the bytes fsynced into it.
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return Segment(path), handle

    def _write_group(self, handle: BinaryIO, segment: Segment, group: list[_Pending]) -> None:
        size = handle.tell()
        try:
            handle.write(b"".join(p.framed for p in group))
            handle.flush()
            os.fsync(handle.fileno())
        except OSError:
            # Cut a partial write off, so the frames of the segment stay aligned.
            handle.truncate(size)
            raise
        with self._cond:
            busy = self.stats.queued_spans > self._sync_ack_spans
        for pending in group:
            _add(segment, pending.info)
            if busy:
                pending.done.set_result(None)
            else:
                segment.waiting.append(pending.done)
        segment.acks.append((time.monotonic() if busy else None, sum(p.info.spans for p in group)))

    def _refuse(self, group: list[_Pending], exc: OSError) -> None:
        with self._cond:
            self.stats.queued_spans -= sum(p.info.spans for p in group)
            self.stats.full = False
            self.stats.failed_spans += sum(p.info.spans for p in group)
        for pending in group:
            pending.done.set_exception(exc)

    def _seal(self, segment: Segment) -> None:
        sealed = segment.path.with_suffix(SEALED_SUFFIX)
        segment.path.rename(sealed)
        segment.path = sealed
        with self._cond:
            self._sealed.append(segment)
            self._cond.notify_all()

    # -- inserters ---------------------------------------------------------------------------

    def _next_segment(self) -> Segment | None:
        """A sealed segment sharing no trace with one being inserted (so dedup holds)."""
        with self._cond:
            while True:
                busy = set().union(*(s.trace_ids for s in self._in_flight))
                for segment in self._sealed:
                    if busy.isdisjoint(segment.trace_ids):
                        self._sealed.remove(segment)
                        self._in_flight.append(segment)
                        return segment
                if self._appender_done and not self._sealed:
                    return None
                self._idle_inserters += 1
                self._wake_appender.notify()  # it may seal an aged segment for us
                self._cond.wait(1.0 if self._closed else None)
                self._idle_inserters -= 1

    def _insert_loop(self) -> None:
        while (segment := self._next_segment()) is not None:
            started = time.perf_counter()
            try:
                self._insert(segment)
            except Exception:
                segment.attempts += 1
                log.exception("inserting %s failed (attempt %d)", segment.path, segment.attempts)
                _acknowledge(segment)  # durable in the log, which retries it
                now = time.monotonic()
                segment.acks = [(now if at is None else at, n) for at, n in segment.acks]
                self._retry_or_park(segment)
                continue
            with self._cond:
                self._in_flight.remove(segment)
            self._stored(segment, time.perf_counter() - started)

    def _stored(self, segment: Segment, seconds: float) -> None:
        # Metrics first: an acknowledged client that reads /metrics then sees its insert.
        if self._on_insert is not None and seconds:
            self._on_insert(seconds)
        if self._on_stored is not None:
            now = time.monotonic()
            for acked, spans in segment.acks:
                self._on_stored(0.0 if acked is None else now - acked, spans)
        _acknowledge(segment)
        segment.path.unlink(missing_ok=True)
        with self._cond:
            self.stats.queued_spans -= segment.spans
            self.stats.full = False
            self.stats.written_spans += segment.spans
            self.stats.written_batches += 1
            self.stats.last_insert_seconds = seconds
            self._cond.notify_all()

    def _retry_or_park(self, segment: Segment) -> None:
        with self._cond:
            self._in_flight.remove(segment)
            if self._closed:
                # Left on disk: the next start replays it.
                self.stats.queued_spans -= segment.spans
                self.stats.full = False
            elif segment.attempts < MAX_ATTEMPTS:
                self._sealed.append(segment)
            else:
                failed = self.directory / FAILED_DIR
                failed.mkdir(exist_ok=True)
                segment.path.rename(failed / segment.path.name)
                log.error("kept %s in %s after %d tries", segment.path.name, failed, MAX_ATTEMPTS)
                self.stats.queued_spans -= segment.spans
                self.stats.full = False
                self.stats.failed_spans += segment.spans
            self._cond.notify_all()
        time.sleep(RETRY_SECONDS)


def _acknowledge(segment: Segment) -> None:
    for done in segment.waiting:
        done.set_result(None)
    segment.waiting.clear()


def _sequence_of(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        return 0
