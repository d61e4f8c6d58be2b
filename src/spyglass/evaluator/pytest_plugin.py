"""A pytest plugin: make an evaluation a test that fails on thresholds or regressions.

Installed with Spyglass (entry point ``pytest11``), it adds the ``spyglass_eval`` fixture::

    def test_answers_are_good_enough(spyglass_eval):
        spyglass_eval(
            "tests/data/qa.jsonl",
            model=answer_question,
            targets="answer",
            model_type="question-answering",
            min={"token_f1": 0.8},
            baseline="tests/data/qa-baseline.json",
            tolerance=0.02,
        )

Options: ``--spyglass-report-dir DIR`` writes each evaluation's Markdown, JUnit XML, HTML and
result JSON there; ``--spyglass-update-baseline`` (re)writes baseline files instead of
comparing with them. Importing this module loads neither pandas nor nltk.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from spyglass.evaluator.result import EvaluationResult


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spyglass", "Spyglass evaluations")
    group.addoption(
        "--spyglass-report-dir",
        default=None,
        help="write each spyglass_eval report (md, junit xml, html, json) here",
    )
    group.addoption(
        "--spyglass-update-baseline",
        action="store_true",
        default=False,
        help="write spyglass_eval baselines instead of comparing with them",
    )


class EvalGate:
    """The ``spyglass_eval`` fixture's value: evaluate, gate, report, fail the test if needed."""

    def __init__(self, test_name: str, report_dir: str | None, update_baseline: bool) -> None:
        self.test_name = test_name
        self.report_dir = Path(report_dir) if report_dir else None
        self.update_baseline = update_baseline

    def __call__(
        self,
        data: Any = None,
        *,
        min: Mapping[str, float] | None = None,
        max: Mapping[str, float] | None = None,
        baseline: str | Path | EvaluationResult | None = None,
        tolerance: float | Mapping[str, float] = 0.0,
        compare: Iterable[str] | None = None,
        **evaluate_args: Any,
    ) -> EvaluationResult:
        """Run `spyglass.evaluator.evaluate` with ``evaluate_args`` and gate the result.

        Fails the test (with the report) when a threshold or the baseline comparison fails,
        or when ``baseline`` names a missing file (``--spyglass-update-baseline`` writes it).
        ``baseline`` may also be a result, e.g. an evaluation stored on a server
        (`spyglass.evaluator.load_evaluation`); ``log_to=`` stores this one there.
        """
        from spyglass.evaluator.gate import check_gates
        from spyglass.evaluator.report import to_html, to_junit_xml, to_markdown
        from spyglass.evaluator.result import EvaluationResult as Result
        from spyglass.evaluator.runner import evaluate

        evaluate_args.setdefault("name", self.test_name)
        result = evaluate(data, **evaluate_args)
        previous = None
        if isinstance(baseline, Result):
            previous = baseline
        elif baseline is not None:
            path = Path(baseline)
            if self.update_baseline:
                result.save(path)
            elif not path.exists():
                pytest.fail(
                    f"baseline {path} does not exist; run pytest with "
                    "--spyglass-update-baseline to write it",
                    pytrace=False,
                )
            else:
                previous = Result.load(path)
        gate = check_gates(
            result, min=min, max=max, baseline=previous, tolerance=tolerance, compare=compare
        )
        if self.report_dir is not None:
            self.report_dir.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.test_name).strip("_")
            result.save(self.report_dir / f"{stem}.json")
            (self.report_dir / f"{stem}.md").write_text(to_markdown(result, gate), encoding="utf-8")
            (self.report_dir / f"{stem}.xml").write_text(
                to_junit_xml(result, gate), encoding="utf-8"
            )
            (self.report_dir / f"{stem}.html").write_text(to_html(result, gate), encoding="utf-8")
        if not gate.passed:
            lines = [f"spyglass evaluation {result.name!r} failed:"]
            lines += [f"  FAIL {c.description}" for c in gate.failures]
            lines += [f"  note: {n}" for n in gate.notes]
            pytest.fail("\n".join(lines), pytrace=False)
        return result


@pytest.fixture
def spyglass_eval(request: pytest.FixtureRequest) -> EvalGate:
    """Evaluate and gate inside a test: ``spyglass_eval(data, model=..., min={...})``."""
    return EvalGate(
        request.node.nodeid,
        request.config.getoption("--spyglass-report-dir"),
        bool(request.config.getoption("--spyglass-update-baseline")),
    )
