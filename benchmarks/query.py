"""Query latency at scale: trace list pages and one huge trace, over HTTP.

Seeds a store with ``--spans`` GenAI spans (10-span traces spread over a week, every 20th
failing) plus one trace of ``--big-trace`` spans, through the server's own ingest code
(``--ingest native``, the default on the embedded store, or ``python``), then starts the
server on that store and times the API from a client. Prints p50/p95.

    python benchmarks/query.py --spans 1000000 --big-trace 10000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.conftest import ServerProcess  # noqa: E402

SEED = """
import shutil, sys, tempfile, time
from pathlib import Path
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from benchmarks._spans import genai_request
from spyglass.collector.native import NativeInserter, write_batch_file
from spyglass.collector.pricing import PriceTable
from spyglass.collector.rows import SPAN_COLUMNS, SpanBatch, build_batch
from spyglass.store.connection import connect, parse_store_url
from spyglass.store.schema import SchemaOptions, migrate
from spyglass.store.traces import TraceStore

url, spans, big, ingest = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
client = connect(parse_store_url(url))
options = SchemaOptions()
migrate(client, options)
store = TraceStore(client, options)
prices = PriceTable.load()
work = Path(tempfile.mkdtemp())
native = NativeInserter(client, options.database, prices, work / "schema")


def insert(bodies):
    if ingest == "python":
        batch = SpanBatch()
        for body in bodies:
            batch.extend(build_batch(ExportTraceServiceRequest.FromString(body), prices))
        store.insert_spans(SPAN_COLUMNS, batch.columns)
        return
    path = work / "batch.bin"
    native.insert(path, *write_batch_file(path, bodies))


now = time.time_ns()
chunk = 50_000
for n in range(0, spans, chunk):
    insert(
        [genai_request(2000, start_ns=now, spread_s=7 * 86400, seed=n + part)
         for part in range(0, min(chunk, spans - n), 2000)]
    )
body = genai_request(big, spans_per_trace=big, start_ns=now, seed=-1)
insert([body])
request = ExportTraceServiceRequest.FromString(body)
print(request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex())
# Time the queries on a settled store, not against the merges of a million spans just written.
deadline = time.monotonic() + 300
while client.query("SELECT count() FROM system.merges").result_rows[0][0]:
    if time.monotonic() > deadline:
        break
    time.sleep(0.5)
client.close()
shutil.rmtree(work, ignore_errors=True)
"""


def timed(client: httpx.Client, path: str, params: dict[str, str], runs: int) -> list[float]:
    params = {"project": "bench", **params}
    client.get(path, params=params).raise_for_status()  # warm up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path, params=params)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--big-trace", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument(
        "--ingest", choices=("native", "python"), default="native", help="how spans are stored"
    )
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="spyglass-query-bench-"))
    started = time.perf_counter()
    seeded = subprocess.run(
        [sys.executable, "-c", SEED, f"chdb://{data_dir / 'data'}", str(args.spans),
         str(args.big_trace), args.ingest],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    big_trace_id = seeded.stdout.strip().splitlines()[-1]
    print(
        f"seeded {args.spans:,} + {args.big_trace:,} spans ({args.ingest} ingest) in "
        f"{time.perf_counter() - started:.0f} s"
    )

    server = ServerProcess(data_dir)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            cases = {
                "list 50 newest": ("/api/traces", {"limit": "50"}),
                "list, status=error": ("/api/traces", {"limit": "50", "status": "error"}),
                "list, model filter": ("/api/traces", {"limit": "50", "model": "gpt-4.1"}),
                "list, filter language": (
                    "/api/traces",
                    {"limit": "50", "filter": 'latency_ms > 2500 and model ~ "claude"'},
                ),
                "list, session": ("/api/traces", {"limit": "50", "session_id": "s-42"}),
                "list, page 2 (cursor)": ("/api/traces", {"limit": "50"}),
                "sessions": ("/api/sessions", {"limit": "50"}),
                "stats, 7 days hourly": ("/api/stats", {"bucket_seconds": "3600"}),
                f"one {args.big_trace}-span trace": (
                    f"/api/traces/{big_trace_id}",
                    {"limit": str(args.big_trace)},
                ),
            }
            first = client.get("/api/traces", params={"limit": "50", "project": "bench"}).json()
            assert len(first["traces"]) == 50, "the seeded project should have traces"
            cases["list, page 2 (cursor)"][1]["cursor"] = first["next_cursor"]
            week = time.time() - 8 * 86400
            cases["stats, 7 days hourly"][1]["start"] = time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(week)
            )
            print(f"{'query':32} {'p50 ms':>8} {'p95 ms':>8}")
            for name, (path, params) in cases.items():
                times = sorted(timed(client, path, params, args.runs))
                p95 = times[max(0, int(len(times) * 0.95) - 1)]
                print(f"{name:32} {statistics.median(times) * 1000:8.1f} {p95 * 1000:8.1f}")
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
