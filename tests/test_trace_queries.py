"""Trace list, detail, sessions and stats on a real ClickHouse store."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from spyglass.errors import BadRequestError
from spyglass.store import analytics
from spyglass.store.traces import TraceQuery, TraceStore
from tests.factory import BASE_NS, TraceSpec, store_traces

LLM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 100,
}


def plain(value: Any) -> Any:
    """Store results embed pre-built JSON (orjson fragments); read them as a client would."""
    return orjson.loads(orjson.dumps(value))


def ids(page: dict[str, Any]) -> list[str]:
    return [t["trace_id"] for t in page["traces"]]


@pytest.fixture
def seeded(store: TraceStore) -> dict[str, str]:
    specs = {
        "fast-ok": TraceSpec("checkout", 0, 50, {"session.id": "s1", "user.id": "alice"}),
        "slow-ok": TraceSpec(
            "checkout", 1000, 900, {"session.id": "s1", "user.id": "alice", "tier": "gold"},
            children=[{"name": "chat gpt-4o",
                       "attributes": {**LLM, "input.value": "refund my order"}}],
        ),
        "error": TraceSpec("refund", 2000, 300, {"user.id": "bob", "retries": 3}, error=True),
        "mini": TraceSpec(
            "search", 3000, 120, {"session.id": "s2"},
            children=[{"attributes": {**LLM, "gen_ai.request.model": "gpt-4o-mini",
                                   "gen_ai.usage.output_tokens": 50}}],
        ),
    }  # fmt: skip
    trace_ids = store_traces(store, list(specs.values()))
    store_traces(store, [TraceSpec("elsewhere", 500)], project="other")
    return dict(zip(specs, trace_ids, strict=True))


def test_traces_are_listed_newest_first_with_summaries(
    store: TraceStore, seeded: dict[str, str]
) -> None:
    page = store.list_traces(TraceQuery())
    assert ids(page) == [seeded[k] for k in ("mini", "error", "slow-ok", "fast-ok")]
    slow = page["traces"][2]
    assert slow["name"] == "checkout"
    assert slow["spans"] == 2 and slow["llm_calls"] == 1
    assert slow["models"] == ["gpt-4o"]
    assert slow["tokens"] == 1100
    assert slow["cost"] == pytest.approx(1000 * 2.5e-6 + 100 * 10e-6)
    assert slow["duration_ms"] == pytest.approx(900)
    assert slow["session"] == "s1" and slow["user"] == "alice"
    assert page["traces"][1]["status"] == "ERROR"
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (TraceQuery(status="error"), ["error"]),
        (TraceQuery(name="CHECK"), ["slow-ok", "fast-ok"]),
        (TraceQuery(model="gpt-4o-mini"), ["mini"]),
        (TraceQuery(session_id="s1"), ["slow-ok", "fast-ok"]),
        (TraceQuery(user_id="bob"), ["error"]),
        (TraceQuery(min_latency_ms=200), ["error", "slow-ok"]),
        (TraceQuery(max_latency_ms=100), ["fast-ok"]),
        (TraceQuery(attributes={"tier": "gold"}), ["slow-ok"]),
        (TraceQuery(attributes={"retries": "3"}), ["error"]),
        (TraceQuery(text="REFUND my"), ["slow-ok"]),
        (TraceQuery(start_ns=BASE_NS + 1_500_000_000), ["mini", "error"]),
        (TraceQuery(end_ns=BASE_NS + 1_500_000_000), ["slow-ok", "fast-ok"]),
        (TraceQuery(filter='status = "ERROR" or tokens > 1000'), ["error", "mini", "slow-ok"]),
        (TraceQuery(filter='model ~ "mini" and latency_ms < 200'), ["mini"]),
        (TraceQuery(filter='name in ("refund", "search") and not errors > 0'), ["mini"]),
        (TraceQuery(filter='session exists and user = "alice"'), ["slow-ok", "fast-ok"]),
        (TraceQuery(sort="latency"), ["slow-ok", "error", "mini", "fast-ok"]),
        (TraceQuery(sort="tokens", descending=False, filter="tokens > 0"), ["mini", "slow-ok"]),
        (TraceQuery(project="other"), []),
    ],
)
def test_filters_select_exactly_the_matching_traces(
    store: TraceStore, seeded: dict[str, str], query: TraceQuery, expected: list[str]
) -> None:
    got = ids(store.list_traces(query))
    if query.sort == "start_time" and query.project != "other":
        assert sorted(got) == sorted(seeded[k] for k in expected)
    elif query.project == "other":
        assert len(got) == 1  # only the other project's trace
    else:
        assert got == [seeded[k] for k in expected]


def test_a_cursor_walks_every_trace_once(store: TraceStore) -> None:
    stored = store_traces(store, [TraceSpec(f"t{i}", start_ms=i * 10) for i in range(23)])
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = store.list_traces(TraceQuery(limit=5, cursor=cursor))
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(stored))


def test_row_filters_find_traces_whose_matching_spans_arrived_later(store: TraceStore) -> None:
    specs = [TraceSpec(f"t{i}", start_ms=i * 10) for i in range(2000)]
    store_traces(store, specs)
    # Every 5th trace fails in a span stored later, by another insert: the trace's first
    # summary row is not an error row, and the error rows are newer than every trace start.
    failing = range(0, 2000, 5)
    late = [
        TraceSpec("late-error", start_ms=30_000 + i, error=True, trace_id=specs[i].trace_id)
        for i in failing
    ]
    store_traces(store, late)
    got: list[str] = []
    cursor = None
    for _ in range(100):
        page = store.list_traces(TraceQuery(status="error", limit=37, cursor=cursor))
        got += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert got == [specs[i].trace_id.hex() for i in reversed(failing)]


@pytest.mark.parametrize(
    "text",
    [
        'model ~ "claude"',
        'status = "ERROR" and model ~ "CLAUDE"',
        'latency_ms > 1 and model ~ "cla"',
    ],
)
def test_filter_language_conjuncts_narrow_the_window_without_losing_traces(
    store: TraceStore, text: str
) -> None:
    """``model ~`` and ``status = "ERROR"`` also filter summary rows (a trace matches iff one of
    its rows does), including rows stored later than the trace's first."""
    specs = [
        TraceSpec(f"t{i}", start_ms=i * 10, attributes={"gen_ai.request.model": "gpt-4o"})
        for i in range(1500)
    ]
    store_traces(store, specs)
    chosen = range(3, 1500, 7)
    late = [
        TraceSpec(
            "late",
            start_ms=30_000 + i,
            duration_ms=5,
            error=True,
            attributes={"gen_ai.request.model": "claude-sonnet-4"},
            trace_id=specs[i].trace_id,
        )
        for i in chosen
    ]
    store_traces(store, late)
    got: list[str] = []
    cursor = None
    for _ in range(100):
        page = store.list_traces(TraceQuery(filter=text, limit=41, cursor=cursor))
        got += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert got == [specs[i].trace_id.hex() for i in reversed(chosen)]


