"""Loss-free export: a 20,000-span burst and a server outage, against a real `spyglass server`.

1. Burst: 20,000 spans (200 traces x 100) created as fast as possible, then flushed; the
   server's span count for the project must equal what was created.
2. Outage: spans are created at a steady rate while the server is stopped for ``--outage``
   seconds (default 10; use 60 for the full check) and started again on the same port and data
   directory; the tracer spools to disk meanwhile and delivers after recovery. Reports spans
   lost and the slowest span creation the app saw (it must never wait on the network).

    python benchmarks/tracer_export.py [--burst 20000] [--outage 60] [--rate 500]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import spyglass
from spyglass.tracer._setup import current
from tests.conftest import ServerProcess


def stored_spans(url: str, project: str) -> int:
    try:
        body = httpx.get(f"{url}/api/projects", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return -1
    rows = body.get("projects", body) if isinstance(body, dict) else body
    for row in rows:
        if row.get("project", row.get("name")) == project:
            return int(row.get("spans", row.get("span_count", 0)))
    return 0


def wait_stored(url: str, project: str, expected: int, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    count = stored_spans(url, project)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.5)
        count = stored_spans(url, project)
    return count


def burst(server: ServerProcess, spans: int, spool: Path) -> None:
    project = f"burst-{uuid.uuid4().hex[:6]}"
    spyglass.configure(tracking_uri=server.url, project=project, spool_dir=spool)
    tracer = current()[1]
    started = time.perf_counter()
    per_trace = 100
    for _ in range(spans // per_trace):
        with tracer.start_as_current_span("root"):
            for _ in range(per_trace - 1):
                tracer.start_span("child").end()
    created = time.perf_counter() - started
    spyglass.flush(120)
    stored = wait_stored(server.url, project, spans)
    spyglass.shutdown()
    print(f"burst: {spans} spans created in {created:.2f} s ({spans / created:,.0f}/s); "
          f"stored {stored}; lost {spans - stored}")  # fmt: skip


def outage(server: ServerProcess, seconds: float, rate: int, spool: Path) -> None:
    project = f"outage-{uuid.uuid4().hex[:6]}"
    spyglass.configure(tracking_uri=server.url, project=project, spool_dir=spool)
    tracer = current()[1]
    created = 0
    slowest = 0.0
    phases = [("before", 3.0, False), ("outage", seconds, True), ("after", 3.0, False)]
    for phase, duration, down in phases:
        if down:
            server.stop()
        elif phase == "after":
            server.start()
        end = time.monotonic() + duration
        while time.monotonic() < end:
            tick = time.monotonic()
            for _ in range(rate // 10):
                t0 = time.perf_counter()
                tracer.start_span(f"step-{phase}").end()
                slowest = max(slowest, time.perf_counter() - t0)
                created += 1
            time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
    spyglass.flush(120)
    stored = wait_stored(server.url, project, created, timeout=180)
    spool_files = len(list(spool.rglob("*.otlp")))
    spyglass.shutdown()
    print(f"outage of {seconds:.0f} s at {rate} spans/s: created {created}; stored {stored}; "
          f"lost {created - stored}; slowest span creation {slowest * 1e3:.2f} ms; "
          f"spool files left {spool_files}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst", type=int, default=20_000)
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=500)
    args = parser.parse_args()
    server = ServerProcess(Path(tempfile.mkdtemp(prefix="spyglass-bench-")))
    server.start()
    try:
        burst(server, args.burst, Path(tempfile.mkdtemp(prefix="spool-")))
        outage(server, args.outage, args.rate, Path(tempfile.mkdtemp(prefix="spool-")))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
