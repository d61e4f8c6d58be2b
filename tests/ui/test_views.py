"""The UI's pure parts, without a browser: messages, the span panel model, list state."""

from __future__ import annotations

import json

import pytest
from starlette.datastructures import QueryParams

from spyglass.ui.listing import ListState
from spyglass.ui.messages import Message, Part, conversation, parse_messages
from spyglass.ui.render import format_cost, format_ms, json_script
from spyglass.ui.span_view import span_view


def test_otel_parts_format_with_tool_calls_and_results() -> None:
    value = json.dumps(
        [
            {"role": "user", "parts": [{"type": "text", "content": "weather?"}]},
            {
                "role": "assistant",
                "parts": [
                    {"type": "tool_call", "id": "c1", "name": "get_weather",
                     "arguments": {"city": "Paris"}},
                ],
            },
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1",
                                        "response": {"temp": 21}}]},
        ]
    )  # fmt: skip
    messages = parse_messages(value)
    assert messages is not None
    assert [m.role for m in messages] == ["user", "assistant", "tool"]
    assert messages[0].parts == [Part("text", "weather?")]
    call = messages[1].parts[0]
    assert (call.kind, call.name, call.call_id) == ("tool_call", "get_weather", "c1")
    assert json.loads(call.text) == {"city": "Paris"}
    result = messages[2].parts[0]
    assert (result.kind, result.call_id, json.loads(result.text)) == (
        "tool_result",
        "c1",
        {"temp": 21},
    )


def test_chat_completions_format() -> None:
    value = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url",
                                                                       "image_url": {"url": "x"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "t1", "type": "function",
             "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "done"},
    ]  # fmt: skip
    messages = parse_messages(value)
    assert messages is not None
    assert messages[1].parts[0] == Part("text", "hi")
    assert messages[1].parts[1].kind == "other"
    assert messages[2].parts == [Part("tool_call", '{\n  "a": 1\n}', name="f", call_id="t1")]
    assert messages[3].parts == [Part("tool_result", "done", call_id="t1")]


@pytest.mark.parametrize(
    "value",
    ["plain text", "", None, 42, "[1, 2]", '{"a": 1}', '[{"no_role": 1}]', "[not json"],
)
def test_non_chat_values_give_no_messages(value: object) -> None:
    assert parse_messages(value) is None


def test_response_object_and_messages_wrapper() -> None:
    response = {"choices": [{"message": {"role": "assistant", "content": "yes"}}]}
    assert parse_messages(response) == [Message("assistant", [Part("text", "yes")])]
    wrapped = {"messages": [{"type": "human", "content": "q"}]}
    assert parse_messages(json.dumps(wrapped)) == [Message("user", [Part("text", "q")])]


def test_conversation_prefers_attributes_and_adds_system_instructions() -> None:
    attributes = {
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "a"}]}]',
        "gen_ai.system_instructions": '[{"type": "text", "content": "rules"}]',
    }
    found = conversation(attributes, "", '[{"role": "assistant", "content": "b"}]')
    assert found is not None
    inputs, outputs = found
    assert [(m.role, m.parts[0].text) for m in inputs] == [("system", "rules"), ("user", "a")]
    assert [(m.role, m.parts[0].text) for m in outputs] == [("assistant", "b")]
    assert conversation({}, "just text", "more text") is None


def test_span_view_collects_errors_events_and_pretty_json() -> None:
    span = {
        "span_id": "ab" * 8,
        "start_time_unix_nano": 1_000_000_000,
        "status": {"code": "ERROR", "message": "boom"},
        "input": '{"q": 1}',
        "output": "x" * 5000,
        "attributes": {"b": 1, "a": "text"},
        "events": [{"name": "exception", "time_unix_nano": 1_002_000_000,
                    "attributes": {"exception.type": "ValueError", "exception.message": "bad"}}],
        "usage": {"input": 3, "output": 4},
    }  # fmt: skip
    view = span_view(span)
    assert view.is_error and not view.is_chat
    assert view.failures[0].type == "ValueError"
    assert view.events[0].offset_ms == 2.0
    assert view.input is not None and view.input.is_json and view.input.text == '{\n  "q": 1\n}'
    assert view.output is not None and view.output.long
    assert [k for k, _ in view.attributes] == ["a", "b"]


def test_json_script_cannot_close_the_script_element() -> None:
    text = str(json_script({"x": "</script><script>alert(1)</script>&\u2028"}))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"x": "</script><script>alert(1)</script>&\u2028"}


def test_formatting() -> None:
    assert format_ms(850.4) == "850 ms"
    assert format_ms(2410) == "2.41 s"
    assert format_ms(185_000) == "3m 05s"
    assert format_cost(0) == "–"
    assert format_cost(0.000338) == "$0.000338"


def test_list_state_round_trips_through_the_url() -> None:
    q = QueryParams(
        "project=p&range=24h&status=ERROR&text=hi&attr=k%3Dv&attr=bad&sort=cost&order=asc"
        "&min_latency=-5&limit=7&tail=1"
    )
    state = ListState.from_query(q)
    assert (state.project, state.range, state.status, state.text) == ("p", "24h", "error", "hi")
    assert state.attrs == ("k=v",)
    assert (state.sort, state.order, state.min_latency, state.limit) == ("cost", "asc", "", 50)
    assert state.tail
    again = ListState.from_query(QueryParams(state.url().split("?", 1)[1]))
    assert again == state
    query = state.to_query(now_ns=100 * 86400 * 10**9)
    assert query.start_ns == 99 * 86400 * 10**9
    assert query.attributes == {"k": "v"} and query.status == "error"


def test_paging_keeps_a_stack_of_earlier_cursors() -> None:
    first = ListState(project="p")
    assert first.newer_url() is None
    second = ListState.from_query(QueryParams(first.older_url("C1").split("?", 1)[1]))
    assert second.cursor == "C1" and second.prev == ("-",)
    third = ListState.from_query(QueryParams(second.older_url("C2").split("?", 1)[1]))
    assert third.prev == ("-", "C1")
    back = ListState.from_query(QueryParams((third.newer_url() or "").split("?", 1)[1]))
    assert back == second
    assert ListState.from_query(QueryParams((second.newer_url() or "?").split("?", 1)[1])) == first
