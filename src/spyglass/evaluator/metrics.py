"""Metrics: the protocol, the registry, and ``@metric`` for plain functions.

A metric turns a `Batch` (predictions, targets, inputs, model-call facts) into per-row columns,
aggregate numbers and a description of how they were computed. Built-ins (``bleu``, ``rouge``,
``rouge1``/``rouge2``/``rougeL``/``rougeLsum``, ``exact_match``, ``token_f1``, ``length``,
``latency``, ``token_usage``) register the same way as third-party metrics, which come from the
entry-point group ``spyglass.metrics`` or from ``@metric`` in your own code::

    @metric("mentions_paris")
    def mentions_paris(prediction: str) -> bool:
        return "paris" in prediction.lower()

A function may take any of ``prediction``, ``target`` (the first reference), ``targets`` (all
references) and ``inputs`` (the row's input columns), and returns a number, a bool, ``None``
(skipped in the mean) or a dict of numbers (one column per key, ``<name>_<key>``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Protocol, TypeVar, runtime_checkable

from spyglass.evaluator.errors import MetricError

__all__ = [
    "ENTRY_POINT_GROUP",
    "Batch",
    "ChunkMap",
    "Metric",
    "MetricResult",
    "RowMetric",
    "metric",
    "register_metric",
    "resolve_metric",
]

ENTRY_POINT_GROUP = "spyglass.metrics"
F = TypeVar("F", bound=Callable[..., Any])
# Runs fn(config, predictions, targets) over chunks, possibly in worker processes.
ChunkMap = Callable[
    [Callable[..., list[Any]], Any, Sequence[str], Sequence[Sequence[str]]], list[Any]
]


@dataclass(frozen=True)
class Usage:
    """Tokens a model call used, when the model reports them."""

    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class Batch:
    """Everything a metric may look at, one entry per row."""

    predictions: list[str]
    targets: list[list[str]] | None
    inputs: list[dict[str, Any]]
    latencies: list[float] | None = None
    usage: list[Usage] | None = None


@dataclass
class MetricResult:
    """Per-row columns, aggregates, their direction, and how they were computed."""

    columns: dict[str, list[Any]]
    aggregates: dict[str, float]
    info: dict[str, Any]
    higher_is_better: dict[str, bool | None] = field(default_factory=dict)


@runtime_checkable
class Metric(Protocol):
    """What the runner calls. ``compute`` must return one value per row in each column."""

    name: str
    needs_targets: bool

    def compute(self, batch: Batch, chunk_map: ChunkMap) -> MetricResult:
        """Score the batch; ``chunk_map`` may run picklable chunk functions in parallel."""
        ...


def mean(values: Sequence[float | None]) -> float:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else float("nan")


_PARAMETERS = ("prediction", "target", "targets", "inputs")


class RowMetric:
    """A plain function called once per row, its results averaged."""

    def __init__(
        self, name: str, fn: Callable[..., Any], *, higher_is_better: bool | None = True
    ) -> None:
        self.name = name
        self.fn = fn
        self.higher_is_better = higher_is_better
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        unknown = [p for p in params if p not in _PARAMETERS]
        if unknown or not params:
            raise MetricError(
                f"metric {name!r}: parameters must be among {', '.join(_PARAMETERS)}, "
                f"got ({', '.join(params)})"
            )
        self._params = tuple(params)
        self.needs_targets = "target" in params or "targets" in params

    def _call(self, batch: Batch, i: int) -> Any:
        kwargs: dict[str, Any] = {}
        for p in self._params:
            if p == "prediction":
                kwargs[p] = batch.predictions[i]
            elif p == "inputs":
                kwargs[p] = batch.inputs[i]
            elif batch.targets is not None:
                kwargs[p] = batch.targets[i][0] if p == "target" else batch.targets[i]
        try:
            return self.fn(**kwargs)
        except Exception as exc:  # a user's metric: report which row broke it
            raise MetricError(f"metric {self.name!r} failed on row {i}: {exc!r}") from exc

    def compute(self, batch: Batch, chunk_map: ChunkMap) -> MetricResult:  # noqa: ARG002
        values = [self._call(batch, i) for i in range(len(batch.predictions))]
        columns: dict[str, list[Any]] = {}
        if any(isinstance(v, dict) for v in values):
            keys = list(dict.fromkeys(k for v in values if isinstance(v, dict) for k in v))
            for key in keys:
                columns[f"{self.name}_{key}"] = [
                    _number(self.name, v.get(key) if isinstance(v, dict) else None, i)
                    for i, v in enumerate(values)
                ]
        else:
            columns[self.name] = [_number(self.name, v, i) for i, v in enumerate(values)]
        return MetricResult(
            columns=columns,
            aggregates={k: mean(v) for k, v in columns.items()},
            info={
                "implementation": f"{self.fn.__module__}.{self.fn.__qualname__}",
                "aggregate": "mean over rows (None skipped)",
            },
            higher_is_better=dict.fromkeys(columns, self.higher_is_better),
        )


def _number(name: str, value: Any, row: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return float(value)
    raise MetricError(
        f"metric {name!r} returned {type(value).__name__} {value!r:.60} on row {row}; "
        "return a number, a bool, None or a dict of numbers"
    )


MetricFactory = Callable[..., Metric]
_REGISTRY: dict[str, MetricFactory] = {}
_loaded_entry_points = False


def register_metric(name: str, factory: MetricFactory) -> None:
    """Register ``factory(**options) -> Metric`` under ``name`` (replacing any earlier one)."""
    _REGISTRY[name] = factory


def metric(name: str | None = None, *, higher_is_better: bool | None = True) -> Callable[[F], F]:
    """Register a plain function as a metric; the function itself is returned unchanged.

    Args:
        name: the metric's name and column; defaults to the function's name.
        higher_is_better: direction for baseline comparisons (``None``: never a regression).

    Example:
        >>> @metric("shouts")
        ... def shouts(prediction: str) -> bool:
        ...     return prediction.isupper()
    """

    def decorate(fn: F) -> F:
        metric_name = name or fn.__name__
        RowMetric(metric_name, fn)  # check the signature now, not at evaluation time
        register_metric(
            metric_name,
            lambda: RowMetric(metric_name, fn, higher_is_better=higher_is_better),
        )
        fn.__spyglass_metric__ = metric_name  # type: ignore[attr-defined]
        return fn

    return decorate


def _load_entry_points() -> None:
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY:
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin names itself, and the rest still load
            raise MetricError(
                f"metric plugin {ep.name!r} ({ep.value}) failed to load: {exc!r}"
            ) from exc
        if ep.name not in _REGISTRY:
            register_metric(ep.name, _factory_for(ep.name, obj))


def _factory_for(name: str, obj: Any) -> MetricFactory:
    if isinstance(obj, Metric):
        return lambda: obj
    if callable(obj):
        return lambda: RowMetric(name, obj)
    raise MetricError(f"metric plugin {name!r} is a {type(obj).__name__}, not a function")


def available_metrics() -> list[str]:
    """Names that `resolve_metric` accepts."""
    from spyglass.evaluator import builtin_metrics  # noqa: F401  (registers the built-ins)

    _load_entry_points()
    return sorted(_REGISTRY)


def resolve_metric(spec: str | Metric | Callable[..., Any], **options: Any) -> Metric:
    """Turn a name, a `Metric` or a function into a `Metric`.

    Raises:
        MetricError: unknown name (the message lists the known ones) or bad options.
    """
    if isinstance(spec, Metric):
        return spec
    if callable(spec):
        registered = getattr(spec, "__spyglass_metric__", None)
        if registered is None:
            return RowMetric(getattr(spec, "__name__", "metric"), spec)
        spec = registered
    names = available_metrics()
    factory = _REGISTRY.get(str(spec))
    if factory is None:
        raise MetricError(f"unknown metric {spec!r}; known metrics: {', '.join(names)}")
    try:
        return factory(**options)
    except TypeError as exc:
        raise MetricError(f"metric {spec!r}: bad options {options!r} ({exc})") from None
