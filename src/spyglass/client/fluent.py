"""The fluent tracking API: one active run per process, like ``mlflow``'s module functions.

Example:
    >>> import spyglass.client as sg  # doctest: +SKIP
    >>> with sg.start_run(experiment="churn", run_name="rf-depth-3"):  # doctest: +SKIP
    ...     sg.log_param("depth", 3)
    ...     sg.log_metric("rmse", 0.71, step=1)

The server comes from `set_tracking_uri`, else ``SPYGLASS_TRACKING_URI``, else
``MLFLOW_TRACKING_URI``, else ``http://127.0.0.1:6006``. A run started here records its git
commit (and dirty state), Python version, entry point and installed packages by itself, and
the spans the Spyglass tracer starts meanwhile (in the same thread) carry its run id, so the run's
traces can be listed when the tracer's project is the run's experiment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from spyglass.client import _repro
from spyglass.client._http import TrackingClient

DEFAULT_URI = "http://127.0.0.1:6006"
SOURCE_RUN = "mlflow.sourceRun"  # the span attribute MLflow uses to tie traces to a run
_lock = threading.Lock()
_uri: str | None = None
_clients: dict[str, TrackingClient] = {}
_runs: list[ActiveRun] = []


def set_tracking_uri(uri: str) -> None:
    """Use the Spyglass server at ``uri`` for the fluent calls that follow."""
    global _uri
    _uri = uri.rstrip("/")


def get_tracking_uri() -> str:
    # Reading the environment here is the client's one configuration point.
    env = os.environ.get("SPYGLASS_TRACKING_URI") or os.environ.get("MLFLOW_TRACKING_URI")
    return _uri or (env.rstrip("/") if env else DEFAULT_URI)


def get_client() -> TrackingClient:
    """The shared client for the current tracking URI."""
    uri = get_tracking_uri()
    with _lock:
        client = _clients.get(uri)
        if client is None:
            client = _clients[uri] = TrackingClient(uri)
        return client


class ActiveRun:
    """A started run; as a context manager it ends the run FINISHED, or FAILED on an exception."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.run = run
        self.run_id: str = run["info"]["run_id"]
        self.experiment_id: str = run["info"]["experiment_id"]
        self.unstamp = _stamp_traces(self.run_id)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        end_run("FAILED" if exc_type else "FINISHED")


def _stamp_traces(run_id: str) -> Callable[[], None]:
    """Spans the Spyglass tracer starts in this context while the run is active carry
    ``mlflow.sourceRun``, which is how the server lists a run's traces. Returns the undo."""
    from spyglass.tracer._setup import TraceContext, context_values

    outer = context_values.get()
    base = outer or TraceContext()
    stamped = replace(base, metadata=(*base.metadata, (SOURCE_RUN, run_id)))
    token = context_values.set(stamped)

    def undo() -> None:
        try:
            context_values.reset(token)
        except ValueError:  # ended from another thread or context: restore what was there
            context_values.set(outer)

    return undo


def start_run(
    experiment: str | None = None,
    run_name: str = "",
    tags: Mapping[str, Any] | None = None,
    capture_environment: bool = True,
) -> ActiveRun:
    """Start a run in ``experiment`` (a project name; created if missing) and make it active.

    Args:
        experiment: experiment (= project) name; default ``SPYGLASS_PROJECT`` or ``default``.
        run_name: shown in lists; the server picks one when empty.
        tags: extra run tags.
        capture_environment: record git commit/dirty, Python, entry point and packages.

    Raises:
        TrackingError: the server refused (for example, a deleted experiment).
    """
    client = get_client()
    name = experiment or os.environ.get("SPYGLASS_PROJECT") or "default"
    experiment_id = client.get_or_create_experiment(name)
    env_tags, requirements = _repro.capture() if capture_environment else ({}, "")
    run = ActiveRun(client.create_run(experiment_id, run_name, {**env_tags, **(tags or {})}))
    if requirements:
        client.put_artifact(run.run_id, _repro.PACKAGES_ARTIFACT, requirements.encode())
    with _lock:
        _runs.append(run)
    return run


def active_run() -> ActiveRun | None:
    """The innermost run started by `start_run` and not ended yet."""
    with _lock:
        return _runs[-1] if _runs else None


def _run_id() -> str:
    run = active_run()
    if run is None:
        raise RuntimeError("no active run: call spyglass.client.start_run() first")
    return run.run_id


def end_run(status: str = "FINISHED") -> None:
    """End the active run with ``status`` (FINISHED, FAILED or KILLED); no-op without one."""
    with _lock:
        run = _runs.pop() if _runs else None
    if run is not None:
        run.unstamp()
        get_client().end_run(run.run_id, status)


def log_param(key: str, value: Any) -> None:
    get_client().log_param(_run_id(), key, value)


def log_params(params: Mapping[str, Any]) -> None:
    get_client().log_batch(_run_id(), params=params)


def log_metric(key: str, value: float, step: int = 0) -> None:
    get_client().log_metric(_run_id(), key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int = 0) -> None:
    points = [{"key": k, "value": v, "step": step} for k, v in metrics.items()]
    get_client().log_batch(_run_id(), metrics=points)


def set_tag(key: str, value: Any) -> None:
    get_client().set_tag(_run_id(), key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    get_client().log_batch(_run_id(), tags=tags)


def log_artifact(local_path: str | Path, artifact_path: str = "") -> str:
    """Upload a file into the active run's artifacts; return its path there."""
    return get_client().log_artifact(_run_id(), local_path, artifact_path)
