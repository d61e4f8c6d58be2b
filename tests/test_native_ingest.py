"""Native ingest stores the same rows as the Python path (every column, every edge case).

Each case is inserted once through `build_batch` + `TraceStore.insert_spans` into one database
and once through `prepare_body` + `NativeInserter` into another; rows are compared column by
column. Rows the native path stores with ``raw_io = 1`` are compared after `rebuild_io`.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from benchmarks._spans import genai_request
from spyglass.collector.native import (
    NativeInserter,
    merge_windows,
    prepare_body,
    rebuild_io,
    write_batch_file,
)
from spyglass.collector.native import inserter as inserter_module
from spyglass.collector.native.sql_canonical import ANY, Present
from spyglass.collector.native.statement import INSERT_COLUMNS, SURVEY_MAX_NAMES, insert_sql
from spyglass.collector.pricing import PriceTable
from spyglass.collector.rows import SPAN_COLUMNS, build_batch
from spyglass.collector.wal import BodyInfo, Segment, varint
from spyglass.collector.wal import _add as add_body
from spyglass.store.message_marks import ATTRIBUTES_SQL
from spyglass.store.schema import SchemaOptions, migrate
from spyglass.store.traces import TraceQuery, TraceStore

FIXTURES = Path(__file__).parent / "fixtures" / "dialects"
PRICES = PriceTable.load()

# --- building requests -------------------------------------------------------------------------


class Kv(tuple[tuple[str, Any], ...]):
    """A kvlist value (a tuple of pairs, so duplicate keys can be expressed)."""


def av(x: Any) -> AnyValue:
    value = AnyValue()
    if x is None:
        return value
    if isinstance(x, bool):
        value.bool_value = x
    elif isinstance(x, int):
        value.int_value = x
    elif isinstance(x, float):
        value.double_value = x
    elif isinstance(x, str):
        value.string_value = x
    elif isinstance(x, bytes):
        value.bytes_value = x
    elif isinstance(x, list):
        value.array_value.SetInParent()
        value.array_value.values.extend(av(e) for e in x)
    elif isinstance(x, Kv):
        value.kvlist_value.SetInParent()
        value.kvlist_value.values.extend(KeyValue(key=k, value=av(e)) for k, e in x)
    elif isinstance(x, dict):
        return av(Kv(x.items()))
    else:
        raise TypeError(x)
    return value


def kvs(pairs: Any) -> list[KeyValue]:
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return [KeyValue(key=k, value=av(v)) for k, v in items]


class Ids:
    def __init__(self, seed: int) -> None:
        self.n = seed << 32

    def span(self) -> bytes:
        self.n += 1
        return self.n.to_bytes(8, "big")

    def trace(self) -> bytes:
        self.n += 1
        return self.n.to_bytes(16, "big")


def span_request(
    spans: Sequence[tuple[Any, Sequence[tuple[str, Any]]]],
    resource: Any = (("service.name", "svc"),),
    seed: int = 1,
) -> ExportTraceServiceRequest:
    """One resource, one scope, one span per (attributes, events) in its own trace."""
    ids = Ids(seed)
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(kvs(resource))
    ss = rs.scope_spans.add()
    ss.scope.name = "case"
    for i, (attributes, events) in enumerate(spans):
        span = Span(
            trace_id=ids.trace(), span_id=ids.span(), name=f"case {i}",
            start_time_unix_nano=1_700_000_000_000_000_000 + i,
            end_time_unix_nano=1_700_000_001_000_000_000 + i,
        )  # fmt: skip
        span.attributes.extend(kvs(attributes))
        for name, event_attributes in events:
            span.events.add(time_unix_nano=1_700_000_000_500_000_000, name=name).attributes.extend(
                kvs(event_attributes)
            )
        ss.spans.append(span)
    return request


STRINGS = [
    "", "plain", "unicode: héllo wörld ✓ 中文 日本語 한국어 😀👩‍👩‍👧 e\u0301", 'quote " inside',
    "back\\slash", "slash / and </script>", "nl\nline\r\ncrlf\ttab",
    "ctrl \x00\x01\x07\x08\x0b\x0c\x0e\x1b\x1f\x7f", "line sep \u2028 para \u2029",
    "literal \\u001B and \\\\u2028 text", 'json-ish {"a": [1, 2]}', "  padded  ", "\ufeffbom",
    "max astral \U0010ffff",
]  # fmt: skip
INTS = [0, 1, -1, 42, -(2**63), 2**63 - 1, 2**53 + 1]
FLOATS = [
    0.0, -0.0, 0.1, 0.2, 1.0, -2.5, 1e300, -1e-300, 1e-7, 1e16, 123456.0, 5e-324,
    1.7976931348623157e308, math.nan, math.inf, -math.inf, 1 / 3, 1e-5, 9.999999999999999e15,
]  # fmt: skip


# What only the general encoder handles (see `sql_fast_json`).
GENERAL_ONLY = ("dup", "kv.dupkeys", "kv.nested", "big.", "arr.nested", "deep")


def edge_request(fast_only: bool = False) -> ExportTraceServiceRequest:
    """Every value encoding edge, ids, times, kinds, statuses, invalid spans, resources.

    ``fast_only``: without nested kvlists or arrays, repeated keys and long values."""
    ids = Ids(7)
    r = ExportTraceServiceRequest()
    rs = r.resource_spans.add()

    def keep(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        return [p for p in pairs if not (fast_only and p[0].startswith(GENERAL_ONLY))]

    rs.resource.attributes.extend(
        kvs(keep([("service.name", "edge-svc"), ("spyglass.project", "edge-proj"),
                  ("host.name", 'h"1'), ("dup", 1), ("dup", "two")]))
    )  # fmt: skip
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "edge-scope", "1.2.3"
    tid, root = ids.trace(), ids.span()
    attrs: list[tuple[str, Any]] = [(f"str.{i}", s) for i, s in enumerate(STRINGS)]
    attrs += [(f"int.{i}", x) for i, x in enumerate(INTS)]
    attrs += [(f"dbl.{i}", x) for i, x in enumerate(FLOATS)]
    attrs += [
        ("bool.t", True), ("bool.f", False), ("bytes.empty", b""), ("bytes.bin", bytes(range(256))),
        ("unset", None), ("arr.empty", []), ("kv.empty", Kv()),
        ("arr.mixed", ["a", 1, -2.5, True, None, b"\x00\xff", 'q"\\/\n', 1e300]),
        ("kv.flat", Kv((("a", 1), ("b", "x"), ("z", None), ("f", 1.0)))),
        ("kv.dupkeys", Kv((("k", 1), ("j", 2), ("k", 3)))),
        ("kv.keyesc", Kv((('k"ey\n', "v"), ("ключ", 0.1)))),
        ("big.string", "x" * 1_000_005 + "é"),
        ("big.escaped", "\n" * 600_000),
        ("big.array", ["y" * 1000] * 1001),
        ("dup.attr", "first"), ("other", 0), ("dup.attr", "last"),
        ("arr.nested2", [[1, 2], ["x", [3.0]]]),
        ("arr.nested5", [[[[[["too deep"]]]]]]),
        ("kv.nested", Kv((("a", 1), ("b", Kv((("c", [1, Kv((("d", "e"),))]),))), ("z", None)))),
    ]  # fmt: skip
    sp = Span(
        trace_id=tid, span_id=root, name='root "edge" 😀', kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=1_700_000_000_123_456_789,
        end_time_unix_nano=1_700_000_001_000_000_001,
        trace_state="k=v,a=b", status=Status(code=Status.STATUS_CODE_ERROR, message='boom\n"x"'),
    )  # fmt: skip
    sp.attributes.extend(kvs(keep(attrs)))
    sp.attributes.add(key="strindex").value.string_value_strindex = 7
    sp.attributes.add(key="novalue")
    ev = sp.events.add(time_unix_nano=1_700_000_000_500_000_000, name="exception")
    ev.attributes.extend(kvs([("exception.message", 'bad "thing"\n'), ("n", -3), ("f", 0.1)]))
    ev.attributes.extend(kvs(keep([("deep", [[["x"]]])])))
    sp.events.add(time_unix_nano=1_700_000_000_600_000_000, name="")
    link = sp.links.add(trace_id=bytes(16 * [0xAB]), span_id=bytes(8 * [0xCD]))
    link.attributes.extend(kvs([("link.kind", "follows"), ("w", 1.0)]))
    sp.links.add(trace_id=bytes(16 * [0xAC]), span_id=bytes(8 * [0xCE]))
    ss.spans.append(sp)

    # canonical-field variants, one span each
    derived: list[list[tuple[str, Any]]] = [
        [("gen_ai.request.model", "req-model"), ("gen_ai.response.model", "resp-model")],
        [("gen_ai.response.model", "   "), ("llm.model_name", "  oi-model\t")],
        [("gen_ai.response.model", 5), ("gen_ai.request.model", "\u3000wide\u00a0")],
        [("gen_ai.usage.input_tokens", 12.9), ("gen_ai.usage.output_tokens", "77")],
        [("gen_ai.usage.input_tokens", -4), ("gen_ai.usage.prompt_tokens", 9)],
        [("gen_ai.usage.input_tokens", True), ("llm.token_count.prompt", "0012")],
        [("gen_ai.usage.input_tokens", "1234567890123456789"), ("llm.usage.prompt_tokens", 1e300)],
        [("gen_ai.usage.input_tokens", 2.0**63), ("gen_ai.usage.output_tokens", 9.2e18),
         ("llm.token_count.total", 5)],
        [("gen_ai.usage.input_tokens", 2**63 - 1), ("gen_ai.usage.output_tokens", 2**63 - 1)],
        [("gen_ai.usage.input_tokens", math.nan), ("gen_ai.usage.output_tokens", -0.0)],
        [("gen_ai.usage.input_tokens", " 5"), ("gen_ai.usage.output_tokens", "٣")],
        [("session.id", 123), ("user.id", "  u  "), ("gen_ai.conversation.id", "")],
        [("session.id", True), ("enduser.id", -7)],
    ]  # fmt: skip
    for i, a in enumerate(derived):
        d = Span(
            trace_id=tid, span_id=ids.span(), parent_span_id=root, name=f"derived {i}",
            kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=1_700_000_000_000_000_000 + i,
            end_time_unix_nano=1_700_000_000_000_000_000 + i * 1000,
        )  # fmt: skip
        d.attributes.extend(kvs(a))
        ss.spans.append(d)

    # kinds / statuses incl. unknown enum numbers, end < start, zero parent
    for k in range(8):
        s = Span(
            trace_id=tid, span_id=ids.span(), parent_span_id=b"\0" * 8 if k == 1 else root,
            name=f"kind {k}", start_time_unix_nano=1_600_000_000_000_000_000,
            end_time_unix_nano=1_500_000_000_000_000_000 if k == 2 else 1_600_000_000_000_000_005,
        )  # fmt: skip
        s.kind = k  # type: ignore[assignment]
        s.status.code = k % 4 if k < 6 else 9  # type: ignore[assignment]
        ss.spans.append(s)

    # invalid spans both paths reject
    invalid: list[dict[str, Any]] = [
        {"trace_id": b"\1" * 15, "span_id": ids.span()},
        {"trace_id": b"\0" * 16, "span_id": ids.span()},
        {"trace_id": tid, "span_id": b"\0" * 8},
        {"trace_id": tid, "span_id": b"\1" * 7},
        {"trace_id": tid, "span_id": ids.span(), "parent_span_id": b"\1\2\3"},
        {"trace_id": tid, "span_id": ids.span(), "start_time_unix_nano": 0},
        {"trace_id": tid, "span_id": ids.span(), "start_time_unix_nano": 2**63},
        {"trace_id": tid, "span_id": ids.span(), "end_time_unix_nano": 2**64 - 1},
    ]
    for bad in invalid:
        bad.setdefault("start_time_unix_nano", 1)
        ss.spans.append(Span(name="invalid", **bad))

    ss2 = rs.scope_spans.add()
    ss2.scope.name = "scope-2"
    ss2.spans.append(
        Span(trace_id=tid, span_id=ids.span(), name="in scope 2", start_time_unix_nano=5)
    )
    # resource 2: project from another key (cut to 200 chars); 3: non-string values
    rs2 = r.resource_spans.add()
    rs2.resource.attributes.extend(
        kvs([("openinference.project.name", "p" * 300), ("spyglass.project", "")])
    )
    rs2.scope_spans.add().spans.append(
        Span(trace_id=b"\2" * 16, span_id=ids.span(), name="r2", start_time_unix_nano=7)
    )
    rs3 = r.resource_spans.add()
    rs3.resource.attributes.extend(kvs([("service.name", 42), ("spyglass.project", 1)]))
    rs3.scope_spans.add().spans.append(
        Span(trace_id=b"\3" * 16, span_id=ids.span(), name="r3", start_time_unix_nano=8)
    )
    r.resource_spans.add()
    r.resource_spans.add().scope_spans.add()
    return r


def fixture_request(dialect: str) -> ExportTraceServiceRequest:
    doc = json.loads((FIXTURES / f"{dialect}.json").read_text(encoding="utf-8"))
    events = [(e["name"], e["attributes"]) for e in doc["events"]]
    return span_request([(doc["attributes"], events)], seed=hash(dialect) & 0xFFFF)


MSG = [{"role": "user", "content": "hi"}]
PARTS = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
# Canonical-field branches of normalize, one span each: (attributes, events).
CANONICAL: list[tuple[Any, list[tuple[str, Any]]]] = [
    ({"gen_ai.input.messages": json.dumps(MSG)}, []),
    ({"gen_ai.input.messages": "  " + json.dumps(PARTS)}, []),
    ({"gen_ai.input.messages": "[]", "input.value": "plain"}, []),
    ({"gen_ai.input.messages": "[1, 2]"}, []),
    ({"gen_ai.input.messages": "not json ["}, []),
    ({"gen_ai.input.messages": "", "input.value": "fallback"}, []),
    ({"gen_ai.input.messages": [json.dumps(m) for m in MSG]}, []),
    ({"gen_ai.input.messages": [{"role": "user", "content": "kv"}]}, []),
    ({"gen_ai.input.messages": ["not json"]}, []),
    ({"gen_ai.input.messages": 5}, []),
    ({"gen_ai.output.messages": json.dumps([{"role": "assistant", "content": "a"}])}, []),
    ({"gen_ai.system_instructions": "be brief"}, []),
    ({"gen_ai.system_instructions": "[]", "input.value": "x"}, []),
    ({"gen_ai.system_instructions": '[{"type": "text", "content": "s"}]'}, []),
    ({"gen_ai.system_instructions": "[broken", "gen_ai.input.messages": json.dumps(MSG)}, []),
    ({"gen_ai.system_instructions": "", "input.value": "x"}, []),
    ({"gen_ai.system_instructions": 3, "gen_ai.input.messages": "text only"}, []),
    ({"input.value": "question", "output.value": "answer", "openinference.span.kind": "chain"}, []),
    ({"input.value": 42, "output.value": [1, 2]}, []),
    ({"traceloop.entity.input": "tl in", "traceloop.span.kind": "workflow"}, []),
    ({"gen_ai.tool.call.arguments": '{"x": 1}', "gen_ai.operation.name": "execute_tool"}, []),
    ({"llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "q",
      "llm.input_messages.1.message.role": "assistant",
      "llm.output_messages.0.message.content": "a"}, []),
    ({"llm.input_messages.0.message.role": None, "input.value": "after empty index"}, []),
    ({"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "tl",
      "gen_ai.completion.0.content": '[{"type": "text", "text": "x"}]'}, []),
    ({"gen_ai.prompt": json.dumps(MSG), "gen_ai.completion": "legacy out"}, []),
    ({}, [("gen_ai.user.message", {"content": "from event"}),
          ("gen_ai.choice", {"gen_ai.event.content": '{"message": {"content": "ok"}}'})]),
    ({}, [("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps(MSG)}),
          ("gen_ai.content.completion", {"gen_ai.completion": "done"})]),
    ({"gen_ai.request.model": "m"}, [(
        "gen_ai.client.inference.operation.details",
        {"gen_ai.response.model": "gpt-4o", "gen_ai.usage.input_tokens": 10,
         "gen_ai.input.messages": json.dumps(MSG)},
    )]),
    ({}, [("gen_ai.other", {"x": 1})]),
    ({"mlflow.spanInputs": '{"messages": [{"role": "user", "content": "m"}]}',
      "mlflow.spanOutputs": '{"choices": [{"message": {"role": "assistant", "content": "o"}}]}'},
     []),
    ({"mlflow.spanInputs": '"just text"', "mlflow.spanOutputs": '{"role": "a", "content": "c"}'},
     []),
    ({"mlflow.spanInputs": '{"a": 1}', "mlflow.spanOutputs": '{"choices": [1, {"x": 2}]}'}, []),
    ({"mlflow.spanInputs": "[1", "mlflow.spanType": '"RETRIEVER"'}, []),
    ({"mlflow.spanType": "\"chat_model\"", "mlflow.llm.model": '"  x-model "',
      "mlflow.llm.provider": "openai", "mlflow.trace.session": '"s1"', "mlflow.trace.user": 7,
      "mlflow.chat.tokenUsage": '{"input_tokens": 3, "output_tokens": 4.5, "total_tokens": "9"}'},
     []),
    ({"mlflow.chat.tokenUsage": {"input_tokens": 3, "cache_read_input_tokens": -1},
      "gen_ai.usage.input_tokens": 5}, []),
    ({"openinference.span.kind": "PROMPT"}, []),
    ({"openinference.span.kind": "unknown", "mlflow.spanType": '"TOOL"'}, []),
    ({"gen_ai.operation.name": " Embeddings "}, []),
    ({"llm.request.type": "Rerank"}, []),
    ({"llm.request.type": "completion", "gen_ai.request.model": "gpt-4o"}, []),
    ({"embedding.model_name": "text-embedding-3-small", "gen_ai.usage.input_tokens": 100}, []),
    ({"reranker.model_name": "rr"}, []),
    ({"gen_ai.usage.output_tokens": 3}, []),
    ({"gen_ai.system": "MistralAI", "gen_ai.request.model": "mistral-large-latest",
      "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 10}, []),
    ({"llm.provider": "bedrock",
      "gen_ai.request.model": "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
      "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.cache_read.input_tokens": 400,
      "gen_ai.usage.cache_creation.input_tokens": 100}, []),
    ({"gen_ai.request.model": "openai/gpt-4o", "gen_ai.usage.input_tokens": 10}, []),
    ({"gen_ai.request.model": "claude-3.5-sonnet", "gen_ai.usage.input_tokens": 10}, []),
    ({"gen_ai.request.model": "gpt-4o-mini-2024-07-18", "gen_ai.usage.input_tokens": 7,
      "gen_ai.usage.cache_read.input_tokens": 9}, []),
    ({"gen_ai.request.model": "gpt-4o-2024-08-06-custom.x", "gen_ai.usage.output_tokens": 1}, []),
    ({"gen_ai.request.model": "no-such-model", "gen_ai.usage.input_tokens": 1}, []),
    ({"gen_ai.conversation.id": " c1 ", "enduser.id": "e",
      "traceloop.association.properties.user_id": "t"}, []),
]  # fmt: skip


def cases() -> dict[str, tuple[list[ExportTraceServiceRequest], str | None]]:
    out: dict[str, tuple[list[ExportTraceServiceRequest], str | None]] = {}
    for path in sorted(FIXTURES.glob("*.json")):
        out[f"dialect-{path.stem}"] = ([fixture_request(path.stem)], None)
    out["benchmark"] = ([ExportTraceServiceRequest.FromString(genai_request(2000))], None)
    out["edge"] = ([edge_request()], None)
    out["edge-fast"] = ([edge_request(fast_only=True)], None)
    out["edge-override"] = ([edge_request()], "hdr-project" + "x" * 250)
    out["canonical"] = ([span_request(CANONICAL, seed=3)], None)
    return out


CASES = cases()

# --- the two paths -----------------------------------------------------------------------------


@pytest.fixture
def databases(chdb_client: Client) -> Iterator[tuple[SchemaOptions, SchemaOptions]]:
    pair = tuple(SchemaOptions(database=f"t_{uuid.uuid4().hex[:12]}") for _ in range(2))
    for options in pair:
        migrate(chdb_client, options)
    yield pair[0], pair[1]
    for options in pair:
        chdb_client.command(f"DROP DATABASE IF EXISTS {options.database}")


def python_path(
    client: Client, options: SchemaOptions, requests: Sequence[Any], project: str | None
) -> tuple[int, list[str]]:
    store = TraceStore(client, options)
    errors: list[str] = []
    rejected = 0
    for request in requests:
        batch = build_batch(request, PRICES, project)
        store.insert_spans(SPAN_COLUMNS, batch.columns)
        rejected += batch.rejected
        errors.append(batch.error_message)
    return rejected, errors


def native_path(
    client: Client,
    options: SchemaOptions,
    requests: Sequence[Any],
    project: str | None,
    tmp: Path,
    fast: bool = True,
) -> tuple[int, list[str], int, int]:
    inserter = NativeInserter(client, options.database, PRICES, tmp / "schema", fast=fast)
    path = tmp / "batch.bin"
    trace_ids: set[str] = set()
    window = (0, 0)
    errors: list[str] = []
    rejected = 0
    with path.open("wb") as out:
        for request in requests:
            prepared = prepare_body(request, request.SerializeToString(), project)
            out.write(prepared.framed)
            trace_ids |= prepared.trace_ids
            window = merge_windows(window, prepared.window)
            rejected += prepared.rejected
            errors.append(prepared.error_message)
    inserted = inserter.insert(path, trace_ids, window)
    return rejected, errors, inserted, inserter.fallbacks


def stored(client: Client, options: SchemaOptions) -> list[dict[str, Any]]:
    # Message attributes stored once are read back as every reader does (`message_marks`).
    columns = [ATTRIBUTES_SQL if c == "attributes" else c for c in INSERT_COLUMNS]
    result = client.query(
        f"SELECT {', '.join(columns)} FROM {options.database}.spans "
        "ORDER BY project, trace_id, span_id"
    )
    return [dict(zip(INSERT_COLUMNS, row, strict=True)) for row in result.result_rows]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def differences(python_rows: list[dict[str, Any]], native_rows: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    if len(python_rows) != len(native_rows):
        found.append(f"row count {len(python_rows)} != {len(native_rows)}")
    for p, n in zip(python_rows, native_rows, strict=False):
        where = f"{p['name'][:30]!r}"
        if n["raw_io"]:
            n = {**n}
            n["input"], n["output"] = rebuild_io(n["attributes"], n["events"])
        for column in SPAN_COLUMNS:
            if not same(p[column], n[column]):
                mine, theirs = str(p[column])[:300], str(n[column])[:300]
                found.append(f"{where} {column}: python {mine!r} native {theirs!r}")
        if p["raw_io"] != 0:
            found.append(f"{where}: python row has raw_io")
    return found


# Cases with values only the general encoder handles (kvlists or arrays inside arrays, repeated
# keys, long values): the fast one hands the file over.
FALLBACK_CASES = {"canonical", "edge", "edge-override"}


@pytest.mark.parametrize("fast", [True, False], ids=["fast-encoder", "general-encoder"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_native_rows_equal_python_rows(
    case: str,
    fast: bool,
    chdb_client: Client,
    databases: tuple[SchemaOptions, SchemaOptions],
    tmp_path: Path,
) -> None:
    requests, project = CASES[case]
    py_db, native_db = databases
    py_rejected, py_errors = python_path(chdb_client, py_db, requests, project)
    rejected, errors, inserted, fallbacks = native_path(
        chdb_client, native_db, requests, project, tmp_path, fast
    )
    assert (rejected, errors) == (py_rejected, py_errors)
    assert fallbacks == (1 if fast and case in FALLBACK_CASES else 0)
    python_rows = stored(chdb_client, py_db)
    assert inserted == len(python_rows)
    assert differences(python_rows, stored(chdb_client, native_db)) == []


# --- dedup, replay, odd bodies ----------------------------------------------------------------


def traces_totals(client: Client, options: SchemaOptions) -> tuple[int, int, int]:
    row = client.query(
        f"SELECT (SELECT count() FROM {options.database}.spans), sum(span_count), "
        f"sum(total_tokens) FROM {options.database}.traces"
    ).result_rows[0]
    return int(row[0]), int(row[1]), int(row[2])


def test_replaying_a_file_and_repeats_within_it_store_each_span_once(
    chdb_client: Client, schema: SchemaOptions, tmp_path: Path
) -> None:
    inserter = NativeInserter(chdb_client, schema.database, PRICES, tmp_path / "schema")
    first, second = genai_request(50, seed=1), genai_request(30, seed=2)
    path = tmp_path / "a.bin"
    ids = write_batch_file(path, [first, first, second])  # a retried body lands in the same file
    assert inserter.insert(path, *ids) == 80
    totals = traces_totals(chdb_client, schema)
    assert totals[:2] == (80, 80)
    assert inserter.insert(path, *ids) == 0  # replay after a crash
    more = tmp_path / "b.bin"
    third = genai_request(20, seed=3)
    ids = write_batch_file(more, [second, third])  # overlaps what is stored
    assert inserter.insert(more, *ids) == 20
    assert traces_totals(chdb_client, schema) == (100, 100, totals[2] + 18 * 508)


def test_a_span_starting_long_before_the_rest_is_looked_for_by_its_trace_alone(
    chdb_client: Client, schema: SchemaOptions, tmp_path: Path
) -> None:
    """A long run's root span, exported minutes after its start: stored spans before the
    recent window are looked for only in its trace, and no span is stored twice."""
    inserter = NativeInserter(chdb_client, schema.database, PRICES, tmp_path / "schema")
    late = ExportTraceServiceRequest.FromString(genai_request(20, seed=61))
    root = late.resource_spans[0].scope_spans[0].spans[0]
    root.start_time_unix_nano -= 30 * 60 * 10**9  # started half an hour before the rest
    recent = ExportTraceServiceRequest.FromString(genai_request(30, seed=62))

    def store(name: str, requests: list[ExportTraceServiceRequest]) -> None:
        segment = Segment(tmp_path / name)
        with segment.path.open("wb") as out:
            for request in requests:
                prepared = prepare_body(request, None, None)
                out.write(prepared.framed)
                add_body(
                    segment,
                    BodyInfo(
                        prepared.accepted,
                        prepared.trace_ids,
                        prepared.window,
                        prepared.repeats,
                        prepared.trace_starts,
                    ),
                )
        inserter.store(
            segment.path,
            segment.trace_ids,
            segment.window,
            segment.repeats,
            trace_starts=segment.trace_starts,
        )

    store("a.bin", [late, recent])
    assert inserter._ids_file("old").read_text().split() == [root.trace_id.hex()]
    assert traces_totals(chdb_client, schema)[:2] == (50, 50)
    store("a.bin", [late, recent])  # replay after a crash: both windows find the spans
    again = ExportTraceServiceRequest.FromString(genai_request(10, seed=63))
    store("b.bin", [late, again])  # a retried export with new spans
    assert traces_totals(chdb_client, schema)[:2] == (60, 60)
    roots = chdb_client.query(
        f"SELECT count() FROM {schema.database}.spans WHERE span_id = {{id:String}}",
        parameters={"id": root.span_id.hex()},
    ).result_rows
    assert roots == [(1,)]


def test_the_same_spans_in_two_projects_are_two_rows(
    chdb_client: Client, schema: SchemaOptions, tmp_path: Path
) -> None:
    inserter = NativeInserter(chdb_client, schema.database, PRICES, tmp_path / "schema")
    body = genai_request(10)
    path = tmp_path / "a.bin"
    ids, window = write_batch_file(path, [body])
    write_batch_file(tmp_path / "b.bin", [body], "other")  # the same ids and starts
    path.write_bytes(path.read_bytes() + (tmp_path / "b.bin").read_bytes())
    assert inserter.insert(path, ids, window) == 20
    projects = chdb_client.query(
        f"SELECT project, count() FROM {schema.database}.spans GROUP BY project ORDER BY project"
    ).result_rows
    assert projects == [("bench", 10), ("other", 10)]


def raw_field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


@pytest.mark.parametrize("guessed", [False, True], ids=["surveyed", "guessed"])
def test_a_body_upb_accepts_but_clickhouse_rejects_is_rewritten_and_stored(
    guessed: bool,
    chdb_client: Client,
    databases: tuple[SchemaOptions, SchemaOptions],
    tmp_path: Path,
) -> None:
    # Two members of one AnyValue oneof and a repeated singular field: upb keeps the last of
    # each; ClickHouse's reader refuses the oneof ("OneOf has more than one value").
    value = raw_field(1, b"a") + varint(3 << 3) + varint(5)
    attribute = raw_field(1, b"k") + raw_field(2, value)
    span = (
        raw_field(1, bytes(range(1, 17))) + raw_field(2, bytes(range(1, 9)))
        + raw_field(5, b"first") + raw_field(5, b"second")
        + varint(7 << 3 | 1) + (1_700_000_000_000_000_000).to_bytes(8, "little")
        + raw_field(9, attribute)
    )  # fmt: skip
    body = raw_field(1, raw_field(2, raw_field(2, span)))
    request = ExportTraceServiceRequest.FromString(body)
    py_db, native_db = databases
    python_path(chdb_client, py_db, [request], None)
    inserter = NativeInserter(chdb_client, native_db.database, PRICES, tmp_path / "schema")
    if guessed:  # the odd file is then inserted on the names of this one, without a survey
        plain = span_request([({"k": 1}, [])], seed=61)
        first = tmp_path / "plain.bin"
        assert inserter.insert(first, *write_batch_file(first, [plain.SerializeToString()])) == 1
        python_path(chdb_client, py_db, [plain], None)
    path = tmp_path / "odd.bin"
    assert inserter.insert(path, *write_batch_file(path, [body])) == 1
    python_rows = stored(chdb_client, py_db)
    odd = [row for row in python_rows if row["name"] == "second"]
    assert len(odd) == 1 and odd[0]["attributes"] == {"k": "5"}
    assert differences(python_rows, stored(chdb_client, native_db)) == []


@pytest.mark.parametrize("deep", [False, True], ids=["plain", "rewritten"])
def test_a_client_cannot_set_the_project_or_a_values_json_through_spyglass_fields(
    deep: bool,
    chdb_client: Client,
    databases: tuple[SchemaOptions, SchemaOptions],
    tmp_path: Path,
) -> None:
    request = span_request([({"a": 1, "deep": [[1]] if deep else 2}, [])], seed=11)
    # AnyValue field 1000 on an unset value, and a top-level field 1000 (project override).
    attribute = request.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="spoof")
    attribute.value.MergeFromString(raw_field(1000, b'{"forged": true}'))
    body = request.SerializeToString() + raw_field(1000, b"forged-project")
    request = ExportTraceServiceRequest.FromString(body)
    py_db, native_db = databases
    python_path(chdb_client, py_db, [request], None)
    inserter = NativeInserter(chdb_client, native_db.database, PRICES, tmp_path / "schema")
    path = tmp_path / "spoof.bin"
    assert inserter.insert(path, *write_batch_file(path, [body])) == 1
    python_rows = stored(chdb_client, py_db)
    assert python_rows[0]["project"] == "default"
    assert python_rows[0]["attributes"]["spoof"] == "null"
    assert differences(python_rows, stored(chdb_client, native_db)) == []


def test_each_insert_leaves_out_what_its_file_cannot_need(
    chdb_client: Client, schema: SchemaOptions, tmp_path: Path
) -> None:
    inserter = NativeInserter(chdb_client, schema.database, PRICES, tmp_path / "schema")
    body = genai_request(20)
    path = tmp_path / "a.bin"
    write_batch_file(path, [body])
    present, repeats = inserter.survey(path)
    spans = ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans
    assert present.names == {kv.key for span in spans for kv in span.attributes}
    assert not repeats
    lean = insert_sql(schema.database, str(path), "s", present=present, repeats=False)
    full = insert_sql(schema.database, str(path), "s")
    for absent in ("mlflow.spanType", "llm.input_messages.", "traceloop.span", "LIMIT 1 BY"):
        assert absent in full and absent not in lean
    assert len(lean) < len(full) * 0.8

    write_batch_file(path, [body, body])  # a retried body: the repeat filter stays
    assert inserter.survey(path) == (present, True)
    many = span_request([({f"k{i}": i for i in range(SURVEY_MAX_NAMES)}, [])], seed=5)
    write_batch_file(path, [many.SerializeToString()])
    # Too many names: no expression is left out (and none of its values is nested).
    assert inserter.survey(path) == (Present(nested=False), False)
    path.write_bytes(b"\x05garbage")
    assert inserter.survey(path) == (ANY, True)  # unreadable: the INSERT reports it


def nested_requests() -> dict[str, ExportTraceServiceRequest]:
    """One array or kvlist value in each place an attribute list is (parity cases cover spans)."""
    requests = {
        "resource": span_request([({"a": 1}, [])], resource={"tags": ["x", "y"]}, seed=21),
        "span": span_request([({"a": {"k": 1}}, [])], seed=22),
        "event": span_request([({"a": 1}, [("e", {"list": [1.5, True]})])], seed=23),
    }
    link = span_request([({"a": 1}, [])], seed=24)
    span = link.resource_spans[0].scope_spans[0].spans[0]
    span.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8).attributes.extend(
        kvs({"kv": {"n": "v"}})
    )
    requests["link"] = link
    return requests


@pytest.mark.parametrize("where", ["resource", "span", "event", "link"])
def test_files_without_array_or_kvlist_values_read_scalars_only(
    where: str,
    chdb_client: Client,
    databases: tuple[SchemaOptions, SchemaOptions],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The survey finds an array or kvlist value wherever it is; only files with none get the
    scalar-only statement, and a file the survey misjudged fails over to the general encoder
    instead of losing a value."""
    py_db, native_db = databases
    inserter = NativeInserter(chdb_client, native_db.database, PRICES, tmp_path / "schema")
    path = tmp_path / "n.bin"
    write_batch_file(path, [span_request([({"a": 1, "b": "s", "c": 0.5}, [])]).SerializeToString()])
    scalar, _ = inserter.survey(path)
    assert not scalar.nested
    lean = insert_sql(native_db.database, str(path), "s", encoder="fast", present=scalar)
    full = insert_sql(native_db.database, str(path), "s", encoder="fast", present=ANY)
    assert "array_value" not in lean and "array_value" in full

    request = nested_requests()[where]
    write_batch_file(path, [request.SerializeToString()])
    present, _ = inserter.survey(path)
    assert present.nested
    # Misjudged as scalar-only: the statement reads the value as absent, so it must fail over.
    monkeypatch.setattr(inserter, "survey", lambda _: (replace(present, nested=False), False))
    assert inserter.insert(path, *write_batch_file(path, [request.SerializeToString()])) == 1
    assert inserter.fallbacks == 1
    python_path(chdb_client, py_db, [request], None)
    assert differences(stored(chdb_client, py_db), stored(chdb_client, native_db)) == []


