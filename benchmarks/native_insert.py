"""Native ingest engine figures: no server, no HTTP, one fresh embedded (chDB) store.

Prints, with the load average next to each figure:
- ``prepare_body`` cost per span (upb parse excluded; the receiver parses anyway);
- minor page faults per inserted span (memory the allocator took from the kernel again,
  see `store.connection.CHDB_MALLOC_CONF`);
- the fixed cost of one INSERT (the statement, survey included, on a file of 20 spans);
- spans/s of ``NativeInserter.insert`` on files of ``--spans`` spans (bodies of
  ``genai_request(2000)``, all ids distinct), with 1 and 2 concurrent inserting threads.
  The time covers framing and writing the file plus the INSERT (with dedup and traces MV).

    python benchmarks/native_insert.py --spans 50000 --files 4 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._spans import genai_request
from spyglass.collector.native import NativeInserter, merge_windows, prepare_body
from spyglass.collector.pricing import PriceTable
from spyglass.store.connection import connect, parse_store_url
from spyglass.store.schema import SchemaOptions, migrate

BODY_SPANS = 2000
Batch = list[tuple[ExportTraceServiceRequest, bytes]]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def bodies(count: int, seed: int) -> Batch:
    """Distinct request bodies (genai_request draws fresh random ids on each call)."""
    out = []
    for i in range(count):
        raw = genai_request(BODY_SPANS, seed=seed * 1000 + i)
        out.append((ExportTraceServiceRequest.FromString(raw), raw))
    return out


def prepare_cost(repeats: int) -> None:
    request, raw = bodies(1, 0)[0]
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(10):
            prepare_body(request, raw, "bench")
        best = min(best, (time.perf_counter() - t) / (10 * BODY_SPANS))
    print(f"prepare_body: {best * 1e6:.2f} µs/span (best of {repeats}; {load()})")


def write_file(path: Path, batch: Batch) -> tuple[set[str], tuple[int, int]]:
    trace_ids: set[str] = set()
    window = (0, 0)
    with path.open("wb") as out:
        for request, raw in batch:
            prepared = prepare_body(request, raw, None)
            out.write(prepared.framed)
            trace_ids |= prepared.trace_ids
            window = merge_windows(window, prepared.window)
    return trace_ids, window


def run_threads(
    inserters: list[NativeInserter], work: list[Batch], shm: Path
) -> list[tuple[int, float]]:
    """Insert ``work`` (one file per batch) with one thread per inserter; (rows, seconds)."""
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        for n, batch in enumerate(work[index :: len(inserters)]):
            path = shm / f"batch-{index}-{n}.bin"
            t = time.perf_counter()
            rows = inserters[index].insert(path, *write_file(path, batch))
            elapsed = time.perf_counter() - t
            path.unlink()
            with lock:
                results.append((rows, elapsed))

    workers = [threading.Thread(target=run, args=(i,)) for i in range(len(inserters))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=50_000, help="spans per file")
    parser.add_argument("--files", type=int, default=4, help="files per thread and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    per_file = max(1, args.spans // BODY_SPANS)
    prepare_cost(args.repeats)

    # chDB may still be merging when the directories go: leave such leftovers to the OS.
    with (
        tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp,
        tempfile.TemporaryDirectory(dir="/dev/shm", ignore_cleanup_errors=True) as shm,
    ):
        client = connect(parse_store_url(f"chdb://{tmp}/data"))
        options = SchemaOptions(database="bench")
        migrate(client, options)
        inserter = NativeInserter(client, options.database, PriceTable.load(), f"{tmp}/schema")

        small = Path(shm) / "small.bin"
        times = []
        for seed in range(5):
            raw = genai_request(20, seed=seed)
            ids = write_file(small, [(ExportTraceServiceRequest.FromString(raw), raw)])
            t = time.perf_counter()
            inserter.insert(small, *ids)
            times.append(time.perf_counter() - t)
        print(
            f"fixed cost per INSERT (20 spans): best {min(times) * 1e3:.0f} ms, "
            f"median {statistics.median(times) * 1e3:.0f} ms ({load()})"
        )

        # One client per inserting thread: a clickhouse-connect client serializes its calls.
        inserters = [inserter] + [
            NativeInserter(
                connect(parse_store_url(f"chdb://{tmp}/data")), options.database,
                PriceTable.load(), f"{tmp}/schema",
            )
            for _ in range(max(int(x) for x in args.threads.split(",")) - 1)
        ]  # fmt: skip
        seed = 1
        for threads in (int(x) for x in args.threads.split(",")):
            rates, latencies, faults = [], [], []
            for _ in range(args.repeats):
                # Bodies are built before timing: only framing, file write and INSERT count.
                work = []
                for _ in range(threads * args.files):
                    work.append(bodies(per_file, seed))
                    seed += 1
                before = load()
                faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                t0 = time.perf_counter()
                results = run_threads(inserters[:threads], work, Path(shm))
                rows_inserted = sum(rows for rows, _ in results)
                rates.append(rows_inserted / (time.perf_counter() - t0))
                faults_after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                faults.append((faults_after - faults_before) / rows_inserted)
                latencies += [latency for _, latency in results]
                expected = per_file * BODY_SPANS * threads * args.files
                assert sum(rows for rows, _ in results) == expected
                print(
                    f"  threads={threads}: {rates[-1]:,.0f} spans/s ({before} before)", flush=True
                )
            print(
                f"{per_file * BODY_SPANS} spans/file, {threads} thread(s): best "
                f"{max(rates):,.0f} spans/s, median {statistics.median(rates):,.0f}; insert "
                f"latency median {statistics.median(latencies) * 1e3:.0f} ms; "
                f"{statistics.median(faults):.2f} page faults/span ({load()} after)"
            )
        stored = client.query(
            "SELECT count(), (SELECT sum(span_count) FROM bench.traces) FROM bench.spans"
        ).result_rows[0]
        print(f"stored spans {stored[0]}, sum(traces.span_count) {stored[1]}")
        client.close()


if __name__ == "__main__":
    main()
