from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from spyglass.collector import normalize as normalize_module
from spyglass.collector.normalize import SPAN_TYPES, USAGE_KEYS, Canonical, normalize

FIXTURES = Path(__file__).parent / "fixtures" / "dialects"
DIALECTS = ["otel_genai", "otel_genai_deprecated", "openinference", "openllmetry", "mlflow"]

Events = list[tuple[str, dict[str, Any]]]

SYSTEM = "You are a terse geography assistant."
QUESTION = "What is the capital of France?"
THE_CALL = Canonical(
    span_type="LLM",
    model="gpt-4o-2024-08-06",
    provider="openai",
    operation="chat",
    input=json.dumps(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
        separators=(",", ":"),
    ),
    output='[{"role":"assistant","content":"Paris."}]',
    session_id="sess-8f2c",
    user_id="user-1337",
    usage={"input": 42, "output": 7, "total": 49},
)


def load(dialect: str) -> tuple[dict[str, Any], Events]:
    doc = json.loads((FIXTURES / f"{dialect}.json").read_text(encoding="utf-8"))
    return doc["attributes"], [(e["name"], e["attributes"]) for e in doc["events"]]


def messages(text: str) -> Any:
    return json.loads(text)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_normalizes_the_same_call_to_the_same_fields(dialect: str) -> None:
    attributes, events = load(dialect)
    assert normalize(attributes, events) == THE_CALL


def test_every_dialect_has_a_fixture_and_nothing_else_is_there() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == sorted(DIALECTS)


def test_a_plain_span_gives_unknown_and_empty_fields() -> None:
    http = {"http.request.method": "GET", "http.response.status_code": 200, "url.path": "/x"}
    result = normalize(http, [("exception", {"exception.type": "KeyError"})])
    assert result == Canonical("UNKNOWN", "", "", "", "", "", "", "", {})
    assert normalize({}) == Canonical("UNKNOWN", "", "", "", "", "", "", "", {})


def test_results_do_not_share_their_usage_dict() -> None:
    first = normalize({})
    first.usage["input"] = 1
    assert normalize({}).usage == {}


@pytest.mark.parametrize(
    ("attributes", "span_type"),
    [
        *[({"openinference.span.kind": kind}, kind) for kind in SPAN_TYPES if kind != "PARSER"],
        ({"openinference.span.kind": "PROMPT"}, "CHAIN"),
        ({"openinference.span.kind": "llm"}, "LLM"),
        ({"mlflow.spanType": '"CHAT_MODEL"'}, "LLM"),
        ({"mlflow.spanType": '"LLM"'}, "LLM"),
        ({"mlflow.spanType": '"PARSER"'}, "PARSER"),
        ({"mlflow.spanType": '"RETRIEVER"'}, "RETRIEVER"),
        ({"mlflow.spanType": '"RERANKER"'}, "RERANKER"),
        ({"mlflow.spanType": '"EMBEDDING"'}, "EMBEDDING"),
        ({"mlflow.spanType": "TOOL"}, "TOOL"),
        ({"mlflow.spanType": '"MEMORY"'}, "UNKNOWN"),
        ({"traceloop.span.kind": "workflow"}, "CHAIN"),
        ({"traceloop.span.kind": "task"}, "CHAIN"),
        ({"traceloop.span.kind": "agent"}, "AGENT"),
        ({"traceloop.span.kind": "tool"}, "TOOL"),
        ({"traceloop.span.kind": "unknown"}, "UNKNOWN"),
        ({"gen_ai.operation.name": "chat"}, "LLM"),
        ({"gen_ai.operation.name": "text_completion"}, "LLM"),
        ({"gen_ai.operation.name": "generate_content"}, "LLM"),
        ({"gen_ai.operation.name": "embeddings"}, "EMBEDDING"),
        ({"gen_ai.operation.name": "execute_tool"}, "TOOL"),
        ({"gen_ai.operation.name": "invoke_agent"}, "AGENT"),
        ({"gen_ai.operation.name": "create_agent"}, "AGENT"),
        ({"gen_ai.operation.name": "retrieval"}, "RETRIEVER"),
        ({"llm.request.type": "chat"}, "LLM"),
        ({"llm.request.type": "completion"}, "LLM"),
        ({"llm.request.type": "embedding"}, "EMBEDDING"),
        ({"llm.request.type": "rerank"}, "RERANKER"),
        ({"embedding.model_name": "text-embedding-3-small"}, "EMBEDDING"),
        ({"gen_ai.request.model": "gpt-4o"}, "LLM"),
        ({"session.id": "s1"}, "UNKNOWN"),
    ],
)
def test_each_dialects_span_kinds_map_onto_the_span_types(
    attributes: dict[str, Any], span_type: str
) -> None:
    assert normalize(attributes).span_type == span_type


