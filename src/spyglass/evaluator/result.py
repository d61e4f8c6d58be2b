"""The result of an evaluation: aggregate metrics, the per-row table, and how it was made.

`EvaluationResult.to_dict` is plain JSON (no NaN: missing numbers are ``null``), so a result can
be saved as a CI baseline, compared later (`spyglass.evaluator.gate`), or logged to a run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spyglass.errors import ConfigError

__all__ = ["RESULTS_TABLE", "EvaluationResult"]

RESULTS_TABLE = "eval_results_table"
FORMAT = "spyglass.evaluation/1"


def _json_number(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


@dataclass
class EvaluationResult:
    """What `spyglass.evaluate` returns.

    Attributes:
        metrics: aggregate numbers by name (``rougeL``, ``bleu_corpus``, ``latency_p95_s``…).
        rows: one dict per example: inputs, ``prediction``, ``target``, every per-row score.
        metric_info: for each metric, how it was computed (tokenizer, smoothing, stemming,
            library versions) so the numbers can be reproduced.
        higher_is_better: direction of each aggregate; ``None`` means neither.
        dataset: name, source, ``digest`` (SHA-256), rows and columns of the data.
        model: what was called (kind, name, endpoint, parameters), or ``None``.
        run_id: the evaluation's run on a Spyglass server, once logged (see
            `spyglass.evaluator.tracking`); ``experiment_id`` and ``tracking_uri`` with it.
    """

    metrics: dict[str, float]
    rows: list[dict[str, Any]]
    metric_info: dict[str, dict[str, Any]]
    higher_is_better: dict[str, bool | None]
    dataset: dict[str, Any]
    model: dict[str, Any] | None = None
    model_type: str | None = None
    name: str = "evaluation"
    created_at: str = ""
    duration_s: float = 0.0
    environment: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    experiment_id: str | None = None
    tracking_uri: str | None = None

    @property
    def tables(self) -> dict[str, Any]:
        """``{"eval_results_table": pandas.DataFrame}``, one row per example (needs pandas)."""
        import pandas as pd

        return {RESULTS_TABLE: pd.DataFrame(self.rows)}

    def to_dict(self, *, include_rows: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; `from_dict` reads it back."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "name": self.name,
            "created_at": self.created_at,
            "duration_s": self.duration_s,
            "model_type": self.model_type,
            "model": self.model,
            "dataset": self.dataset,
            "metrics": {k: _json_number(v) for k, v in self.metrics.items()},
            "higher_is_better": self.higher_is_better,
            "metric_info": self.metric_info,
            "environment": self.environment,
        }
        if self.run_id:
            out["run"] = {
                "run_id": self.run_id,
                "experiment_id": self.experiment_id,
                "tracking_uri": self.tracking_uri,
            }
        if include_rows:
            out["rows"] = [
                {k: _json_number(v) if isinstance(v, float) else v for k, v in row.items()}
                for row in self.rows
            ]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        """Rebuild a result from `to_dict` output.

        Raises:
            ConfigError: the dict is not a Spyglass evaluation result.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"not a Spyglass evaluation result (expected format {FORMAT!r})")
        metrics = data.get("metrics") or {}
        run = data.get("run") or {}
        return cls(
            metrics={k: float("nan") if v is None else float(v) for k, v in metrics.items()},
            rows=list(data.get("rows") or []),
            metric_info=dict(data.get("metric_info") or {}),
            higher_is_better=dict(data.get("higher_is_better") or {}),
            dataset=dict(data.get("dataset") or {}),
            model=data.get("model"),
            model_type=data.get("model_type"),
            name=str(data.get("name", "evaluation")),
            created_at=str(data.get("created_at", "")),
            duration_s=float(data.get("duration_s") or 0.0),
            environment=dict(data.get("environment") or {}),
            run_id=run.get("run_id"),
            experiment_id=run.get("experiment_id"),
            tracking_uri=run.get("tracking_uri"),
        )

    def save(self, path: str | Path, *, include_rows: bool = True) -> None:
        """Write the result as JSON (usable later as ``--baseline``)."""
        Path(path).write_text(
            json.dumps(self.to_dict(include_rows=include_rows), indent=2, ensure_ascii=False)
            + "\n",
            encoding="utf-8",
        )

    @classmethod
    def load(cls, path: str | Path) -> EvaluationResult:
        """Read a result saved by `save`.

        Raises:
            ConfigError: the file is missing, not JSON, or not a result.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"result file {path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read result file {path}: {exc}") from None
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
