"""LlamaIndex autolog: a span handler and an event handler on the root instrumentation
dispatcher.

Every dispatcher span (query engines, retrievers, synthesizers, LLM and embedding calls...)
becomes an OTel span under its dispatcher parent (or under the current OTel span for a root),
and is current while it runs so provider calls nest under it. Events fill in the GenAI
details: messages, model, token usage, retrieved nodes. ``prepare_to_exit_span`` and
``prepare_to_drop_span`` return the span they close, so the handler's ``open_spans`` never leak.
"""

# Callback signatures are fixed by the framework; many arguments go unused.
# ruff: noqa: ARG002

from __future__ import annotations

import inspect
import threading
from typing import Any

from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.span import SimpleSpan
from llama_index.core.instrumentation.span_handlers import BaseSpanHandler
from llama_index_instrumentation import get_dispatcher

from spyglass.tracer import _semconv as sc
from spyglass.tracer._content import set_content
from spyglass.tracer._guard import log_internal_error
from spyglass.tracer.integrations._openai_messages import get
from spyglass.tracer.integrations._openai_record import record_usage
from spyglass.tracer.integrations._runs import FrameworkRun, close_run, open_run

__all__ = ["autolog", "disable", "is_enabled"]

_LLM_METHODS = frozenset(
    {"chat", "achat", "complete", "acomplete", "stream_chat", "astream_chat", "stream_complete",
     "astream_complete"}
)  # fmt: skip
_EMBED_PREFIXES = ("get_text_embedding", "get_query_embedding", "aget_text_embedding",
                   "aget_query_embedding", "get_agg_embedding")  # fmt: skip


def _kind(instance: Any, method: str) -> str | None:
    """gen_ai.operation.name for a dispatcher span, from its instance and method."""
    names = {cls.__name__ for cls in type(instance).__mro__}
    if "BaseLLM" in names and method in _LLM_METHODS:
        return sc.OP_CHAT if "chat" in method else sc.OP_TEXT_COMPLETION
    if "BaseEmbedding" in names and method.startswith(_EMBED_PREFIXES):
        return sc.OP_EMBEDDINGS
    if "BaseRetriever" in names and method in ("retrieve", "aretrieve"):
        return sc.OP_RETRIEVAL
    if "BaseAgent" in names or "BaseWorkflowAgent" in names:
        return sc.OP_AGENT
    return sc.OP_WORKFLOW


def _simple(value: Any) -> Any:
    """A small JSON-able view of a dispatcher argument or result, or None to skip it."""
    if isinstance(value, (str, int, float, bool)):
        return value
    query = getattr(value, "query_str", None)
    if isinstance(query, str):
        return query
    response = getattr(value, "response", None)
    if isinstance(response, str):
        return response
    if isinstance(value, list) and value and hasattr(value[0], "node"):
        return [{"text": n.node.get_content()[:2000], "score": n.score} for n in value]
    return None


class SpyglassSpanHandler(BaseSpanHandler[SimpleSpan]):
    """Dispatcher spans -> OTel spans."""

    def __init__(self) -> None:
        super().__init__(open_spans={}, completed_spans=[], dropped_spans=[], current_span_ids={})
        self._runs: dict[str, FrameworkRun] = {}

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "SpyglassSpanHandler"

    def new_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        parent_span_id: str | None = None,
        tags: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SimpleSpan | None:
        """Open an OTel span for dispatcher span ``id_``."""
        try:
            name = id_.split("-", 1)[0]
            operation = _kind(instance, name.rsplit(".", 1)[-1])
            llm = operation in (sc.OP_CHAT, sc.OP_TEXT_COMPLETION)
            parent = self._runs.get(parent_span_id) if parent_span_id else None
            run = open_run(name, "llama_index", parent, operation, llm)
            self._runs[id_] = run
            if not llm:
                arguments = {
                    k: s for k, v in bound_args.arguments.items() if (s := _simple(v)) is not None
                }
                if arguments:
                    set_content(run.span, run.config, sc.INPUT_VALUE, arguments)
        except Exception:
            log_internal_error()
        return SimpleSpan(id_=id_, parent_id=parent_span_id, tags=tags or {})

    def _close(self, id_: str, error: BaseException | None, result: Any) -> SimpleSpan | None:
        run = self._runs.pop(id_, None)
        if run is not None:
            try:
                close_run(run, error)
                if error is None and not run.llm:
                    output = _simple(result)
                    if output is not None:
                        set_content(run.span, run.config, sc.OUTPUT_VALUE, output)
            except Exception:
                log_internal_error()
            finally:
                run.span.end()
        with self.lock:
            return self.open_spans.get(id_)  # returning it lets the base class forget it

    def prepare_to_exit_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        result: Any | None = None,
        **kwargs: Any,
    ) -> SimpleSpan | None:
        """End the OTel span; return the dispatcher span (the documented leak otherwise)."""
        return self._close(id_, None, result)

    def prepare_to_drop_span(
        self,
        id_: str,
        bound_args: inspect.BoundArguments,
        instance: Any | None = None,
        err: BaseException | None = None,
        **kwargs: Any,
    ) -> SimpleSpan | None:
        """End the OTel span as failed; return the dispatcher span."""
        return self._close(id_, err, None)

    def run_for(self, span_id: str | None) -> FrameworkRun | None:
        """The open run of dispatcher span ``span_id``."""
        return self._runs.get(span_id) if span_id else None


