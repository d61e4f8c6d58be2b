"""What an OpenAI call records: request attributes before it, response attributes after it.

One small function per operation (chat, text completion, embeddings, responses), all taking
plain kwargs / SDK objects, so the shared wrapper in `openai.py` stays provider-agnostic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Span

from spyglass.tracer import _semconv as sc
from spyglass.tracer._config import TracerConfig
from spyglass.tracer._content import set_content, to_json
from spyglass.tracer.integrations._openai_messages import (
    chat_input_messages,
    chat_output_messages,
    get,
    responses_input_messages,
    responses_output_message,
)

__all__ = ["OPERATIONS", "record_request", "record_response", "record_usage", "request_attributes"]

# request kwarg -> attribute, copied when it is a plain value
_PLAIN_REQUEST = (
    ("temperature", sc.REQUEST_TEMPERATURE),
    ("top_p", sc.REQUEST_TOP_P),
    ("frequency_penalty", sc.REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", sc.REQUEST_PRESENCE_PENALTY),
    ("seed", sc.REQUEST_SEED),
)
_MAX_TOKEN_KEYS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


def _plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


# API kind -> gen_ai.operation.name
OPERATIONS = {
    "chat": sc.OP_CHAT,
    "responses": sc.OP_CHAT,
    "completions": sc.OP_TEXT_COMPLETION,
    "embeddings": sc.OP_EMBEDDINGS,
}


def request_attributes(api: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes known before the call (no content); ``api`` is a key of `OPERATIONS`."""
    attrs: dict[str, Any] = {sc.OPERATION: OPERATIONS[api], sc.PROVIDER: "openai"}
    model = kwargs.get("model")
    if isinstance(model, str):
        attrs[sc.REQUEST_MODEL] = model
    for key, attr in _PLAIN_REQUEST:
        value = kwargs.get(key)
        if _plain(value):
            attrs[attr] = value
    for key in _MAX_TOKEN_KEYS:
        value = kwargs.get(key)
        if isinstance(value, int):
            attrs[sc.REQUEST_MAX_TOKENS] = value
            break
    stop = kwargs.get("stop")
    if isinstance(stop, str):
        attrs[sc.REQUEST_STOP] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        attrs[sc.REQUEST_STOP] = stop
    n = kwargs.get("n")
    if isinstance(n, int) and n != 1:
        attrs[sc.REQUEST_CHOICE_COUNT] = n
    if kwargs.get("stream") is True:
        attrs[sc.REQUEST_STREAM] = True
    fmt = kwargs.get("response_format")
    if fmt is None and isinstance(kwargs.get("text"), Mapping):
        fmt = kwargs["text"].get("format")
    kind = get(fmt, "type") if fmt is not None and not isinstance(fmt, type) else None
    if isinstance(fmt, type) or kind in ("json_object", "json_schema"):
        attrs[sc.OUTPUT_TYPE] = "json"
    elif kind == "text":
        attrs[sc.OUTPUT_TYPE] = "text"
    encoding = kwargs.get("encoding_format")
    if isinstance(encoding, str):
        attrs[sc.REQUEST_ENCODING_FORMATS] = [encoding]
    dimensions = kwargs.get("dimensions")
    if isinstance(dimensions, int):
        attrs[sc.EMBEDDING_DIMENSIONS] = dimensions
    conversation = kwargs.get("conversation")
    conversation_id = conversation if isinstance(conversation, str) else get(conversation, "id")
    if isinstance(conversation_id, str):
        attrs[sc.CONVERSATION_ID] = conversation_id
    return attrs