def test_message_attributes_are_stored_once_and_read_back_whole(
    chdb_client: Client, databases: tuple[SchemaOptions, SchemaOptions], tmp_path: Path
) -> None:
    """A span's own message strings are stored as '' markers (`message_marks`), their text in
    input/output; span JSON and attribute filters read them back as the Python path stored
    them. Other message values, and message attributes of events, are stored as they are."""
    tricky = 'ctrl \x01\x1f "quoted" \\ \u2028 😀 [{"role": "user"}]'
    prompt = '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'
    details = "gen_ai.client.inference.operation.details"
    spans: list[tuple[Any, list[tuple[str, Any]]]] = [
        ({"gen_ai.input.messages": prompt, "gen_ai.output.messages": tricky}, []),
        ({"gen_ai.input.messages": 7, "gen_ai.output.messages": ""}, []),
        ({"gen_ai.request.model": "gpt-4o"}, [(details, {"gen_ai.input.messages": prompt})]),
        ({"gen_ai.input.messages": tricky, "a": 1, "gen_ai.output.messages": [prompt]}, []),
    ]
    request = span_request(spans, seed=9)
    py_db, native_db = databases
    python_path(chdb_client, py_db, [request], None)
    native_path(chdb_client, native_db, [request], None, tmp_path)

    rows = chdb_client.query(
        "SELECT name, attributes['gen_ai.input.messages'], attributes['gen_ai.output.messages'], "
        f"events[1].3['gen_ai.input.messages'] FROM {native_db.database}.spans ORDER BY name"
    ).result_rows
    assert [row[1:] for row in rows] == [
        ("", "", ""),  # both marked
        ("7", '""', ""),  # not strings, or empty: stored as they are
        ("", "", orjson.dumps(prompt).decode()),  # an event's attributes are never marked
        ("", orjson.dumps([prompt]).decode(), ""),
    ]

    def api(options: SchemaOptions) -> list[dict[str, Any]]:
        store = TraceStore(chdb_client, options)
        found = []
        for span in request.resource_spans[0].scope_spans[0].spans:
            page = store.get_spans("default", span.trace_id.hex())
            found += orjson.loads(orjson.dumps(page["spans"]))
        return found

    python_spans, native_spans = api(py_db), api(native_db)
    assert native_spans == python_spans  # every field: attributes, input/output, span type
    assert native_spans[0]["attributes"]["gen_ai.output.messages"] == tricky
    assert [s["span_type"] for s in native_spans] == ["LLM", "UNKNOWN", "LLM", "UNKNOWN"]

    for options in (py_db, native_db):
        store = TraceStore(chdb_client, options)
        by_message = TraceQuery(attributes={"gen_ai.input.messages": prompt})
        assert [t["name"] for t in store.list_traces(by_message)["traces"]] == ["case 0"]


