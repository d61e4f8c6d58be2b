"""`autolog()` / `disable()` across every integration whose library is installed."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from spyglass.tracer._guard import log_internal_error

__all__ = ["INTEGRATIONS", "autolog", "disable"]

# integration name -> (library module that must be importable, our module with autolog/disable)
INTEGRATIONS: dict[str, tuple[str, str]] = {
    "openai": ("openai", "spyglass.openai"),
    "langchain": ("langchain_core", "spyglass.langchain"),
    "llama_index": ("llama_index.core", "spyglass.llama_index"),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def autolog(**options: Any) -> list[str]:
    """Enable every integration whose library is installed; idempotent.

    Args:
        **options: passed to `spyglass.configure` first when given (tracking_uri, project...).

    Returns:
        The names of the integrations now enabled.
    """
    if options:
        from spyglass.tracer._setup import configure

        configure(**options)
    enabled = []
    for name, (library, ours) in INTEGRATIONS.items():
        if not _installed(library):
            continue
        try:
            importlib.import_module(ours).autolog()
            enabled.append(name)
        except Exception:
            log_internal_error()
    return enabled


def disable() -> None:
    """Undo `autolog` for every integration (those never enabled are left alone)."""
    for _, ours in INTEGRATIONS.values():
        try:
            importlib.import_module(ours).disable()
        except ImportError:
            continue
        except Exception:
            log_internal_error()
