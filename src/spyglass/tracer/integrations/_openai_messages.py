"""OpenAI request/response objects -> OTel GenAI message JSON (``gen_ai.*.messages``).

Pure functions over dicts and the SDK's pydantic objects (read by attribute or key). The
message shape is the current semantic conventions': ``{"role", "parts": [...]}`` with parts
``text``, ``tool_call``, ``tool_call_response``, ``uri``, ``blob`` and ``reasoning``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "chat_input_messages",
    "chat_output_messages",
    "get",
    "responses_input_messages",
    "responses_output_message",
]

Message = dict[str, Any]
Part = dict[str, Any]


_IS_MAPPING: dict[type, bool] = {}  # per class: isinstance(x, Mapping) (an ABC check) cached


def get(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` otherwise (None-safe). On the hot path."""
    cls = type(obj)
    if cls is dict:
        return obj.get(name, default)
    if obj is None:
        return default
    mapping = _IS_MAPPING.get(cls)
    if mapping is None:
        mapping = _IS_MAPPING[cls] = isinstance(obj, Mapping)
    if mapping:
        return obj.get(name, default)
    return getattr(obj, name, default)


def _arguments(value: Any) -> Any:
    """Tool-call arguments as an object when they are JSON text, else as they are."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _tool_call_part(call: Any) -> Part:
    function = get(call, "function")
    source = function if function is not None else call
    return {
        "type": "tool_call",
        "id": get(call, "id") or get(call, "call_id"),
        "name": get(source, "name"),
        "arguments": _arguments(get(source, "arguments")),
    }


def _content_parts(content: Any) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if not isinstance(content, Iterable) or isinstance(content, (bytes, Mapping)):
        return [{"type": "text", "content": str(content)}]
    parts: list[Part] = []
    for item in content:
        kind = get(item, "type")
        if kind in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": get(item, "text", "")})
        elif kind == "refusal":
            parts.append({"type": "text", "content": get(item, "refusal", "")})
        elif kind in ("image_url", "input_image"):
            image = get(item, "image_url")
            url = get(image, "url") if not isinstance(image, str) else image
            if isinstance(url, str) and url.startswith("data:"):
                mime = url[5:].split(";", 1)[0]
                parts.append({"type": "blob", "modality": "image", "mime_type": mime})
            else:
                parts.append({"type": "uri", "modality": "image", "uri": url})
        elif kind in ("input_audio", "input_file", "file"):
            parts.append({"type": "blob", "modality": "audio" if "audio" in kind else "file"})
        elif isinstance(item, str):
            parts.append({"type": "text", "content": item})
        else:
            parts.append({"type": str(kind)})
    return parts


def chat_input_messages(messages: Any) -> list[Message]:
    """``messages`` of a chat-completions request."""
    out: list[Message] = []
    for message in messages or ():
        role = get(message, "role") or "user"
        if role == "tool":
            parts: list[Part] = [
                {
                    "type": "tool_call_response",
                    "id": get(message, "tool_call_id"),
                    "response": get(message, "content"),
                }
            ]
        else:
            parts = _content_parts(get(message, "content"))
            for call in get(message, "tool_calls") or ():
                parts.append(_tool_call_part(call))
            function_call = get(message, "function_call")
            if function_call is not None:
                parts.append(_tool_call_part(function_call))
        entry: Message = {"role": role, "parts": parts}
        name = get(message, "name")
        if isinstance(name, str) and name:
            entry["name"] = name
        out.append(entry)
    return out


def chat_output_messages(choices: Any) -> list[Message]:
    """``choices`` of a chat completion (or of a text completion, which has ``text``)."""
    out: list[Message] = []
    for choice in choices or ():
        message = get(choice, "message")
        if message is None:
            parts = _content_parts(get(choice, "text"))
        else:
            parts = _content_parts(get(message, "content"))
            refusal = get(message, "refusal")
            if refusal:
                parts.append({"type": "text", "content": refusal})
            for call in get(message, "tool_calls") or ():
                parts.append(_tool_call_part(call))
            function_call = get(message, "function_call")
            if function_call is not None:
                parts.append(_tool_call_part(function_call))
        out.append(
            {
                "role": "assistant",
                "parts": parts,
                "finish_reason": get(choice, "finish_reason") or "",
            }
        )
    return out


def responses_input_messages(value: Any) -> list[Message]:
    """``input`` of a Responses API request (a string or a list of items)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "parts": [{"type": "text", "content": value}]}]
    out: list[Message] = []
    for item in value:
        kind = get(item, "type")
        if kind == "function_call":
            out.append({"role": "assistant", "parts": [_tool_call_part(item)]})
        elif kind == "function_call_output":
            part = {"type": "tool_call_response", "id": get(item, "call_id")}
            part["response"] = get(item, "output")
            out.append({"role": "tool", "parts": [part]})
        elif kind in (None, "message"):
            out.append(
                {
                    "role": get(item, "role") or "user",
                    "parts": _content_parts(get(item, "content")),
                }
            )
        else:
            out.append({"role": "user", "parts": [{"type": str(kind)}]})
    return out


def responses_output_message(response: Any) -> tuple[Message, str]:
    """The assistant message of a Responses API ``Response`` and its finish reason."""
    parts: list[Part] = []
    calls = False
    for item in get(response, "output") or ():
        kind = get(item, "type")
        if kind == "message":
            parts.extend(_content_parts(get(item, "content")))
        elif kind == "function_call":
            calls = True
            parts.append(_tool_call_part(item))
        elif kind == "reasoning":
            summary = [get(s, "text", "") for s in get(item, "summary") or ()]
            if summary:
                parts.append({"type": "reasoning", "content": "\n".join(summary)})
        elif kind is not None:
            parts.append({"type": str(kind)})
    status = get(response, "status") or ""
    if status == "incomplete":
        reason = get(get(response, "incomplete_details"), "reason") or "incomplete"
        finish = "length" if reason == "max_output_tokens" else str(reason)
    elif status == "completed":
        finish = "tool_call" if calls else "stop"
    else:
        finish = str(status)
    return {"role": "assistant", "parts": parts, "finish_reason": finish}, finish
