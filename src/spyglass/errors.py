"""Exceptions raised by Spyglass.

SpyglassError
 ├── ConfigError        bad settings, detected at startup
 ├── StoreError         the store refused or failed an operation
 └── BadRequestError    input that can never succeed (maps to HTTP 4xx)
"""

from __future__ import annotations


class SpyglassError(Exception):
    """Base of every Spyglass error."""


class ConfigError(SpyglassError):
    """A setting is missing or invalid."""


class StoreError(SpyglassError):
    """The store failed an operation."""


class BadRequestError(SpyglassError):
    """Input is malformed or not allowed; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
