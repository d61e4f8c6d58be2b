"""Message attributes stored once, in ``input`` / ``output``.

An LLM span's ``gen_ai.input.messages`` and ``gen_ai.output.messages`` are most of its bytes.
When such an attribute is the span's own non-empty string of at most `rows.MARK_MAX_BYTES`,
the native ingest stores the span's input (output) as exactly that text (``raw_io = 1``) and
the attribute's value as the empty marker ``''`` instead of the same text JSON-encoded a
second time: that saves the encoding (~4 µs/span) and about a third of the bytes written.
No other stored value is empty (values are JSON texts), so the marker is unambiguous.

Readers put the value back: `json_string` of the column is byte for byte what the encoder
would have stored. Readers of the whole map or of a key that may be a message key use this
module (span JSON, attribute filters, `raw_io.PLAIN_IO_SQL`); other keys read as stored.
"""

from __future__ import annotations

import json

from spyglass.collector.native.sql_json import json_string, sq
from spyglass.collector.rows import MARKED_ATTRIBUTES

__all__ = ["ATTRIBUTES_SQL", "attribute_sql", "attributes_json_sql", "marked_sql"]


def marked_sql(key: str) -> str:
    """Whether the row's attribute ``key`` (a literal name) is stored as the marker."""
    return f"(attributes[{sq(key)}] = '' AND mapContains(attributes, {sq(key)}))"


def attributes_json_sql() -> str:
    """The JSON object text of ``attributes`` (values are JSON texts), marked values put back.

    Each pair is written with a leading comma, so a key's text is always ``,"key":``: inside
    JSON strings quotes are escaped, so that can only be the key itself. The value is spliced
    in after it (a marked value is empty); other rows' replacement is the text itself.
    """
    pairs = (
        "arrayStringConcat(arrayMap((_k, _v) -> concat(',', toJSONString(_k), ':', _v), "
        "mapKeys(attributes), mapValues(attributes)))"
    )
    for key, column in MARKED_ATTRIBUTES:
        pair = sq(f",{json.dumps(key)}:")
        value = f"if({marked_sql(key)}, {json_string(column)}, '')"
        pairs = f"replaceOne({pairs}, {pair}, concat({pair}, {value}))"
    return f"concat('{{', substring({pairs}, 2), '}}')"


def attribute_sql(key: str) -> str:
    """The stored JSON text of the attribute named by the SQL String expression ``key``
    (``''`` when the span has none), marked values put back."""
    stored = f"attributes[{key}]"
    restored = ", ".join(
        f"{key} = {sq(name)} AND mapContains(attributes, {key}), {json_string(column)}"
        for name, column in MARKED_ATTRIBUTES
    )
    return f"multiIf({stored} != '', {stored}, {restored}, '')"


def _attributes_sql() -> str:
    any_marked = " OR ".join(marked_sql(key) for key, _ in MARKED_ATTRIBUTES)
    restored = ", ".join(
        f"_mk = {sq(key)}, {json_string(column)}" for key, column in MARKED_ATTRIBUTES
    )
    value = f"multiIf(_mv != '', _mv, {restored}, _mv)"
    return f"if({any_marked}, mapApply((_mk, _mv) -> (_mk, {value}), attributes), attributes)"


# The ``attributes`` map with marked values put back (for readers that want the map itself).
ATTRIBUTES_SQL = _attributes_sql()