def test_a_filter_matching_only_old_traces_widens_the_window(store: TraceStore) -> None:
    """The newest-first window finds nothing in its first rounds (an empty page, then a
    window too wide for a constant id set) and still returns the old matches, in order."""
    specs = [TraceSpec(f"t{i}", start_ms=i * 10, duration_ms=5) for i in range(2500)]
    for i in (0, 1, 2):
        specs[i] = TraceSpec(f"slow{i}", start_ms=i * 10, duration_ms=900)
    stored = store_traces(store, specs)
    first = store.list_traces(TraceQuery(filter="latency_ms > 500", limit=2))
    assert ids(first) == [stored[2], stored[1]]
    assert first["next_cursor"] is not None
    rest = store.list_traces(TraceQuery(filter="latency_ms > 500", cursor=first["next_cursor"]))
    assert ids(rest) == [stored[0]] and rest["next_cursor"] is None


def test_a_cursor_works_with_other_sort_orders(store: TraceStore) -> None:
    store_traces(store, [TraceSpec(f"t{i}", i, duration_ms=(i * 7) % 11 + 1) for i in range(12)])
    first = store.list_traces(TraceQuery(sort="latency", limit=5))
    second = store.list_traces(TraceQuery(sort="latency", limit=50, cursor=first["next_cursor"]))
    everything = store.list_traces(TraceQuery(sort="latency", limit=50))
    assert ids(first) + ids(second) == ids(everything)


