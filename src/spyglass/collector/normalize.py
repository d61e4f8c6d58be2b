"""Map the GenAI span-attribute dialects onto one canonical set of fields.

Supported dialects, current and deprecated names alike: OpenTelemetry GenAI semantic
conventions (attributes and span events), OpenInference, OpenLLMetry/Traceloop and MLflow,
plus the generic ``session.id`` / ``user.id`` / ``enduser.id``.

``normalize`` runs once per ingested span, so it reads a fixed set of keys with dict
lookups and only walks indexed keys (``llm.input_messages.N...``, ``gen_ai.prompt.N...``)
when the first index is present. It never raises: values it cannot use are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from json.scanner import make_scanner
from typing import Any, cast

import orjson

__all__ = ["SPAN_TYPES", "USAGE_KEYS", "Canonical", "canonical_io", "messages_text", "normalize"]

SPAN_TYPES = (
    "LLM",
    "EMBEDDING",
    "CHAIN",
    "RETRIEVER",
    "RERANKER",
    "TOOL",
    "AGENT",
    "GUARDRAIL",
    "EVALUATOR",
    "PARSER",
    "UNKNOWN",
)
USAGE_KEYS = ("input", "output", "total", "cache_read", "cache_creation", "reasoning")


@dataclass(frozen=True, slots=True)
class Canonical:
    """Dialect-independent view of one span.

    ``span_type`` is one of ``SPAN_TYPES``; text fields are ``""`` when unknown; ``input`` and
    ``output`` are plain text or compact JSON text (a chat is a list of ``{"role", "content"}``
    objects); ``usage`` holds only the ``USAGE_KEYS`` that were reported, all ``>= 0``. As in
    OpenAI's usage and the OTel conventions, ``input`` tokens include cached tokens.
    """

    span_type: str
    model: str
    provider: str
    operation: str
    input: str
    output: str
    session_id: str
    user_id: str
    usage: dict[str, int]


Message = dict[str, Any]

_json_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)
_json_decoder = json.JSONDecoder()
# JSONEncoder.encode builds a C encoder on every call and json.loads re-checks its input;
# at one span per call both overheads matter, so build the C parts once where they exist.
_c_encoder = (
    c_make_encoder(None, str, encode_basestring, None, ":", ",", False, False, True)
    if c_make_encoder is not None
    else None
)
_scan_once = make_scanner(cast(Any, _json_decoder))


def _encode(value: Any) -> str:
    """Compact JSON text (non-ASCII kept, unknown types as str)."""
    if _c_encoder is None:
        return _json_encoder.encode(value)
    return "".join(_c_encoder(value, 0))


def _decode(text: str) -> Any:
    """Parse JSON text; ValueError if it is not exactly one JSON value."""
    if text[:1].isspace():
        text = text.lstrip()
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if end != len(text) and text[end:].strip():
        raise ValueError("trailing data after JSON")
    return value


# --- span kinds -----------------------------------------------------------------------------

_OPENINFERENCE_KINDS = {k: k for k in SPAN_TYPES if k not in ("PARSER", "UNKNOWN")}
_OPENINFERENCE_KINDS["PROMPT"] = "CHAIN"  # prompt-template rendering is a pipeline step
_MLFLOW_KINDS = {k: k for k in SPAN_TYPES if k != "UNKNOWN"}
_MLFLOW_KINDS["CHAT_MODEL"] = "LLM"
_TRACELOOP_KINDS = {"workflow": "CHAIN", "task": "CHAIN", "agent": "AGENT", "tool": "TOOL"}
_OPERATION_KINDS = {
    "chat": "LLM",
    "text_completion": "LLM",
    "generate_content": "LLM",
    "embeddings": "EMBEDDING",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
    "retrieval": "RETRIEVER",
    "invoke_workflow": "CHAIN",
}
_REQUEST_TYPE_KINDS = {
    "chat": "LLM",
    "completion": "LLM",
    "embedding": "EMBEDDING",
    "rerank": "RERANKER",
}
_REQUEST_TYPE_OPERATIONS = {
    "chat": "chat",
    "completion": "text_completion",
    "embedding": "embeddings",
}
# What an OTel GenAI instrumentation would have called the operation behind each span kind.
_KIND_OPERATIONS = {
    "EMBEDDING": "embeddings",
    "TOOL": "execute_tool",
    "AGENT": "invoke_agent",
    "RETRIEVER": "retrieval",
}

# --- attribute names, best source first -----------------------------------------------------

_MODEL_KEYS = (
    "gen_ai.response.model",
    "llm.response.model_name",
    "llm.model_name",
    "gen_ai.request.model",
    "llm.request.model_name",
)
_EMBEDDING_MODEL_KEY = "embedding.model_name"
_RERANKER_MODEL_KEY = "reranker.model_name"
_MLFLOW_MODEL_KEYS = ("mlflow.llm.model", "mlflow.chat.model")
_PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
_MLFLOW_PROVIDER_KEY = "mlflow.llm.provider"
# OpenInference / OpenLLMetry spellings of OTel's well-known provider names.
_PROVIDER_ALIASES = {
    "mistralai": "mistral_ai",
    "xai": "x_ai",
    "vertexai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
}
_SESSION_KEYS = (
    "gen_ai.conversation.id",
    "session.id",
    "traceloop.association.properties.session_id",
)
_USER_KEYS = ("user.id", "enduser.id", "traceloop.association.properties.user_id")
_MLFLOW_SESSION_KEY = "mlflow.trace.session"
_MLFLOW_USER_KEY = "mlflow.trace.user"

_USAGE_SOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "input",
        (
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.token_count.prompt",
            "llm.usage.prompt_tokens",
        ),
    ),
    (
        "output",
        (
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
            "llm.usage.completion_tokens",
        ),
    ),
    (
        "total",
        ("llm.token_count.total", "llm.usage.total_tokens", "gen_ai.usage.total_tokens"),
    ),
    (
        "cache_read",
        (
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens",
            "llm.token_count.prompt_details.cache_read",
        ),
    ),
    (
        "cache_creation",
        (
            "gen_ai.usage.cache_creation.input_tokens",
            "gen_ai.usage.cache_write.input_tokens",
            "gen_ai.usage.cache_creation_input_tokens",
            "llm.token_count.prompt_details.cache_write",
        ),
    ),
    (
        "reasoning",
        (
            "gen_ai.usage.reasoning.output_tokens",
            "gen_ai.usage.reasoning_tokens",
            "llm.usage.reasoning_tokens",
            "llm.token_count.completion_details.reasoning",
        ),
    ),
)
_USAGE_RANK = {key: (name, rank) for name, keys in _USAGE_SOURCES for rank, key in enumerate(keys)}
_USAGE_ATTRIBUTES = frozenset(_USAGE_RANK)
_MAX_COUNT = 2**63 - 1  # what a signed 64-bit column holds
_MLFLOW_USAGE_KEY = "mlflow.chat.tokenUsage"
_MLFLOW_USAGE_FIELDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("total", "total_tokens"),
    ("cache_read", "cache_read_input_tokens"),
    ("cache_creation", "cache_creation_input_tokens"),
)

_INPUT_TEXT_KEYS = ("input.value", "traceloop.entity.input", "gen_ai.tool.call.arguments")
_OUTPUT_TEXT_KEYS = ("output.value", "traceloop.entity.output", "gen_ai.tool.call.result")

# Indexed (flattened) message dialects: the first index's keys are the presence markers.
_OI_IN = "llm.input_messages."
_OI_OUT = "llm.output_messages."
_TL_IN = "gen_ai.prompt."
_TL_OUT = "gen_ai.completion."
_INDEXED_MARKERS = {
    prefix: (prefix + "0.message.role", prefix + "0.message.content")
    for prefix in (_OI_IN, _OI_OUT)
} | {prefix: (prefix + "0.role", prefix + "0.content") for prefix in (_TL_IN, _TL_OUT)}

# Message sources for each side, best first: (OTel attribute, OpenInference prefix,
# OpenLLMetry prefix, deprecated OTel attribute).
_IN_SIDE = ("gen_ai.input.messages", _OI_IN, _TL_IN, "gen_ai.prompt")
_OUT_SIDE = ("gen_ai.output.messages", _OI_OUT, _TL_OUT, "gen_ai.completion")

# Deprecated per-message events (semconv <= 1.36) and the role each one implies.
_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_LANGCHAIN_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
_CALL_PART_TYPES = frozenset({"tool_call", "tool_use"})

# Every key read directly; a span carrying none of them (and no GenAI event) is not GenAI.
_MARKERS = frozenset(
    (
        "openinference.span.kind",
        "mlflow.spanType",
        "traceloop.span.kind",
        "gen_ai.operation.name",
        "llm.request.type",
        _EMBEDDING_MODEL_KEY,
        _RERANKER_MODEL_KEY,
        _MLFLOW_PROVIDER_KEY,
        _MLFLOW_SESSION_KEY,
        _MLFLOW_USER_KEY,
        _MLFLOW_USAGE_KEY,
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.prompt",
        "gen_ai.completion",
        "mlflow.spanInputs",
        "mlflow.spanOutputs",
        *_MODEL_KEYS,
        *_MLFLOW_MODEL_KEYS,
        *_PROVIDER_KEYS,
        *_SESSION_KEYS,
        *_USER_KEYS,
        *(key for _, keys in _USAGE_SOURCES for key in keys),
        *_INPUT_TEXT_KEYS,
        *_OUTPUT_TEXT_KEYS,
        *(key for keys in _INDEXED_MARKERS.values() for key in keys),
    )
)


def normalize(
    attributes: Mapping[str, Any], events: Sequence[tuple[str, Mapping[str, Any]]] = ()
) -> Canonical:
    """Return the canonical fields of one span from its decoded attributes and events.

    Never raises; a span with no GenAI attributes or events gives ``UNKNOWN`` and empty fields.
    """
    try:
        return _normalize(attributes, events)
    except Exception:
        # Ingest must survive any span; the helpers already skip odd values, this is the net.
        return _empty()


def canonical_io(
    attributes: Mapping[str, Any], events: Sequence[tuple[str, Mapping[str, Any]]] = ()
) -> tuple[str, str]:
    """``normalize(...).input`` and ``.output`` alone (for readers; never raises)."""
    try:
        ev = _scan_events(events) if events else None
        a = attributes
        if ev is not None and ev.details is not None:
            a = {**ev.details, **attributes}
        if ev is None and not _MARKERS.intersection(a):
            return "", ""
        _, input_text, _, output_text = _io(a, ev)
        return input_text, output_text
    except Exception:
        return "", ""


def messages_text(text: str) -> str:
    """Canonical messages (compact JSON) from a JSON message list in any dialect, else ``""``."""
    try:
        if text[:1] == "[":
            plain = _text_parts_messages(text)
            if plain is not None:
                # Strings only: orjson writes the same text as `_encode` (checked for every
                # code point in tests/test_normalize.py), ~5x faster; readers of a 10k-span
                # trace do this 20,000 times.
                return orjson.dumps(plain).decode()
        messages = _messages(text)
    except Exception:
        return ""
    return _encode(messages) if messages else ""


def _empty() -> Canonical:
    return Canonical("UNKNOWN", "", "", "", "", "", "", "", {})


class _Events:
    __slots__ = ("details", "inputs", "legacy_completion", "legacy_prompt", "outputs")

    def __init__(self) -> None:
        self.inputs: list[Message] = []
        self.outputs: list[Message] = []
        self.details: Mapping[str, Any] | None = None
        self.legacy_prompt: Any = None
        self.legacy_completion: Any = None


def _normalize(
    attributes: Mapping[str, Any], events: Sequence[tuple[str, Mapping[str, Any]]]
) -> Canonical:
    ev = _scan_events(events) if events else None
    a = attributes
    if ev is not None and ev.details is not None:
        # The details event carries span-level fields too; the span's own attributes win.
        a = {**ev.details, **attributes}
    present = _MARKERS.intersection(a)
    if not present and ev is None:
        return _empty()
    get = a.get

    # Span kind: explicit framework kinds first, then the GenAI operation.
    span_type = ""
    value = get("openinference.span.kind")
    if type(value) is str:
        span_type = _OPENINFERENCE_KINDS.get(value.upper(), "")
    if not span_type:
        value = get("mlflow.spanType")
        if value is not None:
            mlflow_kind = _mlflow_value(value)
            if type(mlflow_kind) is str:
                span_type = _MLFLOW_KINDS.get(mlflow_kind.upper(), "")
    if not span_type:
        value = get("traceloop.span.kind")
        if type(value) is str:
            span_type = _TRACELOOP_KINDS.get(value.lower(), "")
    operation = _first_str(get, ("gen_ai.operation.name",)).lower()
    if not span_type and operation:
        span_type = _OPERATION_KINDS.get(operation, "")
    request_type = get("llm.request.type")
    request_type = request_type.lower() if type(request_type) is str else ""
    if not span_type and request_type:
        span_type = _REQUEST_TYPE_KINDS.get(request_type, "")

    # Model and provider.
    model = _first_str(get, _MODEL_KEYS)
    if not model:
        model = _first_str(get, (_EMBEDDING_MODEL_KEY,))
        if model and not span_type:
            span_type = "EMBEDDING"
    if not model:
        model = _first_str(get, (_RERANKER_MODEL_KEY,))
        if model and not span_type:
            span_type = "RERANKER"
    if not model:
        model = _first_mlflow_str(get, _MLFLOW_MODEL_KEYS)
    provider = _first_str(get, _PROVIDER_KEYS) or _first_mlflow_str(get, (_MLFLOW_PROVIDER_KEY,))
    if provider:
        provider = provider.lower()
        provider = _PROVIDER_ALIASES.get(provider, provider)

    session_id = _first_id(get, _SESSION_KEYS) or _mlflow_id(get(_MLFLOW_SESSION_KEY))
    user_id = _first_id(get, _USER_KEYS) or _mlflow_id(get(_MLFLOW_USER_KEY))

    usage = _usage(get, present)

    in_msgs, input_text, out_msgs, output_text = _io(a, ev)

    if not span_type:
        span_type = "LLM" if (model or in_msgs or out_msgs or usage) else "UNKNOWN"
    if not operation:
        operation = _REQUEST_TYPE_OPERATIONS.get(request_type, "")
    if not operation:
        if span_type == "LLM":
            operation = "chat" if in_msgs else ""
        else:
            operation = _KIND_OPERATIONS.get(span_type, "")

    return Canonical(
        span_type,
        model,
        provider,
        operation,
        input_text,
        output_text,
        session_id,
        user_id,
        usage,
    )


def _io(
    a: Mapping[str, Any], ev: _Events | None
) -> tuple[list[Message] | None, str, list[Message] | None, str]:
    """(input messages, input text, output messages, output text) of one span."""
    get = a.get
    in_msgs, input_text = _side(
        a,
        _IN_SIDE,
        ev.inputs if ev is not None else None,
        ev.legacy_prompt if ev is not None else None,
    )
    value = get("gen_ai.system_instructions")
    if value is not None and (in_msgs is not None or not input_text):
        system = _system_message(value)
        if system is not None:
            in_msgs = [system, *(in_msgs or ())]
    if in_msgs is None and not input_text:
        input_text = _first_text(get, _INPUT_TEXT_KEYS)
        if not input_text:
            value = get("mlflow.spanInputs")
            if value is not None:
                in_msgs, input_text = _mlflow_payload(value, "messages")
    if in_msgs:
        input_text = _encode(in_msgs)

    out_msgs, output_text = _side(
        a,
        _OUT_SIDE,
        ev.outputs if ev is not None else None,
        ev.legacy_completion if ev is not None else None,
    )
    if out_msgs is None and not output_text:
        output_text = _first_text(get, _OUTPUT_TEXT_KEYS)
        if not output_text:
            value = get("mlflow.spanOutputs")
            if value is not None:
                out_msgs, output_text = _mlflow_payload(value, "choices")
    if out_msgs:
        output_text = _encode(out_msgs)
    return in_msgs, input_text, out_msgs, output_text


# --- scalar helpers -------------------------------------------------------------------------


def _first_str(get: Callable[[str], Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = get(key)
        if type(value) is str:
            value = value.strip()
            if value:
                return value
    return ""


def _first_mlflow_str(get: Callable[[str], Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = get(key)
        if value is not None:
            decoded = _mlflow_value(value)
            if type(decoded) is str and decoded.strip():
                return decoded.strip()
    return ""


def _id(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    if type(value) is int:
        return str(value)
    return ""


def _first_id(get: Callable[[str], Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = get(key)
        if value is not None:
            found = _id(value)
            if found:
                return found
    return ""


def _mlflow_id(value: Any) -> str:
    return "" if value is None else _id(_mlflow_value(value))


def _mlflow_value(value: Any) -> Any:
    """MLflow JSON-encodes its attribute values; plain values pass through."""
    if type(value) is str and value[:1] in ('"', "{", "["):
        inner = value[1:-1]
        if value[0] == '"' == value[-1] and len(value) > 1 and not ('"' in inner or "\\" in inner):
            return inner  # the common case, a plain JSON string, without the parser
        try:
            return _decode(value)
        except ValueError:
            return value
    return value


def _count(value: Any) -> int | None:
    """A token count, or None for anything that is not a plausible one."""
    kind = type(value)
    if kind is int:
        return value if 0 <= value <= _MAX_COUNT else None
    if kind is float:
        return int(value) if 0 <= value <= _MAX_COUNT else None  # NaN fails both comparisons
    if kind is str and 0 < len(value) <= 18 and value.isascii() and value.isdigit():
        return int(value)
    return None


def _usage(get: Callable[[str], Any], present: frozenset[str]) -> dict[str, int]:
    usage: dict[str, int] = {}
    ranks: dict[str, int] = {}
    for key in present & _USAGE_ATTRIBUTES:
        count = _count(get(key))
        if count is not None:
            name, rank = _USAGE_RANK[key]
            if ranks.get(name, rank + 1) > rank:
                ranks[name] = rank
                usage[name] = count
    value = get(_MLFLOW_USAGE_KEY)
    if value is not None:
        payload = _mlflow_value(value)
        if isinstance(payload, dict):
            for name, field in _MLFLOW_USAGE_FIELDS:
                if name not in usage:
                    count = _count(payload.get(field))
                    if count is not None:
                        usage[name] = count
    if "total" not in usage and ("input" in usage or "output" in usage):
        usage["total"] = usage.get("input", 0) + usage.get("output", 0)
    return usage


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return _encode(value)


def _first_text(get: Callable[[str], Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = get(key)
        if value is not None:
            text = _text(value)
            if text:
                return text
    return ""


# --- messages -------------------------------------------------------------------------------


def _messages(value: Any) -> list[Message] | None:
    """Canonical messages from a JSON text or a structured list; None if it is neither."""
    if type(value) is str:
        if value.lstrip()[:1] != "[":
            return None
        simple = _text_parts_messages(value)
        if simple is not None:
            return simple
        try:
            value = _decode(value)
        except ValueError:
            return None
    if not isinstance(value, list):
        return None
    out: list[Message] = []
    for item in value:
        if type(item) is str:
            # Attribute arrays only hold primitives, so some SDKs send one JSON text per message.
            try:
                item = _decode(item)
            except ValueError:
                return None
        message = _message(item)
        if message is None:
            return None
        out.append(message)
    return out or None


# Message keys the OTel GenAI "parts" shape may hold that do not change its canonical form.
_PLAIN_MESSAGE_KEYS = frozenset(("role", "parts", "finish_reason"))


def _text_parts_messages(text: str) -> list[Message] | None:
    """The common case, fast: a JSON list of OTel GenAI messages with text parts only.

    Gives what the general path (`_decode`, `_message`) gives for such a list, or None for
    anything else (the general path decides). orjson reads every JSON text it accepts as the
    standard decoder does (the last of repeated keys wins; big ints, NaN and lone surrogates
    it rejects, leaving them to the general path)."""
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(items) is not list or not items:
        return None
    out: list[Message] = []
    for item in items:
        if type(item) is not dict or not _PLAIN_MESSAGE_KEYS.issuperset(item):
            return None
        role, parts = item.get("role"), item.get("parts")
        if type(role) is not str or not role or type(parts) is not list:
            return None
        texts = []
        for part in parts:
            if type(part) is not dict or part.get("type") != "text":
                return None
            content = part.get("content")
            if type(content) is not str:
                return None
            texts.append(content)
        out.append({"role": role, "content": "\n".join(texts)})
    return out


def _message(value: Any, default_role: str = "") -> Message | None:
    if not isinstance(value, dict):
        return None
    role = value.get("role")
    if type(role) is not str or not role:
        kind = value.get("type")
        role = _LANGCHAIN_ROLES.get(kind, default_role) if type(kind) is str else default_role
    parts = value.get("parts")
    if isinstance(parts, list):
        content, calls, call_id = _content(parts)
    else:
        content, calls, call_id = _content(value.get("content"))
    tool_calls = value.get("tool_calls")
    if isinstance(tool_calls, list):
        calls.extend(call for call in map(_tool_call, tool_calls) if call is not None)
    message: Message = {"role": role, "content": content}
    if calls:
        message["tool_calls"] = calls
    explicit_id = value.get("tool_call_id")
    if type(explicit_id) is str and explicit_id:
        call_id = explicit_id
    if call_id:
        message["tool_call_id"] = call_id
    name = value.get("name")
    if type(name) is str and name:
        message["name"] = name
    return message


def _content(value: Any) -> tuple[Any, list[Message], str]:
    """Split message content into (text or kept parts, tool calls, answered tool-call id)."""
    if type(value) is str:
        return value, [], ""
    if value is None:
        return "", [], ""
    if not isinstance(value, list):
        return (value if isinstance(value, dict) else _text(value)), [], ""
    texts: list[str] = []
    calls: list[Message] = []
    call_id = ""
    kept = False
    for part in value:
        if type(part) is str:
            texts.append(part)
            continue
        if not isinstance(part, dict):
            kept = True
            continue
        kind = part.get("type")
        if kind == "text":
            text = part.get("content", part.get("text"))
            texts.append(text if type(text) is str else _text(text))
        elif kind == "tool_call" or kind == "tool_use":
            call = _tool_call(part)
            if call is not None:
                calls.append(call)
        elif kind == "tool_call_response" or kind == "tool_result":
            found = part.get("id", part.get("tool_use_id"))
            if type(found) is str:
                call_id = found
            result = part.get("response", part.get("result", part.get("content")))
            if isinstance(result, list):
                result = _content(result)[0]
            texts.append(_text(result))
        else:
            kept = True
    if kept:
        # Images, files and unknown parts have no text form: keep every non-call part as is.
        parts = [
            p for p in value if not (isinstance(p, dict) and p.get("type") in _CALL_PART_TYPES)
        ]
        return parts, calls, call_id
    return "\n".join(texts), calls, call_id


def _tool_call(value: Any) -> Message | None:
    if not isinstance(value, dict):
        return None
    function = value.get("function")
    source = function if isinstance(function, dict) else value
    name = source.get("name")
    arguments = source.get("arguments", source.get("input", value.get("input")))
    call_id = value.get("id")
    return {
        "id": call_id if type(call_id) is str else "",
        "name": name if type(name) is str else "",
        "arguments": _text(arguments),
    }


def _system_message(value: Any) -> Message | None:
    if type(value) is str:
        stripped = value.lstrip()
        if stripped[:1] in ("[", "{"):
            try:
                value = _decode(stripped)
            except ValueError:
                pass
    if type(value) is str:
        return {"role": "system", "content": value} if value else None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        return None
    content, _, _ = _content(value)
    return {"role": "system", "content": content}


def _side(
    a: Mapping[str, Any],
    side: tuple[str, str, str, str],
    event_messages: list[Message] | None,
    legacy_event_value: Any,
) -> tuple[list[Message] | None, str]:
    """(messages, text) for one side of the call from the message-bearing dialects."""
    key, openinference, openllmetry, legacy_key = side
    get = a.get
    value = get(key)
    if value is not None:
        messages = _messages(value)
        return (messages, "") if messages else (None, _text(value))
    if _has_indexed(a, openinference):
        messages = _openinference_messages(get, openinference)
        if messages:
            return messages, ""
    if _has_indexed(a, openllmetry):
        messages = _openllmetry_messages(get, openllmetry)
        if messages:
            return messages, ""
    if event_messages:
        return event_messages, ""
    value = get(legacy_key)
    if value is None:
        value = legacy_event_value
    if value is not None:
        messages = _messages(value)
        return (messages, "") if messages else (None, _text(value))
    return None, ""


def _has_indexed(a: Mapping[str, Any], prefix: str) -> bool:
    first, second = _INDEXED_MARKERS[prefix]
    return first in a or second in a


def _openinference_messages(get: Callable[[str], Any], prefix: str) -> list[Message] | None:
    out: list[Message] = []
    i = 0
    while True:
        base = f"{prefix}{i}.message."
        role = get(base + "role")
        content = get(base + "content")
        if content is None:
            texts = []
            j = 0
            while (text := get(f"{base}contents.{j}.message_content.text")) is not None:
                texts.append(_text(text))
                j += 1
            if texts:
                content = "\n".join(texts)
        calls = []
        j = 0
        while True:
            call_base = f"{base}tool_calls.{j}.tool_call."
            name = get(call_base + "function.name")
            if name is None:
                break
            call_id = get(call_base + "id")
            calls.append(
                {
                    "id": call_id if type(call_id) is str else "",
                    "name": _text(name),
                    "arguments": _text(get(call_base + "function.arguments")),
                }
            )
            j += 1
        if role is None and content is None and not calls:
            break
        message: Message = {
            "role": role if type(role) is str else "",
            "content": _text(content),
        }
        if calls:
            message["tool_calls"] = calls
        call_id = get(base + "tool_call_id")
        if type(call_id) is str and call_id:
            message["tool_call_id"] = call_id
        name = get(base + "name")
        if type(name) is str and name:
            message["name"] = name
        out.append(message)
        i += 1
    return out or None


def _openllmetry_messages(get: Callable[[str], Any], prefix: str) -> list[Message] | None:
    out: list[Message] = []
    i = 0
    while True:
        base = f"{prefix}{i}."
        role = get(base + "role")
        content = get(base + "content")
        calls = []
        j = 0
        while True:
            call_base = f"{base}tool_calls.{j}."
            name = get(call_base + "name")
            if name is None:
                break
            call_id = get(call_base + "id")
            calls.append(
                {
                    "id": call_id if type(call_id) is str else "",
                    "name": _text(name),
                    "arguments": _text(get(call_base + "arguments")),
                }
            )
            j += 1
        if role is None and content is None and not calls:
            break
        if type(content) is str and content[:1] == "[":
            # Non-string provider content (e.g. Anthropic blocks) is recorded as JSON text.
            parsed = _text_blocks(content)
            if parsed is not None:
                content = parsed
        message: Message = {
            "role": role if type(role) is str else "",
            "content": _text(content),
        }
        if calls:
            message["tool_calls"] = calls
        call_id = get(base + "tool_call_id")
        if type(call_id) is str and call_id:
            message["tool_call_id"] = call_id
        out.append(message)
        i += 1
    return out or None


def _text_blocks(value: str) -> str | None:
    """Join a JSON list made only of text blocks; None for anything else."""
    try:
        blocks = _decode(value)
    except ValueError:
        return None
    if not isinstance(blocks, list) or not blocks:
        return None
    texts = []
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "text":
            return None
        text = block.get("text")
        if type(text) is not str:
            return None
        texts.append(text)
    return "\n".join(texts)


def _mlflow_payload(value: Any, kind: str) -> tuple[list[Message] | None, str]:
    """Messages from MLflow span inputs (``messages``) or outputs (``choices``), else text."""
    decoded = _mlflow_value(value)
    if type(decoded) is str:
        return None, decoded
    if isinstance(decoded, dict):
        messages: list[Message] | None = None
        if kind == "messages":
            messages = _messages(decoded.get("messages"))
        else:
            choices = decoded.get("choices")
            if isinstance(choices, list) and choices:
                found = [
                    _message(choice.get("message"), "assistant")
                    for choice in choices
                    if isinstance(choice, dict)
                ]
                if found and all(m is not None for m in found):
                    messages = [m for m in found if m is not None]
            elif "role" in decoded and "content" in decoded:
                single = _message(decoded)
                messages = [single] if single is not None else None
        if messages:
            return messages, ""
    return None, (value if type(value) is str else _text(decoded))


def _scan_events(events: Sequence[tuple[str, Mapping[str, Any]]]) -> _Events | None:
    found: _Events | None = None
    for event in events:
        if not isinstance(event, (tuple, list)) or len(event) != 2:
            continue
        name, attrs = event
        if type(name) is not str or not name.startswith("gen_ai."):
            continue
        if type(attrs) is not dict:
            if not isinstance(attrs, Mapping):
                continue
            attrs = dict(attrs)
        if found is None:
            found = _Events()
        role = _EVENT_ROLES.get(name)
        if role is not None:
            body = _event_body(attrs)
            message = _message(body, role)
            if message is not None:
                if role == "tool" and "tool_call_id" not in message:
                    call_id = body.get("id")
                    if type(call_id) is str and call_id:
                        message["tool_call_id"] = call_id
                found.inputs.append(message)
        elif name == "gen_ai.choice":
            body = _event_body(attrs)
            inner = body.get("message")
            message = _message(inner if isinstance(inner, dict) else body, "assistant")
            if message is not None:
                found.outputs.append(message)
        elif name == _DETAILS_EVENT:
            found.details = attrs
        elif name == "gen_ai.content.prompt":
            found.legacy_prompt = attrs.get("gen_ai.prompt")
        elif name == "gen_ai.content.completion":
            found.legacy_completion = attrs.get("gen_ai.completion")
    return found


def _event_body(attrs: dict[str, Any]) -> dict[str, Any]:
    """An event's message body: ``gen_ai.event.content`` JSON when present, else its attributes."""
    body = attrs.get("gen_ai.event.content")
    if type(body) is str:
        try:
            body = _decode(body)
        except ValueError:
            return {"content": body}
    if isinstance(body, dict):
        return body
    return attrs