def test_an_explicit_framework_kind_beats_the_operation_name() -> None:
    attributes = {"openinference.span.kind": "AGENT", "gen_ai.operation.name": "chat"}
    assert normalize(attributes).span_type == "AGENT"


@pytest.mark.parametrize(
    ("attributes", "operation"),
    [
        ({"gen_ai.operation.name": "Embeddings"}, "embeddings"),
        ({"llm.request.type": "completion"}, "text_completion"),
        ({"openinference.span.kind": "TOOL"}, "execute_tool"),
        ({"traceloop.span.kind": "agent"}, "invoke_agent"),
        ({"openinference.span.kind": "LLM", "input.value": "hi"}, ""),
        ({"openinference.span.kind": "CHAIN"}, ""),
    ],
)
def test_the_operation_is_taken_or_derived_from_the_span_kind(
    attributes: dict[str, Any], operation: str
) -> None:
    assert normalize(attributes).operation == operation


@pytest.mark.parametrize(
    ("attributes", "model"),
    [
        (
            {"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06"},
            "gpt-4o-2024-08-06",
        ),
        ({"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": ""}, "gpt-4o"),
        ({"llm.request.model_name": "a", "llm.response.model_name": "b"}, "b"),
        ({"mlflow.llm.model": '"claude-3-5-haiku-latest"'}, "claude-3-5-haiku-latest"),
        ({"mlflow.chat.model": "gpt-4.1"}, "gpt-4.1"),
        ({"gen_ai.request.model": 42}, ""),
    ],
)
def test_the_response_model_is_preferred_over_the_request_model(
    attributes: dict[str, Any], model: str
) -> None:
    assert normalize(attributes).model == model


@pytest.mark.parametrize(
    ("attributes", "provider"),
    [
        ({"gen_ai.provider.name": "openai", "gen_ai.system": "azure.ai.openai"}, "openai"),
        ({"gen_ai.system": "Anthropic"}, "anthropic"),
        ({"llm.provider": "mistralai"}, "mistral_ai"),
        ({"llm.system": "vertexai"}, "gcp.vertex_ai"),
        ({"mlflow.llm.provider": '"openai"'}, "openai"),
    ],
)
def test_the_provider_is_lower_case_with_otel_names_for_known_aliases(
    attributes: dict[str, Any], provider: str
) -> None:
    assert normalize(attributes).provider == provider


@pytest.mark.parametrize(
    "attributes",
    [
        {
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 600,
            "gen_ai.usage.cache_creation.input_tokens": 100,
            "gen_ai.usage.reasoning.output_tokens": 200,
        },
        {
            "gen_ai.usage.prompt_tokens": 1000,
            "gen_ai.usage.completion_tokens": 300,
            "gen_ai.usage.cache_read_input_tokens": 600,
            "gen_ai.usage.cache_creation_input_tokens": 100,
            "gen_ai.usage.reasoning_tokens": 200,
            "llm.usage.total_tokens": 1300,
        },
        {
            "llm.token_count.prompt": 1000,
            "llm.token_count.completion": 300,
            "llm.token_count.total": 1300,
            "llm.token_count.prompt_details.cache_read": 600,
            "llm.token_count.prompt_details.cache_write": 100,
            "llm.token_count.completion_details.reasoning": 200,
        },
        {
            "gen_ai.usage.input_tokens": "1000",
            "gen_ai.usage.output_tokens": 300.0,
            "gen_ai.usage.cache_read.input_tokens": 600,
            "gen_ai.usage.cache_write.input_tokens": 100,
            "llm.usage.reasoning_tokens": 200,
        },
    ],
    ids=["otel", "openllmetry", "openinference", "loose-types"],
)
def test_cache_and_reasoning_tokens_map_from_every_dialect(attributes: dict[str, Any]) -> None:
    assert normalize(attributes).usage == {
        "input": 1000,
        "output": 300,
        "total": 1300,
        "cache_read": 600,
        "cache_creation": 100,
        "reasoning": 200,
    }


def test_mlflow_token_usage_includes_cache_tokens() -> None:
    usage = json.dumps(
        {
            "input_tokens": 10,
            "output_tokens": 5,
            "total_tokens": 15,
            "cache_read_input_tokens": 4,
            "cache_creation_input_tokens": 2,
        }
    )
    assert normalize({"mlflow.chat.tokenUsage": usage}).usage == {
        "input": 10,
        "output": 5,
        "total": 15,
        "cache_read": 4,
        "cache_creation": 2,
    }


