"""Loss-free span export: an unbounded-by-count (bounded-by-memory) queue, one worker thread,
OTLP/HTTP protobuf, and a disk spool for whatever cannot be delivered now.

`on_end` only appends to a deque, so the app never waits on the network. Lazy spans (see
`_lazy`) are queued the same way by `add_lazy` and built by the worker, before each batch,
so the app does not wait on building them either. The worker sends
batches; a batch the endpoint cannot take now (connection error, timeout, 408/429/5xx) goes to
the `Spool`, and while the endpoint is failing new batches go straight to the spool (no network
wait) until a backoff timer lets a retry through. When a send succeeds the spool is drained,
oldest first. 4xx answers other than those are permanent: the batch is dropped and counted
(a 413 is split in halves first). At shutdown the queue is flushed within a deadline, and what
is left is spooled, so a script that ran with no server loses nothing.
"""

from __future__ import annotations

import gzip
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import httpx
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from spyglass.tracer._guard import log_internal_error
from spyglass.tracer._spool import Spool

__all__ = ["Buildable", "ExportStats", "OtlpSender", "SendResult", "SpoolingSpanProcessor"]

log = logging.getLogger("spyglass.tracer")

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 8.0
SHUTDOWN_DEADLINE_S = 3.0
_RETRYABLE = frozenset({408, 429, 502, 503, 504})


class Buildable(Protocol):
    """A span recorded now and built later (`spyglass.tracer._lazy.LazySpan`)."""

    def materialize(self) -> None:
        """Build the OTel span and end it (which hands it to the span processors)."""
        ...


class SendResult(Enum):
    OK = "ok"
    RETRY = "retry"  # the endpoint cannot take it now
    TOO_LARGE = "too_large"
    REJECTED = "rejected"  # permanent


