"""Autologged apps against a real `spyglass server`, read back through the query API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import spyglass
import spyglass.openai
from tests.conftest import ServerProcess
from tests.tracer import fake_openai


def fetch_trace(url: str, project: str, trace_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{url}/api/traces/{trace_id}", params={"project": project})
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def app(client: Any) -> str:
    """A tiny traced app: one chain span around an autologged chat call."""

    @spyglass.trace(name="answer")
    def answer(question: str) -> str:
        result = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        return str(result.choices[0].message.content)

    with spyglass.start_span("request") as root, spyglass.context(session_id="s-1", user_id="u-1"):
        answer("what is spyglass?")
        return root.trace_id


def check_trace(body: dict[str, Any]) -> None:
    spans = {s["name"]: s for s in body["spans"]}
    assert set(spans) == {"request", "answer", "chat gpt-4o-mini"}
    llm = spans["chat gpt-4o-mini"]
    assert llm["parent_span_id"] == spans["answer"]["span_id"]
    assert llm["span_type"] == "LLM"
    assert llm["model"] == "gpt-4o-mini-2024-01-01"
    assert llm["provider"] == "openai"
    assert llm["usage"]["input"] == fake_openai.PROMPT_TOKENS
    assert llm["usage"]["output"] == fake_openai.COMPLETION_TOKENS
    assert llm["usage"]["cache_read"] == fake_openai.CACHED_TOKENS
    assert llm["total_cost"] > 0
    assert json.loads(llm["input"]) == [{"role": "user", "content": "what is spyglass?"}]
    assert json.loads(llm["output"])[0]["content"] == "Echo: what is spyglass?"
    assert spans["answer"]["span_type"] == "CHAIN"
    assert json.loads(spans["answer"]["input"]) == {"question": "what is spyglass?"}
    assert spans["answer"]["output"] == "Echo: what is spyglass?"


def test_autologged_calls_reach_the_server_with_model_tokens_cost_and_messages(
    server: ServerProcess, project: str, openai_client: Any, tmp_path: Path
) -> None:
    spyglass.configure(tracking_uri=server.url, project=project, spool_dir=tmp_path)
    spyglass.openai.autolog()
    try:
        trace_id = app(openai_client)
        assert spyglass.flush(30)
    finally:
        spyglass.disable()
        spyglass.shutdown()
    body = fetch_trace(server.url, project, trace_id)
    check_trace(body)
    assert body["trace"]["session"] == "s-1" and body["trace"]["user"] == "u-1"


def test_server_down_then_up_loses_nothing_and_the_app_never_notices(
    tmp_path_factory: pytest.TempPathFactory, project: str, openai_client: Any
) -> None:
    later = ServerProcess(tmp_path_factory.mktemp("later"))
    spool = tmp_path_factory.mktemp("spool")
    spyglass.configure(tracking_uri=later.url, project=project, spool_dir=spool)
    spyglass.openai.autolog()
    try:
        started = time.perf_counter()
        trace_ids = [app(openai_client) for _ in range(5)]
        assert time.perf_counter() - started < 2.0
        assert spyglass.flush(10)
        assert list(spool.rglob("*.otlp"))  # waiting on disk
        later.start()
        try:
            for trace_id in trace_ids:
                check_trace(fetch_trace(later.url, project, trace_id, timeout=60))
        finally:
            later.stop()
    finally:
        spyglass.disable()
        spyglass.shutdown()


def test_a_script_run_with_no_server_appears_once_the_server_starts(
    project: str, tmp_path: Path
) -> None:
    script = (
        "import spyglass\n"
        f"spyglass.configure(tracking_uri='http://127.0.0.1:9', project={project!r})\n"
        "with spyglass.start_span('offline-job') as s:\n"
        "    print(s.trace_id)\n"
    )
    # The tracer's default spool is ~/.spyglass/spool, the server's <data dir>/spool: the same
    # place by default. Here both point into tmp_path.
    env = {**os.environ, "SPYGLASS_SPOOL_DIR": str(tmp_path / "spool")}
    env.pop("PYTEST_VERSION", None)
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, check=True, timeout=60, capture_output=True
    )
    trace_id = out.stdout.decode().strip()
    assert list((tmp_path / "spool").rglob("*.otlp"))

    later = ServerProcess(tmp_path)
    later.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = httpx.get(f"{later.url}/api/traces/{trace_id}", params={"project": project})
            if response.status_code == 200:
                break
            time.sleep(0.2)
        assert [s["name"] for s in response.json()["spans"]] == ["offline-job"]
        assert list((tmp_path / "spool").rglob("*.otlp")) == []
    finally:
        later.stop()
