"""Canonical input/output for spans stored with ``raw_io = 1``.

The native ingest path keeps the source text of message-bearing attributes in ``input`` /
``output`` instead of the canonical ``[{"role", "content"}]`` messages (building those costs
more per span than the rest of ingest). Readers rebuild them here with the same `normalize`
the Python path runs at ingest, from the stored attributes and events, so both paths answer
the same.
"""

from __future__ import annotations

from typing import Any

import orjson

from spyglass.collector.normalize import canonical_io, messages_text
from spyglass.store.message_marks import marked_sql

# What `span_json.SPAN_JSON_SQL` writes for input/output of a raw_io row. Inside a JSON
# text, this sequence can only be that pair of fields (quotes in string values are escaped).
PLACEHOLDER = '"input":"","output":""'


def _non_empty_string(key: str) -> str:
    stored = f"attributes['{key}']"
    return f"((startsWith({stored}, '\"') AND {stored} != '\"\"') OR {marked_sql(key)})"


# (input, output) of a raw_io row whose sides both come from the OTel GenAI message
# attributes alone (both strings, non-empty; no system instructions; no GenAI events), else
# ('', ''). Its stored input/output are then exactly those attributes' texts, and
# `canonical_preview` of each is what `canonical_io` gives: the span need not be parsed.
PLAIN_IO_SQL = (
    f"if(raw_io AND {_non_empty_string('gen_ai.input.messages')} "
    f"AND {_non_empty_string('gen_ai.output.messages')} "
    "AND NOT mapContains(attributes, 'gen_ai.system_instructions') "
    "AND NOT arrayExists(_e -> startsWith(_e.2, 'gen_ai.'), events), (input, output), ('', ''))"
)


def canonical_span_json(span_json: str, plain_io: tuple[str, str] = ("", "")) -> str:
    """A span's API JSON (with `PLACEHOLDER` input/output) with input/output rebuilt from its
    attributes and events, or from ``plain_io`` (the row's `PLAIN_IO_SQL`) when set.
    Splicing the two values in avoids re-serializing the span."""
    if plain_io[0] and PLACEHOLDER in span_json:
        return _spliced(span_json, canonical_preview(plain_io[0]), canonical_preview(plain_io[1]))
    span: dict[str, Any] = orjson.loads(span_json)
    attributes = span.get("attributes") or {}
    events = [(e.get("name", ""), e.get("attributes") or {}) for e in span.get("events") or ()]
    text_in, text_out = canonical_io(attributes, events)
    if PLACEHOLDER not in span_json:
        span["input"], span["output"] = text_in, text_out
        return orjson.dumps(span).decode()
    return _spliced(span_json, text_in, text_out)


def _spliced(span_json: str, text_in: str, text_out: str) -> str:
    fields = f'"input":{orjson.dumps(text_in).decode()},"output":{orjson.dumps(text_out).decode()}'
    return span_json.replace(PLACEHOLDER, fields, 1)


def canonical_preview(text: str) -> str:
    """A trace summary's input/output preview: canonical messages when the text is complete."""
    return messages_text(text) or text
