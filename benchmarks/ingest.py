"""OTLP ingest throughput: spans/s acknowledged by a running server, and time until queryable.

A load generator in a separate process sends pre-built protobuf bodies of GenAI spans over
loopback with several concurrent connections; the server runs on the embedded store in its own
process. Prints the figures; nothing is asserted.

    python benchmarks/ingest.py --seconds 20 --connections 4 --spans-per-request 2000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._spans import genai_request
from tests.conftest import ServerProcess

HEADERS = {"content-type": "application/x-protobuf"}


def _fresh_bodies(spans: int, count: int) -> list[bytes]:
    """``count`` bodies with distinct trace and span ids (the server drops re-sent spans)."""
    request = ExportTraceServiceRequest.FromString(genai_request(spans))
    all_spans = request.resource_spans[0].scope_spans[0].spans
    bodies = []
    for _ in range(count):
        new_ids: dict[bytes, bytes] = {}
        for span in all_spans:
            span.trace_id = new_ids.setdefault(span.trace_id, os.urandom(16))
            span.span_id = new_ids.setdefault(span.span_id, os.urandom(8))
            if span.parent_span_id:
                span.parent_span_id = new_ids.setdefault(span.parent_span_id, os.urandom(8))
        bodies.append(request.SerializeToString())
    return bodies


def _load(url: str, seconds: float, connections: int, spans: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    # Enough distinct bodies for 40k spans/s; past that, repeats are stored once (and show up
    # as a stored count below the acknowledged one).
    bodies = _fresh_bodies(spans, max(connections, int(seconds * 40_000 / spans)))
    deadline = time.monotonic() + seconds
    acked = [0] * connections
    refused = [0] * connections
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with httpx.Client(timeout=60) as client:
            i = n
            while time.monotonic() < deadline:
                started = time.perf_counter()
                body = bodies[i % len(bodies)]
                response = client.post(f"{url}/v1/traces", content=body, headers=HEADERS)
                elapsed = time.perf_counter() - started
                i += connections
                if response.status_code == 200:
                    acked[n] += spans
                    with lock:
                        latencies.append(elapsed)
                else:
                    refused[n] += 1
                    time.sleep(float(response.headers.get("retry-after", "0.1")) / 10)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put((sum(acked), sum(refused), time.perf_counter() - started, latencies))


def queryable_lag(url: str) -> float:
    """Seconds from the acknowledgement of a new trace until the list API shows it."""
    body = genai_request(1, spans_per_trace=1, project="lag-probe")
    httpx.post(f"{url}/v1/traces", content=body, headers=HEADERS, timeout=30).raise_for_status()
    acked = time.perf_counter()
    while True:
        page = httpx.get(f"{url}/api/traces", params={"project": "lag-probe"}, timeout=30).json()
        if page["traces"]:
            return time.perf_counter() - acked
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="use a running server instead of starting one")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--spans-per-request", type=int, default=2000)
    args = parser.parse_args()

    server = None
    url = args.url
    if url is None:
        server = ServerProcess(Path(tempfile.mkdtemp(prefix="spyglass-bench-")))
        server.start()
        url = server.url
    try:
        queue: mp.Queue = mp.get_context("spawn").Queue()  # type: ignore[type-arg]
        loader = mp.get_context("spawn").Process(
            target=_load,
            args=(url, args.seconds, args.connections, args.spans_per_request, queue),
        )
        loader.start()
        acked, refused, elapsed, latencies = queue.get()
        loader.join()
        lag = queryable_lag(url)
        stored = {
            p["name"]: p["spans"]
            for p in httpx.get(f"{url}/api/projects", timeout=60).json()["projects"]
        }.get("bench", 0)
    finally:
        if server is not None:
            server.stop()
    latencies.sort()
    print(f"spans per request        {args.spans_per_request}")
    print(f"connections              {args.connections}")
    print(f"duration                 {elapsed:.1f} s")
    print(f"acknowledged spans       {acked}")
    print(f"refused requests (503)   {refused}")
    print(f"ingest rate              {acked / elapsed:,.0f} spans/s")
    if latencies:
        print(f"request latency p50      {statistics.median(latencies) * 1000:.0f} ms")
        print(f"request latency p99      {latencies[int(len(latencies) * 0.99) - 1] * 1000:.0f} ms")
    print(f"queryable after ack      {lag * 1000:.0f} ms")
    print(f"stored spans (API count) {stored}  ({'all' if stored == acked else 'MISMATCH'})")
    print("  (bodies repeat past 40k spans/s: the server stores a re-sent span once)")


if __name__ == "__main__":
    main()
