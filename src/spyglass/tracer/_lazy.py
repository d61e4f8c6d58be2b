"""Lazy spans: recorded by reference on the caller's thread, built as OTel spans later.

Creating an SDK span and encoding what it records (``model_dump`` of a response, message
JSON, redaction) is most of an instrumented call's cost, and none of it has to happen while
the app waits. A `LazySpan` keeps only what it needs: a snapshot of the caller's context
(`contextvars.copy_context`, O(1)), the start and end times, and references to the request
and response objects. When it ends it is handed to the active setup (`_setup._Active.submit`):
the export worker (`SpoolingSpanProcessor.add_lazy`) builds it before its next batch; with
span processors given to `configure` (tests, a user's own pipeline), it is built at once, so
they see finished spans as usual.

Building runs inside the snapshot context, so the OTel span gets the parent, the sampling
decision and the `spyglass.context` values it would have got at start; it is started with
the recorded start time and ended with the recorded end time. The exported span is the same
as an eagerly recorded one, except that it was not the current span while the call ran, so
spans started inside the call (by another library's HTTP instrumentation, say) become its
siblings rather than its children. A subclass fills in `start_attributes` and `finish`.

A failure while building is logged, never raised into the app (`log_internal_error` in the
app's thread; a warning in the worker).
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from spyglass.tracer import _semconv as sc
from spyglass.tracer._setup import active

__all__ = ["LazySpan"]

log = logging.getLogger("spyglass.tracer")


class LazySpan:
    """One operation, timed now and turned into an OTel span when `materialize` is called."""

    __slots__ = (
        "_active",
        "_context",
        "end_ns",
        "error",
        "events",
        "kind",
        "live",
        "name",
        "start_ns",
    )

    def __init__(self, name: str, kind: SpanKind = SpanKind.INTERNAL) -> None:
        self._active = active()
        self._context = contextvars.copy_context()
        self.name = name
        self.kind = kind
        self.events: list[tuple[str, dict[str, Any], int]] = []
        self.live: dict[str, Any] = {}  # attributes known while it runs (set after finish)
        self.error: BaseException | None = None
        self.end_ns = 0
        self.start_ns = time.time_ns()

    @property
    def ended(self) -> bool:
        """Whether `end` was called."""
        return self.end_ns != 0

    @property
    def config(self) -> Any:
        """The `TracerConfig` active when the span started."""
        return self._active.config

    def add_event(self, name: str, attributes: dict[str, Any], timestamp_ns: int) -> None:
        """Record an event (added when the span is built)."""
        self.events.append((name, attributes, timestamp_ns))

    def end(self, error: BaseException | None = None) -> None:
        """End the span now (once), failed with ``error`` if given; O(1)."""
        if self.end_ns:
            return
        self.error = error
        self.end_ns = time.time_ns()
        self._active.submit(self)

    # --- building, off the call path ----------------------------------------------------------

    def start_attributes(self) -> Mapping[str, Any]:
        """Attributes the OTel span starts with (visible to samplers and ``on_start``)."""
        return {}

    def finish(self, span: Span) -> None:
        """Set the remaining attributes on the built (recording) span before it ends."""

    def materialize(self) -> None:
        """Build and end the OTel span; may raise (the caller logs)."""
        self._context.run(self._build)

    def _build(self) -> None:
        span = self._active.tracer.start_span(
            self.name,
            kind=self.kind,
            attributes=self.start_attributes(),
            start_time=self.start_ns,
        )
        try:
            if span.is_recording():
                self.finish(span)
                if self.live:
                    span.set_attributes(self.live)
                for name, attributes, timestamp in self.events:
                    span.add_event(name, attributes, timestamp)
                if self.error is not None:
                    record_error(span, self.error, self.end_ns)
        finally:
            span.end(self.end_ns)


def record_error(span: Span, exc: BaseException, timestamp_ns: int | None = None) -> None:
    """Record ``exc`` on ``span`` as its failure (exception event, status, error type)."""
    span.record_exception(exc, timestamp=timestamp_ns)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        span.set_attribute("http.response.status_code", status)
