"""Evaluations stored on a Spyglass server, and read back as baselines.

An evaluation is an MLflow run (the web UI's evaluation views and any MLflow client read it):

- tags ``spyglass.evaluation`` = ``true``, ``spyglass.dataset.name``, ``spyglass.dataset.digest``
  (the SHA-256 fingerprint), ``spyglass.model`` (what produced the predictions), plus
  ``spyglass.evaluation.name`` and, inside an active run, ``mlflow.parentRunId``;
- metrics: the aggregates, named as in ``result.metrics`` (NaN values are left out);
- params: how each metric was computed, ``<metric>.<setting>`` (tokenizer, smoothing,
  stemming, library versions…), and ``eval/config.json`` with the full details;
- artifacts ``eval/eval_results_table.json`` (the per-row table in pandas "split" orientation:
  ``{"columns": [...], "data": [[...], ...]}``; a ``trace_id`` column holds each traced
  model call's trace id) and ``eval/dataset.jsonl`` (the rows, serialized exactly as
  fingerprinted, so the file's SHA-256 is the digest);
- the dataset as a run input (``runs/log-inputs``: name, digest, source_type, source, schema,
  profile). Versions of a dataset are its different digests under one name.

Example:
    >>> result = spyglass.evaluate(data="qa.jsonl", model=answer, targets="answer",
    ...                            log_to="http://127.0.0.1:6006", experiment="qa")
    >>> result.run_id  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from spyglass.client import TrackingClient
from spyglass.errors import ConfigError
from spyglass.evaluator.errors import ServerError
from spyglass.evaluator.result import EvaluationResult

if TYPE_CHECKING:
    from spyglass.evaluator.datasets import Dataset

LogTarget = str | TrackingClient | bool | None
"""Where `spyglass.evaluate` logs: a server URL, a client, ``True`` (the tracking URI),
``None`` (only inside an active run) or ``False`` (never)."""

__all__ = [
    "CONFIG_ARTIFACT",
    "LogTarget",
    "DATASET_ARTIFACT",
    "TABLE_ARTIFACT",
    "TAG_DATASET_DIGEST",
    "TAG_DATASET_NAME",
    "TAG_EVALUATION",
    "TAG_MODEL",
    "describe_model",
    "find_latest_evaluation",
    "load_evaluation",
    "log_evaluation",
    "log_result",
    "results_table",
]

TAG_EVALUATION = "spyglass.evaluation"
TAG_DATASET_NAME = "spyglass.dataset.name"
TAG_DATASET_DIGEST = "spyglass.dataset.digest"
TAG_MODEL = "spyglass.model"
TAG_EVALUATION_NAME = "spyglass.evaluation.name"
TAG_PARENT_RUN = "mlflow.parentRunId"
CONFIG_ARTIFACT = "eval/config.json"
TABLE_ARTIFACT = "eval/eval_results_table.json"
DATASET_ARTIFACT = "eval/dataset.jsonl"
_PARAM_MAX = 6000  # MLflow's limit on a param value


@contextmanager
def _server_errors(url: str, what: str) -> Iterator[None]:
    """Turn transport and server errors into `ServerError` naming the server and the step."""
    import httpx

    from spyglass.client import TrackingError

    try:
        yield
    except TrackingError as exc:
        raise ServerError(f"the Spyglass server at {url} refused to {what}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise ServerError(f"cannot reach the Spyglass server at {url} to {what}: {exc}") from exc


def describe_model(result: EvaluationResult) -> str:
    """What produced the predictions, in one line (the ``spyglass.model`` tag)."""
    model = result.model
    if not model:
        return "predictions"
    kind, name = model.get("kind", "model"), model.get("name", "")
    if model.get("base_url"):
        return f"{kind}:{name} @ {model['base_url']}"
    return f"{kind}:{name}"


def _number(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def results_table(result: EvaluationResult) -> dict[str, Any]:
    """The per-row table in pandas "split" orientation (columns in first-seen order)."""
    columns: dict[str, None] = {}
    for row in result.rows:
        columns.update(dict.fromkeys(row))
    names = list(columns)
    return {"columns": names, "data": [[_number(row.get(c)) for c in names] for row in result.rows]}


def _params(result: EvaluationResult) -> dict[str, str]:
    params: dict[str, str] = {}
    for metric, info in result.metric_info.items():
        for key, value in info.items():
            if key in ("columns", "aggregates") or isinstance(value, dict):
                continue
            text = json.dumps(value) if isinstance(value, list | tuple) else str(value)
            params[f"{metric}.{key}"] = text[:_PARAM_MAX]
    if result.model_type:
        params["model_type"] = result.model_type
    return params


def _config(result: EvaluationResult) -> dict[str, Any]:
    data = result.to_dict(include_rows=False)
    data.pop("run", None)
    return data


def _dataset_lines(dataset: Dataset) -> bytes:
    from spyglass.evaluator.datasets import canonical_lines

    return b"".join(canonical_lines(dataset.records))


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str).encode()


def log_evaluation(
    result: EvaluationResult,
    client: TrackingClient,
    *,
    experiment: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    parent_run_id: str | None = None,
    dataset: Dataset | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Store ``result`` on the server as an evaluation run; return the run id.

    Also sets ``result.run_id``, ``result.experiment_id`` and ``result.tracking_uri``.

    Args:
        result: what `spyglass.evaluate` returned.
        client: a `spyglass.client.TrackingClient` for the server.
        experiment: experiment name (created if missing); default ``default``, or the parent
            run's experiment.
        experiment_id: an experiment id instead of a name.
        run_name: shown in run lists; default the evaluation's name.
        parent_run_id: nest the evaluation under this run (``mlflow.parentRunId``).
        dataset: the rows, stored as ``eval/dataset.jsonl``; without it only their digest.
        tags: extra run tags.

    Raises:
        ServerError: the server is unreachable or refused a request; a run created before
            the failure is marked FAILED.
    """
    from spyglass.client import _repro

    url = client.url
    with _server_errors(url, "create the evaluation run"):
        if experiment_id is None:
            if experiment is None and parent_run_id:
                experiment_id = str(client.get_run(parent_run_id)["info"]["experiment_id"])
            else:
                experiment_id = client.get_or_create_experiment(experiment or "default")
        env_tags, _requirements = _repro.capture()
        run_tags = {
            **env_tags,
            TAG_EVALUATION: "true",
            TAG_EVALUATION_NAME: result.name,
            TAG_DATASET_NAME: str(result.dataset.get("name", "")),
            TAG_DATASET_DIGEST: str(result.dataset.get("digest", "")),
            TAG_MODEL: describe_model(result),
            **({TAG_PARENT_RUN: parent_run_id} if parent_run_id else {}),
            **(tags or {}),
        }
        run = client.create_run(experiment_id, run_name or result.name, run_tags)
    run_id = str(run["info"]["run_id"])
    try:
        with _server_errors(url, f"store evaluation run {run_id}"):
            metrics = [
                {"key": k, "value": v} for k, v in result.metrics.items() if math.isfinite(v)
            ]
            client.log_batch(run_id, metrics=metrics, params=_params(result))
            info = result.dataset
            client.log_input(
                run_id,
                str(info.get("name", "")),
                str(info.get("digest", "")),
                str(info.get("source", "")),
                "evaluation",
                source_type=str(info.get("source_type") or "local"),
                schema=json.dumps({"columns": info.get("columns", [])}),
                profile=json.dumps({"num_rows": info.get("rows", 0)}),
            )
            client.put_artifact(run_id, CONFIG_ARTIFACT, _json_bytes(_config(result)))
            client.put_artifact(run_id, TABLE_ARTIFACT, _json_bytes(results_table(result)))
            if dataset is not None:
                client.put_artifact(run_id, DATASET_ARTIFACT, _dataset_lines(dataset))
            client.end_run(run_id, "FINISHED")
    except BaseException:
        try:
            client.end_run(run_id, "FAILED")
        except Exception:  # the first error is the one to report
            pass
        raise
    result.run_id, result.experiment_id, result.tracking_uri = run_id, experiment_id, url
    return run_id


