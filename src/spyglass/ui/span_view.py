"""What the span panel shows, worked out from one span's JSON (as the query API returns it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from spyglass.ui.messages import Message, Part, conversation

__all__ = ["Block", "SpanView", "span_view"]

LONG_TEXT_CHARS = 600
LONG_TEXT_LINES = 12
_EXCEPTION_EVENT = "exception"


@dataclass(frozen=True)
class Block:
    """A value ready to print: pretty JSON when it parses, else the text as it is."""

    text: str
    is_json: bool = False

    @property
    def long(self) -> bool:
        return len(self.text) > LONG_TEXT_CHARS or self.text.count("\n") > LONG_TEXT_LINES

    @property
    def preview(self) -> str:
        return " ".join(self.text[:200].split())


def block(value: Any) -> Block:
    """Pretty-print JSON values and JSON text; anything else as text."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "["):
            try:
                value = orjson.loads(stripped)
            except orjson.JSONDecodeError:
                return Block(value)
        else:
            return Block(value)
    try:
        return Block(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode(), is_json=True)
    except TypeError:
        return Block(str(value))


@dataclass(frozen=True)
class Failure:
    type: str
    message: str
    stacktrace: str = ""


@dataclass(frozen=True)
class EventView:
    name: str
    offset_ms: float
    attributes: list[tuple[str, Block]]


@dataclass
class SpanView:
    span: Mapping[str, Any]
    inputs: list[Message] = field(default_factory=list)
    outputs: list[Message] = field(default_factory=list)
    is_chat: bool = False
    input: Block | None = None
    output: Block | None = None
    failures: list[Failure] = field(default_factory=list)
    attributes: list[tuple[str, Block]] = field(default_factory=list)
    resource: list[tuple[str, Block]] = field(default_factory=list)
    events: list[EventView] = field(default_factory=list)
    usage: list[tuple[str, Any]] = field(default_factory=list)
    cost: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        return bool(self.span.get("status", {}).get("code") == "ERROR" or self.failures)


def _pairs(mapping: Any) -> list[tuple[str, Block]]:
    if not isinstance(mapping, Mapping):
        return []
    return [(str(k), block(v)) for k, v in sorted(mapping.items())]


def _failure(attributes: Mapping[str, Any]) -> Failure:
    return Failure(
        str(attributes.get("exception.type", "")),
        str(attributes.get("exception.message", "")),
        str(attributes.get("exception.stacktrace", "")),
    )


def span_view(span: Mapping[str, Any]) -> SpanView:
    """The span panel's content; never raises on odd attribute values."""
    attributes = span.get("attributes") or {}
    view = SpanView(span)
    span_input = str(span.get("input") or "")
    span_output = str(span.get("output") or "")
    chat = conversation(attributes, span_input, span_output)
    if chat is not None:
        view.is_chat = True
        view.inputs, view.outputs = chat
        if not view.outputs and span_output:
            view.outputs = [Message("assistant", [Part("text", span_output)])]
    view.input = block(span_input) if span_input else None
    view.output = block(span_output) if span_output else None
    start = int(span.get("start_time_unix_nano") or 0)
    for event in span.get("events") or []:
        event_attributes = event.get("attributes") or {}
        if event.get("name") == _EXCEPTION_EVENT:
            view.failures.append(_failure(event_attributes))
        offset = (int(event.get("time_unix_nano") or start) - start) / 1e6
        view.events.append(EventView(str(event.get("name", "")), offset, _pairs(event_attributes)))
    view.attributes = _pairs(attributes)
    view.resource = _pairs(span.get("resource"))
    view.usage = sorted((span.get("usage") or {}).items())
    view.cost = sorted((span.get("cost") or {}).items())
    return view