# --- names guessed from earlier files ---------------------------------------------------------


def test_later_files_are_inserted_on_guessed_names_and_checked(
    chdb_client: Client,
    databases: tuple[SchemaOptions, SchemaOptions],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A surveyed file's names serve the next files without a survey; a file holding another
    name, or an array value where the guess had none, fails its INSERT, is surveyed and is
    inserted again. Every span is stored once, as the Python path stores it."""
    py_db, native_db = databases
    inserter = NativeInserter(chdb_client, native_db.database, PRICES, tmp_path / "schema")
    surveyed: list[Path] = []
    survey = inserter.survey
    monkeypatch.setattr(inserter, "survey", lambda path: surveyed.append(path) or survey(path))
    files = [
        [ExportTraceServiceRequest.FromString(genai_request(20, seed=31))],
        [ExportTraceServiceRequest.FromString(genai_request(20, seed=32))],
        # OpenInference names after OTel GenAI ones, in a file that starts with a known body.
        [
            ExportTraceServiceRequest.FromString(genai_request(5, seed=33)),
            fixture_request("openinference"),
        ],
        [span_request([({"gen_ai.request.model": "m", "a": 1}, [])], seed=34)],
        [span_request([({"gen_ai.request.model": "m", "a": [1, 2]}, [])], seed=35)],
    ]
    surveys_after = [1, 1, 2, 3, 4]
    for n, requests in enumerate(files):
        path = tmp_path / f"f{n}.bin"
        ids = write_batch_file(path, [r.SerializeToString() for r in requests])
        assert inserter.insert(path, *ids) == sum(
            len(build_batch(r, PRICES).columns[0]) for r in requests
        )
        assert len(surveyed) == surveys_after[n], n
        python_path(chdb_client, py_db, requests, None)
    assert inserter.misses == 3  # the OpenInference names, "a", the array value
    assert differences(stored(chdb_client, py_db), stored(chdb_client, native_db)) == []


def test_a_guess_serves_a_bounded_number_of_inserts(
    chdb_client: Client, schema: SchemaOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inserter = NativeInserter(chdb_client, schema.database, PRICES, tmp_path / "schema")
    monkeypatch.setattr(inserter_module, "GUESS_INSERTS", 2)
    surveyed: list[Path] = []
    survey = inserter.survey
    monkeypatch.setattr(inserter, "survey", lambda path: surveyed.append(path) or survey(path))
    for n in range(7):
        path = tmp_path / f"g{n}.bin"
        assert inserter.insert(path, *write_batch_file(path, [genai_request(4, seed=40 + n)])) == 4
    # Surveyed, then 2 guessed, surveyed again (a fresh guess), 2 guessed, surveyed.
    assert [p.name for p in surveyed] == ["g0.bin", "g3.bin", "g6.bin"]


def test_bodies_and_segments_know_when_a_span_may_repeat(tmp_path: Path) -> None:
    body = ExportTraceServiceRequest.FromString(genai_request(10, seed=51))
    assert not prepare_body(body, None, None).repeats
    twice = ExportTraceServiceRequest()
    twice.CopyFrom(body)
    twice.resource_spans.extend(body.resource_spans)  # the same spans again in one body
    assert prepare_body(twice, None, None).repeats

    def info(request: ExportTraceServiceRequest) -> BodyInfo:
        prepared = prepare_body(request, None, None)
        return BodyInfo(prepared.accepted, prepared.trace_ids, prepared.window, prepared.repeats)

    other = ExportTraceServiceRequest.FromString(genai_request(10, seed=52))
    segment = Segment(tmp_path / "s")
    add_body(segment, info(body))
    add_body(segment, info(other))
    assert not segment.repeats  # no trace in two bodies
    add_body(segment, info(body))  # a retried export
    assert segment.repeats
