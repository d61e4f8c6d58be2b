"""Spyglass's own tracking client: an HTTP client and a fluent API over MLflow's REST API.

Light on purpose (httpx and the standard library): safe to import inside a user's program.
"""

from __future__ import annotations

from spyglass.client._http import TrackingClient
from spyglass.client._registry import TrackingError
from spyglass.client.fluent import (
    ActiveRun,
    active_run,
    end_run,
    get_client,
    get_tracking_uri,
    log_artifact,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)

__all__ = [
    "ActiveRun",
    "TrackingClient",
    "TrackingError",
    "active_run",
    "end_run",
    "get_client",
    "get_tracking_uri",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
