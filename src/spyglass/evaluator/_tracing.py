"""One trace per model call, so each row of an evaluation links to what the model did.

When the Spyglass tracer is set up before the evaluation starts (``spyglass.configure()`` or
``spyglass.autolog()``), every model call runs inside a root span named after the evaluation,
carrying the row's input columns and its prediction (under the tracer's content policy and
redaction); the spans the call makes itself (an autologged OpenAI request, a
``@spyglass.trace`` function, LangChain callbacks) become its children. The span's trace id
is recorded for the row (the ``trace_id`` column). Whether to trace is decided once, before
the first call, so either every row has a trace or none has.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["DIGEST_ATTRIBUTE", "NAME_ATTRIBUTE", "ROW_ATTRIBUTE", "RowTracer"]

ROW_ATTRIBUTE = "spyglass.evaluation.row"
NAME_ATTRIBUTE = "spyglass.evaluation.name"
DIGEST_ATTRIBUTE = "spyglass.dataset.digest"


def _tracer_ready(force: bool) -> bool:
    """True when the Spyglass tracer is set up; ``force`` sets it up from the environment."""
    if force:
        from spyglass.tracer import _setup

        _setup.current()
        return True
    if "spyglass.tracer" not in sys.modules:  # never imported: certainly not set up
        return False
    from spyglass.tracer import _setup

    return _setup.provider() is not None


class RowTracer:
    """Runs each model call in a root span and remembers its trace id (hex) by row."""

    def __init__(
        self, name: str, span_inputs: Sequence[Any], digest: str, *, force: bool = False
    ) -> None:
        """``span_inputs[i]`` is row i's span input; ``force`` sets up the Spyglass tracer."""
        self.name = name
        self.digest = digest
        self.span_inputs = span_inputs
        self.trace_ids: list[str | None] = [None] * len(span_inputs)
        self.enabled = _tracer_ready(force)

    @property
    def any_traced(self) -> bool:
        return any(self.trace_ids)

    def call(self, index: int, fn: Callable[[], Any]) -> Any:
        """``fn()`` inside a new root span, with the row's input and ``fn``'s text as output."""
        if not self.enabled:
            return fn()
        from opentelemetry import context as otel_context

        from spyglass.tracer import start_span

        attributes = {
            ROW_ATTRIBUTE: index,
            NAME_ATTRIBUTE: self.name,
            DIGEST_ATTRIBUTE: self.digest,
        }
        token = otel_context.attach(otel_context.Context())  # a new trace, whatever is current
        try:
            with start_span(
                self.name, inputs=self.span_inputs[index], attributes=attributes
            ) as span:
                if span.span.get_span_context().is_valid:
                    self.trace_ids[index] = span.trace_id
                output = fn()
                span.set_outputs(getattr(output, "text", output))
                return output
        finally:
            otel_context.detach(token)

    def flush(self) -> None:
        """Export the finished spans (before the evaluation that links to them is logged)."""
        if self.enabled:
            from spyglass.tracer import flush

            flush()
