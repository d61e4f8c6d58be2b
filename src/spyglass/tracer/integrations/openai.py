"""OpenAI autolog: patch the client's resource classes (sync and async) once, reversibly.

Traced: chat completions (``create``, ``parse``, streaming, tools), text completions,
embeddings and the Responses API (``create``, ``parse``, streaming), including calls made
through ``with_raw_response`` (as LangChain does). Patching is on the classes, so clients
created before or after `autolog` are covered; a disabled wrapper left in a cached bound
method passes straight through. API keys and headers are never read.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from spyglass.tracer import _semconv as sc
from spyglass.tracer._deferred import defer
from spyglass.tracer._guard import log_internal_error
from spyglass.tracer._setup import current
from spyglass.tracer.integrations._openai_record import (
    OPERATIONS,
    OpenAIRecord,
    snapshot_kwargs,
)
from spyglass.tracer.integrations._openai_response import watch_response
from spyglass.tracer.integrations._openai_stream import (
    AsyncStreamProxy,
    StreamAccumulator,
    StreamProxy,
)
from spyglass.tracer.integrations._runs import claim_llm_call

__all__ = ["autolog", "disable", "is_enabled"]

# (module, class, method, api, is_async)
TARGETS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("openai.resources.chat.completions.completions", "Completions", "create", "chat", False),
    ("openai.resources.chat.completions.completions", "Completions", "parse", "chat", False),
    ("openai.resources.chat.completions.completions", "AsyncCompletions", "create", "chat", True),
    ("openai.resources.chat.completions.completions", "AsyncCompletions", "parse", "chat", True),
    ("openai.resources.completions", "Completions", "create", "completions", False),
    ("openai.resources.completions", "AsyncCompletions", "create", "completions", True),
    ("openai.resources.embeddings", "Embeddings", "create", "embeddings", False),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", "embeddings", True),
    ("openai.resources.responses.responses", "Responses", "create", "responses", False),
    ("openai.resources.responses.responses", "Responses", "parse", "responses", False),
    ("openai.resources.responses.responses", "AsyncResponses", "create", "responses", True),
    ("openai.resources.responses.responses", "AsyncResponses", "parse", "responses", True),
)

_lock = threading.Lock()
_enabled = [False]
_originals: dict[tuple[type, str], Any] = {}


class _Call:
    """One traced call between its start and its outcome.

    Only the span, its name and references are handled here, on the caller's thread; the
    attributes are computed by `OpenAIRecord` after the span ended (`defer`).
    """

    __slots__ = ("record", "span", "started_ns", "stream", "token")

    def __init__(self, instance: Any, api: str, kwargs: dict[str, Any]) -> None:
        config, tracer = current()
        client = getattr(instance, "_client", None)
        self.record = OpenAIRecord(
            api, config, snapshot_kwargs(kwargs), getattr(client, "base_url", None)
        )
        model = kwargs.get("model")
        claim_llm_call()
        self.started_ns = time.time_ns()
        self.span: Span = tracer.start_span(
            f"{OPERATIONS[api]} {model}" if isinstance(model, str) and model else OPERATIONS[api],
            kind=SpanKind.CLIENT,
            start_time=self.started_ns,
        )
        if self.span.is_recording():
            defer(self.span, self.record)
        self.stream = kwargs.get("stream") is True
        self.token = otel_context.attach(trace.set_span_in_context(self.span))

    def succeed(self, result: Any) -> Any:
        """Record ``result`` and return it (or its stream proxy); never raises."""
        otel_context.detach(self.token)
        raw = None
        try:
            kind = type(result).__name__
            if kind == "LegacyAPIResponse":  # with_raw_response
                raw, result = result, result.parse()
            elif kind in ("APIResponse", "AsyncAPIResponse"):  # with_streaming_response
                return watch_response(result, self)
            if self.stream:
                proxy = self.stream_proxy(result)
                if raw is not None:
                    raw._parsed_by_type[raw._cast_to] = proxy
                    return raw
                return proxy
            self.record.response = result
            self.span.end()
            return raw if raw is not None else result
        except Exception:
            self.end()
            log_internal_error()
            return raw if raw is not None else result

    def stream_proxy(self, stream: Any) -> Any:
        """A proxy of ``stream`` that records it and ends the span when it ends."""
        acc = StreamAccumulator(self.span, self.record, self.started_ns)
        if hasattr(stream, "__aiter__"):
            return AsyncStreamProxy(stream, acc)
        return StreamProxy(stream, acc)

    def end(self) -> None:
        """End the span if it is still open."""
        if self.span.is_recording():
            self.span.end()

    def fail(self, exc: BaseException) -> None:
        """Record a failed call."""
        try:
            otel_context.detach(self.token)
            self.fail_span(exc)
        except Exception:
            log_internal_error()

    def fail_span(self, exc: BaseException) -> None:
        """Record ``exc`` on the span and end it."""
        self.span.record_exception(exc)
        self.span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        self.span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            self.span.set_attribute("http.response.status_code", status)
        self.span.end()


def _begin(instance: Any, api: str, kwargs: dict[str, Any]) -> _Call | None:
    try:
        return _Call(instance, api, kwargs)
    except Exception:
        log_internal_error()
        return None


def _sync_wrapper(original: Callable[..., Any], api: str) -> Callable[..., Any]:
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _enabled[0]:
            return original(self, *args, **kwargs)
        call = _begin(self, api, kwargs)
        if call is None:
            return original(self, *args, **kwargs)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        return call.succeed(result)

    create.__wrapped__ = original  # type: ignore[attr-defined]
    create.__doc__ = original.__doc__
    create.__name__ = original.__name__
    return create


def _async_wrapper(original: Callable[..., Any], api: str) -> Callable[..., Any]:
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _enabled[0]:
            return await original(self, *args, **kwargs)
        call = _begin(self, api, kwargs)
        if call is None:
            return await original(self, *args, **kwargs)
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        return call.succeed(result)

    create.__wrapped__ = original  # type: ignore[attr-defined]
    create.__doc__ = original.__doc__
    create.__name__ = original.__name__
    return create


def autolog() -> None:
    """Trace every OpenAI client call from now on; idempotent. Requires ``openai``."""
    with _lock:
        if not _originals:
            for module_name, class_name, method, api, is_async in TARGETS:
                try:
                    cls = getattr(importlib.import_module(module_name), class_name)
                    original = cls.__dict__[method]
                except (ImportError, AttributeError, KeyError):
                    continue  # an SDK version without this API
                wrap = _async_wrapper if is_async else _sync_wrapper
                setattr(cls, method, wrap(original, api))
                _originals[(cls, method)] = original
        _enabled[0] = True


def disable() -> None:
    """Restore the original methods; idempotent."""
    with _lock:
        _enabled[0] = False
        for (cls, method), original in _originals.items():
            setattr(cls, method, original)
        _originals.clear()


def is_enabled() -> bool:
    """Whether OpenAI autolog is on."""
    return _enabled[0]
