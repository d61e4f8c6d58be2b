from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ServerProcess


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spyglass.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_demo_command_loads_sample_traces_into_a_running_server(
    server: ServerProcess, project: str
) -> None:
    result = run_cli("demo", "--url", server.url, "--project", project, "--traces", "30")
    assert result.returncode == 0, result.stderr
    assert "sent 30 sample traces" in result.stdout

    page = httpx.get(f"{server.url}/api/traces", params={"project": project, "limit": 100}).json()
    traces = page["traces"]
    assert len(traces) == 30
    assert {t["name"] for t in traces} == {"rag-chat", "invoke_agent support-agent", "summarize"}
    assert any(t["status"] == "ERROR" for t in traces)
    assert all(t["cost"] > 0 for t in traces)
    sessions = httpx.get(f"{server.url}/api/sessions", params={"project": project}).json()
    assert sessions["sessions"] and all(s["traces"] >= 1 for s in sessions["sessions"])


def test_demo_command_reports_an_unreachable_server() -> None:
    result = run_cli("demo", "--url", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "cannot reach" in result.stderr


def test_server_with_demo_flag_starts_with_data(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path, extra_args=["--demo"])
    proc.start()
    try:
        page = httpx.get(f"{proc.url}/api/traces", params={"limit": 500}).json()
        assert len(page["traces"]) == 60
        assert demo_runs(proc.url) == 5  # 3 training runs and 2 evaluations
        api = f"{proc.url}/api/2.0/mlflow"
        alias = httpx.get(f"{api}/registered-models/alias",
                          params={"name": "demo-support-bot", "alias": "champion"})  # fmt: skip
        assert alias.json()["model_version"]["version"] == "2"
        assert "support-faq" in httpx.get(f"{proc.url}/evaluations").text
        proc.stop()
        proc.start()  # seeded once per store
        time.sleep(2)
        assert demo_runs(proc.url) == 5
    finally:
        proc.stop()


def demo_runs(url: str) -> int:
    """Runs in the demo experiment, once the background seeding has finished (or 30 s)."""
    api = f"{url}/api/2.0/mlflow"
    deadline = time.monotonic() + 30
    count = 0
    while time.monotonic() < deadline:
        found = httpx.get(f"{api}/experiments/get-by-name",
                          params={"experiment_name": "demo-experiments"})  # fmt: skip
        if found.status_code == 200:
            exp_id = found.json()["experiment"]["experiment_id"]
            runs = httpx.post(f"{api}/runs/search", json={"experiment_ids": [exp_id]}).json()
            count = len(runs.get("runs", []))
            ended = all(r["info"]["status"] == "FINISHED" for r in runs.get("runs", []))
            if count == 5 and ended:
                return count
        time.sleep(0.5)
    return count


def test_bad_server_options_exit_with_a_message(tmp_path: Path) -> None:
    result = run_cli("server", "--data-dir", str(tmp_path), "--database", "no-dashes")
    assert result.returncode == 2
    assert "database name" in result.stderr


def test_openapi_schema_documents_the_routes(server: ServerProcess) -> None:
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    for route in ("/v1/traces", "/api/traces", "/api/traces/{trace_id}", "/api/sessions",
                  "/api/stats", "/api/projects"):  # fmt: skip
        assert route in paths


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    import json

    proc = ServerProcess(tmp_path, extra_args=["--log-level", "info", "--log-format", "json"])
    proc.start()
    proc.stop()
    lines = [line for line in proc.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    assert any(e["logger"] == "spyglass.server" and "serving store" in e["message"]
               for e in entries)  # fmt: skip
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    bad = subprocess.run(
        [sys.executable, "-m", "spyglass.cli", "server", "--log-format", "xml"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "--log-format must be one of" in bad.stderr
