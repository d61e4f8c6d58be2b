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
from spyglass.evaluator.errors import (
    DatasetError,
    EvaluationError,
    MetricError,
    ModelCallError,
    ServerError,
)
from spyglass.evaluator.gate import Check, GateReport, check_gates, parse_thresholds
from spyglass.evaluator.judge import llm_judge
from spyglass.evaluator.metrics import Batch, Metric, MetricResult, metric, register_metric
from spyglass.evaluator.models import ModelOutput
from spyglass.evaluator.report import to_html, to_junit_xml, to_markdown
from spyglass.evaluator.result import RESULTS_TABLE, EvaluationResult
from spyglass.evaluator.runner import MODEL_TYPES, evaluate
from spyglass.evaluator.trace_datasets import dataset_from_traces
from spyglass.evaluator.tracking import find_latest_evaluation, load_evaluation, log_evaluation

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
    "ServerError",
    "bleu",
    "check_gates",
    "dataset_from_traces",
    "evaluate",
    "exact_match",
    "find_latest_evaluation",
    "fingerprint",
    "llm_judge",
    "load_dataset",
    "load_evaluation",
    "log_evaluation",
    "metric",
    "parse_thresholds",
    "register_metric",
    "rouge",
    "to_html",
    "to_junit_xml",
    "to_markdown",
    "token_f1",
]
