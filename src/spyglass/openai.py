"""OpenAI autolog: ``spyglass.openai.autolog()`` traces every OpenAI client call.

Example:
    >>> import spyglass.openai
    >>> spyglass.openai.autolog()
    >>> client.chat.completions.create(model="gpt-4o-mini", messages=[...])  # traced
    >>> spyglass.openai.disable()
"""

from __future__ import annotations

from spyglass.tracer.integrations.openai import autolog, disable, is_enabled

__all__ = ["autolog", "disable", "is_enabled"]
