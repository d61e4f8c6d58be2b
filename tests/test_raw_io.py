"""Spans stored with raw input/output (native ingest) read back like the Python path's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from spyglass.collector.native import NativeInserter, write_batch_file
from spyglass.collector.pricing import PriceTable
from spyglass.collector.rows import SPAN_COLUMNS, build_batch
from spyglass.store.outline import get_span
from spyglass.store.raw_io import PLAIN_IO_SQL
from spyglass.store.traces import TraceQuery, TraceStore
from tests.factory import TraceSpec, export_request, kv

FIXTURES = Path(__file__).parent / "fixtures" / "dialects"
DIALECTS = sorted(p.stem for p in FIXTURES.glob("*.json"))


def store_both_ways(store: TraceStore, attributes: dict[str, Any], events: list[Any]) -> str:
    """The same root span in project "python" as built, and in "raw" as native ingest keeps it."""
    spec = TraceSpec(name="call", attributes=attributes)
    request = export_request([spec])
    span = request.resource_spans[0].scope_spans[0].spans[0]
    for event in events:
        added = span.events.add(name=event["name"], time_unix_nano=span.start_time_unix_nano)
        added.attributes.extend(kv(k, v) for k, v in event["attributes"].items())
    names = [*SPAN_COLUMNS, "raw_io"]
    for project, raw in (("python", False), ("raw", True)):
        batch = build_batch(request, PriceTable.load(), project)
        columns = [*batch.columns, [int(raw)] * batch.count]
        if raw:
            # What the native path stores: some source text, not the canonical messages.
            columns[names.index("input")] = ["raw source text"] * batch.count
            columns[names.index("output")] = [""] * batch.count
        store.insert_spans(names, columns)
    return spec.trace_id.hex()


def span_of(store: TraceStore, project: str, trace_id: str) -> dict[str, Any]:
    page = store.get_spans(project, trace_id)
    spans: list[dict[str, Any]] = orjson.loads(orjson.dumps(page["spans"]))
    assert len(spans) == 1
    return spans[0]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_raw_span_reads_back_with_the_canonical_input_and_output(
    store: TraceStore, dialect: str
) -> None:
    doc = json.loads((FIXTURES / f"{dialect}.json").read_text(encoding="utf-8"))
    trace_id = store_both_ways(store, doc["attributes"], doc["events"])
    expected = span_of(store, "python", trace_id)
    got = span_of(store, "raw", trace_id)
    assert expected["input"].startswith("[{")  # canonical messages, not the fixture's text
    assert got == expected  # every field, not only the rebuilt ones
    one = get_span(store, "raw", trace_id, got["span_id"])
    assert one is not None
    assert (one["input"], one["output"]) == (expected["input"], expected["output"])


def test_a_raw_trace_summary_shows_canonical_messages_when_its_preview_is_whole(
    store: TraceStore,
) -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "hi there"}]}]
    spec = TraceSpec(name="call", attributes={"gen_ai.input.messages": json.dumps(messages)})
    batch = build_batch(export_request([spec]), PriceTable.load(), "raw")
    names = [*SPAN_COLUMNS, "raw_io"]
    columns = [*batch.columns, [1]]
    columns[names.index("input")] = [json.dumps(messages)]
    store.insert_spans(names, columns)
    page = store.list_traces(TraceQuery(project="raw"))
    assert page["traces"][0]["input"] == '[{"role":"user","content":"hi there"}]'


PARTS_IN = json.dumps(
    [
        {"role": "system", "parts": [{"type": "text", "content": "be terse / \u00e9"}]},
        {
            "role": "user",
            "parts": [{"type": "text", "content": "a"}, {"type": "text", "content": "b"}],
        },
    ]
)
PARTS_OUT = json.dumps(
    [{"role": "assistant", "parts": [{"type": "text", "content": "ok"}], "finish_reason": "stop"}]
)
# name: (attributes, events, whether the stored input/output alone give the canonical text)
NATIVE_CASES: dict[str, tuple[dict[str, Any], list[tuple[str, dict[str, Any]]], bool]] = {
    "parts": ({"gen_ai.input.messages": PARTS_IN, "gen_ai.output.messages": PARTS_OUT}, [], True),
    "plain text": ({"gen_ai.input.messages": "hi", "gen_ai.output.messages": "[1, 2]"}, [], True),
    "system instructions": (
        {"gen_ai.input.messages": PARTS_IN, "gen_ai.output.messages": PARTS_OUT,
         "gen_ai.system_instructions": "be brief"}, [], False,
    ),
    "a GenAI event": (
        {"gen_ai.input.messages": PARTS_IN, "gen_ai.output.messages": PARTS_OUT},
        [("gen_ai.user.message", {"content": "from an event"})], False,
    ),
    "empty output": (
        {"gen_ai.input.messages": PARTS_IN, "gen_ai.output.messages": "",
         "output.value": "fallback"}, [], False,
    ),
    "input only": ({"gen_ai.input.messages": PARTS_IN, "output.value": "out"}, [], False),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(NATIVE_CASES))
def test_natively_stored_spans_read_back_like_the_python_paths(
    store: TraceStore, case: str, tmp_path: Path
) -> None:
    attributes, events, plain = NATIVE_CASES[case]
    request = export_request([TraceSpec(name="call", attributes=attributes)])
    span = request.resource_spans[0].scope_spans[0].spans[0]
    for name, event_attributes in events:
        added = span.events.add(name=name, time_unix_nano=span.start_time_unix_nano)
        added.attributes.extend(kv(k, v) for k, v in event_attributes.items())
    batch = build_batch(request, PriceTable.load(), "python")
    store.insert_spans(SPAN_COLUMNS, batch.columns)
    inserter = NativeInserter(store.client, store.db, PriceTable.load(), tmp_path / "schema")
    path = tmp_path / "batch.bin"
    body = request.SerializeToString()
    assert inserter.insert(path, *write_batch_file(path, [body], "native")) == 1

    trace_id = span.trace_id.hex()
    got = span_of(store, "native", trace_id)
    assert got == span_of(store, "python", trace_id)
    taken = store.client.query(
        f"SELECT {PLAIN_IO_SQL} FROM {store.db}.spans WHERE project = 'native'"
    ).result_rows[0][0]
    assert bool(taken[0]) == plain
    one = get_span(store, "native", trace_id, got["span_id"])
    assert one == got