def _messages(messages: Any) -> list[dict[str, Any]]:
    out = []
    for message in messages or ():
        role = get(message, "role")
        role = getattr(role, "value", role) or "user"
        content = get(message, "content")
        parts = [{"type": "text", "content": content}] if content else []
        out.append({"role": str(role), "parts": parts})
    return out


class SpyglassEventHandler(BaseEventHandler):
    """Dispatcher events -> GenAI attributes on the span they belong to."""

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "SpyglassEventHandler"

    def handle(self, event: Any, **kwargs: Any) -> Any:
        """Annotate the event's span; never raises (except under pytest)."""
        try:
            self._handle(event)
        except Exception:
            log_internal_error()
        return None

    def _handle(self, event: Any) -> None:
        handler = _state.span_handler
        run = handler.run_for(getattr(event, "span_id", None)) if handler else None
        if run is None:
            return
        span, config = run.span, run.config
        kind = type(event).__name__
        if kind in ("LLMChatStartEvent", "LLMCompletionStartEvent"):
            model = (getattr(event, "model_dict", None) or {}).get("model") or (
                getattr(event, "model_dict", None) or {}
            ).get("model_name")
            if isinstance(model, str):
                span.set_attribute(sc.REQUEST_MODEL, model)
            class_name = (getattr(event, "model_dict", None) or {}).get("class_name", "")
            if isinstance(class_name, str) and "openai" in class_name.lower():
                span.set_attribute(sc.PROVIDER, "openai")
            if kind == "LLMChatStartEvent":
                set_content(span, config, sc.INPUT_MESSAGES, _messages(event.messages))
            else:
                parts = [{"type": "text", "content": event.prompt}]
                set_content(span, config, sc.INPUT_MESSAGES, [{"role": "user", "parts": parts}])
        elif kind in ("LLMChatEndEvent", "LLMCompletionEndEvent"):
            response = event.response
            if response is None or run.delegated:
                return
            raw = getattr(response, "raw", None)
            record_usage(span, get(raw, "usage"))
            model = get(raw, "model")
            if isinstance(model, str):
                span.set_attribute(sc.RESPONSE_MODEL, model)
            extra = getattr(response, "additional_kwargs", None) or {}
            if get(raw, "usage") is None and isinstance(extra.get("prompt_tokens"), int):
                record_usage(span, extra)
            message = getattr(response, "message", None)
            if message is not None:
                output = _messages([message])
            else:
                output = [
                    {"role": "assistant", "parts": [{"type": "text", "content": response.text}]}
                ]
            set_content(span, config, sc.OUTPUT_MESSAGES, output)
        elif kind == "EmbeddingStartEvent":
            model = (event.model_dict or {}).get("model_name")
            if isinstance(model, str):
                span.set_attribute(sc.REQUEST_MODEL, model)
        elif kind == "EmbeddingEndEvent":
            set_content(span, config, sc.INPUT_VALUE, list(event.chunks))
            if event.embeddings:
                span.set_attribute(sc.EMBEDDING_DIMENSIONS, len(event.embeddings[0]))


class _State:
    def __init__(self) -> None:
        self.span_handler: SpyglassSpanHandler | None = None
        self.event_handler: SpyglassEventHandler | None = None
        self.lock = threading.Lock()


_state = _State()


def autolog() -> None:
    """Trace LlamaIndex from now on; idempotent. Requires ``llama-index-core``."""
    with _state.lock:
        if _state.span_handler is not None:
            return
        dispatcher = get_dispatcher()
        _state.span_handler = SpyglassSpanHandler()
        _state.event_handler = SpyglassEventHandler()
        dispatcher.add_span_handler(_state.span_handler)
        dispatcher.add_event_handler(_state.event_handler)


def disable() -> None:
    """Remove the handlers from the dispatcher; idempotent."""
    with _state.lock:
        dispatcher = get_dispatcher()
        if _state.span_handler is not None:
            dispatcher.span_handlers = [
                h for h in dispatcher.span_handlers if h is not _state.span_handler
            ]
        if _state.event_handler is not None:
            dispatcher.event_handlers = [
                h for h in dispatcher.event_handlers if h is not _state.event_handler
            ]
        _state.span_handler = None
        _state.event_handler = None


def is_enabled() -> bool:
    """Whether LlamaIndex autolog is on."""
    return _state.span_handler is not None
