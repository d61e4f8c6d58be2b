"""OpenAI autolog: patch the client's resource classes (sync and async) once, reversibly.

Traced: chat completions (``create``, ``parse``, streaming, tools), text completions,
embeddings and the Responses API (``create``, ``parse``, streaming), including calls made
through ``with_raw_response`` (as LangChain does). Patching is on the classes, so clients
created before or after `autolog` are covered; a disabled wrapper left in a cached bound
method passes straight through. API keys and headers are never read.

On the call path only a `OpenAISpan` is made (a timestamp, a context snapshot and
references to the request and response); the OTel span and its attributes are built after
the call, in the export worker (see `spyglass.tracer._lazy`).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from spyglass.tracer._guard import log_internal_error
from spyglass.tracer.integrations._openai_record import OpenAISpan, snapshot_kwargs
from spyglass.tracer.integrations._openai_response import watch_response
from spyglass.tracer.integrations._openai_stream import stream_proxy
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


def _begin(instance: Any, api: str, kwargs: dict[str, Any]) -> OpenAISpan | None:
    """Start a call's lazy span: references and a timestamp, nothing encoded (see `_lazy`)."""
    try:
        claim_llm_call()
        url = getattr(getattr(instance, "_client", None), "base_url", None)
        return OpenAISpan(api, snapshot_kwargs(kwargs), url)
    except Exception:
        log_internal_error()
        return None


def _succeed(call: OpenAISpan, result: Any) -> Any:
    """Record ``result`` and return it (or its stream proxy); never raises."""
    raw = None
    try:
        kind = type(result).__name__
        if kind == "LegacyAPIResponse":  # with_raw_response: parsed now, cached for the caller
            raw, result = result, result.parse()
        elif kind in ("APIResponse", "AsyncAPIResponse"):  # with_streaming_response
            return watch_response(result, call)
        if call.is_stream:
            proxy = stream_proxy(call, result)
            if raw is not None:
                raw._parsed_by_type[raw._cast_to] = proxy
                return raw
            return proxy
        call.response = result
        call.end()
    except Exception:
        call.end()
        log_internal_error()
    return raw if raw is not None else result


def _fail(call: OpenAISpan, exc: BaseException) -> None:
    try:
        call.end(exc)
    except Exception:
        log_internal_error()


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
            _fail(call, exc)
            raise
        return _succeed(call, result)

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
            _fail(call, exc)
            raise
        return _succeed(call, result)

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