@pytest.mark.parametrize(
    ("attributes", "usage"),
    [
        ({"gen_ai.usage.input_tokens": 10}, {"input": 10, "total": 10}),
        ({"gen_ai.usage.output_tokens": 4}, {"output": 4, "total": 4}),
        ({"llm.token_count.total": 99, "llm.token_count.prompt": 1}, {"input": 1, "total": 99}),
        ({"gen_ai.usage.cache_read.input_tokens": 3}, {"cache_read": 3}),
    ],
)
def test_total_is_the_given_total_else_input_plus_output(
    attributes: dict[str, Any], usage: dict[str, int]
) -> None:
    result = normalize(attributes).usage
    assert result == usage
    assert set(result) <= set(USAGE_KEYS)


def test_otel_tool_call_parts_become_tool_calls() -> None:
    output = [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "weather",
                    "arguments": {"city": "Paris"},
                }
            ],
            "finish_reason": "tool_call",
        }
    ]
    inputs = [
        {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_0", "response": "rain"}],
        },
    ]
    result = normalize(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": inputs,  # structured, as decoded from an OTLP array
            "gen_ai.output.messages": json.dumps(output),
        }
    )
    assert messages(result.input) == [
        {"role": "user", "content": "Weather?"},
        {"role": "tool", "content": "rain", "tool_call_id": "call_0"},
    ]
    assert messages(result.output) == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_1", "name": "weather", "arguments": '{"city":"Paris"}'}],
        }
    ]


def test_openinference_flattened_tool_calls_are_collected() -> None:
    prefix = "llm.output_messages.0.message."
    result = normalize(
        {
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.contents.0.message_content.type": "text",
            "llm.input_messages.0.message.contents.0.message_content.text": "Weather?",
            prefix + "role": "assistant",
            prefix + "tool_calls.0.tool_call.id": "call_1",
            prefix + "tool_calls.0.tool_call.function.name": "weather",
            prefix + "tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
        }
    )
    assert messages(result.input) == [{"role": "user", "content": "Weather?"}]
    assert messages(result.output) == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_1", "name": "weather", "arguments": '{"city": "Paris"}'}],
        }
    ]


def test_openllmetry_indexed_tool_calls_and_block_content_are_read() -> None:
    blocks = json.dumps([{"type": "text", "text": "Weather?"}])
    result = normalize(
        {
            "llm.request.type": "chat",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": blocks,
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.tool_calls.0.id": "call_1",
            "gen_ai.completion.0.tool_calls.0.name": "weather",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"city":"Paris"}',
        }
    )
    assert messages(result.input) == [{"role": "user", "content": "Weather?"}]
    assert messages(result.output)[0]["tool_calls"] == [
        {"id": "call_1", "name": "weather", "arguments": '{"city":"Paris"}'}
    ]


def test_openai_style_tool_calls_in_mlflow_outputs_are_flattened() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    outputs = {
        "choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [call]}}]
    }
    result = normalize({"mlflow.spanType": '"LLM"', "mlflow.spanOutputs": json.dumps(outputs)})
    assert messages(result.output) == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "name": "f", "arguments": "{}"}],
        }
    ]


def test_the_inference_details_event_supplies_messages_and_span_fields() -> None:
    details = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 3,
        "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
        "gen_ai.output.messages": [
            {"role": "assistant", "parts": [{"type": "text", "content": "yo"}]}
        ],
        "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
    }
    result = normalize(
        {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"},
        [("gen_ai.client.inference.operation.details", details)],
    )
    assert result.model == "gpt-4o"  # the span's own attribute wins
    assert result.span_type == "LLM"
    assert result.usage == {"input": 3, "total": 3}
    assert messages(result.input) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert messages(result.output) == [{"role": "assistant", "content": "yo"}]


def test_deprecated_prompt_and_completion_attributes_and_events_are_read() -> None:
    prompt = json.dumps([{"role": "user", "content": "hi"}])
    from_attributes = normalize({"gen_ai.prompt": prompt, "gen_ai.completion": "plain answer"})
    assert messages(from_attributes.input) == [{"role": "user", "content": "hi"}]
    assert from_attributes.output == "plain answer"
    from_events = normalize(
        {"gen_ai.system": "openai"},
        [
            ("gen_ai.content.prompt", {"gen_ai.prompt": prompt}),
            ("gen_ai.content.completion", {"gen_ai.completion": "ok"}),
        ],
    )
    assert messages(from_events.input) == [{"role": "user", "content": "hi"}]
    assert from_events.output == "ok"


def test_deprecated_message_events_keep_roles_and_tool_ids() -> None:
    result = normalize(
        {"gen_ai.operation.name": "chat"},
        [
            ("gen_ai.user.message", MappingProxyType({"content": "weather?"})),
            ("gen_ai.assistant.message", {"tool_calls": [{"id": "c1", "function": {"name": "w"}}]}),
            ("gen_ai.tool.message", {"content": "rain", "id": "c1"}),
            ("gen_ai.choice", {"index": 0, "message": {"content": "It rains."}}),
        ],
    )
    assert messages(result.input) == [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "name": "w", "arguments": ""}],
        },
        {"role": "tool", "content": "rain", "tool_call_id": "c1"},
    ]
    assert messages(result.output) == [{"role": "assistant", "content": "It rains."}]


