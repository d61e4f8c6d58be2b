"""Tracer fixtures: an in-memory span capture and OpenAI clients on a fake transport."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spyglass
from tests.tracer import fake_openai


class Captured:
    """Finished spans, with helpers to read them."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans]
        return found[0]

    def attrs(self, span: ReadableSpan) -> dict[str, Any]:
        return dict(span.attributes or {})

    def json_attr(self, span: ReadableSpan, key: str) -> Any:
        return json.loads(str((span.attributes or {})[key]))

    def parent_name(self, span: ReadableSpan) -> str | None:
        if span.parent is None:
            return None
        by_id = {s.context.span_id: s for s in self.spans if s.context is not None}
        parent = by_id.get(span.parent.span_id)
        return parent.name if parent is not None else "?"

    def clear(self) -> None:
        self.exporter.clear()


@pytest.fixture
def capture() -> Iterator[Captured]:
    exporter = InMemorySpanExporter()
    spyglass.configure(span_processors=[SimpleSpanProcessor(exporter)], spool_dir=False)
    yield Captured(exporter)
    spyglass.disable()
    spyglass.shutdown()


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[fake_openai.FakeOpenAIServer]:
    with fake_openai.FakeOpenAIServer() as server:
        yield server


# "transport": an httpx client on `httpx.MockTransport`; "server": the SDK's own HTTP client
# (httpx in openai 2.x, httpx2 in 3.x) against the fake API on a local port.
CLIENT_KINDS = ["transport", "server"]


@pytest.fixture(params=CLIENT_KINDS)
def openai_client(request: pytest.FixtureRequest) -> Iterator[Any]:
    import openai

    if request.param == "transport":
        client = openai.OpenAI(
            api_key=fake_openai.API_KEY,
            base_url="http://fake-openai.test/v1",
            http_client=httpx.Client(transport=fake_openai.transport()),
            max_retries=0,
        )
    else:
        server = request.getfixturevalue("fake_openai_server")
        client = openai.OpenAI(api_key=fake_openai.API_KEY, base_url=server.base_url, max_retries=0)
    with client:
        yield client


@pytest.fixture(params=CLIENT_KINDS)
def async_openai_client(request: pytest.FixtureRequest) -> Any:
    import openai

    if request.param == "transport":
        return openai.AsyncOpenAI(
            api_key=fake_openai.API_KEY,
            base_url="http://fake-openai.test/v1",
            http_client=httpx.AsyncClient(transport=fake_openai.transport()),
            max_retries=0,
        )
    server = request.getfixturevalue("fake_openai_server")
    return openai.AsyncOpenAI(api_key=fake_openai.API_KEY, base_url=server.base_url, max_retries=0)