def load_evaluation(
    client: TrackingClient, run_id: str, *, include_rows: bool = False
) -> EvaluationResult:
    """Read an evaluation run back (as a baseline, or to report on it again).

    Raises:
        ConfigError: the run is not a Spyglass evaluation.
        ServerError: the server is unreachable or does not know the run.
    """
    with _server_errors(client.url, f"read evaluation run {run_id}"):
        run = client.get_run(run_id)
        tags = {t["key"]: t.get("value", "") for t in run.get("data", {}).get("tags", [])}
        if tags.get(TAG_EVALUATION) != "true":
            raise ConfigError(f"run {run_id} is not a Spyglass evaluation (no {TAG_EVALUATION})")
        config = json.loads(client.download_artifact(run_id, CONFIG_ARTIFACT))
        table = (
            json.loads(client.download_artifact(run_id, TABLE_ARTIFACT)) if include_rows else None
        )
    config["metrics"] = {m["key"]: m["value"] for m in run.get("data", {}).get("metrics", [])}
    if table is not None:
        columns = table["columns"]
        config["rows"] = [dict(zip(columns, row, strict=True)) for row in table["data"]]
    result = EvaluationResult.from_dict(config)
    result.run_id = run_id
    result.experiment_id = str(run["info"]["experiment_id"])
    result.tracking_uri = client.url
    return result