@pytest.mark.parametrize(
    ("attributes", "expected_input"),
    [
        ({"input.value": "just text"}, "just text"),
        ({"traceloop.entity.input": '{"inputs": {"q": 1}}'}, '{"inputs": {"q": 1}}'),
        ({"mlflow.spanInputs": '"hello"'}, "hello"),
        ({"mlflow.spanInputs": '{"query": "x"}'}, '{"query": "x"}'),
        ({"gen_ai.tool.call.arguments": {"city": "Paris"}}, '{"city":"Paris"}'),
        ({"gen_ai.system_instructions": "Be brief."}, '[{"role":"system","content":"Be brief."}]'),
        (
            {"gen_ai.input.messages": ['{"role": "user", "content": "hi"}']},
            '[{"role":"user","content":"hi"}]',
        ),
        (
            {"gen_ai.input.messages": '[{"role":"user","content":"Ça va ?"}]'},
            '[{"role":"user","content":"Ça va ?"}]',
        ),
    ],
)
def test_plain_inputs_stay_text_and_messages_become_compact_json(
    attributes: dict[str, Any], expected_input: str
) -> None:
    assert normalize(attributes).input == expected_input


@pytest.mark.parametrize(
    ("attributes", "session", "user"),
    [
        ({"gen_ai.conversation.id": "c", "enduser.id": "u"}, "c", "u"),
        ({"session.id": 7, "user.id": "u"}, "7", "u"),
        (
            {
                "traceloop.association.properties.session_id": "s",
                "traceloop.association.properties.user_id": "u",
            },
            "s",
            "u",
        ),
        ({"mlflow.trace.session": "s", "mlflow.trace.user": '"u"'}, "s", "u"),
    ],
)
def test_session_and_user_come_from_every_dialects_names(
    attributes: dict[str, Any], session: str, user: str
) -> None:
    result = normalize(attributes)
    assert (result.session_id, result.user_id) == (session, user)


@pytest.mark.parametrize(
    ("attributes", "events"),
    [
        ({"gen_ai.usage.input_tokens": -5, "gen_ai.usage.output_tokens": float("nan")}, []),
        ({"gen_ai.usage.input_tokens": True, "llm.token_count.total": "12abc"}, []),
        ({"gen_ai.usage.input_tokens": "9" * 5000, "gen_ai.usage.output_tokens": 10**30}, []),
        ({"gen_ai.input.messages": "[not json", "gen_ai.output.messages": "{}"}, []),
        ({"gen_ai.input.messages": [1, None, "x"], "gen_ai.output.messages": [{"parts": 5}]}, []),
        ({"gen_ai.input.messages": [{"role": 3, "content": {"a": b"\xff"}}]}, []),
        ({"gen_ai.system_instructions": [None, {"type": "text", "content": 5}]}, []),
        (
            {"mlflow.spanType": '"', "mlflow.spanInputs": "{bad", "mlflow.chat.tokenUsage": "[1]"},
            [],
        ),
        ({"mlflow.spanOutputs": '{"choices": [1, {"message": 2}]}'}, []),
        ({"openinference.span.kind": 5, "llm.input_messages.0.message.role": None}, []),
        ({"llm.input_messages.0.message.content": b"bytes", "input.value": b"\xffraw"}, []),
        ({"gen_ai.prompt.0.content": '[{"type": "image"}]', "gen_ai.completion.0.role": 1}, []),
        ({"traceloop.span.kind": None, "session.id": 1.5, "user.id": ["x"]}, []),
        (
            {},
            [
                None,
                ("gen_ai.choice",),
                ("gen_ai.choice", None),
                (5, {}),
                ["gen_ai.user.message", 3],
            ],
        ),
        ({}, [("gen_ai.user.message", {"gen_ai.event.content": "not json"})]),
        ({}, [("gen_ai.choice", {"gen_ai.event.content": "[1, 2]"})]),
        ({}, [("gen_ai.client.inference.operation.details", {"gen_ai.input.messages": 3})]),
    ],
)
def test_odd_values_never_raise_and_only_usable_values_are_kept(
    attributes: dict[str, Any], events: Any
) -> None:
    result = normalize(attributes, events)
    assert result.span_type in SPAN_TYPES
    assert all(isinstance(v, int) and v >= 0 for v in result.usage.values())
    assert set(result.usage) <= set(USAGE_KEYS)
    for text in (result.model, result.provider, result.input, result.output):
        assert isinstance(text, str)


