"""Streamed OpenAI responses: proxies that pass every chunk through unchanged while
assembling the output, the usage and the time to first token, and end the span when the
stream ends, fails, is closed or is garbage-collected. Chunks are only collected on the way
through; the output is joined when the span is built (`StreamAccumulator.result`).
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from spyglass.tracer import _semconv as sc
from spyglass.tracer.integrations._openai_messages import get
from spyglass.tracer.integrations._openai_record import OpenAISpan

__all__ = ["AsyncStreamProxy", "StreamAccumulator", "StreamProxy", "stream_proxy"]


class _Choice:
    __slots__ = ("calls", "finish_reason", "refusal", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None


class StreamAccumulator:
    """Collects chunks (chat/completions) or events (Responses API) of one stream.

    On the way through, a chunk is only kept with its arrival time. When the stream ends the
    accumulator becomes the ``stream`` of the call's `OpenAISpan`, which folds the chunks into
    the response, the time to first token and its event when the span is built (`result`).
    """

    def __init__(self, call: OpenAISpan) -> None:
        self.call = call
        self.api = call.api
        self.chunks: list[Any] = []
        self.arrivals: list[int] = []
        self._now = 0
        self.folded = False
        self.first_token_ns = 0
        self.meta: dict[str, Any] = {}
        self.usage: Any = None
        self.choices: dict[int, _Choice] = {}
        self.final: Any = None  # Responses API: the completed Response
        self.done = False

    def add(self, chunk: Any) -> None:
        """Keep one chunk or event and its arrival time (O(1), never raises)."""
        if not self.done:
            self.chunks.append(chunk)
            self.arrivals.append(time.time_ns())

    def _fold(self) -> None:
        fold = self._add_event if self.api == "responses" else self._add_chunk
        for chunk, arrival in zip(self.chunks, self.arrivals, strict=True):
            self._now = arrival
            fold(chunk)

    def _first_token(self) -> None:
        if not self.first_token_ns:
            self.first_token_ns = self._now
            seconds = (self.first_token_ns - self.call.start_ns) / 1e9
            self.call.live[sc.RESPONSE_TTFT] = seconds
            self.call.add_event(
                "first_token", {"time_to_first_token_ms": seconds * 1000}, self.first_token_ns
            )

    def _add_chunk(self, chunk: Any) -> None:
        for key in ("id", "model", "system_fingerprint", "service_tier"):
            value = get(chunk, key)
            if value is not None:
                self.meta[key] = value
        usage = get(chunk, "usage")
        if usage is not None:
            self.usage = usage
        for choice in get(chunk, "choices") or ():
            index = get(choice, "index") or 0
            state = self.choices.get(index)
            if state is None:
                state = self.choices[index] = _Choice()
            delta = get(choice, "delta")
            text = get(delta, "content") if delta is not None else get(choice, "text")
            if text:
                self._first_token()
                state.text.append(text)
            refusal = get(delta, "refusal")
            if refusal:
                state.refusal.append(refusal)
            for call in get(delta, "tool_calls") or ():
                self._first_token()
                slot = state.calls.setdefault(
                    get(call, "index") or 0, {"id": None, "name": "", "arguments": []}
                )
                if get(call, "id"):
                    slot["id"] = get(call, "id")
                function = get(call, "function")
                if get(function, "name"):
                    slot["name"] += get(function, "name")
                if get(function, "arguments"):
                    slot["arguments"].append(get(function, "arguments"))
            reason = get(choice, "finish_reason")
            if reason:
                state.finish_reason = reason

    def _add_event(self, event: Any) -> None:
        kind = get(event, "type")
        if kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
            self._first_token()
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = get(event, "response")
        elif kind == "response.created":
            response = get(event, "response")
            for key in ("id", "model"):
                if get(response, key) is not None:
                    self.meta[key] = get(response, key)

    def assembled(self) -> dict[str, Any]:
        """The stream folded back into the shape of a non-streamed response."""
        choices = []
        for index in sorted(self.choices):
            state = self.choices[index]
            calls = [
                {
                    "id": slot["id"],
                    "type": "function",
                    "function": {"name": slot["name"], "arguments": "".join(slot["arguments"])},
                }
                for _, slot in sorted(state.calls.items())
            ]
            text = "".join(state.text)
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if state.refusal:
                message["refusal"] = "".join(state.refusal)
            if calls:
                message["tool_calls"] = calls
            if self.api == "completions":
                choices.append({"index": index, "text": text, "finish_reason": state.finish_reason})
            else:
                choices.append(
                    {"index": index, "message": message, "finish_reason": state.finish_reason}
                )
        return {**self.meta, "choices": choices, "usage": self.usage}

    def result(self) -> tuple[str, Any]:
        """The API kind to record the stream as and the response it amounts to; folds the
        chunks (once) and sets the time to first token on the call."""
        if not self.folded:
            self.folded = True
            self._fold()
        if self.api != "responses":
            return self.api, self.assembled()
        if self.final is not None:
            return self.api, self.final
        return "chat", {**self.meta, "choices": []}

    def finish(self, error: BaseException | None = None) -> None:
        """Hand the stream to its span and end it (once)."""
        if self.done:
            return
        self.done = True
        self.call.stream = self
        self.call.end(None if isinstance(error, GeneratorExit) else error)


def stream_proxy(call: OpenAISpan, stream: Any) -> StreamProxy | AsyncStreamProxy:
    """A proxy of an SDK ``Stream``/``AsyncStream`` that records it into ``call``."""
    acc = StreamAccumulator(call)
    if hasattr(stream, "__aiter__"):
        return AsyncStreamProxy(stream, acc)
    return StreamProxy(stream, acc)


class StreamProxy:
    """Wraps an ``openai.Stream``: iterate, ``with``, ``close()``, other attributes pass."""

    def __init__(self, stream: Any, acc: StreamAccumulator) -> None:
        self._stream = stream
        self._iterator = iter(stream)
        self._acc = acc

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._iterator)
        except StopIteration:
            self._acc.finish()
            raise
        except BaseException as exc:
            self._acc.finish(exc)
            raise
        self._acc.add(chunk)
        return chunk

    def __enter__(self) -> StreamProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying stream and end the span."""
        try:
            self._stream.close()
        finally:
            self._acc.finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __del__(self) -> None:
        acc = self.__dict__.get("_acc")
        if acc is not None and not acc.done:
            acc.finish()


class AsyncStreamProxy:
    """Wraps an ``openai.AsyncStream`` (``async for``, ``async with``, ``await close()``)."""

    def __init__(self, stream: Any, acc: StreamAccumulator) -> None:
        self._stream = stream
        self._iterator = stream.__aiter__()
        self._acc = acc

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._iterator.__anext__()
        except StopAsyncIteration:
            self._acc.finish()
            raise
        except BaseException as exc:
            self._acc.finish(exc)
            raise
        self._acc.add(chunk)
        return chunk

    async def __aenter__(self) -> AsyncStreamProxy:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the underlying stream and end the span."""
        try:
            await self._stream.close()
        finally:
            self._acc.finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __del__(self) -> None:
        acc = self.__dict__.get("_acc")
        if acc is not None and not acc.done:
            acc.finish()
