"""Experiment tracking and the model registry, speaking MLflow's REST API.

The server side lives in `spyglass.tracking.server` (FastAPI routes) over the ClickHouse stores in
``spyglass.store.tracking_*``; this package's root imports nothing heavy.
"""

from __future__ import annotations

from spyglass.tracking.errors import MlflowError

__all__ = ["MlflowError"]
