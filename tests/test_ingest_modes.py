"""Which ingest path the server takes, and the combinations it refuses."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.rpc.status_pb2 import Status
from starlette.testclient import TestClient

from benchmarks._spans import genai_request
from spyglass.collector.app import check_settings, create_app, ingest_mode
from spyglass.collector.routes.otlp_http import RETRY_AFTER_SECONDS
from spyglass.collector.settings import ServerSettings
from spyglass.errors import ConfigError
from tests.conftest import ServerProcess


def test_an_unknown_ingest_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="ingest must be one of auto, native, python"):
        ServerSettings(ingest="fast")


def test_native_ingest_needs_the_embedded_store() -> None:
    settings = ServerSettings(store_url="http://clickhouse:8123", ingest="native")
    with pytest.raises(ConfigError, match="needs the embedded store"):
        check_settings(settings)


def test_native_ingest_cannot_redact(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=tmp_path, redact_defaults=True, ingest="native")
    with pytest.raises(ConfigError, match="cannot apply redaction rules"):
        check_settings(settings)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "native"),
        ({"ingest": "python"}, "python"),
        ({"redact_defaults": True}, "python"),  # redaction rules run in Python
        ({"store_url": "http://clickhouse:8123"}, "python"),  # its INSERT reads no local file
    ],
)
def test_auto_takes_the_native_path_where_it_applies(
    tmp_path: Path, options: dict[str, Any], expected: str
) -> None:
    settings = ServerSettings(data_dir=tmp_path, **options)
    url, _, _, redactor = check_settings(settings)
    assert ingest_mode(settings, url, redactor) == expected


def test_a_running_server_stores_big_exports_natively_and_small_ones_in_python(
    server: ServerProcess,
) -> None:
    big = genai_request(6000, project="native-e2e", seed=7)  # above PYTHON_INSERT_MAX_SPANS
    small = genai_request(20, project="native-e2e", seed=8)
    headers = {"content-type": "application/x-protobuf"}
    for body in (big, small):
        response = httpx.post(f"{server.url}/v1/traces", content=body, headers=headers, timeout=60)
        assert response.status_code == 200
    # The big export is acknowledged once durable, before it is stored: wait for it.
    deadline = time.monotonic() + 60
    while True:
        projects = httpx.get(f"{server.url}/api/projects", timeout=30).json()["projects"]
        stored = next((p["spans"] for p in projects if p["name"] == "native-e2e"), 0)
        if stored == 6020 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert stored == 6020
    page = httpx.get(
        f"{server.url}/api/traces", params={"project": "native-e2e", "limit": 50}, timeout=30
    ).json()
    llm = next(t for t in page["traces"] if t["llm_calls"])
    trace = httpx.get(
        f"{server.url}/api/traces/{llm['trace_id']}", params={"project": "native-e2e"}, timeout=30
    ).json()
    chat = next(s for s in trace["spans"] if s["span_type"] == "LLM")
    # Canonical messages, whichever path stored the span.
    assert json.loads(chat["input"])[0]["role"] == "system"
    assert "parts" not in chat["input"]
    assert chat["usage"]["input"] > 0 and chat["cost"]["total"] > 0


@pytest.mark.parametrize("ingest", ["native", "python"])
def test_a_full_write_queue_refuses_bodies_without_decoding_them(
    chdb_dir: Path, tmp_path: Path, ingest: str
) -> None:
    """Once the queue has refused a body, later ones get 503 unread (a saturated server spends
    no CPU parsing what it would refuse), until spans are stored again (`PipelineStats.full`;
    the queues set and clear it: tests/test_wal.py, tests/test_pipeline.py)."""
    settings = ServerSettings(
        store_url=f"chdb://{chdb_dir}",
        database=f"t_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path,
        ingest=ingest,
    )
    garbage = b"\xff\xff\xff not protobuf"
    headers = {"content-type": "application/x-protobuf"}
    with TestClient(create_app(settings)) as client:
        stats = client.app.state.services.ingest.stats  # type: ignore[attr-defined]
        stats.full = True
        refused = client.post("/v1/traces", content=garbage, headers=headers)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        assert Status.FromString(refused.content).message == "write queue is full (0 spans)"
        stats.full = False
        assert client.post("/v1/traces", content=garbage, headers=headers).status_code == 400
