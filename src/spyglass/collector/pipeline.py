"""The write pipeline: a bounded queue of span batches and one writer thread.

Receivers `submit` a batch and wait on the returned future; the writer takes everything queued
(up to ``max_batch_spans``) and inserts it in one statement, so concurrent requests share an
insert (group commit). A future resolves only after its rows are in the store, which is what
lets the receiver acknowledge only durable data. When the queue holds ``max_queued_spans`` the
pipeline refuses new work instead of growing; the receiver answers 503 with Retry-After.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from spyglass.collector.rows import SpanBatch

log = logging.getLogger(__name__)

DEFAULT_MAX_QUEUED_SPANS = 400_000
DEFAULT_MAX_BATCH_SPANS = 50_000

WriteFn = Callable[[SpanBatch], None]


class QueueFullError(Exception):
    """The pipeline is at capacity; retry later."""


class PipelineClosedError(Exception):
    """The pipeline is shutting down."""


@dataclass
class PipelineStats:
    queued_spans: int = 0
    # A body was refused and nothing was stored since: receivers refuse (503) without
    # decoding, so a saturated server spends no CPU parsing bodies it would refuse.
    full: bool = False
    written_spans: int = 0
    written_batches: int = 0
    failed_spans: int = 0
    refused_spans: int = 0
    last_insert_seconds: float = 0.0


class Pipeline:
    """Bounded, batching span writer. Thread-safe; `submit` never blocks."""

    def __init__(
        self,
        write: WriteFn,
        *,
        on_insert: Callable[[float], None] | None = None,
        on_stored: Callable[[float, int], None] | None = None,
        max_queued_spans: int = DEFAULT_MAX_QUEUED_SPANS,
        max_batch_spans: int = DEFAULT_MAX_BATCH_SPANS,
    ) -> None:
        self._write = write
        self._on_insert = on_insert
        # (seconds from acknowledgement until stored, spans): always 0 here, as submitters
        # hear back only after the insert.
        self._on_stored = on_stored
        self._max_queued = max_queued_spans
        self._max_batch = max_batch_spans
        self._queue: deque[tuple[SpanBatch, Future[None]]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.stats = PipelineStats()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="spyglass-writer", daemon=True)
            self._thread.start()

    def submit(self, batch: SpanBatch) -> Future[None]:
        """Queue ``batch``; the future resolves once it is stored (or fails).

        Raises:
            QueueFullError: the queue is full; nothing was queued.
            PipelineClosedError: shutdown has begun.
        """
        future: Future[None] = Future()
        if batch.count == 0:
            future.set_result(None)
            return future
        with self._cond:
            if self._closed:
                raise PipelineClosedError("the server is shutting down")
            if self.stats.queued_spans and self.stats.queued_spans + batch.count > self._max_queued:
                self.stats.refused_spans += batch.count
                self.stats.full = True
                raise QueueFullError(f"write queue is full ({self.stats.queued_spans} spans)")
            self._queue.append((batch, future))
            self.stats.queued_spans += batch.count
            self._cond.notify()
        return future

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop accepting, write everything queued, stop the thread. Safe to call twice."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _take(self) -> list[tuple[SpanBatch, Future[None]]] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            taken = [self._queue.popleft()]
            spans = taken[0][0].count
            while self._queue and spans + self._queue[0][0].count <= self._max_batch:
                item = self._queue.popleft()
                spans += item[0].count
                taken.append(item)
            return taken

    def _run(self) -> None:
        while (taken := self._take()) is not None:
            if len(taken) == 1:
                merged = taken[0][0]
            else:
                merged = SpanBatch()
                for batch, _ in taken:
                    merged.extend(batch)
            try:
                self._write_timed(merged)
                outcomes: list[tuple[Future[None], BaseException | None]] = [
                    (f, None) for _, f in taken
                ]
            except Exception as exc:
                # One bad request must not fail its neighbours: retry each alone.
                outcomes = (
                    [(f, exc) for _, f in taken] if len(taken) == 1 else self._one_by_one(taken)
                )
            with self._cond:
                self.stats.queued_spans -= merged.count
                self.stats.full = False
            for future, error in outcomes:
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    def _one_by_one(
        self, taken: list[tuple[SpanBatch, Future[None]]]
    ) -> list[tuple[Future[None], BaseException | None]]:
        outcomes: list[tuple[Future[None], BaseException | None]] = []
        for batch, future in taken:
            try:
                self._write_timed(batch)
                outcomes.append((future, None))
            except Exception as exc:
                outcomes.append((future, exc))
        return outcomes

    def _write_timed(self, batch: SpanBatch) -> None:
        started = time.perf_counter()
        try:
            self._write(batch)
        except Exception:
            self.stats.failed_spans += batch.count
            log.exception("inserting %d spans failed", batch.count)
            raise
        self.stats.last_insert_seconds = time.perf_counter() - started
        if self._on_insert is not None:
            self._on_insert(self.stats.last_insert_seconds)
        if self._on_stored is not None:
            self._on_stored(0.0, batch.count)
        self.stats.written_spans += batch.count
        self.stats.written_batches += 1
