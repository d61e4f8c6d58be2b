"""What an OpenAI call records: request attributes, request content, response attributes.

One small function per operation (chat, text completion, embeddings, responses), all taking
plain kwargs / SDK objects and filling a dict, so the shared wrapper in `openai.py` stays
provider-agnostic. `OpenAISpan` holds what a call needs and computes its attributes when
the span is built, after it ended and off the caller's thread (see `spyglass.tracer._lazy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from opentelemetry.trace import Span, SpanKind

from spyglass.tracer import _semconv as sc
from spyglass.tracer._config import TracerConfig
from spyglass.tracer._content import content_text, to_json
from spyglass.tracer._lazy import LazySpan
from spyglass.tracer.integrations._openai_messages import (
    chat_input_messages,
    chat_output_messages,
    get,
    responses_input_messages,
    responses_output_message,
)

__all__ = [
    "OPERATIONS",
    "OpenAISpan",
    "record_usage",
    "request_attributes",
    "request_content",
    "response_attributes",
    "snapshot_kwargs",
]

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


def _content(config: TracerConfig, out: dict[str, Any], key: str, value: Any) -> None:
    text = content_text(config, key, value)
    if text is not None:
        out[key] = text


def request_content(
    config: TracerConfig, api: str, kwargs: Mapping[str, Any], out: dict[str, Any]
) -> None:
    """Content of the request (messages, prompt, inputs, tool definitions) into ``out``."""
    if not config.capture_content:
        return
    if api == "chat":
        _content(config, out, sc.INPUT_MESSAGES, chat_input_messages(kwargs.get("messages")))
    elif api == "responses":
        instructions = kwargs.get("instructions")
        if isinstance(instructions, str):
            _content(
                config, out, sc.SYSTEM_INSTRUCTIONS, [{"type": "text", "content": instructions}]
            )
        _content(config, out, sc.INPUT_MESSAGES, responses_input_messages(kwargs.get("input")))
    elif api == "completions":
        prompt = kwargs.get("prompt")
        prompts = (
            [prompt] if isinstance(prompt, str) else [p for p in prompt or () if isinstance(p, str)]
        )
        messages = [{"role": "user", "parts": [{"type": "text", "content": p}]} for p in prompts]
        _content(config, out, sc.INPUT_MESSAGES, messages)
    elif api == "embeddings":
        _content(config, out, sc.INPUT_VALUE, kwargs.get("input"))
    tools = kwargs.get("tools")
    if tools:
        _content(config, out, sc.TOOL_DEFINITIONS, to_json(tools))


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


def response_attributes(
    config: TracerConfig, api: str, response: Any, out: dict[str, Any], dimensions_known: bool
) -> None:
    """Everything known from a complete (non-streamed or reassembled) response, into ``out``.

    ``dimensions_known``: the request fixed the embedding size (not taken from the vectors).
    """
    for key, attr in _META:
        value = get(response, key)
        if isinstance(value, str):
            out[attr] = value
    usage_attributes(get(response, "usage"), out)
    if api == "embeddings":
        data = get(response, "data") or ()
        if data and not dimensions_known:
            vector = get(data[0], "embedding")
            if isinstance(vector, list):
                out[sc.EMBEDDING_DIMENSIONS] = len(vector)
        return
    if api == "responses":
        message, finish = responses_output_message(response)
        out[sc.RESPONSE_FINISH_REASONS] = [finish]
        _content(config, out, sc.OUTPUT_MESSAGES, [message])
        return
    choices = get(response, "choices") or ()
    reasons = [str(get(c, "finish_reason") or "") for c in choices]
    if reasons:
        out[sc.RESPONSE_FINISH_REASONS] = reasons
    if config.capture_content:
        _content(config, out, sc.OUTPUT_MESSAGES, chat_output_messages(choices))


# request kwargs holding lists the caller may change after the call (a chat loop appends to
# its ``messages``): copied, with their dict items, before the call returns
_MUTABLE_KWARGS = ("messages", "input", "tools", "prompt")


def snapshot_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with the lists the caller may mutate copied two levels deep (cheap)."""
    for key in _MUTABLE_KWARGS:
        value = kwargs.get(key)
        if type(value) is list:
            kwargs[key] = [dict(v) if type(v) is dict else v for v in value]
    return kwargs


class StreamResult(Protocol):
    """A finished stream as the response it stands for (see `_openai_stream`)."""

    def result(self) -> tuple[str, Any]:
        """The API kind to record it as and the (reassembled) response."""
        ...


class OpenAISpan(LazySpan):
    """One OpenAI call as a lazy span (see `spyglass.tracer._lazy`).

    Holds references only: the request kwargs (as `snapshot_kwargs` copied them), the
    client's base URL, then the response object or the finished stream; `start_attributes`
    and `finish` turn them into attributes when the span is built.
    """

    __slots__ = ("api", "is_stream", "kwargs", "response", "stream", "url")

    def __init__(self, api: str, kwargs: dict[str, Any], url: Any) -> None:
        model = kwargs.get("model")
        operation = OPERATIONS[api]
        super().__init__(
            f"{operation} {model}" if isinstance(model, str) and model else operation,
            SpanKind.CLIENT,
        )
        self.api = api
        self.kwargs = kwargs
        self.url = url  # the client's base_url (an immutable URL object)
        self.is_stream = kwargs.get("stream") is True
        self.response: Any = None
        self.stream: StreamResult | None = None

    def start_attributes(self) -> dict[str, Any]:
        """Request attributes (no content) and the server address."""
        attrs = request_attributes(self.api, self.kwargs)
        host = getattr(self.url, "host", None)
        if isinstance(host, str) and host:
            attrs[sc.SERVER_ADDRESS] = host
            port = getattr(self.url, "port", None)
            if isinstance(port, int):
                attrs[sc.SERVER_PORT] = port
        return attrs

    def finish(self, span: Span) -> None:
        """Request content, then the response attributes and content."""
        config = self.config
        out: dict[str, Any] = {}
        request_content(config, self.api, self.kwargs, out)
        api, response = self.api, self.response
        if self.stream is not None:
            api, response = self.stream.result()
        if response is not None:
            known = isinstance(self.kwargs.get("dimensions"), int)
            response_attributes(config, api, response, out, known)
        if out:
            span.set_attributes(out)
