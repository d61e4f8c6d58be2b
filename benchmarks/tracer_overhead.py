"""Added latency per autologged OpenAI chat call: unpatched vs spyglass vs mlflow autolog.

The real `openai` client talks to a fake OpenAI API through `httpx.MockTransport` (no network),
so the figures are the instrumentation's own cost. Spyglass runs with its real exporter
(OTLP/HTTP to a loopback sink in this process, spool enabled), so background export is part of
the measurement. Blocks of calls alternate between the configurations. Printed per
configuration: per-call wall-time median, p90 and mean; the added median, also paired (the
median over rounds of each block's median minus the unpatched block's median in the same
round, robust to load drifting between rounds on a shared machine); and the process CPU time
per call (all threads, so the export worker's work counts even though it is off the call
path; each configuration's background work is flushed after its block and counted there).
Nothing is asserted.

    python benchmarks/tracer_overhead.py [--calls 500] [--rounds 12] [--stream] [--no-mlflow]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import spyglass
import spyglass.openai
from tests.tracer import fake_openai

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]


def start_sink() -> str:
    """A loopback OTLP endpoint that accepts everything."""

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def block(
    call: Callable[[], Any], calls: int, flush: Callable[[], Any]
) -> tuple[list[float], float]:
    """Per-call wall times (µs) and the process CPU time (µs, all threads) of the block.

    ``flush`` finishes the configuration's background work after the block, so it does not
    spill into the next configuration's block; its CPU time counts, its wall time does not.
    """
    for _ in range(20):  # warm up
        call()
    flush()
    out = []
    cpu0 = time.process_time_ns()
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        call()
        out.append((time.perf_counter_ns() - t0) / 1000)
    flush()
    return out, (time.process_time_ns() - cpu0) / 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500, help="calls per block")
    parser.add_argument("--rounds", type=int, default=12, help="blocks per configuration")
    parser.add_argument("--no-mlflow", action="store_true", help="skip mlflow.openai.autolog")
    parser.add_argument("--stream", action="store_true", help="streamed calls with usage")
    args = parser.parse_args()

    client = openai.OpenAI(
        api_key="sk-bench",
        base_url="http://fake-openai.test/v1",
        http_client=httpx.Client(transport=fake_openai.transport()),
        max_retries=0,
    )

    def call() -> Any:
        if args.stream:
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            return list(stream)
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    spool = tempfile.mkdtemp(prefix="spyglass-bench-spool-")
    spyglass.configure(tracking_uri=start_sink(), project="bench", spool_dir=spool)

    try:
        if args.no_mlflow:
            raise ImportError
        import mlflow
        import mlflow.openai

        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow.set_tracking_uri(f"file://{tempfile.mkdtemp(prefix='mlflow-bench-')}")
        mlflow.set_experiment("bench")  # the file store has no experiment 0 to export into
        has_mlflow = True
    except ImportError:
        has_mlflow = False

    names = ["unpatched", "spyglass"] + (["mlflow"] if has_mlflow else [])
    results: dict[str, list[float]] = {name: [] for name in names}
    block_medians: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, float] = dict.fromkeys(names, 0.0)

    def nothing() -> None:
        pass

    def flush_mlflow() -> None:
        mlflow.flush_trace_async_logging()

    def run(name: str) -> None:
        flush = {"spyglass": spyglass.flush, "mlflow": flush_mlflow}.get(name, nothing)
        samples, cpu_us = block(call, args.calls, flush)
        results[name] += samples
        block_medians[name].append(statistics.median(samples))
        cpu[name] += cpu_us

    for _ in range(args.rounds):  # short alternating blocks: load drift hits all alike
        run("unpatched")
        spyglass.openai.autolog()
        run("spyglass")
        spyglass.openai.disable()
        if has_mlflow:
            mlflow.openai.autolog(log_traces=True)
            run("mlflow")
            mlflow.openai.autolog(disable=True)
    spyglass.flush()

    base = statistics.median(results["unpatched"])
    base_cpu = cpu["unpatched"] / len(results["unpatched"])
    kind = "streamed" if args.stream else "plain"
    print(f"{kind} chat call, {args.rounds} x {args.calls} calls per configuration")
    print("wall: per call on the caller's thread; cpu: process CPU per call, all threads;")
    print("added (paired): median over rounds of (block median - unpatched block median)")
    print(
        f"{'configuration':<12} {'median µs':>10} {'p90 µs':>10} {'mean µs':>10} "
        f"{'added median':>13} {'added (paired)':>15} {'cpu µs':>8} {'added cpu':>10}"
    )
    for name, samples in results.items():
        median = statistics.median(samples)
        p90 = statistics.quantiles(samples, n=10)[-1]
        mean = statistics.fmean(samples)
        paired = statistics.median(
            b - a for a, b in zip(block_medians["unpatched"], block_medians[name], strict=True)
        )
        per_call_cpu = cpu[name] / len(samples)
        print(
            f"{name:<12} {median:>10.1f} {p90:>10.1f} {mean:>10.1f} {median - base:>13.1f} "
            f"{paired:>15.1f} {per_call_cpu:>8.1f} {per_call_cpu - base_cpu:>10.1f}"
        )
    if not has_mlflow:
        print("mlflow not installed: pip install mlflow-skinny to compare")
    spyglass.shutdown()


if __name__ == "__main__":
    main()
