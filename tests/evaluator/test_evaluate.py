from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from spyglass.errors import ConfigError
from spyglass.evaluator import (
    RESULTS_TABLE,
    EvaluationResult,
    ModelCallError,
    ModelOutput,
    check_gates,
    evaluate,
    llm_judge,
)
from tests.evaluator.conftest import API_KEY, FakeOpenAI

QA = [
    {"question": "What is the capital of France?", "answer": "Paris is the capital of France."},
    {"question": "Who wrote Hamlet?", "answer": "Shakespeare wrote Hamlet."},
    {"question": "What is 2 + 2?", "answer": "4"},
]


def test_spyglass_evaluate_is_the_evaluator() -> None:
    import spyglass

    assert spyglass.evaluate is evaluate


def test_a_callable_is_evaluated_end_to_end_into_a_table() -> None:
    def model(question: str) -> ModelOutput:
        answers = {
            "What is the capital of France?": "Paris is the capital of France.",
            "Who wrote Hamlet?": "Marlowe wrote Hamlet.",
            "What is 2 + 2?": "4",
        }
        return ModelOutput(answers[question], input_tokens=10, output_tokens=len(answers[question]))

    result = evaluate(QA, model=model, targets="answer", model_type="question-answering")
    assert result.metrics["exact_match"] == pytest.approx(2 / 3)
    assert result.metrics["input_tokens_sum"] == 30
    assert result.metrics["latency_p95_s"] >= 0
    table = result.tables[RESULTS_TABLE]
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns[:3]) == ["question", "prediction", "target"]
    assert {"exact_match", "token_f1", "latency_s", "input_tokens", "prediction_chars"} <= set(
        table.columns
    )
    assert table["exact_match"].tolist() == [1.0, 0.0, 1.0]
    assert result.model is not None and result.model["kind"] == "callable"


def test_an_openai_compatible_model_is_evaluated_and_compared_with_a_baseline(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    result = evaluate(
        QA,
        model="fake-chat",
        base_url=fake_openai.base_url,
        api_key=API_KEY,
        targets="answer",
        model_type="text-summarization",
        metrics=["rouge", "exact_match"],
        system_prompt="Answer briefly.",
    )
    assert [r["prediction"] for r in result.rows] == [
        "Paris is the capital of France.",
        "William Shakespeare wrote Hamlet.",
        "5",
    ]
    assert result.rows[0]["rouge1"] == 1.0
    assert result.metrics["exact_match"] == pytest.approx(1 / 3)
    assert result.metrics["output_tokens_sum"] == 6 + 4 + 1
    assert fake_openai.requests[0]["temperature"] == 0
    assert fake_openai.requests[0]["messages"][0] == {
        "role": "system",
        "content": "Answer briefly.",
    }
    assert result.model == {
        "kind": "openai-compatible",
        "name": "fake-chat",
        "base_url": fake_openai.base_url,
        "params": {"temperature": 0},
        "system_prompt": "Answer briefly.",
        "prompt_template": None,
    }

    # The saved result is the next run's baseline: same scores pass, a better baseline fails.
    baseline_path = tmp_path / "baseline.json"
    result.save(baseline_path)
    baseline = EvaluationResult.load(baseline_path)
    assert baseline.metrics == result.metrics
    assert check_gates(result, baseline=baseline).passed
    better = EvaluationResult.from_dict(
        {**result.to_dict(), "metrics": {**result.to_dict()["metrics"], "rougeL": 0.99}}
    )
    gate = check_gates(result, baseline=better, tolerance=0.01, min={"rouge1": 0.5})
    assert not gate.passed
    assert [(c.metric, c.kind) for c in gate.failures] == [("rougeL", "regression")]
    # latency and tokens are not compared with the baseline, only gated by max thresholds.
    assert {c.metric for c in gate.checks} == {
        "rouge1",
        "rouge2",
        "rougeL",
        "rougeLsum",
        "exact_match",
    }


def test_a_wrong_key_is_a_model_call_error_naming_the_row(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(ModelCallError, match="row 0: .*answered 401"):
        evaluate(
            QA[:1],
            model="fake-chat",
            base_url=fake_openai.base_url,
            api_key="wrong",
            targets="answer",
            concurrency=1,
        )


def test_a_langchain_runnable_is_invoked_per_row() -> None:
    chat = FakeListChatModel(
        responses=["Paris is the capital of France.", "Shakespeare wrote Hamlet.", "4"]
    )
    result = evaluate(QA, model=chat, targets="answer", metrics=["exact_match"], concurrency=1)
    assert result.metrics["exact_match"] == 1.0
    assert result.model == {"kind": "runnable", "name": "FakeListChatModel"}


def test_a_model_that_raises_names_the_row() -> None:
    def model(question: str) -> str:
        if "Hamlet" in question:
            raise RuntimeError("rate limited")
        return "ok"

    with pytest.raises(ModelCallError, match="row 1: the model raised RuntimeError"):
        evaluate(QA, model=model, targets="answer", metrics=["exact_match"])


def test_an_llm_judge_grades_through_an_openai_compatible_endpoint(fake_openai: FakeOpenAI) -> None:
    judge = llm_judge("fake-judge", base_url=fake_openai.base_url, api_key=API_KEY)
    result = evaluate(
        QA, predictions=["Paris", "Shakespeare", "4"], targets="answer", metrics=[judge]
    )
    assert result.metrics["judge"] == 0.75
    assert result.rows[0]["judge_reason"] == "mostly right <b>"
    assert result.metric_info["judge"]["judge_model"] == "fake-judge"
    assert "Reference:" in fake_openai.requests[0]["messages"][1]["content"]


def test_several_input_columns_reach_the_model_as_a_dict_or_a_template(
    fake_openai: FakeOpenAI,
) -> None:
    rows = [{"country": "France", "kind": "capital", "answer": "Paris"}]
    seen: list[object] = []

    def model(x: object) -> str:
        seen.append(x)
        return "Paris"

    evaluate(rows, model=model, targets="answer", metrics=["exact_match"])
    assert seen == [{"country": "France", "kind": "capital"}]
    result = evaluate(
        rows,
        model="fake",
        base_url=fake_openai.base_url,
        api_key=API_KEY,
        targets="answer",
        metrics=["length"],
        prompt_template="What is the {kind} of {country}?",
    )
    assert result.rows[0]["prediction"] == "Paris is the capital of France."


def test_conflicting_arguments_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_URI", "SPYGLASS_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="exactly one of model= and predictions="):
        evaluate(QA, targets="answer")
    with pytest.raises(ConfigError, match="unknown model_type 'poetry'"):
        evaluate(predictions=["a"], model_type="poetry")
    with pytest.raises(ConfigError, match="'bleu' compares with targets"):
        evaluate(predictions=["a"], metrics=["bleu"])
    with pytest.raises(ConfigError, match="needs the registry's address"):
        evaluate(QA, model="models:/qa/1", targets="answer")


def test_results_round_trip_through_json_without_nan(tmp_path: Path) -> None:
    result = evaluate(
        predictions=["a", "b"], metrics=[lambda prediction: None if prediction else 1]
    )
    data = result.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["metrics"]["<lambda>"] is None
    path = tmp_path / "r.json"
    result.save(path)
    assert EvaluationResult.load(path).rows == result.rows
    with pytest.raises(ConfigError, match="not a Spyglass evaluation result"):
        path.write_text("{}", encoding="utf-8")
        EvaluationResult.load(path)
