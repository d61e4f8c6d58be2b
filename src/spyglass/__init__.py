"""Spyglass: open GenAI observability and evaluation.

`import spyglass` stays light: it never imports server-side packages (FastAPI, ClickHouse,
protobuf decoders), so it is safe inside a user's LLM app.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
