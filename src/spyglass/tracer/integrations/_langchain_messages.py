"""LangChain messages and results -> OTel GenAI message JSON and usage."""

from __future__ import annotations

from typing import Any

from spyglass.tracer.integrations._openai_messages import get

__all__ = ["input_messages", "output_messages", "usage_of"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "chat": "user"}


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[dict[str, Any]] = []
    for block in content or ():
        if isinstance(block, str):
            parts.append({"type": "text", "content": block})
        elif get(block, "type") == "text":
            parts.append({"type": "text", "content": get(block, "text", "")})
        else:
            parts.append({"type": str(get(block, "type"))})
    return parts


def message(msg: Any, finish_reason: str | None = None) -> dict[str, Any]:
    """One `BaseMessage` in the semantic-convention shape."""
    kind = get(msg, "type") or "human"
    role = _ROLES.get(kind, get(msg, "role") or kind)
    if kind == "tool":
        parts: list[dict[str, Any]] = [
            {
                "type": "tool_call_response",
                "id": get(msg, "tool_call_id"),
                "response": get(msg, "content"),
            }
        ]
    else:
        parts = _parts(get(msg, "content"))
        for call in get(msg, "tool_calls") or ():
            parts.append(
                {
                    "type": "tool_call",
                    "id": get(call, "id"),
                    "name": get(call, "name"),
                    "arguments": get(call, "args"),
                }
            )
    out: dict[str, Any] = {"role": role, "parts": parts}
    if finish_reason is not None:
        out["finish_reason"] = finish_reason
    return out


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """The first prompt of ``on_chat_model_start`` (LangChain batches prompts in lists)."""
    return [message(m) for m in messages]


def _finish_reason(generation: Any) -> str:
    info = get(generation, "generation_info") or {}
    reason = info.get("finish_reason") if isinstance(info, dict) else None
    if reason is None:
        metadata = get(get(generation, "message"), "response_metadata") or {}
        reason = metadata.get("finish_reason") if isinstance(metadata, dict) else None
    return str(reason or "stop")


def output_messages(response: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Output messages and finish reasons of an `LLMResult` (first prompt's generations)."""
    generations = get(response, "generations") or [[]]
    out: list[dict[str, Any]] = []
    reasons: list[str] = []
    for generation in generations[0] if generations else ():
        reason = _finish_reason(generation)
        reasons.append(reason)
        msg = get(generation, "message")
        if msg is not None:
            out.append(message(msg, reason))
        else:
            text = get(generation, "text", "")
            parts = [{"type": "text", "content": text}]
            out.append({"role": "assistant", "parts": parts, "finish_reason": reason})
    return out, reasons


def usage_of(response: Any) -> dict[str, int]:
    """Token usage from message ``usage_metadata`` or ``llm_output["token_usage"]``."""
    usage: dict[str, int] = {}
    for generation in (get(response, "generations") or [[]])[0] or ():
        meta = get(get(generation, "message"), "usage_metadata")
        if meta:
            for key in ("input_tokens", "output_tokens"):
                usage[key] = usage.get(key, 0) + int(meta.get(key) or 0)
            cache = (meta.get("input_token_details") or {}).get("cache_read")
            if cache:
                usage["cache_read"] = usage.get("cache_read", 0) + int(cache)
            reasoning = (meta.get("output_token_details") or {}).get("reasoning")
            if reasoning:
                usage["reasoning"] = usage.get("reasoning", 0) + int(reasoning)
    if usage:
        return usage
    llm_output = get(response, "llm_output") or {}
    token_usage = llm_output.get("token_usage") or llm_output.get("usage") or {}
    if isinstance(token_usage, dict):
        prompt = token_usage.get("prompt_tokens", token_usage.get("input_tokens"))
        completion = token_usage.get("completion_tokens", token_usage.get("output_tokens"))
        if isinstance(prompt, int):
            usage["input_tokens"] = prompt
        if isinstance(completion, int):
            usage["output_tokens"] = completion
    return usage


def response_model(response: Any) -> str | None:
    """The model that answered, from ``llm_output`` or the message metadata."""
    llm_output = get(response, "llm_output") or {}
    model = llm_output.get("model_name") or llm_output.get("model")
    if isinstance(model, str):
        return model
    for generation in (get(response, "generations") or [[]])[0] or ():
        metadata = get(get(generation, "message"), "response_metadata") or {}
        model = metadata.get("model_name") or metadata.get("model")
        if isinstance(model, str):
            return model
    return None
