"""Prometheus metrics for the server, rendered in the text exposition format.

A handful of counters and one histogram do not justify a client library: the text format is
simple and stable (https://prometheus.io/docs/instrumenting/exposition_formats/).
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter

from spyglass.collector.pipeline import PipelineStats
from spyglass.store.expiry import SweepReport

INSERT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds from a span's acknowledgement until its INSERT committed (from then on queries see
# it); fine steps around the 2 s target of the ingest benchmark.
STORE_LAG_BUCKETS = (
    0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 10.0, 30.0,
)  # fmt: skip


class Histogram:
    """Cumulative-bucket histogram of seconds; an observation may count several events."""

    def __init__(self, buckets: tuple[float, ...] = INSERT_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float, count: int = 1) -> None:
        with self._lock:
            self.counts[bisect.bisect_left(self.buckets, seconds)] += count
            self.total += seconds * count

    def lines(self, name: str) -> list[str]:
        with self._lock:
            counts, total = list(self.counts), self.total
        out, running = [], 0
        for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'{name}_bucket{{le="{le}"}} {running}')
        out += [f"{name}_sum {total}", f"{name}_count {running}"]
        return out


class RetentionStats:
    """What the retention sweeps did (`spyglass.collector.retention`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs = 0
        self.failures = 0
        self.dropped_partitions: Counter[str] = Counter()
        self.removed_rows: Counter[tuple[str, str]] = Counter()  # (table, how)
        self.last_success = 0.0
        self.last_seconds = 0.0

    def record(self, report: SweepReport) -> None:
        with self._lock:
            self.runs += 1
            self.last_success = report.started_at.timestamp() + report.seconds
            self.last_seconds = report.seconds
            for t in report.tables:
                self.dropped_partitions[t.table] += len(t.dropped_partitions)
                self.removed_rows[(t.table, "partition")] += t.dropped_rows
                self.removed_rows[(t.table, "delete")] += t.deleted_rows

    def failed(self) -> None:
        with self._lock:
            self.failures += 1

    def lines(self) -> list[str]:
        with self._lock:
            partitions = sorted(self.dropped_partitions.items())
            rows = sorted(self.removed_rows.items())
            runs, failures = self.runs, self.failures
            last, seconds = self.last_success, self.last_seconds
        return [
            "# HELP spyglass_retention_runs_total Retention sweeps completed.",
            "# TYPE spyglass_retention_runs_total counter",
            f"spyglass_retention_runs_total {runs}",
            "# HELP spyglass_retention_failures_total Retention sweeps that failed.",
            "# TYPE spyglass_retention_failures_total counter",
            f"spyglass_retention_failures_total {failures}",
            "# HELP spyglass_retention_partitions_dropped_total Whole monthly partitions dropped.",
            "# TYPE spyglass_retention_partitions_dropped_total counter",
            *(
                f'spyglass_retention_partitions_dropped_total{{table="{t}"}} {n}'
                for t, n in partitions
            ),  # fmt: skip
            "# HELP spyglass_retention_rows_removed_total Expired rows removed, by table and way.",
            "# TYPE spyglass_retention_rows_removed_total counter",
            *(
                f'spyglass_retention_rows_removed_total{{table="{t}",how="{how}"}} {n}'
                for (t, how), n in rows
            ),  # fmt: skip
            "# HELP spyglass_retention_last_success_timestamp_seconds End of the last sweep.",
            "# TYPE spyglass_retention_last_success_timestamp_seconds gauge",
            f"spyglass_retention_last_success_timestamp_seconds {last}",
            "# HELP spyglass_retention_last_duration_seconds Duration of the last sweep.",
            "# TYPE spyglass_retention_last_duration_seconds gauge",
            f"spyglass_retention_last_duration_seconds {seconds}",
        ]


class ServerMetrics:
    """What the receiver counts; the pipeline's own counters are read at render time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.otlp_responses: Counter[int] = Counter()
        self.accepted_spans = 0
        self.rejected_spans = 0
        self.insert_seconds = Histogram()
        self.store_lag = Histogram(STORE_LAG_BUCKETS)
        self.retention = RetentionStats()

    def otlp_response(self, status: int, accepted: int = 0, rejected: int = 0) -> None:
        with self._lock:
            self.otlp_responses[status] += 1
            self.accepted_spans += accepted
            self.rejected_spans += rejected

    def render(self, pipeline: PipelineStats) -> str:
        with self._lock:
            responses = sorted(self.otlp_responses.items())
            accepted, rejected = self.accepted_spans, self.rejected_spans
        lines = [
            "# HELP spyglass_otlp_requests_total OTLP export requests by response status.",
            "# TYPE spyglass_otlp_requests_total counter",
            *(f'spyglass_otlp_requests_total{{status="{s}"}} {n}' for s, n in responses),
            "# HELP spyglass_spans_accepted_total Spans acknowledged to exporters.",
            "# TYPE spyglass_spans_accepted_total counter",
            f"spyglass_spans_accepted_total {accepted}",
            "# HELP spyglass_spans_rejected_total Invalid spans reported in partial_success.",
            "# TYPE spyglass_spans_rejected_total counter",
            f"spyglass_spans_rejected_total {rejected}",
            "# HELP spyglass_spans_refused_total Spans refused with 503 (write queue full).",
            "# TYPE spyglass_spans_refused_total counter",
            f"spyglass_spans_refused_total {pipeline.refused_spans}",
            "# HELP spyglass_spans_written_total Spans inserted into the store.",
            "# TYPE spyglass_spans_written_total counter",
            f"spyglass_spans_written_total {pipeline.written_spans}",
            "# HELP spyglass_spans_failed_total Spans whose insert failed (the sender got 503).",
            "# TYPE spyglass_spans_failed_total counter",
            f"spyglass_spans_failed_total {pipeline.failed_spans}",
            "# HELP spyglass_write_queue_spans Spans waiting for the writer.",
            "# TYPE spyglass_write_queue_spans gauge",
            f"spyglass_write_queue_spans {pipeline.queued_spans}",
            "# HELP spyglass_insert_seconds Time per span insert statement.",
            "# TYPE spyglass_insert_seconds histogram",
            *self.insert_seconds.lines("spyglass_insert_seconds"),
            "# HELP spyglass_span_store_lag_seconds Per span: seconds from its acknowledgement "
            "until it was stored and queryable (0 when the acknowledgement waited for that).",
            "# TYPE spyglass_span_store_lag_seconds histogram",
            *self.store_lag.lines("spyglass_span_store_lag_seconds"),
            *self.retention.lines(),
        ]
        return "\n".join(lines) + "\n"