@pytest.mark.parametrize(
    "query",
    [
        TraceQuery(filter="latency_ms > 'x'"),
        TraceQuery(filter="nosuchfield = 1"),
        TraceQuery(filter="name = "),
        TraceQuery(cursor="not-a-cursor"),
        TraceQuery(sort="evil"),
    ],
)
def test_bad_queries_are_bad_requests(store: TraceStore, query: TraceQuery) -> None:
    with pytest.raises(BadRequestError):
        store.list_traces(query)


def test_one_trace_comes_back_with_all_spans_in_start_order(
    store: TraceStore, seeded: dict[str, str]
) -> None:
    trace = plain(store.get_trace("default", seeded["slow-ok"]))
    assert trace is not None
    assert [s["name"] for s in trace["spans"]] == ["checkout", "chat gpt-4o"]
    root, child = trace["spans"]
    assert child["parent_span_id"] == root["span_id"]
    assert child["usage"] == {"input": 1000, "output": 100, "total": 1100}
    assert child["input"] == "refund my order"
    assert store.get_trace("other", seeded["slow-ok"]) is None


def test_a_huge_trace_is_paged(store: TraceStore) -> None:
    spec = TraceSpec("big", children=[{"name": f"c{i}"} for i in range(250)])
    (trace_id,) = store_traces(store, [spec])
    names: list[str] = []
    cursor = None
    while True:
        page = plain(store.get_spans("default", trace_id, limit=100, cursor=cursor))
        names += [s["name"] for s in page["spans"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == ["big"] + [f"c{i}" for i in range(250)]


def test_sessions_group_traces_by_conversation(store: TraceStore, seeded: dict[str, str]) -> None:
    page = analytics.list_sessions(store, "default")
    sessions = {s["session_id"]: s for s in page["sessions"]}
    assert set(sessions) == {"s1", "s2"}
    assert sessions["s1"]["traces"] == 2 and sessions["s1"]["users"] == ["alice"]
    assert [s["session_id"] for s in page["sessions"]] == ["s2", "s1"]
    one = store.list_traces(TraceQuery(session_id="s1", descending=False))
    assert ids(one) == [seeded["fast-ok"], seeded["slow-ok"]]


@pytest.mark.usefixtures("seeded")
def test_stats_bucket_traces_with_latency_quantiles_tokens_and_cost(store: TraceStore) -> None:
    stats = analytics.trace_stats(
        store, "default", start_ns=BASE_NS - 10**9, end_ns=BASE_NS + 60 * 10**9, bucket_seconds=3600
    )
    assert sum(b["traces"] for b in stats["buckets"]) == 4
    assert sum(b["errors"] for b in stats["buckets"]) == 1
    assert sum(b["tokens"] for b in stats["buckets"]) == 2150
    models = {m["model"]: m for m in stats["by_model"]}
    assert set(models) == {"gpt-4o", "gpt-4o-mini"}
    assert models["gpt-4o"]["calls"] == 1 and models["gpt-4o"]["input_tokens"] == 1000
    assert models["gpt-4o-mini"]["cost"] == pytest.approx(1000 * 0.15e-6 + 50 * 0.6e-6)


def test_stats_refuse_too_many_buckets(store: TraceStore) -> None:
    with pytest.raises(BadRequestError, match="too many buckets"):
        analytics.trace_stats(store, "default", start_ns=0, end_ns=10**18, bucket_seconds=1)