class OtlpSender:
    """POSTs OTLP protobuf bodies. Thread-confined to the worker (or a caller that owns it)."""

    def __init__(
        self, endpoint: str, headers: Mapping[str, str], timeout_s: float, use_gzip: bool = False
    ) -> None:
        self.endpoint = endpoint
        self._headers = {**headers, "content-type": "application/x-protobuf"}
        if use_gzip:
            self._headers["content-encoding"] = "gzip"
        self._gzip = use_gzip
        self._client = httpx.Client(timeout=timeout_s)

    def send(self, body: bytes, timeout_s: float | None = None) -> SendResult:
        """Deliver one body; never raises."""
        try:
            response = self._client.post(
                self.endpoint,
                content=gzip.compress(body, 1) if self._gzip else body,
                headers=self._headers,
                timeout=timeout_s if timeout_s is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError:
            return SendResult.RETRY
        status = response.status_code
        if status < 300:
            return SendResult.OK
        if status in _RETRYABLE or status >= 500:
            return SendResult.RETRY
        if status == 413:
            return SendResult.TOO_LARGE
        log.warning("spyglass export rejected with HTTP %d: %s", status, response.text[:200])
        return SendResult.REJECTED

    def close(self) -> None:
        self._client.close()


@dataclass
class ExportStats:
    """Counters (approximate under concurrency; for logs and tests)."""

    queued_spans: int = 0
    sent_spans: int = 0
    spooled_batches: int = 0
    unspooled_files: int = 0
    dropped_spans: int = 0
    build_errors: int = 0  # lazy spans that failed to build (exported as far as they got)


class SpoolingSpanProcessor(SpanProcessor):
    """Span processor with the guarantees in the module docstring."""

    def __init__(
        self,
        sender: OtlpSender,
        spool: Spool | None,
        *,
        max_queue_spans: int,
        max_batch_spans: int,
        schedule_delay_s: float,
    ) -> None:
        self._sender = sender
        self._spool = spool
        self._max_queue = max_queue_spans
        self._max_batch = max_batch_spans
        self._delay = schedule_delay_s
        self._queue: deque[ReadableSpan] = deque()
        self._lazies: deque[Buildable] = deque()
        self._wake = threading.Event()
        self._flushes: deque[threading.Event] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False  # shutting down: the worker's last round is under way
        self._stopped = False  # the last round is over: spans ending now are not exported
        self._deadline = float("inf")  # past it, batches go to the spool without a send
        self._down_until = 0.0
        self._backoff = BACKOFF_MIN_S
        self.stats = ExportStats()
        self._pid = os.getpid()

    # --- SpanProcessor --------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do at start."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue the span (O(1), no I/O, no lock); drop and count only past the memory bound."""
        if self._stopped:
            return
        self._enqueue(self._queue, span)

    def add_lazy(self, span: Buildable) -> None:
        """Queue a lazy span for the worker to build (O(1)); after shutdown, build it now."""
        if self._stopped:
            self._build(span)
            return
        self._enqueue(self._lazies, span)

    def _enqueue(self, queue: deque[Any], item: Any) -> None:
        if len(queue) >= self._max_queue:
            self.stats.dropped_spans += 1
            return
        queue.append(item)
        if self._thread is None or self._pid != os.getpid():
            self._start_worker()
        if len(queue) >= self._max_batch:
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait until everything queued so far is sent or spooled, or the timeout passes."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._flushes.append(done)
        self._wake.set()
        return done.wait(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Flush within `SHUTDOWN_DEADLINE_S`, spool the rest, stop the worker. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._deadline = time.monotonic() + SHUTDOWN_DEADLINE_S
        if self._thread is not None and self._thread.is_alive():
            self._wake.set()
            self._thread.join(SHUTDOWN_DEADLINE_S + 5.0)
        else:
            self._build_lazies()
            self._drain()
        self._stopped = True
        self._sender.close()

    # --- worker ---------------------------------------------------------------------------

    def _start_worker(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()  # after a fork the parent's thread does not exist here
            self._thread = threading.Thread(target=self._run, name="spyglass-export", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._delay)
            self._wake.clear()
            flushes = [self._flushes.popleft() for _ in range(len(self._flushes))]
            try:
                self._build_lazies()
                self._drain()
                if not self._closed:
                    self._retry_spool()
            except Exception:
                try:
                    log_internal_error()
                except Exception:
                    log.exception("spyglass export worker error")
            for done in flushes:
                done.set()
            if self._closed:
                self._build_lazies()
                self._drain()
                self._stopped = True
                return

    def _build(self, span: Buildable) -> None:
        try:
            span.materialize()
        except Exception:
            self.stats.build_errors += 1
            log.warning("spyglass: building a span failed (the app is unaffected)", exc_info=True)

    def _build_lazies(self) -> None:
        """Build the lazy spans queued so far; they land in the span queue (`on_end`)."""
        lazies = self._lazies
        for _ in range(len(lazies)):
            self._build(lazies.popleft())

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            batch = [queue.popleft() for _ in range(min(self._max_batch, len(queue)))]
            self._deliver(batch)

    def _deliver(self, spans: Sequence[ReadableSpan]) -> None:
        body = encode_spans(spans).SerializePartialToString()
        now = time.monotonic()
        if now >= self._deadline or now < self._down_until:
            self._to_spool(body, len(spans))
            return
        result = self._sender.send(body, self._timeout())
        if result is SendResult.OK:
            self.stats.sent_spans += len(spans)
            self._up()
        elif result is SendResult.RETRY:
            self._down()
            self._to_spool(body, len(spans))
        elif result is SendResult.TOO_LARGE and len(spans) > 1:
            half = len(spans) // 2
            self._deliver(spans[:half])
            self._deliver(spans[half:])
        else:
            self.stats.dropped_spans += len(spans)

    def _to_spool(self, body: bytes, count: int) -> None:
        if self._spool is None:
            self.stats.dropped_spans += count
            return
        try:
            self._spool.write(body)
            self.stats.spooled_batches += 1
        except OSError:
            self.stats.dropped_spans += count
            log.warning("spyglass: cannot write the spool; %d spans dropped", count, exc_info=True)

    def _retry_spool(self) -> None:
        if self._spool is None or time.monotonic() < self._down_until:
            return
        for path in self._spool.ready():
            if self._queue and len(self._queue) >= self._max_batch:
                return  # fresh spans first; come back on the next round
            claimed = self._spool.claim(path)
            if claimed is None:
                continue
            try:
                body = claimed.read_bytes()
            except OSError:
                continue
            result = self._sender.send(body, self._timeout())
            if result is SendResult.RETRY:
                self._spool.release(claimed)
                self._down()
                return
            if result is SendResult.OK:
                self.stats.unspooled_files += 1
                self._up()
            claimed.unlink(missing_ok=True)

    def _timeout(self) -> float | None:
        if self._deadline == float("inf"):
            return None
        return max(0.1, self._deadline - time.monotonic())

    def _up(self) -> None:
        self._down_until = 0.0
        self._backoff = BACKOFF_MIN_S

    def _down(self) -> None:
        self._down_until = time.monotonic() + self._backoff
        self._backoff = min(BACKOFF_MAX_S, self._backoff * 2)
