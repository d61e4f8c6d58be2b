"""OTLP ingest throughput: spans/s acknowledged and stored by a running server, and the time
until acknowledged spans are queryable, under load and after it.

A load generator in a separate process sends pre-built protobuf bodies of GenAI spans (all
distinct) over loopback with several concurrent connections; the server runs on the embedded
store in its own process. "Stored" counts the server's inserted spans (its /metrics) over the
same window, so a rate held only by a growing backlog shows. The time until queryable is
measured twice: by probe traces polled through the list API, and for every span by the server's
store-lag histogram (acknowledgement to committed INSERT). Prints the figures; nothing is
asserted.

    python benchmarks/ingest.py --seconds 20 --connections 4 --spans-per-request 2000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._spans import genai_request
from tests.conftest import ServerProcess

HEADERS = {"content-type": "application/x-protobuf"}


def _fresh_bodies(spans: int, count: int, rate: int) -> list[bytes]:
    """``count`` bodies with distinct trace and span ids (the server drops re-sent spans).

    Each body's spans start ``spans / rate`` seconds after the previous body's, as a live
    app's would at that rate. (With one start time for all bodies, every INSERT's check for
    spans already stored would read every part stored so far, which live traffic does not.)
    """
    request = ExportTraceServiceRequest.FromString(genai_request(spans))
    all_spans = request.resource_spans[0].scope_spans[0].spans
    times = [(span.start_time_unix_nano, span.end_time_unix_nano) for span in all_spans]
    step_ns = spans * 1_000_000_000 // max(rate, 1)
    bodies = []
    for n in range(count):
        new_ids: dict[bytes, bytes] = {}
        shift = n * step_ns
        for span, (start, end) in zip(all_spans, times, strict=True):
            span.trace_id = new_ids.setdefault(span.trace_id, os.urandom(16))
            span.span_id = new_ids.setdefault(span.span_id, os.urandom(8))
            if span.parent_span_id:
                span.parent_span_id = new_ids.setdefault(span.parent_span_id, os.urandom(8))
            span.start_time_unix_nano = start + shift
            span.end_time_unix_nano = end + shift
        bodies.append(request.SerializeToString())
    return bodies


def _read_response(reader: BinaryIO) -> tuple[int, float]:
    """Status and Retry-After of one HTTP/1.1 response; its body is read and dropped."""
    status = int(reader.readline().split()[1])
    length, retry_after = 0, 0.1
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
        elif name.lower() == b"retry-after":
            retry_after = float(value)
    reader.read(length)
    return status, retry_after


def _load(
    url: str,
    seconds: float,
    connections: int,
    spans: int,
    rate: int,
    pace: int,
    queue: mp.Queue,  # type: ignore[type-arg]
) -> None:
    # Enough distinct bodies for ``rate`` spans/s; the load stops early if they run out.
    bodies = _fresh_bodies(spans, max(connections, int(seconds * rate / spans)), pace or rate)
    queue.put("ready")
    began = time.monotonic()
    deadline = began + seconds
    taken = [0]  # bodies handed out, for --pace
    acked = [0] * connections
    refused = [0] * connections
    latencies: list[float] = []
    lock = threading.Lock()
    pending = bodies[::-1]
    ran_out = [False]

    host, port = urlsplit(url).hostname or "127.0.0.1", urlsplit(url).port or 80

    def worker(n: int) -> None:
        # Each body is sent until acknowledged (a refused one is retried after a pause, as
        # an exporter does) and never twice, so acknowledged spans must all be stored. Raw
        # keep-alive HTTP/1.1 on a socket: the generator shares the server's two cores, so it
        # must cost as little as a remote exporter would here.
        with socket.create_connection((host, port)) as sock:
            reader = sock.makefile("rb")
            body = None
            due = 0.0
            while time.monotonic() < deadline:
                if body is None:
                    with lock:
                        if not pending:
                            ran_out[0] = True
                            return
                        body = pending.pop()
                        due = began + taken[0] * spans / pace if pace else 0.0
                        taken[0] += 1
                    if due > time.monotonic():
                        time.sleep(due - time.monotonic())
                started = time.perf_counter()
                sock.sendall(
                    b"POST /v1/traces HTTP/1.1\r\nHost: bench\r\n"
                    b"Content-Type: application/x-protobuf\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body) + body
                )
                status, retry_after = _read_response(reader)
                elapsed = time.perf_counter() - started
                if status == 200:
                    acked[n] += spans
                    body = None
                    with lock:
                        latencies.append(elapsed)
                else:
                    refused[n] += 1
                    time.sleep(retry_after / 10)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    queue.put((sum(acked), sum(refused), elapsed, latencies, ran_out[0]))


def queryable_lag(url: str, project: str, poll: float, calls: list[float] | None = None) -> float:
    """Seconds from the acknowledgement of a new trace until the list API shows it.

    Polled every ``poll`` seconds: under load each list query costs the server CPU that
    ingest needs, so a busy poll would lower the figures it measures (polling every 50 ms
    instead of 100 ms took ~6% off the sustained rate). The seconds of each list call are
    appended to ``calls``."""
    body = genai_request(1, spans_per_trace=1, project=project)
    while (
        r := httpx.post(f"{url}/v1/traces", content=body, headers=HEADERS, timeout=30)
    ).status_code == 503:
        time.sleep(0.2)  # the log is full: retry, as an exporter does
    r.raise_for_status()
    acked = time.perf_counter()
    while True:
        called = time.perf_counter()
        page = httpx.get(f"{url}/api/traces", params={"project": project}, timeout=30).json()
        if calls is not None:
            calls.append(time.perf_counter() - called)
        if page["traces"]:
            return time.perf_counter() - acked
        time.sleep(poll)


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise RuntimeError(f"the server's /metrics has no {name}")


def store_lag_buckets(url: str) -> list[tuple[float, int]]:
    """(upper bound, cumulative spans) of the server's per-span store-lag histogram."""
    prefix = 'spyglass_span_store_lag_seconds_bucket{le="'
    buckets = []
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(prefix):
            bound, _, count = line[len(prefix) :].partition('"} ')
            buckets.append((float(bound), int(count)))
    return buckets