def find_latest_evaluation(
    client: TrackingClient, experiment: str, *, dataset_name: str | None = None
) -> str | None:
    """The id of the newest FINISHED evaluation in ``experiment`` (on ``dataset_name``)."""
    with _server_errors(client.url, f"search evaluations in experiment {experiment!r}"):
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return None
        query = f"tags.`{TAG_EVALUATION}` = 'true' and attributes.status = 'FINISHED'"
        if dataset_name:
            escaped = dataset_name.replace("'", "\\'")
            query += f" and tags.`{TAG_DATASET_NAME}` = '{escaped}'"
        runs, _ = client.search_runs(
            [str(found["experiment_id"])], query, ["attributes.start_time DESC"], max_results=1
        )
    return str(runs[0]["info"]["run_id"]) if runs else None


def log_result(
    result: EvaluationResult,
    log_to: LogTarget,
    *,
    dataset: Dataset | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
) -> str | None:
    """Log ``result`` where ``log_to`` says (see `LogTarget`); the run id, or None if not logged.

    Inside an active ``spyglass.start_run()`` on the same server, the evaluation becomes a
    child run of it, in its experiment unless ``experiment`` names another.

    Raises:
        ConfigError: ``log_to`` is of an unusable type.
        ServerError: the server is unreachable or refused.
    """
    if log_to is False:
        return None
    from spyglass.client import fluent

    active = fluent.active_run()
    owned: TrackingClient | None = None
    if log_to is None or log_to is True:
        if log_to is None and active is None:
            return None
        client = fluent.get_client()
    elif isinstance(log_to, str):
        client = owned = TrackingClient(log_to)
    elif isinstance(log_to, TrackingClient):
        client = log_to
    else:
        raise ConfigError(
            f"log_to must be a server URL, a TrackingClient, True or False, not "
            f"{type(log_to).__name__}"
        )
    parent = active if active is not None and client.url == fluent.get_tracking_uri() else None
    try:
        return log_evaluation(
            result,
            client,
            experiment=experiment,
            experiment_id=parent.experiment_id if parent and experiment is None else None,
            run_name=run_name,
            parent_run_id=parent.run_id if parent else None,
            dataset=dataset,
        )
    finally:
        if owned is not None:
            owned.close()