def test_arguments_that_are_not_a_mapping_give_an_empty_result() -> None:
    assert normalize(None, None).span_type == "UNKNOWN"  # type: ignore[arg-type]


def test_bad_token_values_are_dropped_but_good_ones_kept() -> None:
    result = normalize(
        {
            "gen_ai.usage.input_tokens": -5,
            "gen_ai.usage.prompt_tokens": 8,
            "gen_ai.usage.output_tokens": "x",
        }
    )
    assert result.usage == {"input": 8, "total": 8}


# The fast path for OTel "parts" message lists gives what the general path gives, and leaves
# every other shape to it.
PARTS_TEXTS = [
    '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
    '  [{"role":"system","parts":[{"type":"text","content":"a/b \\u001b é 😀 \\u2028"},'
    '{"type":"text","content":"second","text":"ignored"}]},{"role":"assistant","parts":[],'
    '"finish_reason":"stop"}]  ',
    '[{"role": "user", "parts": [{"type": "text", "content": "x"}], "role": "tool"}]',
    # numbers outside the fields read may parse differently; they are not read
    '[{"role": "user", "parts": [{"type": "text", "content": "x", "n": 1234567890123456789012}]}]',
    '[{"role": "user", "parts": [{"type": "text", "text": "no content key"}]}]',
    '[{"role": "user", "parts": [{"type": "image", "content": "x"}]}]',
    '[{"role": "user", "parts": [{"type": "text", "content": 5}]}]',
    '[{"role": "", "parts": [{"type": "text", "content": "x"}]}]',
    '[{"role": "user", "parts": [{"type": "text", "content": "x"}], "name": "n"}]',
    '[{"role": "user", "parts": [{"type": "tool_call", "id": "c", "name": "f"}]}]',
    '[{"role": "user", "content": "plain"}]',
    '[{"role": "user", "parts": [{"type": "text", "content": "x"}]}] trailing',
    '[{"role": "user", "parts": [{"type": "text", "content": "\\ud800"}]}]',
    '[{"role": "user", "parts": [{"type": "text", "content": "x", "n": NaN}]}]',
    "[]",
    '["{\\"role\\": \\"user\\", \\"content\\": \\"per-item JSON\\"}"]',
]


@pytest.mark.parametrize("text", PARTS_TEXTS)
def test_the_parts_fast_path_agrees_with_the_general_path(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    attributes = {"gen_ai.input.messages": text, "gen_ai.output.messages": text}
    fast = normalize_module.canonical_io(attributes)
    monkeypatch.setattr(normalize_module, "_text_parts_messages", lambda _text: None)
    assert fast == normalize_module.canonical_io(attributes)


def test_the_parts_fast_path_takes_the_plain_parts_shape() -> None:
    taken = [normalize_module._text_parts_messages(t) is not None for t in PARTS_TEXTS]
    assert taken[:4] == [True, True, True, True]
    assert not any(taken[4:])


def test_plain_messages_are_written_exactly_as_the_general_encoder_writes_them() -> None:
    """`messages_text` writes OTel text-part messages with orjson: every code point (control
    characters, quotes, non-ASCII, astral) must come out as `_encode` writes it."""
    code_points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    for start in range(0, len(code_points), 4096):
        text = "".join(map(chr, code_points[start : start + 4096]))
        sent = [{"role": text[:5] or "user", "parts": [{"type": "text", "content": text}]}]
        expected = [{"role": text[:5] or "user", "content": text}]
        got = normalize_module.messages_text(json.dumps(sent))
        assert got == normalize_module._encode(expected)
        assert json.loads(got) == expected
