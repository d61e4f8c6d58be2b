"""Internal-error policy: the tracer never raises into the host app.

`log_internal_error` logs the active exception and returns, except under pytest (detected by
the ``PYTEST_VERSION`` variable pytest sets for its session), where it re-raises so our own
tests see every bug. `guarded` wraps a function with that policy.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["guarded", "log_internal_error", "raise_internal_errors"]

log = logging.getLogger("spyglass.tracer")

P = ParamSpec("P")
R = TypeVar("R")

_RAISE: list[bool] = ["PYTEST_VERSION" in os.environ]


def raise_internal_errors(enabled: bool) -> bool:
    """Set whether internal errors are re-raised (the pytest default); returns the old value."""
    old = _RAISE[0]
    _RAISE[0] = enabled
    return old


def log_internal_error() -> None:
    """Log the exception being handled as an internal tracer error (re-raise under pytest).

    Call only from an ``except`` block.
    """
    if _RAISE[0]:
        raise  # re-raises the exception being handled
    log.warning("spyglass tracer internal error (the app is unaffected)", exc_info=True)


def guarded(default: R) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate ``fn`` so an exception in it is logged and ``default`` returned instead."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception:
                log_internal_error()
                return default

        return inner

    return wrap
