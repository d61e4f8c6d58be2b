"""LangChain autolog: ``spyglass.langchain.autolog()`` traces chains, models, tools, agents.

Example:
    >>> import spyglass.langchain
    >>> spyglass.langchain.autolog()
    >>> chain.invoke({"question": "..."})  # traced, with OpenAI calls nested once
"""

from __future__ import annotations

from spyglass.tracer.integrations.langchain import (
    SpyglassCallbackHandler,
    autolog,
    disable,
    is_enabled,
)

__all__ = ["SpyglassCallbackHandler", "autolog", "disable", "is_enabled"]
