"""OpenAI autolog with the real `openai` client on a fake transport."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

import spyglass
import spyglass.openai
from tests.tracer import fake_openai
from tests.tracer.conftest import Captured

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "hello there"},
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_chat_completion_records_model_usage_and_messages(
    capture: Captured, openai_client: Any
) -> None:
    spyglass.openai.autolog()
    result = openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50
    )
    assert result.choices[0].message.content == "Echo: hello there"

    span = capture.named("chat gpt-4o-mini")
    attrs = capture.attrs(span)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini-2024-01-01"
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.response.id"] == "chatcmpl-1"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == fake_openai.PROMPT_TOKENS
    assert attrs["gen_ai.usage.output_tokens"] == fake_openai.COMPLETION_TOKENS
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == fake_openai.CACHED_TOKENS
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == fake_openai.REASONING_TOKENS
    assert attrs["server.address"] == openai_client.base_url.host
    assert capture.json_attr(span, "gen_ai.input.messages") == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "hello there"}]},
    ]
    assert capture.json_attr(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Echo: hello there"}],
            "finish_reason": "stop",
        }
    ]
    assert span.kind.name == "CLIENT"


def test_no_attribute_ever_holds_the_api_key(capture: Captured, openai_client: Any) -> None:
    spyglass.openai.autolog()
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    openai_client.embeddings.create(model="text-embedding-3-small", input="x")
    for span in capture.spans:
        for value in (span.attributes or {}).values():
            assert fake_openai.API_KEY not in str(value)
            assert "Bearer" not in str(value)


def test_streaming_chat_assembles_output_with_exact_usage_and_first_token(
    capture: Captured, openai_client: Any
) -> None:
    spyglass.openai.autolog()
    stream = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert capture.spans == []  # the span stays open until the stream is consumed
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.strip() == "Echo: hello there"

    span = capture.named("chat gpt-4o-mini")
    attrs = capture.attrs(span)
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.usage.input_tokens"] == fake_openai.PROMPT_TOKENS
    assert attrs["gen_ai.usage.output_tokens"] == fake_openai.COMPLETION_TOKENS
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.response.time_to_first_chunk"] >= 0
    assert [e.name for e in span.events] == ["first_token"]
    output = capture.json_attr(span, "gen_ai.output.messages")
    assert output[0]["parts"][0]["content"].strip() == "Echo: hello there"


def test_stream_used_as_context_manager_and_closed_early_still_ends_the_span(
    capture: Captured, openai_client: Any
) -> None:
    spyglass.openai.autolog()
    with openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as stream:
        next(iter(stream))
    span = capture.named("chat gpt-4o-mini")
    assert "gen_ai.usage.input_tokens" not in capture.attrs(span)  # include_usage was off


def test_tool_calls_are_recorded_in_output_and_next_input(
    capture: Captured, openai_client: Any
) -> None:
    spyglass.openai.autolog()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris?"}]
    first = openai_client.chat.completions.create(
        model="gpt-4o", messages=messages, tools=[WEATHER_TOOL]
    )
    call = first.choices[0].message.tool_calls[0]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
    second = openai_client.chat.completions.create(
        model="gpt-4o", messages=messages, tools=[WEATHER_TOOL]
    )
    assert second.choices[0].message.content == "The tool said: sunny"

    one, two = capture.spans
    assert capture.attrs(one)["gen_ai.response.finish_reasons"] == ("tool_calls",)
    out = capture.json_attr(one, "gen_ai.output.messages")
    assert out[0]["parts"] == [
        {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert capture.json_attr(one, "gen_ai.tool.definitions") == [WEATHER_TOOL]
    history = capture.json_attr(two, "gen_ai.input.messages")
    assert history[1]["parts"][0]["type"] == "tool_call"
    assert history[2] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}],
    }


def test_streamed_tool_call_arguments_are_reassembled(
    capture: Captured, openai_client: Any
) -> None:
    spyglass.openai.autolog()
    stream = openai_client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    list(stream)
    out = capture.json_attr(capture.spans[0], "gen_ai.output.messages")
    assert out[0]["parts"] == [
        {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert out[0]["finish_reason"] == "tool_calls"


def test_embeddings_record_usage_and_dimensions(capture: Captured, openai_client: Any) -> None:
    spyglass.openai.autolog()
    openai_client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    span = capture.named("embeddings text-embedding-3-small")
    attrs = capture.attrs(span)
    assert attrs["gen_ai.operation.name"] == "embeddings"
    assert attrs["gen_ai.usage.input_tokens"] == 6
    assert attrs["gen_ai.embeddings.dimension.count"] == 4
    assert capture.json_attr(span, "input.value") == ["a", "b"]


def test_responses_api_plain_and_streamed(capture: Captured, openai_client: Any) -> None:
    spyglass.openai.autolog()
    response = openai_client.responses.create(
        model="gpt-4.1", input="ping", instructions="Answer shortly."
    )
    assert response.output_text == "Echo: ping"
    events = list(openai_client.responses.create(model="gpt-4.1", input="ping", stream=True))
    assert events[-1].type == "response.completed"

    plain, streamed = capture.spans
    for span in (plain, streamed):
        attrs = capture.attrs(span)
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.response.model"] == "gpt-4.1-2024-01-01"
        assert attrs["gen_ai.usage.input_tokens"] == fake_openai.PROMPT_TOKENS
        assert attrs["gen_ai.usage.output_tokens"] == fake_openai.COMPLETION_TOKENS
        assert attrs["gen_ai.usage.cache_read.input_tokens"] == fake_openai.CACHED_TOKENS
        assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
        assert capture.json_attr(span, "gen_ai.output.messages")[0]["parts"] == [
            {"type": "text", "content": "Echo: ping"}
        ]
    assert capture.json_attr(plain, "gen_ai.system_instructions") == [
        {"type": "text", "content": "Answer shortly."}
    ]
    assert "first_token" in [e.name for e in streamed.events]


def test_text_completion(capture: Captured, openai_client: Any) -> None:
    spyglass.openai.autolog()
    openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt="say hi")
    attrs = capture.attrs(capture.spans[0])
    assert attrs["gen_ai.operation.name"] == "text_completion"
    assert attrs["gen_ai.usage.output_tokens"] == 3


@pytest.mark.parametrize(("model", "error"), [("fail-500", openai.InternalServerError),
                                              ("fail-400", openai.BadRequestError)])  # fmt: skip
def test_errors_are_recorded_and_reraised_unchanged(
    capture: Captured, openai_client: Any, model: str, error: type[Exception]
) -> None:
    spyglass.openai.autolog()
    with pytest.raises(error):
        openai_client.chat.completions.create(model=model, messages=MESSAGES)
    span = capture.spans[0]
    assert span.status.status_code.name == "ERROR"
    attrs = capture.attrs(span)
    assert attrs["error.type"] == error.__qualname__
    assert attrs["http.response.status_code"] == int(model.split("-")[1])
    assert [e.name for e in span.events] == ["exception"]


def test_async_client_plain_and_streamed(capture: Captured, async_openai_client: Any) -> None:
    spyglass.openai.autolog()

    async def run() -> str:
        await async_openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = await async_openai_client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        await async_openai_client.embeddings.create(model="text-embedding-3-small", input="x")
        await async_openai_client.responses.create(model="gpt-4.1", input="ping")
        return "".join(parts)

    assert asyncio.run(run()).strip() == "Echo: hello there"
    names = [s.name for s in capture.spans]
    assert names == [
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "embeddings text-embedding-3-small",
        "chat gpt-4.1",
    ]
    assert capture.attrs(capture.spans[1])["gen_ai.usage.output_tokens"] == 7


def test_calls_nest_under_the_current_span(capture: Captured, openai_client: Any) -> None:
    spyglass.openai.autolog()
    with spyglass.start_span("handle"):
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert capture.parent_name(capture.named("chat gpt-4o-mini")) == "handle"


def test_autolog_is_idempotent_and_disable_restores_the_client(
    capture: Captured, openai_client: Any
) -> None:
    original = openai.resources.chat.completions.Completions.create
    spyglass.openai.autolog()
    spyglass.openai.autolog()
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(capture.spans) == 1
    spyglass.openai.disable()
    assert openai.resources.chat.completions.Completions.create is original
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(capture.spans) == 1


def test_content_capture_off_keeps_metadata_only(openai_client: Any) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    spyglass.configure(
        span_processors=[SimpleSpanProcessor(exporter)], spool_dir=False, capture_content=False
    )
    try:
        spyglass.openai.autolog()
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        attrs = dict(exporter.get_finished_spans()[0].attributes or {})
        assert "gen_ai.input.messages" not in attrs
        assert "gen_ai.output.messages" not in attrs
        assert attrs["gen_ai.usage.input_tokens"] == fake_openai.PROMPT_TOKENS
    finally:
        spyglass.disable()
        spyglass.shutdown()


def test_redaction_hook_sees_and_replaces_content(openai_client: Any) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    def redact(key: str, value: Any) -> Any:
        return None if key == "gen_ai.output.messages" else str(value).replace("hello", "*****")

    exporter = InMemorySpanExporter()
    spyglass.configure(
        span_processors=[SimpleSpanProcessor(exporter)], spool_dir=False, redact=redact
    )
    try:
        spyglass.openai.autolog()
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        attrs = dict(exporter.get_finished_spans()[0].attributes or {})
        assert "hello" not in str(attrs["gen_ai.input.messages"])
        assert "*****" in str(attrs["gen_ai.input.messages"])
        assert "gen_ai.output.messages" not in attrs
    finally:
        spyglass.disable()
        spyglass.shutdown()
