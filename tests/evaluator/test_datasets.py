from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from spyglass.evaluator import DatasetError, evaluate, load_dataset

ROWS = [
    {"question": "What is the capital of France?", "answer": "Paris"},
    {"question": "Who wrote Hamlet?", "answer": "Shakespeare"},
]


def test_the_same_rows_have_the_same_digest_in_every_format(tmp_path: Path) -> None:
    jsonl = tmp_path / "qa.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n\n", encoding="utf-8")
    csv = tmp_path / "qa.csv"
    pd.DataFrame(ROWS).to_csv(csv, index=False)
    digests = {
        load_dataset(jsonl).digest,
        load_dataset(csv).digest,
        load_dataset(pd.DataFrame(ROWS)).digest,
        load_dataset(ROWS).digest,
        load_dataset([dict(r) for r in ROWS]).digest,
    }
    assert len(digests) == 1
    assert digests.pop().startswith("sha256:")
    assert load_dataset(ROWS[::-1]).digest != load_dataset(ROWS).digest
    assert load_dataset(jsonl).name == "qa.jsonl"


def test_an_evaluation_records_the_digest_of_its_data() -> None:
    result = evaluate(
        ROWS, predictions=["Paris", "Marlowe"], targets="answer", metrics=["exact_match"]
    )
    assert result.dataset["digest"] == load_dataset(ROWS).digest
    assert result.dataset["rows"] == 2
    assert result.metrics["exact_match"] == 0.5


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        ([], {"targets": "answer"}, "dataset 'records' is empty"),
        (
            ROWS,
            {"targets": "expected"},
            "no column 'expected' for targets \\(columns: question, answer\\)",
        ),
        (
            [ROWS[0], {"question": "q"}],
            {"targets": "answer"},
            "row 1: column 'answer' \\(targets\\) is missing",
        ),
        (
            [ROWS[0], {"question": "q", "answer": 42}],
            {"targets": "answer"},
            "row 1, column 'answer' \\(targets\\): expected text, got int 42",
        ),
        (
            [ROWS[0], {"question": "q", "answer": None}],
            {"targets": "answer"},
            "row 1, column 'answer' \\(targets\\) is empty",
        ),
        (ROWS, {"targets": ["Paris"]}, "targets: got 1 values for 2 dataset rows"),
        (["just text"], {"targets": "answer"}, "row 0 is a str, not an object"),
        (42, {"targets": "answer"}, "cannot evaluate data of type int"),
    ],
)
def test_bad_datasets_get_errors_naming_the_problem(
    data: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        evaluate(data, predictions=["Paris", "Shakespeare"], metrics=["exact_match"], **kwargs)  # type: ignore[arg-type]


def test_prediction_lists_must_match_the_dataset_length() -> None:
    with pytest.raises(DatasetError, match="predictions: got 3 values for 2 dataset rows"):
        evaluate(ROWS, predictions=["a", "b", "c"], targets="answer")
    with pytest.raises(DatasetError, match="got 2 predictions but 1 targets"):
        evaluate(predictions=["a", "b"], targets=["a"])


def test_missing_values_from_pandas_are_reported_as_empty() -> None:
    frame = pd.DataFrame({"question": ["q1", "q2"], "answer": ["a", float("nan")]})
    with pytest.raises(DatasetError, match="row 1, column 'answer' \\(targets\\) is empty"):
        evaluate(frame, predictions=["a", "b"], targets="answer")


def test_unreadable_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "missing.jsonl")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"a": "b"}\n{"a": \n', encoding="utf-8")
    with pytest.raises(DatasetError, match="broken.jsonl line 2: not valid JSON"):
        load_dataset(broken)
    with pytest.raises(DatasetError, match="unknown format '.txt'"):
        (tmp_path / "x.txt").write_text("x", encoding="utf-8")
        load_dataset(tmp_path / "x.txt")
