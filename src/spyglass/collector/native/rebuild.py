"""Read side of ``raw_io``: the canonical input/output of a natively stored span."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from spyglass.collector.normalize import normalize

__all__ = ["rebuild_io"]


def _decode(value: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def rebuild_io(
    attributes: Mapping[str, str], events: Iterable[Sequence[Any] | Mapping[str, Any]] = ()
) -> tuple[str, str]:
    """(input, output) as the Python ingest path computes them, from a stored span.

    Args:
        attributes: the ``attributes`` column (JSON text per value).
        events: the ``events`` column: ``(time, name, attributes)`` tuples, or mappings
            with ``name`` and ``attributes`` (as clickhouse-connect returns them).

    Returns:
        The canonical input and output text of `normalize`. Equal to what the Python path
        stores, except for attribute values that were cut at 1,000,000 characters or were
        NaN/±Inf floats (stored as ``null``).

    Example:
        >>> rebuild_io({"input.value": '"hi"', "gen_ai.output.messages": '"[]"'})
        ('hi', '[]')
    """
    decoded = {k: _decode(v) for k, v in attributes.items()}
    span_events = []
    for event in events:
        # clickhouse-connect returns named tuples of the events column as dicts.
        name, values = (
            (event["name"], event["attributes"]) if isinstance(event, Mapping) else event[1:3]
        )
        span_events.append((str(name), {k: _decode(v) for k, v in values.items()}))
    canonical = normalize(decoded, span_events)
    return canonical.input, canonical.output
