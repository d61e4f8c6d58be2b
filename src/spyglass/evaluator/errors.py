"""Errors raised by the evaluator.

SpyglassError
 └── EvaluationError        an evaluation cannot run or finish
      ├── DatasetError      the data is empty, misses a column, holds non-text, or lengths differ
      ├── ModelCallError    the model under evaluation failed on a row
      ├── MetricError       an unknown metric, bad metric options, or a metric that failed
      └── ServerError       the Spyglass server was unreachable or refused a request

A bad configuration (unknown threshold metric, unreadable config file) is a
`spyglass.errors.ConfigError`. The CLI maps these to exit code 2; a failed gate is exit code 1.
"""

from __future__ import annotations

from spyglass.errors import SpyglassError


class EvaluationError(SpyglassError):
    """An evaluation cannot run or finish."""


class DatasetError(EvaluationError):
    """The dataset cannot be evaluated; the message names the row and column at fault."""


class ModelCallError(EvaluationError):
    """The model under evaluation raised or answered with an error."""


class MetricError(EvaluationError):
    """A metric is unknown, badly configured, or failed."""


class ServerError(EvaluationError):
    """The Spyglass server could not be reached, or refused to store or return an evaluation."""
