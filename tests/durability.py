"""Kill -9 under mixed load: spans, metrics and registry changes are sent concurrently, the
server is killed at a random moment, restarted on the same data, and everything acknowledged
before the kill must be there, exactly once. Used by tests/test_kill9.py and benchmarks/kill9.py.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from tests.conftest import ServerProcess
from tests.test_restart import Expected, acknowledge, all_traces, new_batch, send

API = "/api/2.0/mlflow"
MODEL = "kill9-model"


@dataclass
class Acknowledged:
    spans: Expected = field(default_factory=dict)
    metrics: dict[str, set[int]] = field(default_factory=dict)  # run id -> steps
    versions: set[str] = field(default_factory=set)
    tags: dict[str, str] = field(default_factory=dict)  # version -> tag value
    lock: threading.Lock = field(default_factory=threading.Lock)

    def counts(self) -> tuple[int, int, int]:
        return (
            sum(len(s) for s in self.spans.values()),
            sum(len(s) for s in self.metrics.values()),
            len(self.versions) + len(self.tags),
        )


def _spans_load(server: ServerProcess, acked: Acknowledged, stop: threading.Event) -> None:
    with httpx.Client() as client:
        n = 0
        while not stop.is_set():
            spans = new_batch(random.randrange(10**9), traces=3)
            try:
                response = send(client, server, spans)
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                with acked.lock:
                    acknowledge(acked.spans, spans)
            n += 1


def _metrics_load(server: ServerProcess, acked: Acknowledged, stop: threading.Event) -> None:
    with httpx.Client(base_url=server.url + API, timeout=30) as c:
        try:
            run = c.post("/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]
        except (httpx.HTTPError, ValueError, KeyError):
            return
        run_id, step = run["run_id"], 0
        while not stop.is_set():
            batch = [{"key": "loss", "value": s / 7, "timestamp": 1000 + s, "step": s}
                     for s in range(step, step + 5)]  # fmt: skip
            try:
                response = c.post("/runs/log-batch", json={"run_id": run_id, "metrics": batch})
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                with acked.lock:
                    acked.metrics.setdefault(run_id, set()).update(range(step, step + 5))
            step += 5


def _registry_load(server: ServerProcess, acked: Acknowledged, stop: threading.Event) -> None:
    with httpx.Client(base_url=server.url + API, timeout=30) as c:
        try:
            c.post("/registered-models/create", json={"name": MODEL})  # exists after cycle 1
            while not stop.is_set():
                r = c.post("/model-versions/create", json={"name": MODEL, "source": "s3://m"})
                if r.status_code != 200:
                    return
                version = r.json()["model_version"]["version"]
                with acked.lock:
                    acked.versions.add(version)
                tag = {"name": MODEL, "version": version, "key": "k", "value": uuid.uuid4().hex}
                r = c.post("/model-versions/set-tag", json=tag)
                if r.status_code == 200:
                    with acked.lock:
                        acked.tags[version] = tag["value"]
        except (httpx.HTTPError, ValueError, KeyError):
            return


LOADS: tuple[Callable[[ServerProcess, Acknowledged, threading.Event], None], ...] = (
    _spans_load, _spans_load, _metrics_load, _registry_load,
)  # fmt: skip


def check(server: ServerProcess, acked: Acknowledged) -> None:
    """Everything acknowledged is stored, each once."""
    # A batch in flight at the kill may be stored without its answer having arrived (the
    # exporter would resend it): extra traces are fine, missing or doubled spans are not.
    listed = all_traces(server)
    ids = [t["trace_id"] for t in listed]
    assert len(ids) == len(set(ids)), "a trace is listed twice"
    missing = set(acked.spans) - set(ids)
    assert not missing, f"lost traces {sorted(missing)[:5]}"
    spans = {t["trace_id"]: t["spans"] for t in listed}
    wrong = {t: (spans[t], len(s)) for t, s in acked.spans.items() if spans[t] != len(s)}
    assert not wrong, f"span counts (stored, acknowledged) differ: {list(wrong.items())[:5]}"
    with httpx.Client(base_url=server.url + API, timeout=30) as c:
        for run_id, steps in acked.metrics.items():
            params = {"run_id": run_id, "metric_key": "loss"}
            history = c.get("/metrics/get-history", params=params).json()["metrics"]
            got = [m["step"] for m in history]
            assert len(got) == len(set(got)), f"run {run_id}: a metric is stored twice"
            assert steps <= set(got), f"run {run_id}: lost steps {sorted(steps - set(got))[:5]}"
        for version in acked.versions:
            r = c.get("/model-versions/get", params={"name": MODEL, "version": version})
            assert r.status_code == 200, f"lost model version {version}"
        for version, value in acked.tags.items():
            r = c.get("/model-versions/get", params={"name": MODEL, "version": version})
            tags = {t["key"]: t["value"] for t in r.json()["model_version"].get("tags", [])}
            assert tags.get("k") == value, f"version {version}: lost tag"


def kill9_cycles(server: ServerProcess, cycles: int, seed: int = 0) -> list[tuple[int, int, int]]:
    """Run ``cycles`` load-then-SIGKILL rounds; return the acknowledged counts after each."""
    rng = random.Random(seed)
    acked = Acknowledged()
    history = []
    for _ in range(cycles):
        server.start()
        check(server, acked)  # what earlier rounds acknowledged survived the kill
        stop = threading.Event()
        threads = [threading.Thread(target=load, args=(server, acked, stop)) for load in LOADS]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(1.0, 2.5))
        server.stop(signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(60)
        history.append(acked.counts())
    server.start()
    check(server, acked)
    return history
