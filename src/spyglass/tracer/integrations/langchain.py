"""LangChain autolog: a callback handler, registered globally, that turns runs into spans.

Chains, chat models, LLMs, tools, retrievers and agents become spans whose parents follow
LangChain's ``parent_run_id`` (so the tree is right across threads and ``asyncio`` tasks). While
a run is open its span is also the current OTel span, so OpenAI calls and manual spans inside it
nest under it; a chat-model run whose provider call is traced by OpenAI autolog hands the LLM
role to that call (see `_handoff`), so each model call appears once.
"""

# Callback signatures are fixed by the framework; many arguments go unused.
# ruff: noqa: ARG002

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from spyglass.tracer import _guard
from spyglass.tracer import _semconv as sc
from spyglass.tracer._content import set_content, to_json
from spyglass.tracer._guard import guarded
from spyglass.tracer.integrations._langchain_messages import (
    input_messages,
    output_messages,
    response_model,
    usage_of,
)
from spyglass.tracer.integrations._runs import FrameworkRun, close_run, open_run

__all__ = ["SpyglassCallbackHandler", "autolog", "disable", "is_enabled"]

_USAGE_KEYS = {
    "input_tokens": sc.USAGE_INPUT,
    "output_tokens": sc.USAGE_OUTPUT,
    "cache_read": sc.USAGE_CACHE_READ,
    "reasoning": sc.USAGE_REASONING,
}


