"""Per-row trace links and the shapes stored on the server, without a server."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spyglass
from spyglass.evaluator import EvaluationResult, evaluate
from spyglass.evaluator.trace_datasets import input_columns, output_text
from spyglass.evaluator.tracking import describe_model, results_table
from tests.evaluator.conftest import API_KEY, FakeOpenAI


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    spyglass.configure(span_processors=[SimpleSpanProcessor(memory)], spool_dir=False)
    yield memory
    spyglass.shutdown()


def test_each_model_call_is_the_root_of_its_own_trace(exporter: InMemorySpanExporter) -> None:
    @spyglass.trace
    def model(question: str) -> str:
        return question.upper()

    with spyglass.start_span("outer"):  # an enclosing span does not swallow the rows
        result = evaluate(
            [{"q": "a"}, {"q": "b"}], model=model, metrics=["length"], name="upper", concurrency=1
        )
    spans = exporter.get_finished_spans()
    roots = {format(s.context.trace_id, "032x"): s for s in spans if s.name == "upper"}
    assert [r["trace_id"] for r in result.rows] == list(roots)
    for root in roots.values():
        assert root.parent is None
        assert root.attributes is not None
        assert json.loads(str(root.attributes["input.value"])) in ({"q": "a"}, {"q": "b"})
    children = [s for s in spans if s.name.endswith("model")]
    assert {format(s.context.trace_id, "032x") for s in children} == set(roots)
    assert all(s.parent is not None for s in children)


def test_trace_false_and_no_tracer_record_no_trace_ids(exporter: InMemorySpanExporter) -> None:
    result = evaluate([{"q": "a"}], model=str.upper, metrics=["length"], trace=False)
    assert "trace_id" not in result.rows[0] and not exporter.get_finished_spans()
    spyglass.shutdown()
    result = evaluate([{"q": "a"}], model=str.upper, metrics=["length"])
    assert "trace_id" not in result.rows[0]


def test_the_results_table_is_pandas_split_orientation_without_nan() -> None:
    result = EvaluationResult(
        metrics={"m": 1.0},
        rows=[{"a": "x", "score": 1.0}, {"a": "y", "score": math.nan, "extra": 2}],
        metric_info={},
        higher_is_better={},
        dataset={},
    )
    table = results_table(result)
    assert table == {"columns": ["a", "score", "extra"], "data": [["x", 1.0, None], ["y", None, 2]]}
    pd = pytest.importorskip("pandas")
    frame = pd.read_json(__import__("io").StringIO(json.dumps(table)), orient="split")
    assert list(frame.columns) == ["a", "score", "extra"]
    assert describe_model(result) == "predictions"


@pytest.mark.parametrize(
    ("stored", "columns"),
    [
        ('{"question": "q?", "output": 1}', {"question": "q?", "input.output": 1}),
        ('[{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]',
         {"input": "hi"}),
        ('{"messages": [{"role": "user", "content": [{"type": "text", "text": "hey"}]}]}',
         {"input": "hey"}),
        ("plain text", {"input": "plain text"}),
        ('"quoted"', {"input": "quoted"}),
        ("[1, 2]", {"input": "[1, 2]"}),
    ],
)  # fmt: skip
def test_root_span_inputs_become_columns(stored: str, columns: dict[str, object]) -> None:
    assert input_columns(stored) == columns


@pytest.mark.parametrize(
    ("stored", "text"),
    [
        ('{"choices": [{"message": {"role": "assistant", "content": "Paris"}}]}', "Paris"),
        ('{"answer": "42", "sources": []}', "42"),
        ('[{"role": "assistant", "content": "done"}]', "done"),
        ('"4"', "4"),
        ("4!", "4!"),
        ('{"x": 1}', '{"x": 1}'),
        (None, None),
    ],
)
def test_root_span_outputs_become_text(stored: str | None, text: str | None) -> None:
    assert output_text(stored) == text


def test_a_traced_chat_model_call_is_an_llm_span_with_usage(
    exporter: InMemorySpanExporter, fake_openai: FakeOpenAI
) -> None:
    result = evaluate(
        [{"question": "What is 2 + 2?"}],
        model="fake-chat",
        base_url=fake_openai.base_url,
        api_key=API_KEY,
        metrics=["length"],
        name="chat-eval",
    )
    spans = {s.name: s for s in exporter.get_finished_spans()}
    root, llm = spans["chat-eval"], spans["chat fake-chat"]
    assert llm.parent is not None and llm.parent.span_id == root.context.span_id
    assert format(root.context.trace_id, "032x") == result.rows[0]["trace_id"]
    attributes = dict(llm.attributes or {})
    assert attributes["gen_ai.request.model"] == "fake-chat"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.usage.output_tokens"] == 1
    assert attributes["output.value"] == "5"
