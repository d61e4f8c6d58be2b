"""The Spyglass tracer: OpenTelemetry spans for LLM apps, exported without loss.

Runs inside users' apps: it imports OpenTelemetry, httpx and the standard library only, and
frameworks only when their integration is enabled.

Example:
    >>> import spyglass
    >>> spyglass.configure(project="support-bot")   # optional: env vars work too
    >>> spyglass.autolog()                           # OpenAI, LangChain, LlamaIndex if installed
    >>> @spyglass.trace
    ... def answer(question: str) -> str: ...
"""

from __future__ import annotations

from spyglass.tracer._autolog import autolog, disable
from spyglass.tracer._config import TracerConfig
from spyglass.tracer._guard import raise_internal_errors
from spyglass.tracer._setup import configure, flush, shutdown
from spyglass.tracer._span import SpyglassSpan, context, start_span, trace_fn

trace = trace_fn

__all__ = [
    "SpyglassSpan",
    "TracerConfig",
    "autolog",
    "configure",
    "context",
    "disable",
    "flush",
    "raise_internal_errors",
    "shutdown",
    "start_span",
    "trace",
]
