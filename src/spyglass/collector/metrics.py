"""Prometheus metrics for the server, rendered in the text exposition format.

A handful of counters and one histogram do not justify a client library: the text format is
simple and stable (https://prometheus.io/docs/instrumenting/exposition_formats/).
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter

from spyglass.collector.pipeline import PipelineStats

INSERT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Cumulative-bucket histogram of seconds."""

    def __init__(self, buckets: tuple[float, ...] = INSERT_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        with self._lock:
            self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
            self.total += seconds

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


class ServerMetrics:
    """What the receiver counts; the pipeline's own counters are read at render time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.otlp_responses: Counter[int] = Counter()
        self.accepted_spans = 0
        self.rejected_spans = 0
        self.insert_seconds = Histogram()

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
        ]
        return "\n".join(lines) + "\n"
