"""Manual instrumentation: `start_span`, the `trace` decorator and `context`.

All three are safe to use anywhere: a failure inside the tracer is logged (see `_guard`) and
the user's code runs exactly as it would without tracing.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar, cast, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from spyglass.tracer import _semconv as sc
from spyglass.tracer._content import set_attributes, set_content
from spyglass.tracer._guard import log_internal_error
from spyglass.tracer._setup import TraceContext, context_values, current

__all__ = ["SpyglassSpan", "context", "start_span", "trace_fn"]

F = TypeVar("F", bound=Callable[..., Any])
MAX_GENERATOR_ITEMS = 1000
_MISSING: Any = object()


class SpyglassSpan:
    """A thin handle on an OTel span with GenAI-friendly setters. Setters never raise."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    @property
    def trace_id(self) -> str:
        """The trace id as 32 hex digits."""
        return format(self.span.get_span_context().trace_id, "032x")

    @property
    def span_id(self) -> str:
        """The span id as 16 hex digits."""
        return format(self.span.get_span_context().span_id, "016x")

    def set_inputs(self, inputs: Any) -> None:
        """Record the span's inputs (JSON), subject to content capture and redaction."""
        self._content(sc.INPUT_VALUE, inputs)

    def set_outputs(self, outputs: Any) -> None:
        """Record the span's outputs (JSON), subject to content capture and redaction."""
        self._content(sc.OUTPUT_VALUE, outputs)

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute; values OTel cannot hold are stored as JSON text."""
        self.set_attributes({key: value})

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Set several attributes (see `set_attribute`)."""
        try:
            set_attributes(self.span, attributes)
        except Exception:
            log_internal_error()

    def set_session(self, session_id: str) -> None:
        """Mark the span as part of a session (conversation)."""
        self.set_attributes({sc.SESSION_ID: session_id})

    def set_user(self, user_id: str) -> None:
        """Record the end user behind the span."""
        self.set_attributes({sc.USER_ID: user_id})

    def set_tags(self, tags: Iterable[str]) -> None:
        """Replace the span's tags."""
        self.set_attributes({sc.TAGS: [str(t) for t in tags]})

    def record_error(self, exc: BaseException) -> None:
        """Record ``exc`` and mark the span as failed."""
        try:
            _fail(self.span, exc)
        except Exception:
            log_internal_error()

    def _content(self, key: str, value: Any) -> None:
        try:
            set_content(self.span, current()[0], key, value)
        except Exception:
            log_internal_error()


def _fail(span: Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)


