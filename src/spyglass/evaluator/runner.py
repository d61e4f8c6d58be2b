"""`evaluate`: run a model (or take predictions), score them, and return an `EvaluationResult`."""

from __future__ import annotations

import datetime as dt
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

from spyglass.errors import ConfigError
from spyglass.evaluator._pool import ChunkRunner, default_workers
from spyglass.evaluator._tracing import RowTracer
from spyglass.evaluator.datasets import Dataset, DatasetInput, check_text, load_dataset
from spyglass.evaluator.errors import DatasetError, MetricError
from spyglass.evaluator.metrics import Batch, Metric, Usage, resolve_metric
from spyglass.evaluator.models import ModelInput, as_model, predict_all
from spyglass.evaluator.result import EvaluationResult
from spyglass.evaluator.tracking import LogTarget, log_result

__all__ = ["MODEL_TYPES", "evaluate"]

MetricSpec = str | Metric | Callable[..., Any]

# Metrics used when ``metrics=`` is not given.
MODEL_TYPES: dict[str, tuple[str, ...]] = {
    "question-answering": ("exact_match", "token_f1", "length"),
    "text-summarization": ("rouge", "length"),
    "translation": ("bleu", "length"),
    "text": ("bleu", "rouge", "length"),
}
_ALL_TEXT = ("bleu", "rouge", "exact_match", "token_f1", "length")
TRACE_ID = "trace_id"  # a row's trace: never a model input


def _column_or_values(
    dataset: Dataset, spec: str | Sequence[Any], role: str, *, allow_lists: bool
) -> tuple[list[Any], str | None]:
    if isinstance(spec, str):
        return dataset.text_column(spec, role, allow_lists=allow_lists), spec
    values = list(spec)
    if len(values) != len(dataset):
        raise DatasetError(
            f"{role}: got {len(values)} values for {len(dataset)} dataset rows; lengths must match"
        )
    return [
        check_text(v, f"{role}[{i}]", allow_lists=allow_lists) for i, v in enumerate(values)
    ], None


def _dataset(
    data: DatasetInput | None, predictions: Any, targets: Any, name: str | None
) -> Dataset:
    if data is not None:
        return load_dataset(data, name=name)
    if isinstance(predictions, str) or predictions is None:
        raise ConfigError("pass data=, or predictions= (and targets=) as lists of text")
    rows: list[dict[str, Any]] = [{"prediction": p} for p in predictions]
    if targets is not None and not isinstance(targets, str):
        targets = list(targets)
        if len(targets) != len(rows):
            raise DatasetError(
                f"got {len(rows)} predictions but {len(targets)} targets; lengths must match"
            )
        rows = [{**r, "target": t} for r, t in zip(rows, targets, strict=True)]
    return load_dataset(rows, name=name or "inline")


def _metrics(
    specs: Sequence[MetricSpec] | None,
    model_type: str | None,
    has_targets: bool,
    options: dict[str, dict[str, Any]],
) -> list[Metric]:
    if model_type is not None and model_type not in MODEL_TYPES:
        raise ConfigError(f"unknown model_type {model_type!r}; use one of {', '.join(MODEL_TYPES)}")
    if specs is None:
        if model_type is not None:
            specs = list(MODEL_TYPES[model_type])
        else:
            specs = list(_ALL_TEXT if has_targets else ("length",))
    unknown_options = set(options) - {s for s in specs if isinstance(s, str)}
    if unknown_options:
        raise ConfigError(
            f"options given for metrics not evaluated: {', '.join(sorted(unknown_options))}"
        )
    metrics = [
        resolve_metric(s, **options.get(s, {})) if isinstance(s, str) else resolve_metric(s)
        for s in specs
    ]
    names = [m.name for m in metrics]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise MetricError(f"metric(s) listed twice: {', '.join(sorted(duplicates))}")
    return metrics


def _link_traces(
    rows: list[dict[str, Any]], dataset: Dataset, trace_ids: list[str | None] | None
) -> None:
    """Put each row's trace id in ``trace_id``: the traced model call's, else the dataset's.

    When a model was traced, a dataset's own ``trace_id`` (rows made from stored traces) is
    kept as ``source_trace_id``.
    """
    source = [r.get(TRACE_ID) for r in dataset.records] if TRACE_ID in dataset.columns else None
    for i, row in enumerate(rows):
        if trace_ids is not None:
            row[TRACE_ID] = trace_ids[i]
            if source is not None:
                row["source_trace_id"] = source[i]
        elif source is not None:
            row[TRACE_ID] = source[i]


