"""Spans for framework runs (LangChain, LlamaIndex) opened and closed by callbacks.

Callbacks cannot wrap the code they observe in a ``with`` block, so a run's span is made
current by attaching a context at start and restoring the previous one at end. Three rules
keep that safe when starts and ends do not nest (LangChain's ``batch`` starts N sibling runs
before ending any) or happen in another thread or task:

- a run without a framework parent ignores open runs of the same framework that are current
  (they are siblings, not parents) and takes the span current before them;
- at end, the previous context is restored only if this run's context is still current, and
  past any runs that have ended meanwhile;
- nothing is ever detached by token (a token from another ``Context`` would raise).

It also carries the hand-off between a framework LLM run and the provider call inside it: the
OpenAI wrapper calls `claim_llm_call`; the run is then ``delegated`` and records itself as a
plain step, so the provider span, nested under it, is the one LLM span of that call.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode

from spyglass.tracer import _semconv as sc
from spyglass.tracer._config import TracerConfig
from spyglass.tracer._setup import current

__all__ = ["FrameworkRun", "claim_llm_call", "close_run", "open_run"]

_KEY = otel_context.create_key("spyglass-framework-run")


class FrameworkRun:
    """One open (or just closed) framework run and its span."""

    __slots__ = (
        "config",
        "ctx",
        "delegated",
        "ended",
        "first_token",
        "framework",
        "llm",
        "prev",
        "request",
        "span",
        "started_ns",
    )

    def __init__(self, span: Span, config: TracerConfig, framework: str, llm: bool) -> None:
        self.span = span
        self.config = config
        self.framework = framework
        self.llm = llm
        self.delegated = False
        self.ended = False
        self.first_token = False
        self.request: dict[str, Any] = {}
        self.started_ns = time.time_ns()
        self.ctx: Context = Context()
        self.prev: Context = Context()


def _run_of(ctx: Context) -> FrameworkRun | None:
    run = otel_context.get_value(_KEY, ctx)
    if isinstance(run, FrameworkRun) and trace.get_current_span(ctx) is run.span:
        return run
    return None


def open_run(
    name: str,
    framework: str,
    parent: FrameworkRun | None,
    operation: str | None,
    llm: bool = False,
) -> FrameworkRun:
    """Start a span for a run (child of ``parent``, else of the current span) and make it
    current."""
    config, tracer = current()
    prev = otel_context.get_current()
    base = prev
    if parent is None:
        while (stale := _run_of(base)) is not None and stale.framework == framework:
            base = stale.prev
    parent_ctx = trace.set_span_in_context(parent.span, base) if parent is not None else base
    span = tracer.start_span(name, context=parent_ctx)
    span.set_attribute(sc.FRAMEWORK, framework)
    if operation:
        span.set_attribute(sc.OPERATION, operation)
    run = FrameworkRun(span, config, framework, llm)
    run.prev = prev
    run.ctx = otel_context.set_value(_KEY, run, trace.set_span_in_context(span, parent_ctx))
    otel_context.attach(run.ctx)
    return run


def close_run(run: FrameworkRun, error: BaseException | None = None) -> None:
    """Restore the context (see module rules) and record ``error``; the caller ends the span."""
    run.ended = True
    if otel_context.get_current() is run.ctx:
        target = run.prev
        while (done := _run_of(target)) is not None and done.ended:
            target = done.prev
        otel_context.attach(target)
    if error is not None:
        run.span.record_exception(error)
        run.span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        run.span.set_attribute(sc.ERROR_TYPE, type(error).__qualname__)
    if run.delegated:
        run.span.set_attribute(sc.OPERATION, sc.OP_WORKFLOW)


def claim_llm_call() -> bool:
    """Called by a provider wrapper: if the current span is a framework LLM run, mark it
    delegated and return True."""
    run = _run_of(otel_context.get_current())
    if run is not None and run.llm:
        run.delegated = True
        return True
    return False
