"""Calls made through ``with_streaming_response``: the caller, not the SDK, reads the body.

The wrapped method returns an ``APIResponse`` (``AsyncAPIResponse``) whose body is unread.
`watch_response` shadows its ``parse`` and ``close`` on that one instance: the first
``parse()`` records the response (or, for ``stream=True``, returns a proxy that records the
stream) and ends the span; ``close()`` (which the ``with`` block calls) ends a span still
open, e.g. when the body was read with ``iter_lines()``. Everything else passes through.
"""

from __future__ import annotations

from typing import Any

from spyglass.tracer._guard import log_internal_error
from spyglass.tracer.integrations._openai_record import OpenAISpan
from spyglass.tracer.integrations._openai_stream import stream_proxy

__all__ = ["watch_response"]


class _Watch:
    __slots__ = ("call", "proxy")

    def __init__(self, call: OpenAISpan) -> None:
        self.call = call
        self.proxy: Any = None

    def parsed(self, value: Any) -> Any:
        """Record the first default parse; return what the caller gets (never raises)."""
        call = self.call
        try:
            if call.is_stream:
                if self.proxy is None:
                    self.proxy = stream_proxy(call, value)
                return self.proxy
            if not call.ended:
                call.response = value
                call.end()
        except Exception:
            log_internal_error()
        return value

    def failed(self, exc: BaseException) -> None:
        try:
            self.call.end(exc)
        except Exception:
            log_internal_error()

    def closed(self) -> None:
        try:
            acc = getattr(self.proxy, "_acc", None)
            if acc is not None:
                acc.finish()
            self.call.end()
        except Exception:
            log_internal_error()


def watch_response(response: Any, call: OpenAISpan) -> Any:
    """Trace ``response`` (an SDK ``APIResponse``/``AsyncAPIResponse``) and return it."""
    watch = _Watch(call)
    parse, close = response.parse, response.close

    if type(response).__name__ == "AsyncAPIResponse":

        async def aparse(*args: Any, **kwargs: Any) -> Any:
            if args or kwargs.get("to") is not None:
                return await parse(*args, **kwargs)
            try:
                value = await parse()
            except BaseException as exc:
                watch.failed(exc)
                raise
            return watch.parsed(value)

        async def aclose() -> None:
            try:
                await close()
            finally:
                watch.closed()

        response.parse, response.close = aparse, aclose
        return response

    def sparse(*args: Any, **kwargs: Any) -> Any:
        if args or kwargs.get("to") is not None:
            return parse(*args, **kwargs)
        try:
            value = parse()
        except BaseException as exc:
            watch.failed(exc)
            raise
        return watch.parsed(value)

    def sclose() -> None:
        try:
            close()
        finally:
            watch.closed()

    response.parse, response.close = sparse, sclose
    return response
