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
from spyglass.tracer._config import TracerConfig
from spyglass.tracer._guard import log_internal_error
from spyglass.tracer._setup import current
from spyglass.tracer.integrations._openai_record import (
    record_request,
    record_response,
    request_attributes,
)
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
    """One traced call between its start and its outcome."""

    __slots__ = ("api", "config", "span", "started_ns", "stream", "token")

    def __init__(self, instance: Any, api: str, kwargs: dict[str, Any]) -> None:
        self.api = api
        config, tracer = current()
        self.config: TracerConfig = config
        attrs = request_attributes(api, kwargs)
        client = getattr(instance, "_client", None)
        url = getattr(client, "base_url", None)
        host = getattr(url, "host", None)
        if isinstance(host, str) and host:
            attrs[sc.SERVER_ADDRESS] = host
            port = getattr(url, "port", None)
            if isinstance(port, int):
                attrs[sc.SERVER_PORT] = port
        model = attrs.get(sc.REQUEST_MODEL, "")
        claim_llm_call()
        self.started_ns = time.time_ns()
        self.span: Span = tracer.start_span(
            f"{attrs[sc.OPERATION]} {model}".strip(),
            kind=SpanKind.CLIENT,
            attributes=attrs,
            start_time=self.started_ns,
        )
        self.stream = kwargs.get("stream") is True
        record_request(self.span, config, api, kwargs)
        self.token = otel_context.attach(trace.set_span_in_context(self.span))

    def succeed(self, result: Any) -> Any:
        """Record ``result`` and return it (or its stream proxy); never raises."""
        otel_context.detach(self.token)
        try:
            raw = None
            if type(result).__name__ == "LegacyAPIResponse":  # with_raw_response
                raw, result = result, result.parse()
            elif type(result).__name__ in ("APIResponse", "AsyncAPIResponse"):
                self.span.end()  # with_streaming_response: the body is the caller's to read
                return result
            if self.stream:
                acc = StreamAccumulator(self.span, self.config, self.api, self.started_ns)
                proxy: Any
                if hasattr(result, "__aiter__"):
                    proxy = AsyncStreamProxy(result, acc)
                else:
                    proxy = StreamProxy(result, acc)
                if raw is not None:
                    raw._parsed_by_type[raw._cast_to] = proxy
                    return raw
                return proxy
            record_response(self.span, self.config, self.api, result)
            self.span.end()
            return raw if raw is not None else result
        except Exception:
            self.span.end()
            log_internal_error()
            return raw if raw is not None else result

    def fail(self, exc: BaseException) -> None:
        """Record a failed call."""
        try:
            otel_context.detach(self.token)
            self.span.record_exception(exc)
            self.span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            self.span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)
            status = getattr(exc, "status_code", None)
            if isinstance(status, int):
                self.span.set_attribute("http.response.status_code", status)
            self.span.end()
        except Exception:
            log_internal_error()


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
