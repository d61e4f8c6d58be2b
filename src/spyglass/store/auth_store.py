"""Users and API keys, kept in ClickHouse so every server replica sees the same accounts.

Rows are small and versioned (ReplacingMergeTree by ``updated_at``); a change is a new row and
reads use FINAL. Lookups are cached briefly because every authenticated request needs one.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from spyglass.auth.model import ALL_PROJECTS, Principal, Role
from spyglass.auth.passwords import hash_password, key_digest, new_api_key, verify_password
from spyglass.errors import BadRequestError

CACHE_SECONDS = 10.0
_KEY_COLUMNS = ["key_id", "key_hash", "name", "role", "project", "created_by", "created_at",
                "revoked", "updated_at"]  # fmt: skip
MAX_NAME_CHARS = 200


def auth_statements(database: str, on_cluster: str, engine: Any) -> list[str]:
    """DDL for the account tables (``engine(family, table, args)`` from `SchemaOptions`)."""
    return [
        f"""
CREATE TABLE IF NOT EXISTS {database}.auth_users{on_cluster} (
    username String,
    password_hash String,
    role LowCardinality(String),
    project String,
    disabled UInt8,
    updated_at DateTime64(6, 'UTC')
)
ENGINE = {engine("ReplacingMergeTree", "auth_users", "updated_at")}
ORDER BY username
""",
        f"""
CREATE TABLE IF NOT EXISTS {database}.auth_keys{on_cluster} (
    key_id String,
    key_hash String,
    name String,
    role LowCardinality(String),
    project String,
    created_by String,
    created_at DateTime64(6, 'UTC'),
    revoked UInt8,
    updated_at DateTime64(6, 'UTC')
)
ENGINE = {engine("ReplacingMergeTree", "auth_keys", "updated_at")}
ORDER BY key_id
""",
    ]


def _check_name(value: str, what: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_NAME_CHARS or any(ord(c) < 32 for c in value):
        raise BadRequestError(f"{what} must be 1-{MAX_NAME_CHARS} printable characters")
    return value


def _project_of(stored: str) -> str | None:
    return None if stored == ALL_PROJECTS else stored


class AuthStore:
    """Accounts: users with passwords (people) and API keys (SDKs, exporters, CI)."""

    def __init__(self, client: Client, database: str) -> None:
        self.client, self.db = client, database
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, Principal | None]] = {}
        self._logins: dict[tuple[str, str], tuple[float, Principal | None]] = {}

    # --- users -----------------------------------------------------------------------------

    def set_user(self, username: str, password: str, role: Role, project: str | None) -> None:
        """Create a user or replace its password, role and project."""
        username = _check_name(username, "username")
        if len(password) < 8:
            raise BadRequestError("password must have at least 8 characters")
        scope = ALL_PROJECTS if project is None else _check_name(project, "project")
        row = [username, hash_password(password), role.name.lower(), scope, 0, datetime.now(UTC)]
        self.client.insert(
            f"{self.db}.auth_users",
            [row],
            column_names=["username", "password_hash", "role", "project", "disabled", "updated_at"],
        )
        with self._lock:
            self._logins = {k: v for k, v in self._logins.items() if k[0] != username}

    def login(self, username: str, password: str) -> Principal | None:
        """The user's principal when the password matches, else None (cached: scrypt is slow)."""
        cache_key = (username, key_digest(password))
        now = time.monotonic()
        with self._lock:
            hit = self._logins.get(cache_key)
        if hit is not None and hit[0] > now:
            return hit[1]
        rows = self.client.query(
            f"SELECT password_hash, role, project, disabled FROM {self.db}.auth_users FINAL "
            "WHERE username = {u:String}",
            parameters={"u": username},
        ).result_rows
        principal = None
        if rows and not rows[0][3] and verify_password(password, rows[0][0]):
            principal = Principal(username, Role.parse(rows[0][1]), _project_of(rows[0][2]))
        with self._lock:
            if len(self._logins) > 10_000:
                self._logins.clear()
            self._logins[cache_key] = (now + CACHE_SECONDS, principal)
        return principal

    def user(self, username: str) -> Principal | None:
        """The current principal of a user (for session cookies), None if missing or disabled."""
        rows = self.client.query(
            f"SELECT role, project FROM {self.db}.auth_users FINAL "
            "WHERE username = {u:String} AND disabled = 0",
            parameters={"u": username},
        ).result_rows
        return (
            Principal(username, Role.parse(rows[0][0]), _project_of(rows[0][1])) if rows else None
        )

    # --- API keys --------------------------------------------------------------------------

    def create_key(
        self, name: str, role: Role, project: str | None, created_by: str
    ) -> dict[str, Any]:
        """A new key; its secret is returned here once and only its SHA-256 is stored."""
        secret, key_id = new_api_key()
        scope = ALL_PROJECTS if project is None else _check_name(project, "project")
        now = datetime.now(UTC)
        row = [key_id, key_digest(secret), _check_name(name, "key name"), role.name.lower(),
               scope, created_by, now, 0, now]  # fmt: skip
        self.client.insert(
            f"{self.db}.auth_keys",
            [row],
            column_names=_KEY_COLUMNS,
        )
        return {"key_id": key_id, "key": secret, "name": row[2], "role": row[3], "project": scope}

    def list_keys(self) -> list[dict[str, Any]]:
        result = self.client.query(
            "SELECT key_id, name, role, project, created_by, "
            "toUnixTimestamp64Milli(created_at) AS created_ms, revoked "
            f"FROM {self.db}.auth_keys FINAL ORDER BY created_at"
        )
        return [dict(row, revoked=bool(row["revoked"])) for row in result.named_results()]

    def revoke_key(self, key_id: str) -> bool:
        rows = self.client.query(
            f"SELECT key_hash, name, role, project, created_by, created_at "
            f"FROM {self.db}.auth_keys FINAL WHERE key_id = {{k:String}} AND revoked = 0",
            parameters={"k": key_id},
        ).result_rows
        if not rows:
            return False
        self.client.insert(
            f"{self.db}.auth_keys",
            [[key_id, *rows[0], 1, datetime.now(UTC)]],
            column_names=_KEY_COLUMNS,
        )
        with self._lock:
            gone = f"key:{key_id}"
            self._keys = {h: v for h, v in self._keys.items() if not v[1] or v[1].name != gone}
        return True

    def key_principal(self, secret: str) -> Principal | None:
        digest = key_digest(secret)
        now = time.monotonic()
        with self._lock:
            hit = self._keys.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        rows = self.client.query(
            f"SELECT key_id, role, project FROM {self.db}.auth_keys FINAL "
            "WHERE key_hash = {h:String} AND revoked = 0",
            parameters={"h": digest},
        ).result_rows
        principal = (
            Principal(f"key:{rows[0][0]}", Role.parse(rows[0][1]), _project_of(rows[0][2]))
            if rows
            else None
        )
        with self._lock:
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[digest] = (now + CACHE_SECONDS, principal)
        return principal
