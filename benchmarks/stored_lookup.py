"""The stored-span lookup of native ingest with long-running spans: no server, one embedded store.

Stores ``--spans`` spans (files of 30,000, start times advancing as they are written), then
batches of 30,000 new spans of which ``--late`` belong to traces of the first file and start
with them (a long agent run's spans exported when the run ends). Each round stores one batch
with the traces' earliest starts (`NativeInserter.store`'s ``trace_starts``: the old part of
the window is searched for those traces only) and one without (one window, searched for every
trace of the batch). Prints the process CPU of each ``store()``: the lookup before the INSERT,
the INSERT, and the lookup inside it (the batch's late traces have spans stored).

    python benchmarks/stored_lookup.py --spans 3000000 --late 5 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._spans import genai_request
from spyglass.collector.native import NativeInserter, prepare_body
from spyglass.collector.pricing import PriceTable
from spyglass.collector.wal import BodyInfo, Segment
from spyglass.collector.wal import _add as add_body
from spyglass.store.connection import connect, parse_store_url
from spyglass.store.schema import SchemaOptions, migrate

BODIES_PER_FILE = 15
BODY_SPANS = 2000
SPANS_PER_TRACE = 10


def write_segment(path: Path, requests: list[ExportTraceServiceRequest]) -> Segment:
    """Frame ``requests`` into ``path`` and describe them as the write-ahead log does."""
    segment = Segment(path)
    with path.open("wb") as out:
        for request in requests:
            body = prepare_body(request, None, None)
            out.write(body.framed)
            info = BodyInfo(
                body.accepted, body.trace_ids, body.window, body.repeats, body.trace_starts
            )
            add_body(segment, info)
    return segment


def fresh_requests(seed: int) -> list[ExportTraceServiceRequest]:
    return [
        ExportTraceServiceRequest.FromString(genai_request(BODY_SPANS, seed=seed * 100 + i))
        for i in range(BODIES_PER_FILE)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=3_000_000, help="spans stored first")
    parser.add_argument("--late", type=int, default=5, help="late root spans per batch")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    late = min(args.late, BODY_SPANS // SPANS_PER_TRACE)

    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        client = connect(parse_store_url(f"chdb://{tmp}/data"))
        options = SchemaOptions(database="bench")
        migrate(client, options)
        inserter = NativeInserter(client, options.database, PriceTable.load(), f"{tmp}/schema")
        work = Path(tmp)

        started = time.perf_counter()
        files = max(1, args.spans // (BODIES_PER_FILE * BODY_SPANS))
        old_traces: list[tuple[bytes, int]] = []  # (trace id, root start) in the first file
        for n in range(files):
            requests = fresh_requests(n)
            if n == 0:
                spans = requests[0].resource_spans[0].scope_spans[0].spans
                roots = spans[::SPANS_PER_TRACE][:late]
                old_traces = [(s.trace_id, s.start_time_unix_nano) for s in roots]
            segment = write_segment(work / "store.bin", requests)
            inserter.store(segment.path, segment.trace_ids, segment.window, segment.repeats)
        stored = client.query(f"SELECT count() FROM {options.database}.spans").result_rows[0][0]
        print(f"stored {stored:,} spans in {time.perf_counter() - started:.0f} s")

        cpu: dict[str, list[float]] = {"one window": [], "split by trace start": []}
        for r in range(args.rounds):
            for mode, times in cpu.items():
                requests = fresh_requests(10_000 + 2 * r + (mode != "one window"))
                spans = requests[0].resource_spans[0].scope_spans[0].spans
                for (trace_id, start), root in zip(
                    old_traces, spans[::SPANS_PER_TRACE], strict=False
                ):
                    # A new span of a stored trace that started with it (a long run's root).
                    root.trace_id, root.start_time_unix_nano = trace_id, start
                segment = write_segment(work / "batch.bin", requests)
                starts = segment.trace_starts if mode != "one window" else None
                before = time.process_time()
                inserter.store(
                    segment.path,
                    segment.trace_ids,
                    segment.window,
                    segment.repeats,
                    trace_starts=starts,
                )
                times.append(time.process_time() - before)
        for mode, times in cpu.items():
            print(
                f"store() of 30,000 spans with {late} spans of old traces, {mode:20}: "
                f"{statistics.median(times) * 1e3:,.0f} ms CPU median "
                f"({', '.join(f'{t * 1e3:,.0f}' for t in times)})"
            )


if __name__ == "__main__":
    main()