def lag_quantile(buckets: list[tuple[float, int]], q: float) -> float:
    """The ``q`` quantile of a cumulative histogram, linear within its bucket (as
    Prometheus's histogram_quantile); the last finite bound when it falls past them."""
    total = buckets[-1][1]
    rank, lower, below = q * total, 0.0, 0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1)
        lower, below = bound, count
    return lower


def written_spans(url: str) -> int:
    return int(metric(url, "spyglass_spans_written_total"))


def inserts(url: str) -> tuple[int, float]:
    """INSERT statements run and their total seconds, from the server's histogram."""
    return (
        int(metric(url, "spyglass_insert_seconds_count")),
        metric(url, "spyglass_insert_seconds_sum"),
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def merge_cpu_seconds(pid: int) -> float:
    """CPU so far of the process's ClickHouse merge threads (named ``MergeMutate``; Linux).

    Only live threads count, which is enough here: the merge pool's threads live as long
    as the store."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended
            continue
        name, _, rest = stat.partition("(")[2].rpartition(")")
        if name.startswith("MergeMutate"):
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="use a running server instead of starting one")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--spans-per-request", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=80_000, help="distinct bodies for this rate")
    parser.add_argument("--server-args", default="", help="extra `spyglass server` arguments")
    parser.add_argument("--pace", type=int, default=0, help="offer at most this many spans/s")
    args = parser.parse_args()

    server = None
    url = args.url
    data_dir = Path(tempfile.mkdtemp(prefix="spyglass-bench-"))
    if url is None:
        server = ServerProcess(data_dir, extra_args=args.server_args.split())
        server.start()
        url = server.url
    try:
        queue: mp.Queue = mp.get_context("spawn").Queue()  # type: ignore[type-arg]
        loader = mp.get_context("spawn").Process(
            target=_load,
            args=(
                url,
                args.seconds,
                args.connections,
                args.spans_per_request,
                args.rate,
                args.pace,
                queue,
            ),  # fmt: skip
        )
        loader.start()
        assert queue.get() == "ready"
        written_before, inserts_before = written_spans(url), inserts(url)
        lag_before = store_lag_buckets(url)
        server_pid = server.process.pid if server is not None and server.process else None
        cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
        merges_before = merge_cpu_seconds(server_pid) if server_pid else 0.0
        # Probes run in their own thread (each waits until its trace is visible), so the
        # window below is the load generator's own.
        lags_under_load: list[float] = []
        list_calls: list[float] = []  # the probes' list calls, under load

        def probe() -> None:
            while loader.is_alive():
                time.sleep(2)
                if loader.is_alive():
                    lag = queryable_lag(url, f"lag-{len(lags_under_load)}", 0.1, list_calls)
                    lags_under_load.append(lag)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        acked, refused, elapsed, latencies, ran_out = queue.get()
        written_after, window_end = written_spans(url), time.perf_counter()
        loader.join()
        while (
            written_spans(url) < written_before + acked and time.perf_counter() - window_end < 300
        ):
            time.sleep(0.05)
        drained = time.perf_counter() - window_end
        # The server's CPU for the spans of the window, from the first request to the drain
        # (the probes' few spans and list queries included): the cost per span, which a
        # machine's changing speed disturbs less than the rate.
        cpu = cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
        merges = merge_cpu_seconds(server_pid) - merges_before if server_pid else 0.0
        inserts_after = inserts(url)
        # Every span of the window (the probes' too), from the server's own histogram.
        store_lag = [
            (bound, after - before)
            for (bound, after), (_, before) in zip(store_lag_buckets(url), lag_before, strict=True)
        ]
        prober.join(300)
        lag = queryable_lag(url, "lag-probe-idle", poll=0.005)
        stored = {
            p["name"]: p["spans"]
            for p in httpx.get(f"{url}/api/projects", timeout=60).json()["projects"]
        }.get("bench", 0)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    latencies.sort()
    print(f"spans per request        {args.spans_per_request}")
    print(f"connections              {args.connections}")
    print(f"duration                 {elapsed:.1f} s")
    print(f"acknowledged spans       {acked}")
    print(f"refused requests (503)   {refused}")
    print(f"acknowledged rate        {acked / elapsed:,.0f} spans/s")
    stored_rate = (written_after - written_before) / elapsed
    print(f"stored rate, same window {stored_rate:,.0f} spans/s")
    sustained = acked / (elapsed + drained)
    print(f"backlog stored after     {drained * 1000:.0f} ms")
    print(f"sustained (ack → stored) {sustained:,.0f} spans/s")
    if cpu and acked:
        print(f"server CPU per span      {cpu / acked * 1e6:.1f} µs ({cpu:.1f} s)")
        print(f"  of it in merges        {merges / acked * 1e6:.1f} µs ({merges / cpu:.0%})")
    if latencies:
        print(f"request latency p50      {statistics.median(latencies) * 1000:.0f} ms")
        print(f"request latency p99      {latencies[int(len(latencies) * 0.99) - 1] * 1000:.0f} ms")
    count = inserts_after[0] - inserts_before[0]
    if count:
        seconds = inserts_after[1] - inserts_before[1]
        print(
            f"inserts                  {count}, {acked / count:,.0f} spans and "
            f"{seconds / count * 1000:.0f} ms each on average"
        )
    if lags_under_load:
        print(
            f"queryable after ack      {statistics.median(lags_under_load) * 1000:.0f} ms median, "
            f"{max(lags_under_load) * 1000:.0f} ms max under load ({len(lags_under_load)} probes, "
            "polled every 100 ms)"
        )
    if store_lag and store_lag[-1][1]:
        within = dict(store_lag)[2.0] / store_lag[-1][1]
        p50, p95, p99 = (lag_quantile(store_lag, q) for q in (0.5, 0.95, 0.99))
        print(
            f"stored after ack (all)   {p50 * 1000:.0f} ms p50, {p95 * 1000:.0f} ms p95, "
            f"{p99 * 1000:.0f} ms p99; {within:.1%} within 2 s (server histogram, per span)"
        )
    if list_calls:
        ordered = sorted(list_calls)
        print(
            f"trace list under load    {statistics.median(ordered) * 1000:.0f} ms median, "
            f"{ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000:.0f} ms p95, "
            f"{ordered[-1] * 1000:.0f} ms max ({len(ordered)} calls of the probes)"
        )
    print(f"queryable after ack      {lag * 1000:.0f} ms idle")
    print(f"stored spans (API count) {stored}  ({'all' if stored == acked else 'MISMATCH'})")
    if ran_out:
        print(f"  (the load generator ran out of bodies: raise --rate above {args.rate:,})")


if __name__ == "__main__":
    main()
