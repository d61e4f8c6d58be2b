"""Fuzz a running server over HTTP: hostile OTLP bodies (protobuf, JSON, compressed, deeply
nested), random query parameters and filter strings, random MLflow API bodies, with a valid
canary trace every 50 requests. Prints the status counts, any 5xx, and whether every acknowledged
canary was stored. Exits non-zero on a 5xx, a dropped connection, a lost canary or a dead server.

    python benchmarks/fuzz_http.py --requests 10000 --seed 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import ServerProcess
from tests.fuzzing import run_fuzz


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp))
        server.start()
        try:
            started = time.perf_counter()
            report = run_fuzz(server.url, args.seed, args.requests)
            seconds = time.perf_counter() - started
            alive = (
                server.healthy() and server.process is not None and server.process.poll() is None
            )
        finally:
            server.stop()
    print(f"requests sent: {report.sent} in {seconds:.1f} s (seed {args.seed}); "
          f"unsendable by the client: {report.unsendable}")  # fmt: skip
    print("statuses:", dict(sorted(report.statuses.items())))
    print(f"5xx responses: {len(report.server_errors)}; dropped connections: "
          f"{len(report.transport_errors)}; server alive after: {alive}")  # fmt: skip
    print(f"canaries acknowledged: {len(report.canaries_acked)}, "
          f"missing: {len(report.canaries_missing)}")  # fmt: skip
    for line in (report.server_errors + report.transport_errors)[:20]:
        print("  ", line)
    failed = report.server_errors or report.transport_errors or report.canaries_missing
    return 1 if failed or not alive else 0


if __name__ == "__main__":
    raise SystemExit(main())
