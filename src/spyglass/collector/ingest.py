"""The two ways decoded OTLP requests reach the store, behind one interface.

- `NativeIngest` (the default on the embedded store): Python only validates and frames each
  body; the write-ahead log makes it durable before the acknowledgement, and ClickHouse parses
  the protobuf and normalizes the spans itself, up to 50k spans per INSERT
  (`spyglass.collector.native`). Message-bearing input/output are canonicalized when read.
- `PythonIngest`: `build_batch` (decode, normalize, price and redact in Python), acknowledged
  after the INSERT. Used with redaction rules (applied in Python before storage) and with a
  ClickHouse server, whose INSERT cannot read files on this machine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from clickhouse_connect.driver.client import Client
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spyglass.collector.native import NativeInserter, PreparedBody, prepare_body
from spyglass.collector.native.proto_schema import PROJECT_FIELD
from spyglass.collector.pipeline import Pipeline, PipelineStats
from spyglass.collector.pricing import PriceTable
from spyglass.collector.redaction import Redactor
from spyglass.collector.rows import SPAN_COLUMNS, SpanBatch, build_batch
from spyglass.collector.wal import BodyInfo, Segment, WriteAheadLog, frames
from spyglass.store.schema import SchemaOptions
from spyglass.store.traces import TraceStore

log = logging.getLogger(__name__)

# Segments up to this size are stored through the Python path: a native INSERT costs ~0.25 s
# to analyse whatever its size, which would cap a sequential exporter's small batches (acked
# after the insert at low load) at a few per second; larger ones amortize it.
PYTHON_INSERT_MAX_SPANS = 5_000


@dataclass
class Accepted:
    """What a receiver reports back: resolves once the accepted spans are durable."""

    done: Future[None]
    count: int
    rejected: int
    error_message: str


class Ingest(Protocol):
    stats: PipelineStats

    def accept(
        self, request: ExportTraceServiceRequest, raw: bytes | None, project: str | None
    ) -> Accepted:
        """Queue one export request (``raw``: its protobuf bytes when the client sent those).

        Raises:
            QueueFullError: over capacity; nothing was queued.
            PipelineClosedError: shutdown has begun.
        """

    def start(self) -> None: ...

    def shutdown(self, timeout: float = 30.0) -> None: ...


class PythonIngest:
    """`build_batch` + redaction + the batching `Pipeline` (ack after INSERT)."""

    def __init__(self, pipeline: Pipeline, prices: PriceTable, redactor: Redactor | None) -> None:
        self._pipeline = pipeline
        self._prices = prices
        self._redactor = redactor
        self.stats = pipeline.stats

    def accept(
        self,
        request: ExportTraceServiceRequest,
        raw: bytes | None,  # noqa: ARG002 (the interface's; this path re-reads the message)
        project: str | None,
    ) -> Accepted:
        batch = build_batch(request, self._prices, project)
        if self._redactor is not None:
            self._redactor.apply(batch)
        done = self._pipeline.submit(batch)
        return Accepted(done, batch.count, batch.rejected, batch.error_message)

    def start(self) -> None:
        self._pipeline.start()

    def shutdown(self, timeout: float = 30.0) -> None:
        self._pipeline.shutdown(timeout)


class NativeIngest:
    """Validate and frame in Python, fsync to the write-ahead log, INSERT natively."""

    def __init__(
        self,
        store: TraceStore,
        open_client: Callable[[], Client],
        prices: PriceTable,
        wal_dir: Path,
        schema_dir: Path,
        *,
        max_pending_spans: int,
        seal_spans: int,
        on_insert: Callable[[float], None] | None = None,
        on_stored: Callable[[float, int], None] | None = None,
    ) -> None:
        self._store = store
        self._prices = prices
        self._open_client = open_client
        self._schema_dir = schema_dir
        self._local = threading.local()
        self._clients: list[Client] = []
        self._clients_lock = threading.Lock()
        self._wal = WriteAheadLog(
            wal_dir,
            self._insert_segment,
            _scan,
            max_pending_spans=max_pending_spans,
            seal_spans=seal_spans,
            on_insert=on_insert,
            on_stored=on_stored,
        )
        self.stats = self._wal.stats

    def accept(
        self, request: ExportTraceServiceRequest, raw: bytes | None, project: str | None
    ) -> Accepted:
        body = prepare_body(request, raw, project)
        done = self._wal.submit(body.framed, _info(body))
        return Accepted(done, body.accepted, body.rejected, body.error_message)

    def start(self) -> None:
        self._wal.start()

    def shutdown(self, timeout: float = 30.0) -> None:
        self._wal.shutdown(timeout)
        with self._clients_lock:
            for client in self._clients:
                client.close()
            self._clients.clear()

    def _writers(self) -> tuple[NativeInserter, TraceStore]:
        # One client per inserting thread: a client runs one call at a time, so inserts on
        # the API's client would queue behind each other and behind every query.
        writers: tuple[NativeInserter, TraceStore] | None = getattr(self._local, "writers", None)
        if writers is None:
            client = self._open_client()
            with self._clients_lock:
                self._clients.append(client)
            writers = (
                NativeInserter(client, self._store.db, self._prices, self._schema_dir),
                TraceStore(client, SchemaOptions(self._store.db)),
            )
            self._local.writers = writers
        return writers

    def _insert_segment(self, segment: Segment) -> None:
        native, python = self._writers()
        if segment.spans <= PYTHON_INSERT_MAX_SPANS:
            self._insert_by_python(segment.path, python)
            return
        try:
            native.store(
                segment.path,
                segment.trace_ids,
                segment.window,
                segment.repeats,
                trace_starts=segment.trace_starts,
            )
        except Exception:
            # ClickHouse refused something upb accepted: store this segment body by body
            # through the Python path instead (it drops spans the failed INSERT did store).
            log.warning("native insert of %s failed; using the Python path", segment.path.name)
            self._insert_by_python(segment.path, python)

    def _insert_by_python(self, path: Path, store: TraceStore) -> None:
        data = path.read_bytes()
        batch = SpanBatch()
        for start, stop in frames(data):
            request = ExportTraceServiceRequest.FromString(data[start:stop])
            batch.extend(build_batch(request, self._prices, _project_override(request)))
        store.insert_spans(SPAN_COLUMNS, batch.columns)


def _project_override(request: ExportTraceServiceRequest) -> str | None:
    for field in UnknownFieldSet(request):
        if field.field_number == PROJECT_FIELD:
            return bytes(field.data).decode("utf-8", "replace") or None
    return None


def _info(body: PreparedBody) -> BodyInfo:
    return BodyInfo(body.accepted, body.trace_ids, body.window, body.repeats, body.trace_starts)


def _scan(message: bytes) -> BodyInfo:
    return _info(prepare_body(ExportTraceServiceRequest.FromString(message), message, None))
