"""Manual spans: `start_span`, `@trace` on every kind of function, `context`."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextvars import copy_context
from typing import Any

import pytest

import spyglass
from spyglass.tracer import raise_internal_errors
from tests.tracer.conftest import Captured


def test_start_span_records_inputs_outputs_attributes_and_nesting(capture: Captured) -> None:
    with spyglass.start_span("outer", inputs={"q": "why?"}) as outer:
        outer.set_attribute("custom", {"nested": [1, 2]})
        with spyglass.start_span("lookup", span_type="TOOL") as inner:
            inner.set_outputs(["doc-1"])
        outer.set_outputs("because")
        outer.set_session("s-1")
        outer.set_user("u-1")
        outer.set_tags(["a", "b"])

    lookup, root = capture.spans
    assert capture.parent_name(lookup) == "outer"
    assert capture.attrs(lookup)["gen_ai.operation.name"] == "execute_tool"
    attrs = capture.attrs(root)
    assert attrs["gen_ai.operation.name"] == "invoke_workflow"
    assert json.loads(attrs["input.value"]) == {"q": "why?"}
    assert attrs["output.value"] == "because"
    assert json.loads(attrs["custom"]) == {"nested": [1, 2]}
    assert attrs["session.id"] == "s-1" and attrs["user.id"] == "u-1"
    assert attrs["spyglass.tags"] == ("a", "b")
    assert outer.trace_id == format(root.context.trace_id, "032x")


def test_an_exception_is_recorded_and_propagates_unchanged(capture: Captured) -> None:
    with pytest.raises(KeyError), spyglass.start_span("failing"):
        raise KeyError("missing")
    span = capture.spans[0]
    assert span.status.status_code.name == "ERROR"
    assert capture.attrs(span)["error.type"] == "KeyError"
    assert span.events[0].name == "exception"


def test_trace_decorator_sync_with_arguments_as_inputs(capture: Captured) -> None:
    @spyglass.trace
    def add(a: int, b: int = 2) -> int:
        return a + b

    assert add(1, b=5) == 6
    span = capture.spans[0]
    assert span.name.endswith("add")
    assert json.loads(capture.attrs(span)["input.value"]) == {"a": 1, "b": 5}
    assert capture.attrs(span)["output.value"] == "6"


def test_trace_decorator_async_keeps_children_in_one_trace(capture: Captured) -> None:
    @spyglass.trace(name="child", span_type="RETRIEVER")
    async def child(i: int) -> int:
        await asyncio.sleep(0)
        return i

    @spyglass.trace(name="parent")
    async def parent() -> list[int]:
        return list(await asyncio.gather(child(1), child(2)))

    assert asyncio.run(parent()) == [1, 2]
    by_name = {s.name: s for s in capture.spans}
    children = [s for s in capture.spans if s.name == "child"]
    assert len(children) == 2
    for c in children:
        assert capture.parent_name(c) == "parent"
        assert c.context.trace_id == by_name["parent"].context.trace_id


def test_trace_decorator_generator_collects_items_and_is_not_current_outside(
    capture: Captured,
) -> None:
    @spyglass.trace(name="gen")
    def numbers(n: int) -> Iterator[int]:
        with spyglass.start_span("inside"):
            pass
        yield from range(n)

    with spyglass.start_span("consumer"):
        for _ in numbers(3):
            with spyglass.start_span("between"):
                pass

    assert json.loads(capture.attrs(capture.named("gen"))["output.value"]) == [0, 1, 2]
    assert capture.parent_name(capture.named("inside")) == "gen"
    assert all(capture.parent_name(s) == "consumer" for s in capture.spans if s.name == "between")


def test_trace_decorator_async_generator(capture: Captured) -> None:
    @spyglass.trace(name="agen")
    async def numbers(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    async def consume() -> list[int]:
        return [i async for i in numbers(2)]

    assert asyncio.run(consume()) == [0, 1]
    assert json.loads(capture.attrs(capture.named("agen"))["output.value"]) == [0, 1]


def test_context_stamps_session_user_and_tags_on_every_span_even_in_threads(
    capture: Captured,
) -> None:
    with spyglass.context(session_id="chat-9", user_id="u-3", tags=["beta"]):
        with spyglass.start_span("root"):
            ctx = copy_context()
            thread = threading.Thread(
                target=ctx.run, args=(lambda: spyglass.start_span("t").__enter__().span.end(),)
            )
            thread.start()
            thread.join()
        with spyglass.context(tags=["inner"]), spyglass.start_span("tagged"):
            pass
    with spyglass.start_span("outside"):
        pass
    for name in ("root", "t"):
        attrs = capture.attrs(capture.named(name))
        assert attrs["session.id"] == "chat-9" and attrs["user.id"] == "u-3"
    assert capture.attrs(capture.named("tagged"))["spyglass.tags"] == ("beta", "inner")
    assert "session.id" not in capture.attrs(capture.named("outside"))


def test_a_broken_redaction_hook_never_breaks_the_app() -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    def redact(_key: str, _value: Any) -> Any:
        raise RuntimeError("bug in the hook")

    exporter = InMemorySpanExporter()
    spyglass.configure(
        span_processors=[SimpleSpanProcessor(exporter)], spool_dir=False, redact=redact
    )
    old = raise_internal_errors(False)
    try:
        with spyglass.start_span("s", inputs="secret") as span:
            span.set_outputs("x")
        assert [s.name for s in exporter.get_finished_spans()] == ["s"]
    finally:
        raise_internal_errors(old)
        spyglass.shutdown()


def test_under_pytest_internal_errors_are_raised() -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    def redact(_key: str, _value: Any) -> Any:
        raise RuntimeError("bug in the hook")

    spyglass.configure(
        span_processors=[SimpleSpanProcessor(InMemorySpanExporter())],
        spool_dir=False,
        redact=redact,
    )
    try:
        with pytest.raises(RuntimeError, match="bug in the hook"), spyglass.start_span("s") as s:
            s.set_outputs("x")
    finally:
        spyglass.shutdown()


def test_sampling_rate_zero_records_nothing() -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    spyglass.configure(
        span_processors=[SimpleSpanProcessor(exporter)], spool_dir=False, sample_rate=0.0
    )
    try:
        with spyglass.start_span("dropped"):
            pass
        assert exporter.get_finished_spans() == ()
    finally:
        spyglass.shutdown()
