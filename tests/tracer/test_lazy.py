"""Lazy spans: OpenAI spans are built in the export worker, after the call, and exported
exactly as if they had been recorded while the call ran."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spyglass
import spyglass.openai
from tests.tracer.otlp_stub import OtlpStub

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]
TIMING_KEYS = {"gen_ai.response.time_to_first_chunk"}


@pytest.fixture
def stub() -> Iterator[OtlpStub]:
    s = OtlpStub()
    s.start()
    yield s
    s.stop()


def workload(client: Any) -> None:
    """Every kind of call, under a parent span and a session."""
    with spyglass.start_span("request"), spyglass.context(session_id="s-1", tags=["t"]):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.5)
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        list(stream)
        client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
        client.responses.create(model="gpt-4.1", input="ping", instructions="Be brief.")
        list(client.responses.create(model="gpt-4.1", input="ping", stream=True))
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="say hi")
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="fail-500", messages=MESSAGES)


def comparable(name: str, attributes: Any, events: list[str], status: int) -> tuple[Any, ...]:
    attrs = {k: v for k, v in dict(attributes).items() if k not in TIMING_KEYS}
    return (name, sorted(attrs.items()), events, status)


def test_spans_built_in_the_worker_equal_spans_built_at_once(
    stub: OtlpStub, tmp_path: Path, openai_client: Any
) -> None:
    memory = InMemorySpanExporter()
    spyglass.configure(span_processors=[SimpleSpanProcessor(memory)], spool_dir=False)
    spyglass.openai.autolog()
    try:
        workload(openai_client)
    finally:
        spyglass.shutdown()
    eager = sorted(
        comparable(s.name, s.attributes, [e.name for e in s.events], s.status.status_code.value)
        for s in memory.get_finished_spans()
    )

    spyglass.configure(tracking_uri=stub.url, project="lazy", spool_dir=tmp_path)
    try:
        workload(openai_client)
        assert spyglass.flush(30)
    finally:
        spyglass.disable()
        spyglass.shutdown()
    exported = stub.spans()
    lazy = sorted(
        comparable(s["name"], s["attributes"], s["events"], s["status"]) for s in exported
    )
    assert len(lazy) == 8
    assert lazy == eager
    by_id = {s["span_id"]: s for s in exported}
    request = next(s for s in exported if s["name"] == "request")
    for span in exported:
        if span is not request:
            assert by_id[span["parent_span_id"]] is request
            assert request["start"] <= span["start"] <= span["end"] <= request["end"]


def test_building_happens_off_the_callers_thread(
    stub: OtlpStub, tmp_path: Path, openai_client: Any
) -> None:
    threads: set[str] = set()

    def redact(_key: str, value: Any) -> Any:
        threads.add(threading.current_thread().name)
        return value

    spyglass.configure(tracking_uri=stub.url, project="lazy", spool_dir=tmp_path, redact=redact)
    spyglass.openai.autolog()
    try:
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert threads == set()  # nothing encoded while the app waited
        assert spyglass.flush(30)
    finally:
        spyglass.disable()
        spyglass.shutdown()
    assert threads == {"spyglass-export"}
    assert [s["name"] for s in stub.spans()] == ["chat gpt-4o-mini"]


def test_messages_changed_after_the_call_do_not_change_what_it_recorded(
    stub: OtlpStub, tmp_path: Path, openai_client: Any
) -> None:
    spyglass.configure(tracking_uri=stub.url, project="lazy", spool_dir=tmp_path)
    spyglass.openai.autolog()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "first question"}]
    try:
        reply = openai_client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        messages.append({"role": "assistant", "content": reply.choices[0].message.content})
        messages[0]["content"] = "edited in place"
        messages.append({"role": "user", "content": "second question"})
        assert spyglass.flush(30)
    finally:
        spyglass.disable()
        spyglass.shutdown()
    (span,) = stub.spans()
    assert "first question" in span["attributes"]["gen_ai.input.messages"]
    assert "edited" not in span["attributes"]["gen_ai.input.messages"]
    assert "second" not in span["attributes"]["gen_ai.input.messages"]


def test_a_failure_while_building_in_the_worker_never_reaches_the_app(
    stub: OtlpStub, tmp_path: Path, openai_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def redact(_key: str, _value: Any) -> Any:
        raise RuntimeError("bug in the hook")

    spyglass.configure(tracking_uri=stub.url, project="lazy", spool_dir=tmp_path, redact=redact)
    spyglass.openai.autolog()
    try:
        with caplog.at_level(logging.WARNING, logger="spyglass.tracer"):
            result = openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert result.choices[0].message.content == "Echo: hello"
            assert spyglass.flush(30)
    finally:
        spyglass.disable()
        spyglass.shutdown()
    assert "building a span failed" in caplog.text
    (span,) = stub.spans()  # exported with what was known before the failure
    assert span["attributes"]["gen_ai.request.model"] == "gpt-4o-mini"
    assert "gen_ai.input.messages" not in span["attributes"]