class _SpanScope:
    """The context manager returned by `start_span` (sync and async)."""

    __slots__ = (
        "_activate",
        "_attributes",
        "_inputs",
        "_kind",
        "_name",
        "_span",
        "_token",
        "_type",
    )

    def __init__(
        self,
        name: str,
        span_type: str | None,
        inputs: Any,
        attributes: Mapping[str, Any] | None,
        kind: SpanKind,
        activate: bool = True,
    ) -> None:
        self._activate = activate
        self._name = name
        self._type = span_type
        self._inputs = inputs
        self._attributes = attributes
        self._kind = kind
        self._span: Span = trace.INVALID_SPAN
        self._token: object | None = None

    def __enter__(self) -> SpyglassSpan:
        try:
            config, tracer = current()
            self._span = span = tracer.start_span(self._name, kind=self._kind)
            if self._activate:
                self._token = otel_context.attach(trace.set_span_in_context(span))
        except Exception:
            log_internal_error()
            return SpyglassSpan(self._span)
        try:
            operation = sc.SPAN_TYPE_OPERATIONS.get((self._type or "").upper())
            if operation:
                span.set_attribute(sc.OPERATION, operation)
            if self._attributes:
                set_attributes(span, self._attributes)
            if self._inputs is not _MISSING:
                set_content(span, config, sc.INPUT_VALUE, self._inputs)
        except Exception:
            log_internal_error()
        return SpyglassSpan(span)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
            if exc is not None and not isinstance(exc, GeneratorExit):
                _fail(self._span, exc)
            self._span.end()
        except Exception:
            log_internal_error()

    async def __aenter__(self) -> SpyglassSpan:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def start_span(
    name: str,
    *,
    span_type: str | None = "CHAIN",
    inputs: Any = _MISSING,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> _SpanScope:
    """Open a span as the current one for a ``with`` (or ``async with``) block.

    Args:
        name: span name.
        span_type: ``CHAIN`` (default), ``LLM``, ``EMBEDDING``, ``TOOL``, ``AGENT``,
            ``RETRIEVER`` or None; sets ``gen_ai.operation.name`` accordingly.
        inputs: recorded as the span's input (JSON) under the content policy.
        attributes: extra attributes.
        kind: the OTel span kind.

    Returns:
        A context manager yielding a `SpyglassSpan`; an exception leaving the block is
        recorded on the span and re-raised unchanged.

    Example:
        >>> with spyglass.start_span("retrieve", span_type="RETRIEVER", inputs={"q": q}) as s:
        ...     s.set_outputs(docs)
    """
    return _SpanScope(name, span_type, inputs, attributes, kind)


class context:  # used like a function: `with spyglass.context(...)`
    """Stamp session, user, tags and metadata on every span started inside the block.

    Nested blocks inherit and extend the outer values. Works across ``await`` and into
    threads started with a copied context.

    Example:
        >>> with spyglass.context(session_id="chat-42", user_id="u-7", tags=["beta"]):
        ...     answer(question)
    """

    def __init__(
        self,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        tags: Iterable[str] = (),
        metadata: Mapping[str, str | int | float | bool] | None = None,
    ) -> None:
        outer = context_values.get() or TraceContext()
        self._values = TraceContext(
            session_id or outer.session_id,
            user_id or outer.user_id,
            tuple(dict.fromkeys((*outer.tags, *map(str, tags)))),
            (*outer.metadata, *(metadata or {}).items()),
        )
        self._token: Any = None

    def __enter__(self) -> None:
        self._token = context_values.set(self._values)

    def __exit__(self, *exc: object) -> None:
        context_values.reset(self._token)


# --- @trace ----------------------------------------------------------------------------------


def _inputs_of(signature: inspect.Signature | None, args: Any, kwargs: Any) -> Any:
    if signature is None:
        return {"args": list(args), "kwargs": kwargs}
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return {"args": list(args), "kwargs": kwargs}
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


@overload
def trace_fn(fn: F, /) -> F: ...
@overload
def trace_fn(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    span_type: str | None = "CHAIN",
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    attributes: Mapping[str, Any] | None = None,
) -> Callable[[F], F]: ...
def trace_fn(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    span_type: str | None = "CHAIN",
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    attributes: Mapping[str, Any] | None = None,
) -> F | Callable[[F], F]:
    """Trace every call of a function: sync, async, generator or async generator.

    The span is named after the function (or ``name``); arguments become its inputs and the
    return value (or the list of yielded items, up to `MAX_GENERATOR_ITEMS`) its outputs.

    Example:
        >>> @spyglass.trace(span_type="TOOL")
        ... def lookup(order_id: str) -> dict: ...
    """
    if fn is None:
        return lambda f: _decorate(f, name, span_type, capture_inputs, capture_outputs, attributes)
    return _decorate(fn, name, span_type, capture_inputs, capture_outputs, attributes)


def _decorate(
    fn: F,
    name: str | None,
    span_type: str | None,
    capture_inputs: bool,
    capture_outputs: bool,
    attributes: Mapping[str, Any] | None,
) -> F:
    span_name = name or getattr(fn, "__qualname__", None) or repr(fn)
    try:
        signature: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):
        signature = None

    def scope(args: Any, kwargs: Any, activate: bool = True) -> _SpanScope:
        inputs = _inputs_of(signature, args, kwargs) if capture_inputs else _MISSING
        return _SpanScope(span_name, span_type, inputs, attributes, SpanKind.INTERNAL, activate)

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            # The span is current only while the generator body runs, never in the consumer.
            with scope(args, kwargs, activate=False) as span:
                items: list[Any] = []
                agen = fn(*args, **kwargs)
                sent: Any = None
                while True:
                    token = otel_context.attach(trace.set_span_in_context(span.span))
                    try:
                        item = await agen.asend(sent)
                    except StopAsyncIteration:
                        break
                    finally:
                        otel_context.detach(token)
                    if capture_outputs and len(items) < MAX_GENERATOR_ITEMS:
                        items.append(item)
                    sent = yield item
                if capture_outputs:
                    span.set_outputs(items)

        return cast(F, agen_wrapper)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            with scope(args, kwargs, activate=False) as span:
                items: list[Any] = []
                gen = fn(*args, **kwargs)
                sent: Any = None
                while True:
                    token = otel_context.attach(trace.set_span_in_context(span.span))
                    try:
                        item = gen.send(sent)
                    except StopIteration as stop:
                        result = stop.value
                        break
                    finally:
                        otel_context.detach(token)
                    if capture_outputs and len(items) < MAX_GENERATOR_ITEMS:
                        items.append(item)
                    sent = yield item
                if capture_outputs:
                    span.set_outputs(items)
                return result

        return cast(F, gen_wrapper)

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with scope(args, kwargs) as span:
                result = await fn(*args, **kwargs)
                if capture_outputs:
                    span.set_outputs(result)
                return result

        return cast(F, async_wrapper)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with scope(args, kwargs) as span:
            result = fn(*args, **kwargs)
            if capture_outputs:
                span.set_outputs(result)
            return result

    return cast(F, wrapper)
