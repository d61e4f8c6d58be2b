"""Spyglass: open GenAI observability and evaluation.

`import spyglass` stays light: it never imports server-side packages (FastAPI, ClickHouse,
protobuf decoders), so it is safe inside a user's LLM app. The tracer API (`autolog`,
`trace`, `start_span`, ...) is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public names served lazily from spyglass.tracer, so `import spyglass` loads no OTel SDK.
_TRACER_NAMES = frozenset(
    {
        "SpyglassSpan",
        "autolog",
        "configure",
        "context",
        "disable",
        "flush",
        "shutdown",
        "start_span",
        "trace",
    }
)

# Served lazily from spyglass.evaluator (which itself loads pandas/nltk only when scoring).
_EVALUATOR_NAMES = frozenset({"evaluate"})

# Served lazily from spyglass.client (experiment tracking over the MLflow-compatible API).
_CLIENT_NAMES = frozenset(
    {
        "TrackingClient",
        "active_run",
        "end_run",
        "log_artifact",
        "log_metric",
        "log_metrics",
        "log_param",
        "log_params",
        "set_tag",
        "set_tags",
        "set_tracking_uri",
        "start_run",
    }
)

if TYPE_CHECKING:
    from spyglass.client import (
        TrackingClient as TrackingClient,
    )
    from spyglass.client import (
        active_run as active_run,
    )
    from spyglass.client import (
        end_run as end_run,
    )
    from spyglass.client import (
        log_artifact as log_artifact,
    )
    from spyglass.client import (
        log_metric as log_metric,
    )
    from spyglass.client import (
        log_metrics as log_metrics,
    )
    from spyglass.client import (
        log_param as log_param,
    )
    from spyglass.client import (
        log_params as log_params,
    )
    from spyglass.client import (
        set_tag as set_tag,
    )
    from spyglass.client import (
        set_tags as set_tags,
    )
    from spyglass.client import (
        set_tracking_uri as set_tracking_uri,
    )
    from spyglass.client import (
        start_run as start_run,
    )
    from spyglass.evaluator import evaluate as evaluate
    from spyglass.tracer import (
        SpyglassSpan as SpyglassSpan,
    )
    from spyglass.tracer import (
        autolog as autolog,
    )
    from spyglass.tracer import (
        configure as configure,
    )
    from spyglass.tracer import (
        context as context,
    )
    from spyglass.tracer import (
        disable as disable,
    )
    from spyglass.tracer import (
        flush as flush,
    )
    from spyglass.tracer import (
        shutdown as shutdown,
    )
    from spyglass.tracer import (
        start_span as start_span,
    )
    from spyglass.tracer import (
        trace as trace,
    )

__all__ = ["__version__", *sorted(_TRACER_NAMES | _EVALUATOR_NAMES | _CLIENT_NAMES)]


def __getattr__(name: str) -> Any:
    if name in _TRACER_NAMES:
        from spyglass import tracer

        return getattr(tracer, name)
    if name in _EVALUATOR_NAMES:
        from spyglass import evaluator

        return getattr(evaluator, name)
    if name in _CLIENT_NAMES:
        from spyglass import client

        return getattr(client, name)
    raise AttributeError(f"module 'spyglass' has no attribute {name!r}")
