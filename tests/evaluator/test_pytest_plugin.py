from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TEST_FILE = """
def answer(question):
    return {"2+2?": "4", "capital of France?": "Paris"}[question]

DATA = [{"question": "2+2?", "answer": "4"}, {"question": "capital of France?", "answer": "Paris"}]

def test_good_enough(spyglass_eval):
    result = spyglass_eval(DATA, model=answer, targets="answer", metrics=["exact_match"],
                           min={"exact_match": 1.0}, baseline="baseline.json")
    assert result.metrics["exact_match"] == 1.0

def test_not_good_enough(spyglass_eval):
    spyglass_eval(DATA, model=lambda q: "no idea", targets="answer", metrics=["exact_match"],
                  min={"exact_match": 0.5})
"""


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "test_eval.py"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_evaluation_is_a_test_that_fails_on_thresholds_and_writes_baselines(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_eval.py").write_text(TEST_FILE, encoding="utf-8")

    first = run_pytest(tmp_path)
    assert first.returncode == 1
    assert (
        "baseline baseline.json does not exist; run pytest with --spyglass-update-baseline"
        in first.stdout
    )

    update = run_pytest(tmp_path, "--spyglass-update-baseline", "-k", "test_good_enough")
    assert update.returncode == 0, update.stdout
    assert (tmp_path / "baseline.json").exists()

    reports = tmp_path / "reports"
    final = run_pytest(tmp_path, f"--spyglass-report-dir={reports}")
    assert final.returncode == 1
    assert "1 failed, 1 passed" in final.stdout
    assert "FAIL exact_match 0.0000 >= 0.5000" in final.stdout
    assert sorted(p.suffix for p in reports.iterdir()) == [
        ".html",
        ".html",
        ".json",
        ".json",
        ".md",
        ".md",
        ".xml",
        ".xml",
    ]


def test_a_result_object_such_as_a_stored_evaluation_is_a_baseline() -> None:
    from spyglass.evaluator import evaluate
    from spyglass.evaluator.pytest_plugin import EvalGate

    baseline = evaluate(predictions=["a b"], targets=["a b"], metrics=["rouge1"])
    gate = EvalGate("test_x", None, False)
    gate(predictions=["a b"], targets=["a b"], metrics=["rouge1"], baseline=baseline)
    with pytest.raises(pytest.fail.Exception, match="rouge1 0.0000 vs baseline 1.0000"):
        gate(predictions=["x"], targets=["a b"], metrics=["rouge1"], baseline=baseline)
