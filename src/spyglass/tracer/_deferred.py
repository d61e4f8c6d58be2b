"""Deferred attributes: what a span records, computed after it ends, off the caller's thread.

Turning SDK objects into attribute values (``model_dump``, message JSON, redaction) is most of
an instrumented call's cost. An integration can instead keep references to what it needs and
register a `DeferredAttributes` for the span with `defer`; the exported span is then the same
as if the attributes had been set while it ran, but the work happens where the span is
encoded: in the export worker thread (`SpoolingSpanProcessor`), or in `ResolvingSpanProcessor`
for span processors passed to `configure` (synchronously, in their ``on_end``).

How the pieces meet: `defer` files the object under the span id; the provider's first
processor (`take_deferred`, from ``_ContextStamper.on_end``) moves it onto the finished
`ReadableSpan`; `resolve_span` merges it there, once, whoever asks first. A span that never
ends keeps its entry, so the registry is bounded (`MAX_PENDING`): past it, `defer` resolves
at once on the live span, as if nothing were deferred. Processors added to the provider by
other means see spans before resolution (without the deferred attributes).

A failure while resolving is never raised into the app: the span is exported with the
attributes it had, and the error is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.trace import Span

from spyglass.tracer._content import set_attributes, to_json
from spyglass.tracer._guard import log_internal_error

__all__ = [
    "MAX_PENDING",
    "DeferredAttributes",
    "ResolvingSpanProcessor",
    "defer",
    "resolve_span",
    "take_deferred",
]

log = logging.getLogger("spyglass.tracer")

MAX_PENDING = 100_000
_STASH = "_spyglass_deferred"
_RESOLVED = "_spyglass_resolved"


class DeferredAttributes(Protocol):
    """Computes a span's final attributes from the ones it had when it ended."""

    def resolve(self, live: Mapping[str, Any]) -> Mapping[str, Any]:
        """All attributes of the span: ``live`` merged with the deferred ones.

        Runs once, in whatever thread exports the span; may raise (the caller logs it).
        Values OTel cannot hold are stored as JSON text, None values are skipped.
        """
        ...


_pending: dict[int, DeferredAttributes] = {}


def defer(span: Span, deferred: DeferredAttributes) -> None:
    """Attach ``deferred`` to a recording ``span``; call before the span ends."""
    if len(_pending) >= MAX_PENDING:
        attributes = getattr(span, "attributes", None) or {}
        set_attributes(span, deferred.resolve(attributes))
        return
    _pending[span.get_span_context().span_id] = deferred


def take_deferred(span: ReadableSpan) -> None:
    """Move the entry of a span that just ended from the registry onto ``span``. O(1)."""
    context = span.context
    if context is None or not _pending:
        return
    deferred = _pending.pop(context.span_id, None)
    if deferred is not None:
        span.__dict__[_STASH] = deferred


def resolve_span(span: ReadableSpan) -> ReadableSpan:
    """``span`` with its deferred attributes applied (``span`` itself if it has none).

    The result is computed once and cached on ``span``; a failure is not retried (later calls
    return ``span`` as it is).

    Raises:
        Exception: whatever the `DeferredAttributes` raised; callers log it.
    """
    state = span.__dict__
    deferred: DeferredAttributes | None = state.get(_STASH)
    if deferred is None:
        return span
    done: ReadableSpan | None = state.get(_RESOLVED)
    if done is not None:
        return done
    state[_RESOLVED] = span
    clean: dict[str, Any] = {}
    for key, value in deferred.resolve(span.attributes or {}).items():
        if value is None:
            continue
        if isinstance(value, (str, bool, int, float)):
            clean[key] = value
        elif isinstance(value, (list, tuple)) and all(
            isinstance(v, (str, bool, int, float)) for v in value
        ):
            clean[key] = tuple(value)
        else:
            clean[key] = to_json(value)
    old = state.get("_attributes")  # the span's BoundedAttributes: keep its limits
    attributes = BoundedAttributes(
        getattr(old, "maxlen", None),
        clean,
        immutable=True,
        max_value_len=getattr(old, "max_value_len", None),
    )
    resolved = ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
    state[_RESOLVED] = resolved
    return resolved


class ResolvingSpanProcessor(SpanProcessor):
    """Applies deferred attributes synchronously, then hands the span to ``inner``.

    For span processors given to `configure` (tests' in-memory exporters, a user's own
    pipeline), which expect finished spans to be complete in ``on_end``.
    """

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        """Forwarded."""
        self.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        """Resolve (errors are logged; the span goes on as it is), then forward."""
        try:
            resolved = resolve_span(span)
        except Exception:
            resolved = span
            log_internal_error()
        self.inner.on_end(resolved)

    def shutdown(self) -> None:
        """Forwarded."""
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Forwarded."""
        return self.inner.force_flush(timeout_millis)
