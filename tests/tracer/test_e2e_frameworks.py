"""LangChain and LlamaIndex apps, autologged, against a real `spyglass server`: the spans are
read back through the query API with model, tokens, cost and messages, and an OpenAI call
made by the framework is stored once, as the one LLM span of its trace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import spyglass
import spyglass.langchain
import spyglass.llama_index
import spyglass.openai
from tests.conftest import ServerProcess
from tests.tracer import fake_openai
from tests.tracer.test_e2e_server import fetch_trace

QUESTION = "Where are traces stored?"


@pytest.fixture
def traced(server: ServerProcess, project: str, tmp_path: Path) -> Iterator[None]:
    spyglass.configure(tracking_uri=server.url, project=project, spool_dir=tmp_path)
    yield
    spyglass.disable()
    spyglass.shutdown()


def all_spans(url: str, project: str, trace_id: str) -> list[dict[str, Any]]:
    """Every span of a trace, through the paged ``/api/traces/{id}/spans``."""
    spans: list[dict[str, Any]] = []
    params: dict[str, Any] = {"project": project, "limit": 2}
    while True:
        response = httpx.get(f"{url}/api/traces/{trace_id}/spans", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        spans += page["spans"]
        if not page.get("next_cursor"):
            return spans
        params["cursor"] = page["next_cursor"]


def trace_ids(url: str, project: str) -> list[str]:
    response = httpx.get(f"{url}/api/traces", params={"project": project})
    assert response.status_code == 200, response.text
    return [t["trace_id"] for t in response.json()["traces"]]


def the_llm_span(spans: list[dict[str, Any]]) -> dict[str, Any]:
    llm = [s for s in spans if s["span_type"] == "LLM"]
    assert len(llm) == 1, [(s["name"], s["span_type"]) for s in spans]
    return llm[0]


def assert_llm_usage_and_cost(llm: dict[str, Any]) -> None:
    assert llm["model"] == "gpt-4o-mini-2024-01-01"
    assert llm["provider"] == "openai"
    assert llm["usage"]["input"] == fake_openai.PROMPT_TOKENS
    assert llm["usage"]["output"] == fake_openai.COMPLETION_TOKENS
    assert llm["total_cost"] > 0


@pytest.mark.usefixtures("traced")
@pytest.mark.parametrize("with_openai_autolog", [True, False], ids=["openai-on", "openai-off"])
def test_langchain_chat_openai_chain_reaches_the_server_with_one_llm_span(
    server: ServerProcess,
    project: str,
    fake_openai_server: fake_openai.FakeOpenAIServer,
    with_openai_autolog: bool,
) -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    spyglass.langchain.autolog()
    if with_openai_autolog:
        spyglass.openai.autolog()
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])
    model = ChatOpenAI(
        model="gpt-4o-mini",
        api_key=fake_openai.API_KEY,  # type: ignore[arg-type]
        base_url=fake_openai_server.base_url,
        max_retries=0,
    )
    chain = prompt | model | StrOutputParser()
    with spyglass.context(session_id="lc-session", user_id="lc-user"):
        assert chain.invoke({"question": QUESTION}) == f"Echo: {QUESTION}"
    assert spyglass.flush(30)

    (trace_id,) = trace_ids(server.url, project)  # one trace: no stray OpenAI trace
    body = fetch_trace(server.url, project, trace_id)
    assert body["trace"]["session"] == "lc-session" and body["trace"]["user"] == "lc-user"
    spans = all_spans(server.url, project, trace_id)
    assert sorted(s["span_id"] for s in spans) == sorted(s["span_id"] for s in body["spans"])
    by_id = {s["span_id"]: s for s in spans}

    llm = the_llm_span(spans)
    assert_llm_usage_and_cost(llm)
    assert json.loads(llm["input"]) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
    ]
    assert json.loads(llm["output"])[0]["content"] == f"Echo: {QUESTION}"
    if with_openai_autolog:
        assert llm["name"] == "chat gpt-4o-mini"
        assert by_id[llm["parent_span_id"]]["name"] == "ChatOpenAI"
    else:
        assert llm["name"] == "ChatOpenAI"
    names = {s["name"] for s in spans}
    assert {"RunnableSequence", "ChatPromptTemplate", "ChatOpenAI", "StrOutputParser"} <= names
    roots = [s for s in spans if not s["parent_span_id"]]
    assert [r["name"] for r in roots] == ["RunnableSequence"]


@pytest.mark.usefixtures("traced")
def test_llama_index_query_engine_with_openai_reaches_the_server_with_one_llm_span(
    server: ServerProcess,
    project: str,
    fake_openai_server: fake_openai.FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import llama_index.core
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.llms.openai import OpenAI

    # tiktoken would download its encodings: a whitespace tokenizer, for this test only
    monkeypatch.setattr(llama_index.core, "global_tokenizer", lambda text: text.split())
    llm_model = OpenAI(
        model="gpt-4o-mini",
        api_key=fake_openai.API_KEY,
        api_base=fake_openai_server.base_url,
        max_retries=0,
    )
    docs = [
        Document(text="Spyglass stores traces in ClickHouse."),
        Document(text="Paris is the capital of France."),
    ]
    index = VectorStoreIndex.from_documents(docs, embed_model=MockEmbedding(embed_dim=8))
    spyglass.llama_index.autolog()
    spyglass.openai.autolog()
    engine = index.as_query_engine(llm=llm_model, similarity_top_k=2)
    answer = str(engine.query(QUESTION))
    assert answer.startswith("Echo: ")
    assert spyglass.flush(30)

    (trace_id,) = trace_ids(server.url, project)
    spans = all_spans(server.url, project, trace_id)
    by_id = {s["span_id"]: s for s in spans}
    roots = [s for s in spans if not s["parent_span_id"]]
    assert [r["name"] for r in roots] == ["RetrieverQueryEngine.query"]
    assert json.loads(roots[0]["input"]) == {"str_or_query_bundle": QUESTION}

    llm = the_llm_span(spans)
    assert llm["name"] == "chat gpt-4o-mini"
    assert by_id[llm["parent_span_id"]]["name"] == "OpenAI.chat"
    assert_llm_usage_and_cost(llm)
    messages = json.loads(llm["input"])
    assert QUESTION in messages[-1]["content"]
    assert "ClickHouse" in json.dumps(messages)  # the retrieved context reached the prompt
    assert json.loads(llm["output"])[0]["content"] == answer

    kinds = {s["span_type"] for s in spans}
    assert {"RETRIEVER", "EMBEDDING", "LLM"} <= kinds
