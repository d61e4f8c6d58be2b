"""CI gates: thresholds on aggregate metrics and regressions against a baseline result.

A regression is a metric whose direction is known (``higher_is_better``) that got worse than
the baseline by more than the tolerance (absolute, per metric or for all). Without explicit
``compare`` names, every metric that is better when higher and present in both results is
compared; latency and token counts are gated only by ``max`` thresholds, since they vary from
run to run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from spyglass.errors import ConfigError
from spyglass.evaluator.result import EvaluationResult

__all__ = ["Check", "GateReport", "check_gates", "parse_thresholds"]

CheckKind = Literal["min", "max", "regression"]


@dataclass(frozen=True)
class Check:
    """One gate on one metric, and whether it passed."""

    metric: str
    kind: CheckKind
    value: float
    limit: float
    passed: bool
    baseline: float | None = None

    @property
    def description(self) -> str:
        """A one-line statement of the check, e.g. ``rougeL 0.4120 >= 0.4000``."""
        if self.kind == "min":
            return f"{self.metric} {self.value:.4f} >= {self.limit:.4f}"
        if self.kind == "max":
            return f"{self.metric} {self.value:.4f} <= {self.limit:.4f}"
        assert self.baseline is not None
        delta = self.value - self.baseline
        return (
            f"{self.metric} {self.value:.4f} vs baseline {self.baseline:.4f} "
            f"({delta:+.4f}; allowed down to {self.limit:.4f})"
        )


@dataclass(frozen=True)
class GateReport:
    """All checks of one evaluation; ``passed`` when every check passed."""

    checks: tuple[Check, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def parse_thresholds(items: Iterable[str]) -> dict[str, float]:
    """Parse ``["rougeL=0.4", "bleu=0.2"]`` into a dict.

    Raises:
        ConfigError: an item is not ``name=number``.
    """
    out: dict[str, float] = {}
    for item in items:
        metric, sep, number = item.partition("=")
        try:
            if not sep or not metric.strip():
                raise ValueError
            out[metric.strip()] = float(number)
        except ValueError:
            raise ConfigError(f"threshold {item!r} is not NAME=NUMBER (e.g. rougeL=0.4)") from None
    return out


def _value(result: EvaluationResult, metric: str, what: str) -> float:
    if metric not in result.metrics:
        raise ConfigError(
            f"{what} names metric {metric!r}, which this evaluation did not compute "
            f"(computed: {', '.join(sorted(result.metrics))})"
        )
    return result.metrics[metric]


def _regressions(
    result: EvaluationResult,
    baseline: EvaluationResult,
    tolerance: float | Mapping[str, float],
    compare: Iterable[str] | None,
) -> list[Check]:
    if compare is None:
        names = [
            m for m, up in result.higher_is_better.items() if up is True and m in baseline.metrics
        ]
    else:
        names = list(compare)
    checks = []
    for metric in names:
        value = _value(result, metric, "compare")
        if metric not in baseline.metrics:
            raise ConfigError(f"the baseline has no metric {metric!r} to compare with")
        before = baseline.metrics[metric]
        allowed = tolerance.get(metric, 0.0) if isinstance(tolerance, Mapping) else tolerance
        up = result.higher_is_better.get(metric, True) is not False
        limit = before - allowed if up else before + allowed
        ok = not math.isnan(value) and (value >= limit if up else value <= limit)
        if math.isnan(before):
            ok = True
        checks.append(Check(metric, "regression", value, limit, ok, before))
    return checks


def check_gates(
    result: EvaluationResult,
    *,
    min: Mapping[str, float] | None = None,
    max: Mapping[str, float] | None = None,
    baseline: EvaluationResult | None = None,
    tolerance: float | Mapping[str, float] = 0.0,
    compare: Iterable[str] | None = None,
) -> GateReport:
    """Check an evaluation against thresholds and an optional baseline.

    Args:
        result: the evaluation to gate.
        min: metric -> lowest acceptable value.
        max: metric -> highest acceptable value.
        baseline: an earlier result; metrics that got worse by more than ``tolerance`` fail.
        tolerance: allowed drop (absolute), for all metrics or per metric.
        compare: metrics to compare with the baseline (default: all higher-is-better ones).

    Raises:
        ConfigError: a threshold names a metric the evaluation did not compute.

    Example:
        >>> from spyglass.evaluator import evaluate
        >>> r = evaluate(predictions=["a b"], targets=["a b"], metrics=["rouge1"])
        >>> check_gates(r, min={"rouge1": 0.5}).passed
        True
    """
    checks: list[Check] = []
    for metric, limit in (min or {}).items():
        value = _value(result, metric, "--min")
        checks.append(Check(metric, "min", value, limit, not math.isnan(value) and value >= limit))
    for metric, limit in (max or {}).items():
        value = _value(result, metric, "--max")
        checks.append(Check(metric, "max", value, limit, not math.isnan(value) and value <= limit))
    notes: list[str] = []
    if baseline is not None:
        checks += _regressions(result, baseline, tolerance, compare)
        theirs, ours = baseline.dataset.get("digest"), result.dataset.get("digest")
        if theirs and ours and theirs != ours:
            notes.append(
                f"the baseline ran on a different dataset ({theirs[:19]}… vs {ours[:19]}…)"
            )
    return GateReport(tuple(checks), tuple(notes))
