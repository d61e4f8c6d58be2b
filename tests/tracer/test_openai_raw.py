"""OpenAI calls through ``with_raw_response`` and ``with_streaming_response``: traced, and
returning exactly what the SDK returns."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

import spyglass
import spyglass.openai
from tests.tracer import fake_openai
from tests.tracer.conftest import Captured

MESSAGES = [{"role": "user", "content": "hello there"}]
USAGE = {
    "gen_ai.usage.input_tokens": fake_openai.PROMPT_TOKENS,
    "gen_ai.usage.output_tokens": fake_openai.COMPLETION_TOKENS,
}


def assert_chat_span(capture: Captured, *, streamed: bool = False) -> None:
    span = capture.named("chat gpt-4o-mini")
    attrs = capture.attrs(span)
    assert {k: attrs.get(k) for k in USAGE} == USAGE
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini-2024-01-01"
    output = capture.json_attr(span, "gen_ai.output.messages")
    assert output[0]["parts"][0]["content"].strip() == "Echo: hello there"
    assert capture.json_attr(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "hello there"}]}
    ]
    if streamed:
        assert [e.name for e in span.events] == ["first_token"]


def test_with_raw_response_gives_the_raw_response_and_a_full_span(
    capture: Captured, openai_client: Any
) -> None:
    spyglass.openai.autolog()
    raw = openai_client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.parse().choices[0].message.content == "Echo: hello there"
    assert_chat_span(capture)


def test_with_raw_response_streamed(capture: Captured, openai_client: Any) -> None:
    spyglass.openai.autolog()
    raw = openai_client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert capture.spans == []
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text.strip() == "Echo: hello there"
    assert_chat_span(capture, streamed=True)


def test_with_streaming_response_records_the_parsed_body(
    capture: Captured, openai_client: Any
) -> None:
    spyglass.openai.autolog()
    with openai_client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    ) as response:
        assert response.status_code == 200
        assert capture.spans == []  # the body is not read yet
        completion = response.parse()
        assert completion.choices[0].message.content == "Echo: hello there"
        assert response.parse() is completion  # the SDK's cache still works
    assert_chat_span(capture)


def test_with_streaming_response_and_stream_true(capture: Captured, openai_client: Any) -> None:
    spyglass.openai.autolog()
    with openai_client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "Echo: hello there"
    assert chunks[-1].usage.completion_tokens == fake_openai.COMPLETION_TOKENS
    assert_chat_span(capture, streamed=True)


def test_with_streaming_response_read_as_lines_ends_the_span_on_close(
    capture: Captured, openai_client: Any
) -> None:
    spyglass.openai.autolog()
    with openai_client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as response:
        lines = [line for line in response.iter_lines() if line]
        assert capture.spans == []
    assert lines[-1] == "data: [DONE]"
    span = capture.named("chat gpt-4o-mini")
    attrs = capture.attrs(span)
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert "gen_ai.usage.input_tokens" not in attrs  # nobody parsed the body
    assert span.status.status_code.name == "UNSET"


def test_with_streaming_response_error_is_recorded_and_raised(
    capture: Captured, openai_client: Any
) -> None:
    spyglass.openai.autolog()
    with (
        pytest.raises(openai.InternalServerError),
        openai_client.chat.completions.with_streaming_response.create(
            model="fail-500", messages=MESSAGES
        ),
    ):
        pass
    span = capture.named("chat fail-500")
    assert span.status.status_code.name == "ERROR"
    assert capture.attrs(span)["http.response.status_code"] == 500


def test_with_streaming_response_for_embeddings_and_responses(
    capture: Captured, openai_client: Any
) -> None:
    spyglass.openai.autolog()
    with openai_client.embeddings.with_streaming_response.create(
        model="text-embedding-3-small", input="x"
    ) as response:
        assert len(response.parse().data[0].embedding) == 4
    with openai_client.responses.with_streaming_response.create(
        model="gpt-4.1", input="ping"
    ) as response:
        assert response.parse().output_text == "Echo: ping"
    embeddings = capture.attrs(capture.named("embeddings text-embedding-3-small"))
    assert embeddings["gen_ai.embeddings.dimension.count"] == 4
    responses = capture.attrs(capture.named("chat gpt-4.1"))
    assert responses["gen_ai.usage.output_tokens"] == fake_openai.COMPLETION_TOKENS


def test_async_raw_and_streaming_responses(capture: Captured, async_openai_client: Any) -> None:
    spyglass.openai.autolog()
    completions = async_openai_client.chat.completions

    async def run() -> list[str]:
        raw = await completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        texts = [raw.parse().choices[0].message.content]
        async with completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES
        ) as response:
            texts.append((await response.parse()).choices[0].message.content)
        async with completions.with_streaming_response.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        ) as response:
            stream = await response.parse()
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            texts.append("".join(parts).strip())
        return texts

    assert asyncio.run(run()) == ["Echo: hello there"] * 3
    spans = capture.spans
    assert [s.name for s in spans] == ["chat gpt-4o-mini"] * 3
    for span in spans:
        attrs = capture.attrs(span)
        assert {k: attrs.get(k) for k in USAGE} == USAGE
    assert [e.name for e in spans[2].events] == ["first_token"]
