"""Chat messages out of a span, for showing a call as a conversation.

Reads the OTel GenAI parts format (``[{"role", "parts": [{"type": "text", "content"}]}]``), the
chat-completions format (``[{"role", "content", "tool_calls"}]``, content a string or a list of
parts) and the collector's canonical form of either; from JSON text or decoded lists. Pure
functions: nothing here raises on odd input, it just finds no messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["Message", "Part", "conversation", "parse_messages"]

INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
_ROLES = {"human": "user", "ai": "assistant", "model": "assistant"}


@dataclass(frozen=True)
class Part:
    """One piece of a message: ``text``, ``tool_call`` (name + arguments), ``tool_result``,
    or ``other`` (an image, a file: shown as JSON)."""

    kind: str
    text: str
    name: str = ""
    call_id: str = ""


@dataclass(frozen=True)
class Message:
    role: str
    parts: list[Part] = field(default_factory=list)
    name: str = ""
    finish_reason: str = ""


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except TypeError:
        return str(value)


def _decode(value: Any) -> Any:
    """A decoded JSON value from JSON text; other values as they are."""
    if isinstance(value, (bytes, str)):
        text = value.strip()
        if text[:1] in ("[", "{", b"[", b"{"):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                return value
    return value


def _tool_call(value: Mapping[str, Any]) -> Part:
    function = value.get("function")
    source: Mapping[str, Any] = function if isinstance(function, Mapping) else value
    arguments = source.get("arguments", source.get("input", value.get("input", "")))
    arguments = _decode(arguments)
    return Part(
        "tool_call",
        _json_text(arguments) if arguments not in ("", None) else "",
        name=str(source.get("name") or ""),
        call_id=str(value.get("id") or ""),
    )


def _parts(content: Any) -> list[Part]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [Part("text", content)]
    if isinstance(content, Mapping):
        content = [content]
    if not isinstance(content, list):
        return [Part("text", _json_text(content))]
    out: list[Part] = []
    for item in content:
        if isinstance(item, str):
            out.append(Part("text", item))
            continue
        if not isinstance(item, Mapping):
            out.append(Part("other", _json_text(item)))
            continue
        kind = item.get("type")
        if kind in ("text", "input_text", "output_text") or (kind is None and "text" in item):
            text = item.get("content", item.get("text", ""))
            out.append(Part("text", text if isinstance(text, str) else _json_text(text)))
        elif kind in ("tool_call", "tool_use", "function_call"):
            out.append(_tool_call(item))
        elif kind in ("tool_call_response", "tool_result", "function_call_output"):
            result = item.get(
                "response", item.get("result", item.get("content", item.get("output")))
            )
            call_id = item.get("id", item.get("tool_use_id", item.get("call_id", "")))
            out.append(Part("tool_result", _json_text(_decode(result)), call_id=str(call_id or "")))
        else:
            out.append(Part("other", _json_text(item)))
    return out


def _message(value: Any) -> Message | None:
    value = _decode(value)
    if not isinstance(value, Mapping):
        return None
    role = value.get("role") or value.get("type")
    if not isinstance(role, str) or not role:
        return None
    role = _ROLES.get(role, role)
    parts = _parts(value["parts"] if isinstance(value.get("parts"), list) else value.get("content"))
    calls = value.get("tool_calls")
    if isinstance(calls, list):
        parts.extend(_tool_call(c) for c in calls if isinstance(c, Mapping))
    call_id = value.get("tool_call_id")
    if isinstance(call_id, str) and call_id and role == "tool":
        parts = [
            Part("tool_result", p.text, p.name, call_id) if p.kind == "text" else p for p in parts
        ]
    name = value.get("name")
    finish = value.get("finish_reason")
    return Message(
        role,
        parts,
        name=name if isinstance(name, str) else "",
        finish_reason=finish if isinstance(finish, str) else "",
    )


def parse_messages(value: Any) -> list[Message] | None:
    """Messages from JSON text or a decoded value; None when it does not look like a chat.

    Accepts a list of messages, ``{"messages": [...]}`` and a chat-completions response
    (``{"choices": [{"message": ...}]}``).
    """
    value = _decode(value)
    if isinstance(value, Mapping):
        if isinstance(value.get("messages"), list):
            value = value["messages"]
        elif isinstance(value.get("choices"), list):
            value = [c.get("message") for c in value["choices"] if isinstance(c, Mapping)]
        elif "role" in value:
            value = [value]
    if not isinstance(value, list) or not value:
        return None
    out = []
    for item in value:
        message = _message(item)
        if message is None:
            return None
        out.append(message)
    return out


def _system(value: Any) -> Message | None:
    value = _decode(value)
    parts = _parts(value)
    return Message("system", parts) if parts else None


def conversation(
    attributes: Mapping[str, Any], span_input: str, span_output: str
) -> tuple[list[Message], list[Message]] | None:
    """(input messages, output messages) of a span, or None if it holds no chat.

    The GenAI message attributes win (they are what the app sent); the span's normalized
    ``input``/``output`` (any dialect, as the collector stored it) fill in what they lack.
    """
    inputs = parse_messages(attributes.get(INPUT_MESSAGES)) or parse_messages(span_input)
    outputs = parse_messages(attributes.get(OUTPUT_MESSAGES)) or parse_messages(span_output)
    if inputs is None and outputs is None:
        return None
    inputs = inputs or []
    system = _system(attributes.get(SYSTEM_INSTRUCTIONS))
    if system is not None and not any(m.role == "system" for m in inputs):
        inputs = [system, *inputs]
    return inputs, outputs or []
