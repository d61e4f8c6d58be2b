"""Evaluations: BLEU/ROUGE/answer metrics over datasets, reports, and CI gates.

Importing this package loads nothing else: each public name loads its module on first use,
and pandas and nltk load when a table is built or a text metric runs (the ``eval`` extra
installs them: ``pip install 'spyglass[eval]'``).

Example:
    >>> from spyglass.evaluator import evaluate
    >>> result = evaluate(predictions=["the cat sat"], targets=["the cat sat"],
    ...                   metrics=["rougeL"])
    >>> result.metrics["rougeL"]
    1.0
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Public name -> the module defining it. Loaded on first use, so a process that needs one
# part (a scoring worker, the CLI) does not import the rest (httpx for judges and servers...).
_EXPORTS = {
    "bleu": "spyglass.evaluator.builtin_metrics",
    "exact_match": "spyglass.evaluator.builtin_metrics",
    "rouge": "spyglass.evaluator.builtin_metrics",
    "token_f1": "spyglass.evaluator.builtin_metrics",
    "Dataset": "spyglass.evaluator.datasets",
    "fingerprint": "spyglass.evaluator.datasets",
    "load_dataset": "spyglass.evaluator.datasets",
    "DatasetError": "spyglass.evaluator.errors",
    "EvaluationError": "spyglass.evaluator.errors",
    "MetricError": "spyglass.evaluator.errors",
    "ModelCallError": "spyglass.evaluator.errors",
    "ServerError": "spyglass.evaluator.errors",
    "Check": "spyglass.evaluator.gate",
    "GateReport": "spyglass.evaluator.gate",
    "check_gates": "spyglass.evaluator.gate",
    "parse_thresholds": "spyglass.evaluator.gate",
    "llm_judge": "spyglass.evaluator.judge",
    "Batch": "spyglass.evaluator.metrics",
    "Metric": "spyglass.evaluator.metrics",
    "MetricResult": "spyglass.evaluator.metrics",
    "metric": "spyglass.evaluator.metrics",
    "register_metric": "spyglass.evaluator.metrics",
    "ModelOutput": "spyglass.evaluator.models",
    "to_html": "spyglass.evaluator.report",
    "to_junit_xml": "spyglass.evaluator.report",
    "to_markdown": "spyglass.evaluator.report",
    "RESULTS_TABLE": "spyglass.evaluator.result",
    "EvaluationResult": "spyglass.evaluator.result",
    "MODEL_TYPES": "spyglass.evaluator.runner",
    "evaluate": "spyglass.evaluator.runner",
    "dataset_from_traces": "spyglass.evaluator.trace_datasets",
    "find_latest_evaluation": "spyglass.evaluator.tracking",
    "load_evaluation": "spyglass.evaluator.tracking",
    "log_evaluation": "spyglass.evaluator.tracking",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'spyglass.evaluator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