class SpyglassCallbackHandler(BaseCallbackHandler):
    """LangChain callbacks -> OTel spans. Never raises into LangChain (except under pytest)."""

    run_inline = True  # run in the caller's context, so attached spans are visible there

    def __init__(self) -> None:
        self.raise_error = _guard._RAISE[0]
        self._runs: dict[UUID, FrameworkRun] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        operation: str | None,
        llm: bool = False,
    ) -> FrameworkRun:
        parent = self._runs.get(parent_run_id) if parent_run_id else None
        run = open_run(name, "langchain", parent, operation, llm)
        self._runs[run_id] = run
        return run

    def _end(self, run_id: UUID, error: BaseException | None = None) -> FrameworkRun | None:
        run = self._runs.pop(run_id, None)
        if run is not None:
            close_run(run, error)
        return run

    @staticmethod
    def _name(serialized: dict[str, Any] | None, kwargs: dict[str, Any], default: str) -> str:
        name = kwargs.get("name")
        if isinstance(name, str) and name:
            return name
        if serialized:
            if isinstance(serialized.get("name"), str):
                return str(serialized["name"])
            ids = serialized.get("id")
            if isinstance(ids, list) and ids:
                return str(ids[-1])
        return default

    # --- chains and agents ----------------------------------------------------------------

    @guarded(None)
    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a CHAIN (or AGENT, for runs named like agents) span."""
        name = self._name(serialized, kwargs, "chain")
        agent = "agent" in name.lower()
        run = self._start(run_id, parent_run_id, name, sc.OP_AGENT if agent else sc.OP_WORKFLOW)
        if agent:
            run.span.set_attribute(sc.AGENT_NAME, name)
        set_content(run.span, run.config, sc.INPUT_VALUE, inputs)

    @guarded(None)
    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a chain span with its outputs."""
        run = self._end(run_id)
        if run is not None:
            set_content(run.span, run.config, sc.OUTPUT_VALUE, outputs)
            run.span.end()

    @guarded(None)
    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a chain span as failed."""
        run = self._end(run_id, error)
        if run is not None:
            run.span.end()

    # --- models ---------------------------------------------------------------------------

    def _llm_start(
        self,
        serialized: dict[str, Any],
        run_id: UUID,
        parent_run_id: UUID | None,
        kwargs: dict[str, Any],
        operation: str,
        messages: Any,
    ) -> None:
        run = self._start(
            run_id, parent_run_id, self._name(serialized, kwargs, "llm"), None, llm=True
        )
        params = kwargs.get("invocation_params") or {}
        metadata = kwargs.get("metadata") or {}
        run.request = {
            "operation": operation,
            "model": params.get("model")
            or params.get("model_name")
            or metadata.get("ls_model_name"),
            "provider": metadata.get("ls_provider"),
            "temperature": params.get("temperature", metadata.get("ls_temperature")),
            "max_tokens": params.get("max_tokens", metadata.get("ls_max_tokens")),
            "messages": messages,
            "tools": params.get("tools"),
        }

    @guarded(None)
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a chat-model span (LLM attributes are set at the end; see module docs)."""
        self._llm_start(serialized, run_id, parent_run_id, kwargs, sc.OP_CHAT, messages[0])

    @guarded(None)
    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a text-LLM span."""
        messages = [{"type": "human", "content": p} for p in prompts[:1]]
        self._llm_start(serialized, run_id, parent_run_id, kwargs, sc.OP_TEXT_COMPLETION, messages)

    @guarded(None)
    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Mark the time to first token once."""
        run = self._runs.get(run_id)
        if run is not None and not run.first_token and not run.delegated:
            run.first_token = True
            ms = (time.time_ns() - run.started_ns) / 1e6
            run.span.add_event("first_token", {"time_to_first_token_ms": ms})

    @guarded(None)
    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a model span: LLM attributes, or a plain step if a provider span took over."""
        run = self._end(run_id)
        if run is None:
            return
        if not run.delegated:
            self._record_llm(run, response)
        run.span.end()

    @guarded(None)
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a model span as failed."""
        run = self._end(run_id, error)
        if run is not None:
            if not run.delegated:
                self._record_llm(run, None)
            run.span.end()

    @staticmethod
    def _record_llm(run: FrameworkRun, response: Any) -> None:
        span, request = run.span, run.request
        span.set_attribute(sc.OPERATION, request["operation"])
        for key, attr in (
            ("provider", sc.PROVIDER),
            ("model", sc.REQUEST_MODEL),
            ("temperature", sc.REQUEST_TEMPERATURE),
            ("max_tokens", sc.REQUEST_MAX_TOKENS),
        ):
            value = request.get(key)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                span.set_attribute(attr, value)
        set_content(span, run.config, sc.INPUT_MESSAGES, input_messages(request["messages"]))
        if request.get("tools"):
            set_content(span, run.config, sc.TOOL_DEFINITIONS, to_json(request["tools"]))
        if response is None:
            return
        model = response_model(response)
        if model:
            span.set_attribute(sc.RESPONSE_MODEL, model)
        for key, count in usage_of(response).items():
            span.set_attribute(_USAGE_KEYS[key], count)
        messages, reasons = output_messages(response)
        if reasons:
            span.set_attribute(sc.RESPONSE_FINISH_REASONS, reasons)
        set_content(span, run.config, sc.OUTPUT_MESSAGES, messages)

    # --- tools and retrievers -------------------------------------------------------------

    @guarded(None)
    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open an ``execute_tool`` span."""
        name = self._name(serialized, kwargs, "tool")
        run = self._start(run_id, parent_run_id, f"execute_tool {name}", sc.OP_TOOL)
        run.span.set_attribute(sc.TOOL_NAME, name)
        description = (serialized or {}).get("description")
        if isinstance(description, str):
            run.span.set_attribute(sc.TOOL_DESCRIPTION, description)
        call_id = kwargs.get("tool_call_id")
        if isinstance(call_id, str):
            run.span.set_attribute(sc.TOOL_CALL_ID, call_id)
        set_content(
            run.span,
            run.config,
            sc.TOOL_CALL_ARGUMENTS,
            inputs if inputs is not None else input_str,
        )

    @guarded(None)
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a tool span with its result."""
        run = self._end(run_id)
        if run is not None:
            content = getattr(output, "content", output)
            set_content(run.span, run.config, sc.TOOL_CALL_RESULT, content)
            run.span.end()

    @guarded(None)
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a tool span as failed."""
        run = self._end(run_id, error)
        if run is not None:
            run.span.end()

    @guarded(None)
    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a ``retrieval`` span."""
        name = self._name(serialized, kwargs, "retriever")
        run = self._start(run_id, parent_run_id, name, sc.OP_RETRIEVAL)
        set_content(run.span, run.config, sc.INPUT_VALUE, query)

    @guarded(None)
    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a retriever span with the documents found."""
        run = self._end(run_id)
        if run is not None:
            docs = [
                {
                    "page_content": getattr(d, "page_content", str(d)),
                    "metadata": getattr(d, "metadata", {}),
                }
                for d in documents
            ]
            set_content(run.span, run.config, sc.OUTPUT_VALUE, docs)
            run.span.end()

    @guarded(None)
    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a retriever span as failed."""
        run = self._end(run_id, error)
        if run is not None:
            run.span.end()


class _HandlerSlot:
    """Stands in for the ContextVar LangChain's configure hooks read: ``get()`` returns the
    handler while autolog is on, in every context."""

    def __init__(self) -> None:
        self.handler: SpyglassCallbackHandler | None = None

    def get(self) -> SpyglassCallbackHandler | None:
        return self.handler


_slot = _HandlerSlot()
_registered = [False]
_lock = threading.Lock()


def autolog() -> None:
    """Trace every LangChain run from now on; idempotent. Requires ``langchain-core``."""
    from langchain_core.tracers.context import register_configure_hook

    with _lock:
        if not _registered[0]:
            register_configure_hook(_slot, True)  # type: ignore[arg-type]
            _registered[0] = True
        if _slot.handler is None:
            _slot.handler = SpyglassCallbackHandler()


def disable() -> None:
    """Stop tracing LangChain runs (runs already open still end normally)."""
    with _lock:
        _slot.handler = None


def is_enabled() -> bool:
    """Whether LangChain autolog is on."""
    return _slot.handler is not None
