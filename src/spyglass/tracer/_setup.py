"""The tracer's provider: built once by `configure` (explicitly or on first use), replaceable.

Integrations and the manual API call `current()` on every span, so it must stay a couple of
attribute reads. The provider is also installed as the global OTel provider when none is set,
so spans from other OTel instrumentations join the same traces.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from spyglass import __version__
from spyglass.tracer import _semconv as sc
from spyglass.tracer._config import TracerConfig, resolve_config
from spyglass.tracer._export import Buildable, OtlpSender, SpoolingSpanProcessor
from spyglass.tracer._guard import log_internal_error
from spyglass.tracer._spool import Spool

__all__ = ["TRACER_NAME", "TraceContext", "active", "configure", "current", "flush", "shutdown"]

log = logging.getLogger("spyglass.tracer")
TRACER_NAME = "spyglass"


@dataclass(frozen=True)
class TraceContext:
    """Values stamped on every span started while it is active (see `spyglass.context`)."""

    session_id: str | None = None
    user_id: str | None = None
    tags: tuple[str, ...] = ()
    metadata: tuple[tuple[str, Any], ...] = ()


context_values: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "spyglass_trace_context", default=None
)


class _ContextStamper(SpanProcessor):
    """Adds the active `TraceContext` to each span at start (cheap when none is active)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        del parent_context
        values = context_values.get()
        if values is None:
            return
        if values.session_id:
            span.set_attribute(sc.SESSION_ID, values.session_id)
        if values.user_id:
            span.set_attribute(sc.USER_ID, values.user_id)
        if values.tags:
            span.set_attribute(sc.TAGS, list(values.tags))
        for key, value in values.metadata:
            span.set_attribute(key, value)

    def on_end(self, span: ReadableSpan) -> None:
        """Nothing to do at end."""


def _build_now(span: Buildable) -> None:
    try:
        span.materialize()
    except Exception:
        log_internal_error()


def _discard(span: Buildable) -> None:
    del span  # tracing is disabled: nothing would receive the span


@dataclass(frozen=True)
class _Active:
    config: TracerConfig
    provider: TracerProvider
    tracer: trace.Tracer
    submit: Callable[[Buildable], None]  # where ended lazy spans go (see `_lazy`)


_lock = threading.Lock()
_init_lock = threading.Lock()
_active: list[_Active] = []


def configure(
    *,
    span_processors: Sequence[SpanProcessor] | None = None,
    **options: Any,
) -> TracerProvider:
    """Build (or rebuild) the tracer; see `spyglass.tracer._config.resolve_config` for options.

    Args:
        span_processors: replace the default export (OTLP/HTTP with spool) with these, e.g.
            ``[SimpleSpanProcessor(InMemorySpanExporter())]`` in tests. Lazy spans (`_lazy`)
            are then built as soon as they end, so these see every span at its end.
        **options: `resolve_config` keyword arguments (tracking_uri, project, ...).

    Returns:
        The new provider. A previous one is flushed and shut down.
    """
    config = resolve_config(**options)
    sampler = ParentBased(TraceIdRatioBased(config.sample_rate)) if config.sample_rate else None
    if config.sample_rate == 0.0:
        sampler = ParentBased(TraceIdRatioBased(0.0))
    resource = Resource.create({sc.PROJECT: config.project})
    provider = TracerProvider(resource=resource, sampler=sampler)
    provider.add_span_processor(_ContextStamper())
    submit: Callable[[Buildable], None] = _discard if config.disabled else _build_now
    if not config.disabled:
        if span_processors is None:
            spool_dir = config.project_spool_dir
            spool = Spool(spool_dir, config.spool_max_bytes) if spool_dir else None
            sender = OtlpSender(config.endpoint, config.headers, config.timeout_s, config.gzip)
            exporter = SpoolingSpanProcessor(
                sender,
                spool,
                max_queue_spans=config.max_queue_spans,
                max_batch_spans=config.max_batch_spans,
                schedule_delay_s=config.schedule_delay_s,
            )
            submit = exporter.add_lazy
            span_processors = [exporter]
        for processor in span_processors:
            provider.add_span_processor(processor)
    tracer = provider.get_tracer(TRACER_NAME, __version__)
    with _lock:
        old = _active[0] if _active else None
        _active[:] = [_Active(config, provider, tracer, submit)]
    if old is not None:
        old.provider.shutdown()
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    return provider


def active() -> _Active:
    """The active setup, configuring from the environment on first use."""
    if not _active:
        with _init_lock:
            if not _active:
                configure()
    return _active[0]


def current() -> tuple[TracerConfig, trace.Tracer]:
    """The active configuration and tracer, configuring from the environment on first use."""
    setup = active()
    return setup.config, setup.tracer


def provider() -> TracerProvider | None:
    """The active provider, if configured."""
    return _active[0].provider if _active else None


def flush(timeout_s: float = 30.0) -> bool:
    """Export (or spool) every finished span; True if done within ``timeout_s``."""
    if not _active:
        return True
    return _active[0].provider.force_flush(int(timeout_s * 1000))


def shutdown() -> None:
    """Flush and stop the tracer; the next span reconfigures it from the environment."""
    with _lock:
        old = _active[0] if _active else None
        _active.clear()
    if old is not None:
        old.provider.shutdown()
