"""Who is calling and what they may do: roles, principals, and the role each request needs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from spyglass.errors import BadRequestError

ALL_PROJECTS = "*"


class Role(IntEnum):
    """Ordered: each role includes the ones below it."""

    READ = 1
    WRITE = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise BadRequestError(f"role {text!r} is not one of read, write, admin") from None


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        name: user name, or ``key:<id>`` for an API key.
        role: the highest role granted.
        project: the one project this caller may touch, or None for every project.
    """

    name: str
    role: Role
    project: str | None

    def can(self, needed: Role) -> bool:
        return self.role >= needed


# Read-only endpoints that MLflow's protocol sends as POST.
_READ_POSTS = ("/search", "/get-history-bulk-interval")


def required_role(method: str, path: str) -> Role:
    """The least role a request needs: reads need READ, accounts and retention ADMIN, else WRITE."""
    if path.startswith("/api/auth/") and path != "/api/auth/whoami":
        return Role.ADMIN
    if path == "/api/retention" or path.startswith("/api/retention/"):
        return Role.ADMIN
    if method in ("GET", "HEAD", "OPTIONS"):
        return Role.READ
    if method == "POST" and path.endswith(_READ_POSTS):
        return Role.READ
    return Role.WRITE
