"""LangChain autolog with LangChain's fake models and `ChatOpenAI` on the fake OpenAI API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

import spyglass
import spyglass.langchain
import spyglass.openai
from tests.tracer import fake_openai
from tests.tracer.conftest import Captured

PROMPT = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])


def fake_chain() -> Any:
    return PROMPT | FakeListChatModel(responses=["forty-two"]) | StrOutputParser()


def chat_openai(**kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini",
        api_key=fake_openai.API_KEY,  # type: ignore[arg-type]
        base_url="http://fake-openai.test/v1",
        http_client=httpx.Client(transport=fake_openai.transport()),
        http_async_client=httpx.AsyncClient(transport=fake_openai.transport()),
        max_retries=0,
        **kwargs,
    )


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


class KeywordRetriever(BaseRetriever):
    docs: list[str]

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,  # noqa: ARG002
    ) -> list[Document]:
        return [Document(page_content=d) for d in self.docs if query.lower() in d.lower()]


def test_a_chain_with_a_fake_chat_model_becomes_one_trace(capture: Captured) -> None:
    spyglass.langchain.autolog()
    assert fake_chain().invoke({"question": "meaning of life?"}) == "forty-two"

    root = capture.named("RunnableSequence")
    assert root.parent is None
    assert {s.context.trace_id for s in capture.spans} == {root.context.trace_id}
    for child in ("ChatPromptTemplate", "FakeListChatModel", "StrOutputParser"):
        assert capture.parent_name(capture.named(child)) == "RunnableSequence"
    llm = capture.attrs(capture.named("FakeListChatModel"))
    assert llm["gen_ai.operation.name"] == "chat"
    assert json.loads(llm["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "meaning of life?"}]},
    ]
    out = json.loads(llm["gen_ai.output.messages"])
    assert out[0]["parts"] == [{"type": "text", "content": "forty-two"}]
    root_attrs = capture.attrs(root)
    assert root_attrs["gen_ai.operation.name"] == "invoke_workflow"
    assert json.loads(root_attrs["input.value"]) == {"question": "meaning of life?"}
    assert root_attrs["output.value"] == "forty-two"


def test_chat_openai_call_appears_once_nested_under_its_langchain_span(
    capture: Captured,
) -> None:
    spyglass.autolog()
    chain = PROMPT | chat_openai() | StrOutputParser()
    assert chain.invoke({"question": "hi"}) == "Echo: hi"

    llm_spans = [
        s for s in capture.spans if capture.attrs(s).get("gen_ai.operation.name") == "chat"
    ]
    assert [s.name for s in llm_spans] == ["chat gpt-4o-mini"]
    llm = llm_spans[0]
    assert capture.parent_name(llm) == "ChatOpenAI"
    assert capture.attrs(capture.named("ChatOpenAI"))["gen_ai.operation.name"] == "invoke_workflow"
    assert {s.context.trace_id for s in capture.spans} == {llm.context.trace_id}
    attrs = capture.attrs(llm)
    assert attrs["gen_ai.usage.input_tokens"] == fake_openai.PROMPT_TOKENS
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini-2024-01-01"


def test_chat_openai_streaming_is_traced_once_with_usage(capture: Captured) -> None:
    spyglass.autolog()
    model = chat_openai(stream_usage=True)
    text = "".join(str(chunk.content) for chunk in model.stream("hello"))
    assert text.strip() == "Echo: hello"
    llm = capture.named("chat gpt-4o-mini")
    assert capture.parent_name(llm) == "ChatOpenAI"
    assert capture.attrs(llm)["gen_ai.usage.output_tokens"] == fake_openai.COMPLETION_TOKENS


def test_chat_openai_without_openai_autolog_records_the_llm_itself(capture: Captured) -> None:
    spyglass.langchain.autolog()
    chat_openai().invoke("hello")
    attrs = capture.attrs(capture.named("ChatOpenAI"))
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.usage.input_tokens"] == fake_openai.PROMPT_TOKENS
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == fake_openai.CACHED_TOKENS


def test_a_tool_using_agent_is_one_trace_with_model_and_tool_spans(capture: Captured) -> None:
    from langchain.agents import create_agent

    spyglass.autolog()
    agent = create_agent(chat_openai(), tools=[get_weather])
    result = agent.invoke({"messages": [{"role": "user", "content": "weather in Paris?"}]})
    assert result["messages"][-1].content == "The tool said: sunny in Paris"

    assert len({s.context.trace_id for s in capture.spans}) == 1
    llm = [s for s in capture.spans if s.name == "chat gpt-4o-mini"]
    assert len(llm) == 2
    assert all(capture.parent_name(s) == "ChatOpenAI" for s in llm)
    tool_span = capture.named("execute_tool get_weather")
    attrs = capture.attrs(tool_span)
    assert attrs["gen_ai.tool.name"] == "get_weather"
    assert attrs["gen_ai.tool.call.id"] == "call_1"
    assert json.loads(attrs["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert attrs["gen_ai.tool.call.result"] == "sunny in Paris"
    roots = [s for s in capture.spans if s.parent is None]
    assert len(roots) == 1


def test_async_runs_in_parallel_keep_separate_correct_trees(capture: Captured) -> None:
    spyglass.autolog()
    chain = PROMPT | chat_openai() | StrOutputParser()

    async def run() -> list[str]:
        return list(await asyncio.gather(*(chain.ainvoke({"question": f"q{i}"}) for i in range(4))))

    assert asyncio.run(run()) == [f"Echo: q{i}" for i in range(4)]
    roots = [s for s in capture.spans if s.name == "RunnableSequence"]
    assert len(roots) == 4 and all(r.parent is None for r in roots)
    llm = [s for s in capture.spans if s.name == "chat gpt-4o-mini"]
    assert len(llm) == 4
    by_trace = {r.context.trace_id: r for r in roots}
    for span in llm:
        assert capture.parent_name(span) == "ChatOpenAI"
        assert span.context.trace_id in by_trace
    assert len({s.context.trace_id for s in llm}) == 4


def test_threaded_batch_under_a_user_span_stays_in_one_trace(capture: Captured) -> None:
    spyglass.autolog()
    chain = PROMPT | chat_openai() | StrOutputParser()
    with spyglass.start_span("job") as job:
        answers = chain.batch(
            [{"question": f"q{i}"} for i in range(3)], config={"max_concurrency": 3}
        )
    assert answers == [f"Echo: q{i}" for i in range(3)]
    trace_ids = {s.context.trace_id for s in capture.spans}
    assert trace_ids == {int(job.trace_id, 16)}
    seqs = [s for s in capture.spans if s.name == "RunnableSequence"]
    assert len(seqs) == 3 and all(capture.parent_name(s) == "job" for s in seqs)
    assert len([s for s in capture.spans if s.name == "chat gpt-4o-mini"]) == 3


def test_retriever_and_lambda_steps(capture: Captured) -> None:
    spyglass.langchain.autolog()
    retriever = KeywordRetriever(docs=["Paris is in France", "Rome is in Italy"])
    chain = retriever | RunnableLambda(lambda docs: len(docs))
    assert chain.invoke("paris") == 1
    span = capture.named("KeywordRetriever")
    attrs = capture.attrs(span)
    assert attrs["gen_ai.operation.name"] == "retrieval"
    assert attrs["input.value"] == "paris"
    assert json.loads(attrs["output.value"])[0]["page_content"] == "Paris is in France"


def test_errors_mark_the_failing_run_and_propagate(capture: Captured) -> None:
    spyglass.langchain.autolog()

    def boom(_: Any) -> None:
        raise ValueError("bad step")

    with pytest.raises(ValueError, match="bad step"):
        (RunnableLambda(lambda x: x) | RunnableLambda(boom)).invoke(1)
    failed = capture.named("boom")
    assert failed.status.status_code.name == "ERROR"
    assert capture.named("RunnableSequence").status.status_code.name == "ERROR"


def test_disable_stops_tracing(capture: Captured) -> None:
    spyglass.langchain.autolog()
    spyglass.langchain.autolog()
    fake_chain().invoke({"question": "x"})
    count = len(capture.spans)
    assert count == 4
    spyglass.langchain.disable()
    fake_chain().invoke({"question": "x"})
    assert len(capture.spans) == count
