"""LlamaIndex autolog: a `VectorStoreIndex` over a few documents with mock models."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from llama_index_instrumentation import get_dispatcher

import spyglass
import spyglass.llama_index
import spyglass.openai
from spyglass.tracer.integrations.llama_index import SpyglassSpanHandler
from tests.tracer import fake_openai
from tests.tracer.conftest import Captured

DOCS = [
    Document(text="Spyglass stores traces in ClickHouse."),
    Document(text="The tracer spools batches to disk when the server is down."),
    Document(text="Paris is the capital of France."),
]


@pytest.fixture(autouse=True)
def offline_models() -> Iterator[None]:
    # tiktoken would download its encodings; a whitespace tokenizer keeps everything offline.
    Settings.tokenizer = lambda text: text.split()
    Settings.llm = MockLLM(max_tokens=8)
    Settings.embed_model = MockEmbedding(embed_dim=8)
    yield


def test_query_engine_over_a_vector_index_is_one_trace(capture: Captured) -> None:
    index = VectorStoreIndex.from_documents(DOCS)
    spyglass.llama_index.autolog()
    response = index.as_query_engine(similarity_top_k=2).query("Where are traces stored?")
    assert str(response)

    names = [s.name for s in capture.spans]
    roots = [s for s in capture.spans if s.parent is None]
    assert [r.name for r in roots] == ["RetrieverQueryEngine.query"]
    assert len({s.context.trace_id for s in capture.spans}) == 1
    root_attrs = capture.attrs(roots[0])
    assert json.loads(root_attrs["input.value"]) == {
        "str_or_query_bundle": "Where are traces stored?"
    }

    retrieve = next(s for s in capture.spans if s.name.endswith(".retrieve"))
    assert capture.attrs(retrieve)["gen_ai.operation.name"] == "retrieval"
    nodes = json.loads(capture.attrs(retrieve)["output.value"])
    assert len(nodes) == 2 and {"text", "score"} <= set(nodes[0])

    embeds = [
        s for s in capture.spans if capture.attrs(s).get("gen_ai.operation.name") == "embeddings"
    ]
    assert embeds and capture.attrs(embeds[0])["gen_ai.embeddings.dimension.count"] == 8

    llm = [s for s in capture.spans if s.name.startswith("MockLLM.")]
    assert llm, names
    attrs = capture.attrs(llm[0])
    assert attrs["gen_ai.operation.name"] in ("chat", "text_completion")
    assert "gen_ai.input.messages" in attrs and "gen_ai.output.messages" in attrs


@pytest.mark.usefixtures("capture")
def test_the_span_handler_does_not_leak_open_spans() -> None:
    index = VectorStoreIndex.from_documents(DOCS)
    spyglass.llama_index.autolog()
    engine = index.as_query_engine()
    for _ in range(3):
        engine.query("capital of France?")
    handler = next(h for h in get_dispatcher().span_handlers if isinstance(h, SpyglassSpanHandler))
    assert handler.open_spans == {}
    assert handler.run_for("anything") is None


def test_async_queries_keep_separate_traces(capture: Captured) -> None:
    index = VectorStoreIndex.from_documents(DOCS)
    spyglass.llama_index.autolog()
    engine = index.as_query_engine()

    async def run() -> None:
        await asyncio.gather(engine.aquery("one"), engine.aquery("two"))

    asyncio.run(run())
    roots = [s for s in capture.spans if s.parent is None]
    assert len(roots) == 2
    assert len({s.context.trace_id for s in capture.spans}) == 2


def test_openai_llm_reports_usage_and_is_traced_once_with_openai_autolog(
    capture: Captured,
) -> None:
    from llama_index.llms.openai import OpenAI

    llm = OpenAI(
        model="gpt-4o-mini",
        api_key=fake_openai.API_KEY,
        api_base="http://fake-openai.test/v1",
        http_client=httpx.Client(transport=fake_openai.transport()),
        max_retries=0,
    )
    spyglass.llama_index.autolog()
    llm.chat([ChatMessage(role="user", content="hello")])
    chat = next(s for s in capture.spans if s.name == "OpenAI.chat")
    attrs = capture.attrs(chat)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.usage.input_tokens"] == fake_openai.PROMPT_TOKENS
    assert attrs["gen_ai.usage.output_tokens"] == fake_openai.COMPLETION_TOKENS

    capture.clear()
    spyglass.openai.autolog()
    llm.chat([ChatMessage(role="user", content="hello")])
    llm_spans = [
        s for s in capture.spans if capture.attrs(s).get("gen_ai.operation.name") == "chat"
    ]
    assert [s.name for s in llm_spans] == ["chat gpt-4o-mini"]
    assert capture.parent_name(llm_spans[0]) == "OpenAI.chat"


def test_disable_removes_the_handlers(capture: Captured) -> None:
    spyglass.llama_index.autolog()
    spyglass.llama_index.autolog()
    kinds = [type(h).__name__ for h in get_dispatcher().span_handlers]
    assert kinds.count("SpyglassSpanHandler") == 1
    spyglass.llama_index.disable()
    assert "SpyglassSpanHandler" not in [type(h).__name__ for h in get_dispatcher().span_handlers]
    Settings.llm.complete("x")
    assert capture.spans == []
