"""Evaluations: BLEU/ROUGE/answer metrics over datasets, reports, and CI gates.

Importing this package loads neither pandas nor nltk; they load when a table is built or a
text metric runs (the ``eval`` extra installs them: ``pip install 'spyglass[eval]'``).

Example:
    >>> from spyglass.evaluator import evaluate
    >>> result = evaluate(predictions=["the cat sat"], targets=["the cat sat"],
    ...                   metrics=["rougeL"])
    >>> result.metrics["rougeL"]
    1.0
"""

from __future__ import annotations

from spyglass.evaluator.builtin_metrics import bleu, exact_match, rouge, token_f1
from spyglass.evaluator.datasets import Dataset, fingerprint, load_dataset
from spyglass.evaluator.errors import DatasetError, EvaluationError, MetricError, ModelCallError
from spyglass.evaluator.gate import Check, GateReport, check_gates, parse_thresholds
from spyglass.evaluator.judge import llm_judge
from spyglass.evaluator.metrics import Batch, Metric, MetricResult, metric, register_metric
from spyglass.evaluator.models import ModelOutput
from spyglass.evaluator.report import to_html, to_junit_xml, to_markdown
from spyglass.evaluator.result import RESULTS_TABLE, EvaluationResult
from spyglass.evaluator.runner import MODEL_TYPES, evaluate

__all__ = [
    "MODEL_TYPES",
    "RESULTS_TABLE",
    "Batch",
    "Check",
    "Dataset",
    "DatasetError",
    "EvaluationError",
    "EvaluationResult",
    "GateReport",
    "Metric",
    "MetricError",
    "MetricResult",
    "ModelCallError",
    "ModelOutput",
    "bleu",
    "check_gates",
    "evaluate",
    "exact_match",
    "fingerprint",
    "llm_judge",
    "load_dataset",
    "metric",
    "parse_thresholds",
    "register_metric",
    "rouge",
    "to_html",
    "to_junit_xml",
    "to_markdown",
    "token_f1",
]
