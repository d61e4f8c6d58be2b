"""Recording user content (prompts, completions, inputs, outputs) under the content policy.

Every content attribute goes through `set_content`: nothing is recorded when capture is off;
the redaction hook sees the plain value first; the result is stored as JSON text (strings as
they are) and cut at `MAX_CONTENT_CHARS`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Span

from spyglass.tracer._config import TracerConfig

__all__ = ["MAX_CONTENT_CHARS", "content_text", "set_attributes", "set_content", "to_json"]

MAX_CONTENT_CHARS = 1_000_000


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)  # pydantic v2 models (OpenAI, LangChain objects)
    if callable(dump):
        try:
            return dump(mode="json", exclude_none=True)
        except Exception:
            return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default)


def to_json(value: Any) -> str:
    """Compact JSON text of ``value`` (unknown objects via ``model_dump`` or ``str``)."""
    try:
        return _encoder.encode(value)
    except (ValueError, TypeError, RecursionError):
        return json.dumps(str(value), ensure_ascii=False)


def content_text(config: TracerConfig, key: str, value: Any, as_json: bool = True) -> str | None:
    """The text content attribute ``key`` records for ``value``, or None to record nothing.

    Args:
        config: the active configuration (capture switch and redaction hook).
        key: attribute key (passed to the redaction hook).
        value: plain Python value; strings are kept as they are when ``as_json`` is false
            or the value is already a string.
        as_json: encode non-string values as JSON text.
    """
    if not config.capture_content or value is None:
        return None
    if config.redact is not None:
        value = config.redact(key, value)
        if value is None:
            return None
    text = value if isinstance(value, str) else (to_json(value) if as_json else str(value))
    if len(text) > MAX_CONTENT_CHARS:
        text = text[:MAX_CONTENT_CHARS] + f"…[truncated {len(text) - MAX_CONTENT_CHARS} chars]"
    return text


def set_content(
    span: Span, config: TracerConfig, key: str, value: Any, as_json: bool = True
) -> None:
    """Record content attribute ``key`` on ``span`` if the policy allows it (see
    `content_text`)."""
    text = content_text(config, key, value, as_json)
    if text is not None:
        span.set_attribute(key, text)


def set_attributes(span: Span, attributes: Mapping[str, Any]) -> None:
    """Set plain attributes, JSON-encoding values OTel cannot hold; None values are skipped."""
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, (str, bool, int, float)):
            span.set_attribute(key, value)
        elif isinstance(value, (list, tuple)) and all(
            isinstance(v, (str, bool, int, float)) for v in value
        ):
            span.set_attribute(key, list(value))
        else:
            span.set_attribute(key, to_json(value))