def record_request(span: Span, config: TracerConfig, api: str, kwargs: Mapping[str, Any]) -> None:
    """Content of the request (messages, prompt, inputs, tool definitions)."""
    if not config.capture_content:
        return
    if api == "chat":
        set_content(span, config, sc.INPUT_MESSAGES, chat_input_messages(kwargs.get("messages")))
    elif api == "responses":
        instructions = kwargs.get("instructions")
        if isinstance(instructions, str):
            set_content(
                span,
                config,
                sc.SYSTEM_INSTRUCTIONS,
                [{"type": "text", "content": instructions}],
            )
        set_content(span, config, sc.INPUT_MESSAGES, responses_input_messages(kwargs.get("input")))
    elif api == "completions":
        prompt = kwargs.get("prompt")
        prompts = (
            [prompt] if isinstance(prompt, str) else [p for p in prompt or () if isinstance(p, str)]
        )
        messages = [{"role": "user", "parts": [{"type": "text", "content": p}]} for p in prompts]
        set_content(span, config, sc.INPUT_MESSAGES, messages)
    elif api == "embeddings":
        set_content(span, config, sc.INPUT_VALUE, kwargs.get("input"))
    tools = kwargs.get("tools")
    if tools:
        set_content(span, config, sc.TOOL_DEFINITIONS, to_json(tools))


def usage_attributes(usage: Any, out: dict[str, Any]) -> None:
    """Token counts from a chat/completions or Responses ``usage`` object into ``out``."""
    if usage is None:
        return
    prompt = get(usage, "prompt_tokens")
    if prompt is None:
        prompt = get(usage, "input_tokens")
    completion = get(usage, "completion_tokens")
    if completion is None:
        completion = get(usage, "output_tokens")
    if isinstance(prompt, int):
        out[sc.USAGE_INPUT] = prompt
    if isinstance(completion, int):
        out[sc.USAGE_OUTPUT] = completion
    details = get(usage, "prompt_tokens_details") or get(usage, "input_tokens_details")
    cached = get(details, "cached_tokens")
    if isinstance(cached, int) and cached:
        out[sc.USAGE_CACHE_READ] = cached
    details = get(usage, "completion_tokens_details") or get(usage, "output_tokens_details")
    reasoning = get(details, "reasoning_tokens")
    if isinstance(reasoning, int) and reasoning:
        out[sc.USAGE_REASONING] = reasoning


def record_usage(span: Span, usage: Any) -> None:
    """Set the token-count attributes of ``usage`` on ``span``."""
    out: dict[str, Any] = {}
    usage_attributes(usage, out)
    if out:
        span.set_attributes(out)


_META = (
    ("id", sc.RESPONSE_ID),
    ("model", sc.RESPONSE_MODEL),
    ("service_tier", sc.OPENAI_SERVICE_TIER),
    ("system_fingerprint", sc.OPENAI_SYSTEM_FINGERPRINT),
)


def record_response(span: Span, config: TracerConfig, api: str, response: Any) -> None:
    """Everything known from a complete (non-streamed or reassembled) response."""
    out: dict[str, Any] = {}
    for key, attr in _META:
        value = get(response, key)
        if isinstance(value, str):
            out[attr] = value
    usage_attributes(get(response, "usage"), out)
    if api == "embeddings":
        data = get(response, "data") or ()
        if data and sc.EMBEDDING_DIMENSIONS not in getattr(span, "attributes", {}):
            vector = get(data[0], "embedding")
            if isinstance(vector, list):
                out[sc.EMBEDDING_DIMENSIONS] = len(vector)
        span.set_attributes(out)
        return
    if api == "responses":
        message, finish = responses_output_message(response)
        out[sc.RESPONSE_FINISH_REASONS] = [finish]
        span.set_attributes(out)
        set_content(span, config, sc.OUTPUT_MESSAGES, [message])
        return
    choices = get(response, "choices") or ()
    reasons = [str(get(c, "finish_reason") or "") for c in choices]
    if reasons:
        out[sc.RESPONSE_FINISH_REASONS] = reasons
    span.set_attributes(out)
    if config.capture_content:
        set_content(span, config, sc.OUTPUT_MESSAGES, chat_output_messages(choices))
