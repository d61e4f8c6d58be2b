"""LlamaIndex autolog: ``spyglass.llama_index.autolog()`` traces queries, retrieval, LLM and
embedding calls through LlamaIndex's instrumentation dispatcher.

Example:
    >>> import spyglass.llama_index
    >>> spyglass.llama_index.autolog()
    >>> index.as_query_engine().query("...")  # traced
"""

from __future__ import annotations

from spyglass.tracer.integrations.llama_index import autolog, disable, is_enabled

__all__ = ["autolog", "disable", "is_enabled"]