def _environment() -> dict[str, Any]:
    from spyglass import __version__

    return {
        "spyglass": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def evaluate(
    data: DatasetInput | None = None,
    *,
    model: Any = None,
    predictions: str | Sequence[str] | None = None,
    targets: str | Sequence[str | Sequence[str]] | None = None,
    model_type: str | None = None,
    metrics: Sequence[MetricSpec] | None = None,
    metric_options: dict[str, dict[str, Any]] | None = None,
    input_columns: Sequence[str] | None = None,
    name: str = "evaluation",
    dataset_name: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    system_prompt: str | None = None,
    prompt_template: str | None = None,
    model_params: dict[str, Any] | None = None,
    concurrency: int = 4,
    workers: int | None = None,
    progress: bool | None = None,
    trace: bool | None = None,
    log_to: LogTarget = None,
    experiment: str | None = None,
    run_name: str | None = None,
) -> EvaluationResult:
    """Evaluate a model, or ready-made predictions, over a dataset.

    Args:
        data: rows: a ``.jsonl``/``.json``/``.csv`` path, a pandas DataFrame or a list of dicts.
        model: a function ``f(input) -> text``, an OpenAI-compatible chat model name, or an
            object with ``.invoke`` (LangChain). The input is the row's one input column, or a
            dict of its input columns.
        predictions: instead of a model, a column name in ``data`` or a list of texts.
        targets: a column name (text, or a list of texts for several references) or a list.
        model_type: picks default metrics: ``question-answering``, ``text-summarization``,
            ``translation`` or ``text``.
        metrics: names (``"bleu"``, ``"rougeL"``…), `Metric` objects or plain functions;
            replaces the model type's defaults. ``latency`` and ``token_usage`` are added
            whenever a model is called.
        metric_options: options per metric name, e.g. ``{"bleu": {"smoothing": "method3"}}``.
        input_columns: columns passed to the model (default: all but targets/predictions).
        name: a name for the evaluation in reports.
        dataset_name: a name for the data (default: the file name).
        base_url: the chat endpoint (default ``OPENAI_BASE_URL``, else OpenAI).
        api_key: the key (default ``OPENAI_API_KEY``).
        system_prompt: a system message for chat models.
        prompt_template: ``str.format`` template over the input columns (``{input}`` for one).
        model_params: extra request fields for chat models (``temperature`` defaults to 0).
        concurrency: model calls in flight at once.
        workers: processes for BLEU/ROUGE (default: one per core from 2,000 rows).
        progress: draw progress bars on stderr (default: only when stderr is a terminal).
        trace: run each model call in a trace of its own and record its id in the
            ``trace_id`` column. Default: when the Spyglass tracer is set up before the call
            (``spyglass.configure()`` or ``spyglass.autolog()``). ``True`` sets it up from
            the environment if needed. ``False``: never.
        log_to: store the evaluation on a Spyglass server as a run (see
            `spyglass.evaluator.tracking`): a server URL, a ``TrackingClient``, or ``True``
            for the tracking URI (``spyglass.set_tracking_uri``, ``SPYGLASS_TRACKING_URI``).
            Default: only inside an active ``spyglass.start_run()``, as its child run.
            ``False``: never.
        experiment: the experiment to log into (default: the active run's, else ``default``).
        run_name: the run's name (default: ``name``).

    Returns:
        The result: ``.metrics``, ``.tables["eval_results_table"]``, ``.to_dict()``, and
        ``.run_id`` once logged.

    Raises:
        DatasetError: empty data, a missing column, non-text values, or mismatched lengths.
        ModelCallError: the model failed on a row.
        MetricError: an unknown or failing metric.
        ConfigError: conflicting or unknown arguments.
        ServerError: ``log_to`` was given and the server was unreachable or refused.

    Example:
        >>> result = evaluate(predictions=["Paris"], targets=["Paris"], metrics=["exact_match"])
        >>> result.metrics["exact_match"]
        1.0
    """
    started = time.perf_counter()
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    if (model is None) == (predictions is None):
        raise ConfigError("pass exactly one of model= and predictions=")
    dataset = _dataset(data, predictions, targets, dataset_name)
    if data is None:  # built from lists above
        predictions = "prediction"
        targets = "target" if targets is not None else None

    target_values, target_column = (
        _column_or_values(dataset, targets, "targets", allow_lists=True)
        if targets is not None
        else (None, None)
    )
    used = {c for c in (target_column,) if c}
    prediction_values: list[str] | None = None
    if predictions is not None:
        prediction_values, prediction_column = _column_or_values(
            dataset, predictions, "predictions", allow_lists=False
        )
        used.add(prediction_column or "")
    columns = (
        list(input_columns)
        if input_columns is not None
        else [c for c in dataset.columns if c not in used and c != TRACE_ID]
    )
    for column in columns:
        if column not in dataset.columns:
            raise DatasetError(
                f"dataset {dataset.name!r} has no input column {column!r} "
                f"(columns: {', '.join(dataset.columns)})"
            )
    inputs = [{c: r.get(c) for c in columns} for r in dataset.records]

    metric_list = _metrics(
        metrics, model_type, target_values is not None, dict(metric_options or {})
    )
    for m in metric_list:
        if m.needs_targets and target_values is None:
            raise ConfigError(f"metric {m.name!r} compares with targets; pass targets=")

    latencies: list[float] | None = None
    usage: list[Usage] | None = None
    model_info: dict[str, Any] | None = None
    trace_ids: list[str | None] | None = None
    if model is not None:
        if not columns:
            raise DatasetError(f"dataset {dataset.name!r} has no input columns for the model")
        model_inputs: list[ModelInput] = [
            check_text(row[columns[0]], f"dataset {dataset.name!r} row {i}, column {columns[0]!r}")
            if len(columns) == 1
            else row
            for i, row in enumerate(inputs)
        ]
        adapter = as_model(
            model,
            base_url=base_url,
            api_key=api_key,
            system_prompt=system_prompt,
            prompt_template=prompt_template,
            model_params=model_params,
            # a registered model comes from the server the evaluation is logged to
            registry_uri=log_to if isinstance(log_to, str) else getattr(log_to, "url", None),
        )
        model_info = adapter.describe()
        tracer = (
            RowTracer(name, inputs, dataset.digest, force=trace is True)
            if trace is not False
            else None
        )
        try:
            outputs = predict_all(
                adapter, model_inputs, concurrency=concurrency, progress=progress, tracer=tracer
            )
        finally:
            adapter.close()
        if tracer is not None and tracer.any_traced:
            trace_ids = tracer.trace_ids
            tracer.flush()
        prediction_values = [o.text for o, _ in outputs]
        latencies = [s for _, s in outputs]
        usage = [Usage(o.input_tokens, o.output_tokens) for o, _ in outputs]
        have = {m.name for m in metric_list}
        metric_list += [resolve_metric(n) for n in ("latency", "token_usage") if n not in have]
    assert prediction_values is not None

    targets_lists = (
        None
        if target_values is None
        else [t if isinstance(t, list) else [t] for t in target_values]
    )
    batch = Batch(prediction_values, targets_lists, inputs, latencies, usage)
    rows: list[dict[str, Any]] = [
        {**inputs[i], "prediction": prediction_values[i]} for i in range(len(dataset))
    ]
    if target_values is not None:
        for row, target in zip(rows, target_values, strict=True):
            row["target"] = target
    _link_traces(rows, dataset, trace_ids)
    aggregates: dict[str, float] = {}
    directions: dict[str, bool | None] = {}
    info: dict[str, dict[str, Any]] = {}
    n_workers = workers if workers is not None else default_workers(len(dataset))
    with ChunkRunner(n_workers, progress=progress) as chunk_map:
        for m in metric_list:
            out = m.compute(batch, chunk_map)
            for column, values in out.columns.items():
                if len(values) != len(rows):
                    raise MetricError(
                        f"metric {m.name!r} gave {len(values)} values for {len(rows)} rows"
                    )
                for row, value in zip(rows, values, strict=True):
                    row[column] = value
            aggregates.update(out.aggregates)
            directions.update(out.higher_is_better)
            info[m.name] = {
                **out.info,
                "columns": list(out.columns),
                "aggregates": list(out.aggregates),
            }
    result = EvaluationResult(
        metrics=aggregates,
        rows=rows,
        metric_info=info,
        higher_is_better=directions,
        dataset=dataset.info(),
        model=model_info,
        model_type=model_type,
        name=name,
        created_at=created,
        duration_s=time.perf_counter() - started,
        environment=_environment(),
    )
    log_result(result, log_to, dataset=dataset, experiment=experiment, run_name=run_name)
    return result
