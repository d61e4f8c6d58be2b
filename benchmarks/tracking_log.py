"""Metric logging latency: Spyglass vs an MLflow server on sqlite, same clients, same machine.

Starts a Spyglass server (embedded store) and, if the ``mlflow`` package can run one, an
``mlflow server --backend-store-uri sqlite:///...``; then, against each, times:

- ``log_metric``: median and p95 of single calls (the real ``MlflowClient`` and Spyglass's
  own ``TrackingClient``), each call acknowledged by the server;
- ``log_batch``: 10,000 metrics in one client call (both clients split it into requests of
  1,000, MLflow's limit);
- MLflow 3 logged models: ``mlflow.pyfunc.log_model`` (create, upload, finalize), then
  ``register_model`` and ``pyfunc.load_model("models:/name/version")``, median of ``--models``;
- ``metrics/get-history-bulk-interval`` (the chart endpoint) over 10 runs of 2,000 steps.

    python benchmarks/tracking_log.py --calls 500 --batch 10000 --repeats 5 --models 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
from spyglass.client import TrackingClient  # noqa: E402
from tests.conftest import ServerProcess  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mlflow(workdir: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    """An MLflow tracking server on sqlite, or None if it cannot run here."""
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which("mlflow")
    if exe is None:
        return None
    port = _free_port()
    log = open(workdir / "mlflow.log", "ab")
    proc = subprocess.Popen(
        [exe, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
         "--artifacts-destination", str(workdir / "mlartifacts")],
        stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.terminate()
    return None


def bench_models(url: str, repeats: int) -> dict[str, float]:
    """Median seconds of log_model, register_model and load_model through the mlflow client."""
    import mlflow
    import mlflow.pyfunc

    class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: object, model_input: list[float]) -> list[float]:  # noqa: ARG002
            return [2 * x for x in model_input]

    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    experiment_id = mlflow.create_experiment(f"bench-models-{time.time_ns()}")
    name = f"bench-{time.time_ns()}"
    timings: dict[str, list[float]] = {"log_model": [], "register_model": [], "load_model": []}
    for _ in range(repeats):
        with mlflow.start_run(experiment_id=experiment_id):
            start = time.perf_counter()
            info = mlflow.pyfunc.log_model(name="m", python_model=Doubler())
            timings["log_model"].append(time.perf_counter() - start)
        start = time.perf_counter()
        version = mlflow.register_model(info.model_uri, name)
        timings["register_model"].append(time.perf_counter() - start)
        start = time.perf_counter()
        mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
        timings["load_model"].append(time.perf_counter() - start)
    return {f"{k} s (median of {repeats})": statistics.median(v) for k, v in timings.items()}


def bench_bulk_interval(url: str, repeats: int = 20) -> dict[str, float]:
    """Median ms of one get-history-bulk-interval call over 10 runs x 2,000 steps."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    ml = MlflowClient(tracking_uri=url)
    exp = ml.create_experiment(f"bench-bulk-{time.time_ns()}")
    runs = [ml.create_run(exp).info.run_id for _ in range(10)]
    for run in runs:
        ml.log_batch(run, metrics=[Metric("loss", 1 / (i + 1), 0, i) for i in range(2000)])
    params = {"run_ids": runs, "metric_key": "loss", "max_results": 320}
    endpoint = f"{url}/api/2.0/mlflow/metrics/get-history-bulk-interval"
    times = []
    with httpx.Client() as http:
        for _ in range(repeats + 1):
            start = time.perf_counter()
            http.get(endpoint, params=params).raise_for_status()
            times.append(time.perf_counter() - start)
    return {"get-history-bulk-interval 10x2000 ms (median)": statistics.median(times[1:]) * 1000}


def bench(url: str, calls: int, batch: int, repeats: int) -> dict[str, float]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    out: dict[str, float] = {}
    ml = MlflowClient(tracking_uri=url)
    own = TrackingClient(url)
    exp = ml.create_experiment(f"bench-{time.time_ns()}")
    now = int(time.time() * 1000)
    for label, log_one, log_many in [
        (
            "mlflow client",
            lambda run, i: ml.log_metric(run, "loss", 1.0 / (i + 1), step=i),
            lambda run: ml.log_batch(
                run, metrics=[Metric(f"m{i % 10}", float(i), now, i) for i in range(batch)]
            ),
        ),
        (
            "spyglass client",
            lambda run, i: own.log_metric(run, "loss", 1.0 / (i + 1), step=i),
            lambda run: own.log_batch(
                run,
                metrics=[
                    {"key": f"m{i % 10}", "value": float(i), "timestamp": now, "step": i}
                    for i in range(batch)
                ],
            ),
        ),
    ]:
        run = ml.create_run(exp).info.run_id
        log_one(run, 10**6)  # warm the connection and the run
        times = []
        for i in range(calls):
            start = time.perf_counter()
            log_one(run, i)
            times.append(time.perf_counter() - start)
        times.sort()
        out[f"{label}: log_metric median ms"] = statistics.median(times) * 1000
        out[f"{label}: log_metric p95 ms"] = times[int(len(times) * 0.95)] * 1000
        batches = []
        for _ in range(repeats):
            target = ml.create_run(exp).info.run_id
            start = time.perf_counter()
            log_many(target)
            batches.append(time.perf_counter() - start)
        out[f"{label}: log_batch {batch} metrics s (best)"] = min(batches)
        out[f"{label}: log_batch {batch} metrics s (median)"] = statistics.median(batches)
    own.close()
    return out


def measure(url: str, args: argparse.Namespace) -> dict[str, float]:
    out = bench(url, args.calls, args.batch, args.repeats)
    out.update(bench_bulk_interval(url))
    if args.models:
        out.update(bench_models(url, args.models))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", type=int, default=5, help="logged-model round trips")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the MLflow server")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        spyglass = ServerProcess(Path(tmp, "spyglass").resolve())
        spyglass.data_dir.mkdir()
        spyglass.start()
        try:
            results["spyglass"] = measure(spyglass.url, args)
        finally:
            spyglass.stop()
        if not args.no_mlflow:
            workdir = Path(tmp, "mlflow").resolve()
            workdir.mkdir()
            started = start_mlflow(workdir)
            if started is None:
                print("mlflow server could not start here; see", workdir / "mlflow.log")
            else:
                proc, url = started
                try:
                    results["mlflow (sqlite)"] = measure(url, args)
                finally:
                    proc.terminate()
                    proc.wait(30)
    names = list(results)
    print(f"{'measure':<48}" + "".join(f"{n:>18}" for n in names))
    for key in results[names[0]]:
        print(f"{key:<48}" + "".join(f"{results[n].get(key, float('nan')):>18.3f}" for n in names))


if __name__ == "__main__":
    main()
